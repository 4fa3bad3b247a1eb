package sandbox

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TaskOutcome is what a new task of a task-definition revision does once it leaves PENDING:
// run (Failure nil) or stop with a failure. Scenarios set it per revision; SetTaskOutcome
// changes it.
type TaskOutcome struct {
	Failure *TaskFailure
	// Logs are the lines the task writes to its log stream: on start when it runs, just before
	// it dies when it fails.
	Logs []string
}

// TaskFailure is how a task stops, in ECS's own fields.
type TaskFailure struct {
	StopCode        string // EssentialContainerExited or TaskFailedToStart
	StoppedReason   string
	ExitCode        *int   // nil when the container never started
	ContainerReason string // e.g. "OutOfMemoryError: Container killed due to memory usage"
	// Ran is how long the container ran before it exited (0 when it never started).
	Ran time.Duration
}

// Int returns a pointer to n (for TaskFailure.ExitCode).
func Int(n int) *int { return &n }

// SetTaskOutcome decides what new tasks of family:revision do from now on; revision 0 sets
// the family's default (used by revisions without their own outcome, e.g. ones registered
// later).
func (s *Sandbox) SetTaskOutcome(family string, revision int, o TaskOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[outcomeKey(family, revision)] = o
}

func outcomeKey(family string, revision int) string {
	if revision == 0 {
		return family
	}
	return family + ":" + strconv.Itoa(revision)
}

func (s *Sandbox) outcomeFor(td *taskDef) TaskOutcome {
	if o, ok := s.outcomes[outcomeKey(td.family, td.revision)]; ok {
		return o
	}
	return s.outcomes[td.family] // zero value: the task runs
}

// failedTaskThreshold is the ECS deployment circuit breaker's failed-task threshold.
func failedTaskThreshold(desired int) int {
	return min(max((desired+1)/2, 3), 200)
}

func (s *Sandbox) deploymentID() string {
	return "ecs-svc/" + strconv.Itoa(1+s.rng.IntN(9)) + fmt.Sprintf("%018d", s.rng.Int64N(1e18))
}

func (s *Sandbox) addEvent(svc *service, at time.Time, msg string) {
	e := serviceEvent{id: s.uuid(), at: at, msg: msg}
	svc.events = append([]serviceEvent{e}, svc.events...)
	if len(svc.events) > maxServiceEvents {
		svc.events = svc.events[:maxServiceEvents]
	}
}

func taskList(ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "(task " + id + ")"
	}
	return strings.Join(parts, " ")
}

func (s *Sandbox) logGroupFor(svc *service) string {
	if svc.role == roleIngestor {
		return s.names.IngestorLogGroup
	}
	return s.names.WorkerLogGroup
}

// newTask creates a PENDING task of dep at time at.
func (s *Sandbox) newTask(svc *service, dep *deployment, at time.Time) *task {
	id := s.hexID(32)
	az := "us-east-1a"
	if s.rng.IntN(2) == 1 {
		az = "us-east-1b"
	}
	t := &task{
		id: id, arn: s.taskARN(id), service: svc, deployment: dep.id, td: dep.taskDef,
		lastStatus: statusPending, desired: statusRunning, createdAt: at, pullStart: at.Add(3 * time.Second),
		az:          az,
		ip:          fmt.Sprintf("10.0.%d.%d", 1+azIndex(az)*2, 10+s.rng.IntN(240)),
		eni:         "eni-0" + s.hexID(16),
		attachment:  s.uuid(),
		imageDigest: "sha256:" + fmt.Sprintf("%016x%016x%016x%016x", fnv64(dep.taskDef.container.image), fnv64(dep.taskDef.container.image+"1"), fnv64(dep.taskDef.container.image+"2"), fnv64(dep.taskDef.container.image+"3")),
		version:     1,
	}
	s.tasks = append(s.tasks, t)
	s.taskByID[id] = t
	return t
}

// runTask makes a PENDING task RUNNING at time at.
func (s *Sandbox) runTask(t *task, at time.Time, logs []string) {
	t.startedAt = at
	t.pullStop = at.Add(-2 * time.Second)
	if t.pullStop.Before(t.pullStart) {
		t.pullStart = t.pullStop
	}
	t.lastStatus = statusRunning
	t.version += 2
	for i, line := range logs {
		s.appendLog(s.logGroupFor(t.service), t.stream(), at.Add(time.Duration(i)*time.Millisecond), line)
	}
	if t.service.role == roleIngestor {
		s.discord.consume(at)
	}
}

// failTask stops a task with failure f; the task died (or gave up starting) at time at.
func (s *Sandbox) failTask(t *task, at time.Time, f TaskFailure, logs []string) {
	if f.ExitCode != nil || f.StopCode == stopEssentialExited {
		ran := f.Ran
		if ran <= 0 {
			ran = time.Second
		}
		t.startedAt = at.Add(-ran)
		if t.startedAt.Before(t.createdAt) {
			t.startedAt = t.createdAt
		}
		t.pullStop = t.startedAt.Add(-time.Second)
		if t.pullStop.Before(t.pullStart) {
			t.pullStart = t.pullStop
		}
		for i, line := range logs {
			s.appendLog(s.logGroupFor(t.service), t.stream(), at.Add(-time.Duration(len(logs)-i)*time.Millisecond), line)
		}
	}
	t.lastStatus = statusStopped
	t.desired = statusStopped
	t.stoppingAt = at
	t.stoppedAt = at.Add(2 * time.Second)
	t.stopCode = f.StopCode
	t.stopReason = f.StoppedReason
	t.exitCode = f.ExitCode
	t.cReason = f.ContainerReason
	t.version += 3
	for _, d := range t.service.deployments {
		if d.id == t.deployment {
			d.failed++
			d.updatedAt = at
		}
	}
}

// stopTask stops a task on the scheduler's initiative (scale-in or replacement).
func (s *Sandbox) stopTask(t *task, at time.Time, byDeployment string) {
	if t.lastStatus == statusRunning {
		t.exitCode = Int(0)
	}
	t.lastStatus = statusStopped
	t.desired = statusStopped
	t.stoppingAt = at
	t.stoppedAt = at.Add(30 * time.Second)
	t.stopCode = stopScheduler
	t.stopReason = "Scaling activity initiated by (deployment " + byDeployment + ")"
	t.version += 2
}

// launch starts n PENDING tasks for dep and schedules what happens to them after the task
// start delay.
func (s *Sandbox) launch(svc *service, dep *deployment, n int) {
	if n <= 0 {
		return
	}
	at := s.now()
	ids := make([]string, 0, n)
	for range n {
		ids = append(ids, s.newTask(svc, dep, at).id)
	}
	s.addEvent(svc, at, fmt.Sprintf("(service %s) has started %d tasks: %s.", svc.name, n, taskList(ids)))
	gen, name := s.gen, svc.name
	time.AfterFunc(s.opts.TaskStartDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen != gen {
			return // a new scenario was loaded, or the sandbox closed
		}
		s.settle(name, ids)
	})
}

// settle decides the fate of tasks that finished starting, then lets the scheduler react.
func (s *Sandbox) settle(serviceName string, ids []string) {
	svc := s.services[serviceName]
	if svc == nil {
		return
	}
	at := s.now()
	for _, id := range ids {
		t := s.taskByID[id]
		if t == nil || t.lastStatus != statusPending {
			continue // stopped meanwhile (scale-in or replaced)
		}
		o := s.outcomeFor(t.td)
		if o.Failure == nil {
			s.runTask(t, at, o.Logs)
		} else {
			s.failTask(t, at, *o.Failure, o.Logs)
		}
	}
	s.reconcile(svc)
}

// reconcile is the service scheduler: it completes or fails the PRIMARY deployment, starts
// missing tasks (a bounded number of waves per change), stops surplus ones, and announces a
// steady state. Runs with s.mu held.
func (s *Sandbox) reconcile(svc *service) {
	p := svc.deployments[0]
	at := s.now()
	running, pending := s.counts(p)
	if p.rollout == rolloutInProgress {
		if running >= p.desired && pending == 0 {
			s.stopSurplus(svc, p, running-p.desired, at)
			s.completeDeployment(svc, p, at)
			return
		}
		short := p.desired - running - pending
		if short <= 0 {
			return
		}
		if svc.breaker && p.failed >= failedTaskThreshold(p.desired) {
			p.rollout = rolloutFailed
			p.rolloutReason = circuitBreakerReason
			p.updatedAt = at
			s.addEvent(svc, at, fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, p.id))
			return
		}
		s.launchOrGiveUp(svc, p, short, at)
		return
	}
	// A finished (COMPLETED or FAILED) deployment: keep its desired count.
	if surplus := running + pending - p.desired; surplus > 0 {
		s.stopSurplus(svc, p, surplus, at)
		running, pending = s.counts(p)
	}
	if short := p.desired - running - pending; short > 0 {
		s.launchOrGiveUp(svc, p, short, at)
		return
	}
	if svc.pendingSteady && pending == 0 && running == p.desired {
		svc.pendingSteady = false
		s.addEvent(svc, at, fmt.Sprintf("(service %s) has reached a steady state.", svc.name))
		s.scaleSettled(svc, at)
	}
}

func (s *Sandbox) launchOrGiveUp(svc *service, p *deployment, short int, at time.Time) {
	if p.waves > 0 {
		p.waves--
		s.launch(svc, p, short)
		return
	}
	if !svc.exhaustedNoted {
		svc.exhaustedNoted = true
		s.addEvent(svc, at, fmt.Sprintf("(service %s) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", svc.name))
	}
}

// stopSurplus stops n tasks of dep: pending ones first, then the newest running ones.
func (s *Sandbox) stopSurplus(svc *service, dep *deployment, n int, at time.Time) {
	if n <= 0 {
		return
	}
	var ids []string
	for _, status := range []string{statusPending, statusRunning} {
		for i := len(s.tasks) - 1; i >= 0 && len(ids) < n; i-- {
			t := s.tasks[i]
			if t.deployment == dep.id && t.lastStatus == status {
				s.stopTask(t, at, dep.id)
				ids = append(ids, t.id)
			}
		}
	}
	if len(ids) > 0 {
		s.addEvent(svc, at, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", svc.name, len(ids), taskList(ids)))
	}
}

// completeDeployment makes p the only deployment: the tasks of the older ones are stopped,
// and a restart's reactions (e.g. memory back to baseline) fire.
func (s *Sandbox) completeDeployment(svc *service, p *deployment, at time.Time) {
	var ids []string
	for _, old := range svc.deployments[1:] {
		for _, t := range s.tasks {
			if t.deployment == old.id && (t.lastStatus == statusRunning || t.lastStatus == statusPending) {
				s.stopTask(t, at, old.id)
				ids = append(ids, t.id)
			}
		}
	}
	if len(ids) > 0 {
		s.addEvent(svc, at, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", svc.name, len(ids), taskList(ids)))
	}
	svc.deployments = svc.deployments[:1]
	p.rollout = rolloutCompleted
	p.rolloutReason = "ECS deployment " + p.id + " completed."
	p.updatedAt = at
	s.addEvent(svc, at, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", svc.name, p.id))
	s.addEvent(svc, at, fmt.Sprintf("(service %s) has reached a steady state.", svc.name))
	svc.pendingSteady = false
	if p.restart && p.desired > 0 {
		s.react(TriggerRestart, svc, at)
	}
	s.scaleSettled(svc, at)
}

// scaleSettled fires the scale-up reactions once a raised desired count is met.
func (s *Sandbox) scaleSettled(svc *service, at time.Time) {
	if svc.scaled && svc.desired > svc.scaleFrom {
		s.react(TriggerScaleUp, svc, at)
	}
	svc.scaled = false
}
