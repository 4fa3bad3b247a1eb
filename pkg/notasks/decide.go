// Package notasks is the playbook for "No Ingestor Tasks Running" and "No Worker Tasks
// Running" (CRITICAL): find out why a service has no running task, restart it when a restart
// can help, and say clearly when it cannot (an invalid Discord token, a network problem, a bad
// deployment without rollback permission).
package notasks

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/service"
)

// Finding codes.
const (
	ScaledToZero        = "scaled-to-zero"
	Recovered           = "recovered"
	OOMKilled           = "oom-killed"
	DiscordTokenInvalid = "discord-token-invalid"
	NetworkError        = "network-error"
	BadDeployment       = "bad-deployment"
	CrashLoop           = "crash-loop"
	Unknown             = "unknown"
)

// Action kinds.
const (
	ForceNewDeployment = playbook.KindForceNewDeployment
	Rollback           = playbook.KindRollback
	RaiseTaskMemory    = playbook.KindRaiseTaskMemory
)

// Probe names (they appear in the Result's diagnostics).
const (
	ProbeService        = "ecs.service"
	ProbeStoppedTasks   = "ecs.stopped-tasks"
	ProbeTaskDefinition = "ecs.task-definition"
	ProbePrevious       = "ecs.previous-revision"
	ProbeLogs           = "logs.crash-lines"
	ProbeQueueDepth     = "metrics.queue-depth"
	ProbeMemory         = "metrics.memory"
	ProbeDiscord        = "discord.session-budget"
)

// Evidence is what the probes saw.
type Evidence struct {
	Now      time.Time
	Service  ecs.Service
	Stopped  []ecs.Task // stopped in the window, newest first
	TaskDef  ecs.TaskDefinition
	Previous string // the revision before the primary one ("" when none)
	Logs     logs.Excerpt
	Queue    metrics.Series // worker only: AWS/AmazonMQ MessageCount
	Memory   metrics.Series // MemoryUtilization of the service
	Discord  service.DiscordEvidence
}

// Policy is the environment's settings the decision depends on.
type Policy struct {
	AllowRollback      bool
	AllowRaiseMemory   bool
	MemoryFactor       float64
	MaxTaskMemoryMiB   int
	MinDiscordSessions int
	// A deployment younger than this whose tasks all fail, after a steady state on the
	// previous revision, is a bad deployment.
	BadDeploymentWindow time.Duration
}

// Input is everything Decide looks at.
type Input struct {
	Target   playbook.Target
	Evidence Evidence
	Failed   map[string]string // probe name -> error
	Policy   Policy
}

// Decide judges the evidence the way the runbook's "No … Tasks Running" sections do. Pure.
func Decide(in Input) playbook.Decision {
	ev, t, p := in.Evidence, in.Target, in.Policy
	svc := ev.Service
	if err, bad := in.Failed[ProbeService]; bad {
		return playbook.Decision{
			Finding:  report.Finding{Code: Unknown, Summary: "could not read service " + t.Service + ": " + err, Evidence: []string{}},
			Missing:  []string{ProbeService},
			Escalate: "the service state could not be read, so nothing was changed",
		}
	}
	evidence := serviceEvidence(svc, ev.Now)
	if svc.Desired == 0 {
		return playbook.Decision{
			Finding: report.Finding{Code: ScaledToZero, Evidence: evidence,
				Summary: t.Service + " is scaled to 0 on purpose (desired count 0, e.g. a fallback to the monolith); nothing to restart"},
			Recommendations: []string{"If this was not deliberate, scale it back up (see the commands below); otherwise silence this alarm while the fallback lasts."},
			Benign:          true,
		}
	}
	if svc.Running >= 1 {
		return playbook.Decision{
			Finding: report.Finding{Code: Recovered, Evidence: append(evidence, stoppedEvidence(ev.Stopped, 5)...),
				Summary: fmt.Sprintf("%s has %d running task(s) again; the alarm should clear on its next evaluation", t.Service, svc.Running)},
			Recommendations: []string{"Check the stopped tasks below for why it went down."},
			Benign:          true,
		}
	}
	if err, bad := in.Failed[ProbeStoppedTasks]; bad {
		return playbook.Decision{
			Finding:  report.Finding{Code: Unknown, Summary: "could not list the stopped tasks of " + t.Service + ": " + err, Evidence: evidence},
			Missing:  []string{ProbeStoppedTasks},
			Escalate: "without the stopped tasks the cause cannot be told, so nothing was changed",
		}
	}

	sig := readSignals(t, ev, p.BadDeploymentWindow)
	evidence = append(evidence, stoppedEvidence(ev.Stopped, 5)...)
	evidence = append(evidence, logEvidence(ev.Logs, 5)...)
	if svc.Network != nil {
		evidence = append(evidence, "network: "+svc.Network.String())
	}
	if line := queueEvidence(ev.Queue); line != "" {
		evidence = append(evidence, line)
	}
	if line := service.DiscordLine(ev.Discord); line != "" {
		evidence = append(evidence, line)
	}
	if _, bad := in.Failed[ProbeLogs]; bad {
		evidence = append(evidence, "logs: could not be read (see diagnostics); the cause is judged from the stopped tasks alone")
	}

	d := playbook.Decision{Finding: report.Finding{Evidence: evidence}}
	switch {
	case sig.token:
		d.Finding.Code = DiscordTokenInvalid
		d.Finding.Summary = fmt.Sprintf("%s cannot log in to Discord: the bot token is rejected (%s); a restart cannot help", t.Service, sig.tokenWhy)
		d.Escalate = "the Discord bot token must be replaced by a person"
		d.Recommendations = []string{
			"Check the bot token in the Discord developer portal and update the secret; then force a new deployment.",
			"If the token was reset on purpose, make sure every environment got the new one.",
		}
	case sig.network > 0:
		d.Finding.Code = NetworkError
		d.Finding.Summary = fmt.Sprintf("%s tasks cannot start: %d of %d stopped tasks failed on the network (%s); a restart cannot help",
			t.Service, sig.network, len(ev.Stopped), sig.networkWhy)
		d.Escalate = "tasks fail before starting on a network error: check the VPC, subnets, security groups and endpoints"
		d.Recommendations = []string{
			"Check that the subnets route to ECR, S3, Secrets Manager and CloudWatch Logs (NAT gateway or VPC endpoints).",
			"Check the security groups allow outbound HTTPS (443).",
		}
		if svc.Network != nil && svc.Network.PublicIP == "DISABLED" {
			d.Recommendations = append(d.Recommendations, "Public IP is DISABLED: the subnets need a NAT gateway or VPC endpoints to pull images.")
		}
	case sig.oom > 0:
		d.Finding.Code = OOMKilled
		d.Finding.Summary = fmt.Sprintf("%s is being OOM-killed: %d of %d tasks stopped in the last hour ran out of memory%s%s",
			t.Service, sig.oom, len(ev.Stopped), exit137Note(sig), memoryNote(ev.TaskDef))
		d.Actions = oomActions(t, ev, in.Failed, p)
		d.Recommendations = []string{"Restarting buys time; the fix is more task memory or a fix for the leak. File a bug with the memory graph."}
	case sig.badDeployment:
		d.Finding.Code = BadDeployment
		prim, _ := svc.Primary()
		d.Finding.Summary = fmt.Sprintf("%s has failed since deployment %s of %s (%s ago); %s ran steadily before",
			t.Service, prim.ID, ecs.Short(prim.TaskDefinition), playbook.Ago(ev.Now.Sub(prim.CreatedAt)), ecs.Short(ev.Previous))
		act := playbook.Action{Kind: Rollback, Target: t.Service, Ref: ev.Previous, Expect: prim.ID,
			Change: playbook.Change{FromTaskDefinition: prim.TaskDefinition, ToTaskDefinition: ev.Previous},
			Reason: "every task of the new revision fails; the previous revision was healthy"}
		if !p.AllowRollback {
			act.Blocked = guard.Rule{Code: guard.RulePolicy, Detail: "rollback is off in this environment (GPR_ALLOW_ROLLBACK=false)"}
			d.Recommendations = append(d.Recommendations, "Roll back to "+ecs.Short(ev.Previous)+" (command below) or fix forward.")
		}
		d.Actions = []playbook.Action{act}
		d.Recommendations = append(d.Recommendations, "A restart would run the same failing revision again, so none was done.")
	case sig.crashed > 0:
		d.Finding.Code = CrashLoop
		d.Finding.Summary = fmt.Sprintf("%s is crash-looping: %d tasks stopped in the last hour (%s)", t.Service, sig.crashed, sig.crashWhy)
		d.Actions = []playbook.Action{restart(t, ev, in.Failed, p, "tasks keep exiting; a fresh deployment retries after the circuit breaker gave up")}
		d.Recommendations = []string{"If it crashes again after the restart, read the log lines below and the runbook's resolution list."}
	default:
		d.Finding.Code = Unknown
		d.Finding.Summary = fmt.Sprintf("%s has no running task and no stopped task explains why (%d stopped in the last hour)", t.Service, len(ev.Stopped))
		d.Escalate = "no known cause: a person must look (placement, capacity or quota problems show in the service events)"
	}
	return d
}

// signals are the facts the findings are built from.
type signals struct {
	token         bool
	tokenWhy      string
	network       int
	networkWhy    string
	oom           int
	oomExit137    int // OOM-killed tasks a container of which reported exit code 137
	crashed       int
	crashWhy      string
	badDeployment bool
}

var (
	tokenMarkers   = []string{"4004", "authentication failed", "invalid token", "401: unauthorized", "401 unauthorized", "rejected the bot token", "improper token"}
	networkMarkers = []string{"CannotPullContainerError", "ResourceInitializationError", "i/o timeout", "dial tcp", "no such host",
		"TLS handshake timeout", "unable to pull secrets", "connection refused", "network is unreachable"}
)

func readSignals(t playbook.Target, ev Evidence, badWindow time.Duration) signals {
	var s signals
	if t.Role == "ingestor" {
		if ev.Discord.Unauthorized {
			s.token, s.tokenWhy = true, "Discord answered 401 to GET /gateway/bot with the stored token"
		} else if line, ok := ev.Logs.Contains(tokenMarkers...); ok {
			s.token, s.tokenWhy = true, "log: "+playbook.Clip(line.Message, 120)
		}
	}
	allOnPrimary := len(ev.Stopped) > 0
	prim, hasPrim := ev.Service.Primary()
	for _, task := range ev.Stopped {
		text := task.StoppedReason
		for _, c := range task.Containers {
			text += " " + c.Reason
		}
		switch {
		case containsAny(text, networkMarkers):
			s.network++
			if s.networkWhy == "" {
				s.networkWhy = playbook.Clip(task.StoppedReason, 160)
			}
		case isOOM(task, ev.Logs):
			s.oom++
			if reportedExit(task, 137) {
				s.oomExit137++
			}
		case crashed(task):
			s.crashed++
			if s.crashWhy == "" {
				s.crashWhy = exitSummary(task)
			}
		}
		if !hasPrim || task.TaskDefinition != prim.TaskDefinition || task.CreatedAt.Before(prim.CreatedAt) {
			allOnPrimary = false
		}
	}
	// A bad deployment: every failure is on the newest revision, the deployment is recent, a
	// previous revision exists, and the service was steady before the deployment.
	if hasPrim && allOnPrimary && ev.Previous != "" && ev.Previous != prim.TaskDefinition && s.crashed > 0 &&
		ev.Now.Sub(prim.CreatedAt) <= badWindow && steadyBefore(ev.Service, prim.CreatedAt) {
		s.badDeployment = true
	}
	return s
}

func steadyBefore(svc ecs.Service, t time.Time) bool {
	for _, e := range svc.Events {
		if e.At.Before(t) && strings.Contains(e.Message, "has reached a steady state") {
			return true
		}
	}
	for _, d := range svc.Deployments { // an older deployment still running tasks was healthy
		if d.Status != "PRIMARY" && d.Running > 0 {
			return true
		}
	}
	return false
}

func isOOM(task ecs.Task, lg logs.Excerpt) bool {
	if strings.Contains(task.StoppedReason, "OutOfMemory") {
		return true
	}
	for _, c := range task.Containers {
		if strings.Contains(c.Reason, "OutOfMemory") {
			return true
		}
		if c.ExitCode != nil && *c.ExitCode == 137 {
			// 137 is SIGKILL: OOM, or a stop timeout. Only call it OOM with corroboration.
			if _, ok := lg.Contains("out of memory", "OutOfMemory", "oom-kill"); ok {
				return true
			}
		}
	}
	return false
}

// reportedExit says whether a container of the task reported exit code code. A task whose
// containers returned no exit code at all (killed before starting, some emulators) did not.
func reportedExit(task ecs.Task, code int) bool {
	for _, c := range task.Containers {
		if c.ExitCode != nil && *c.ExitCode == code {
			return true
		}
	}
	return false
}

// exit137Note says what the containers reported: exit 137 only where a container did.
func exit137Note(s signals) string {
	switch {
	case s.oomExit137 == 0:
		return " (no container exit code was returned)"
	case s.oomExit137 == s.oom:
		return " (exit 137)"
	default:
		return fmt.Sprintf(" (%d with exit 137; the others returned no exit code)", s.oomExit137)
	}
}

func crashed(task ecs.Task) bool {
	if task.StopCode == "EssentialContainerExited" {
		return true
	}
	for _, c := range task.Containers {
		if c.ExitCode != nil && *c.ExitCode != 0 {
			return true
		}
	}
	return false
}

func exitSummary(task ecs.Task) string {
	for _, c := range task.Containers {
		if c.ExitCode != nil && *c.ExitCode != 0 {
			s := fmt.Sprintf("container %s exit %d", c.Name, *c.ExitCode)
			if c.Reason != "" {
				s += ": " + playbook.Clip(c.Reason, 100)
			}
			return s
		}
	}
	return playbook.Clip(task.StoppedReason, 120)
}

// restart proposes a forced deployment, blocked when the ingestor's Discord session budget
// is unknown or too low (each restart opens gateway sessions; running out locks the bot out
// for the rest of the day).
func restart(t playbook.Target, ev Evidence, failed map[string]string, p Policy, why string) playbook.Action {
	prim, _ := ev.Service.Primary()
	act := playbook.Action{Kind: ForceNewDeployment, Target: t.Service, Reason: why, Expect: prim.ID,
		Change: playbook.Change{FromTaskDefinition: ev.Service.TaskDefinition}}
	if t.Role == service.RoleIngestor {
		act.Blocked = service.DiscordBlock(ev.Discord, failed[ProbeDiscord], p.MinDiscordSessions)
	}
	return act
}

func oomActions(t playbook.Target, ev Evidence, failed map[string]string, p Policy) []playbook.Action {
	rst := restart(t, ev, failed, p, "tasks are OOM-killed; a restart brings the service back while memory is raised or the leak fixed")
	prim, _ := ev.Service.Primary()
	raise := playbook.Action{Kind: RaiseTaskMemory, Target: t.Service, Ref: ev.TaskDef.ARN, Expect: prim.ID,
		Reason: "tasks run out of memory"}
	cur := ev.TaskDef.MemoryMiB
	switch {
	case failed[ProbeTaskDefinition] != "" || cur == 0:
		raise.Blocked = guard.Rule{Code: guard.RuleMissingEvidence, Detail: "the task definition's memory could not be read"}
	default:
		next := int(math.Ceil(float64(cur) * p.MemoryFactor))
		next = min(next, p.MaxTaskMemoryMiB)
		raise.Change = playbook.Change{FromMiB: cur, ToMiB: next, FromTaskDefinition: ev.TaskDef.ARN}
		switch {
		case next <= cur:
			raise.Blocked = guard.Rule{Code: guard.RuleCap, Detail: fmt.Sprintf("task memory is already %d MiB, the cap is %d MiB (GPR_MAX_TASK_MEMORY_MIB)", cur, p.MaxTaskMemoryMiB)}
		case !p.AllowRaiseMemory:
			raise.Blocked = guard.Rule{Code: guard.RulePolicy, Detail: "raise-task-memory is off in this environment (GPR_ALLOW_RAISE_MEMORY=false)"}
		}
	}
	if !raise.Blocked.Set() {
		// The new revision's deployment restarts the service too; a separate restart would
		// only add a second rollout.
		if rst.Blocked.Set() {
			raise.Blocked = rst.Blocked // the Discord guard applies to any ingestor rollout
		}
		return []playbook.Action{raise}
	}
	return []playbook.Action{rst, raise}
}

func memoryNote(td ecs.TaskDefinition) string {
	if td.MemoryMiB == 0 {
		return ""
	}
	return fmt.Sprintf("; task memory %d MiB (%s)", td.MemoryMiB, ecs.Short(td.ARN))
}

func serviceEvidence(svc ecs.Service, now time.Time) []string {
	out := []string{fmt.Sprintf("service %s: desired %d, running %d, pending %d; task definition %s",
		svc.Name, svc.Desired, svc.Running, svc.Pending, ecs.Short(svc.TaskDefinition))}
	for _, d := range svc.Deployments {
		line := fmt.Sprintf("deployment %s (%s) of %s created %s ago: rollout %s, running %d/%d, failed tasks %d",
			d.ID, d.Status, ecs.Short(d.TaskDefinition), playbook.Ago(now.Sub(d.CreatedAt)), d.RolloutState, d.Running, d.Desired, d.Failed)
		if d.RolloutReason != "" {
			line += " (" + playbook.Clip(d.RolloutReason, 160) + ")"
		}
		out = append(out, line)
	}
	for i, e := range svc.Events {
		if i == 5 {
			break
		}
		out = append(out, fmt.Sprintf("event %s: %s", e.At.UTC().Format("15:04:05"), playbook.Clip(e.Message, 200)))
	}
	return out
}

func stoppedEvidence(tasks []ecs.Task, n int) []string {
	var out []string
	if len(tasks) == 0 {
		return []string{"no task stopped in the last hour"}
	}
	out = append(out, fmt.Sprintf("%d task(s) stopped in the last hour", len(tasks)))
	for i, t := range tasks {
		if i == n {
			break
		}
		line := fmt.Sprintf("stopped task %s at %s (%s): %s — %s", t.ID(), t.StoppedAt.UTC().Format("15:04:05"),
			ecs.Short(t.TaskDefinition), t.StopCode, playbook.Clip(t.StoppedReason, 200))
		for _, c := range t.Containers {
			if c.ExitCode != nil {
				line += fmt.Sprintf("; container %s exit %d", c.Name, *c.ExitCode)
			}
			if c.Reason != "" {
				line += " (" + playbook.Clip(c.Reason, 120) + ")"
			}
		}
		out = append(out, line)
	}
	return out
}

// logEvidence quotes the newest matching log lines, leaving out stack frames: a panic's
// trace matches "panic" on every line and would crowd out the message that says why.
func logEvidence(ex logs.Excerpt, n int) []string {
	var lines []logs.Line
	for _, l := range ex.Lines {
		if !stackFrame(l.Message) {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	var out []string
	start := max(0, len(lines)-n)
	for _, l := range lines[start:] {
		out = append(out, fmt.Sprintf("log %s: %s", l.At.UTC().Format("15:04:05"), playbook.Clip(l.Message, 200)))
	}
	if hidden := len(ex.Lines) - (len(lines) - start); hidden > 0 {
		out = append(out, fmt.Sprintf("(%d more matching log lines not shown%s)", hidden, map[bool]string{true: "; more were not read", false: ""}[ex.Truncated]))
	}
	return out
}

func stackFrame(msg string) bool {
	t := strings.TrimLeft(msg, " \t")
	return len(t) < len(msg) && (strings.HasPrefix(t, "/") || strings.HasPrefix(t, "at ")) ||
		strings.HasPrefix(msg, "goroutine ") || strings.HasPrefix(t, "created by ")
}

func queueEvidence(s metrics.Series) string {
	last, ok := s.Last()
	if !ok {
		return ""
	}
	first := last
	for _, p := range s.Points {
		if !math.IsNaN(p.V) {
			first = p
			break
		}
	}
	return fmt.Sprintf("queue depth: %.0f messages now, %.0f at %s (messages are kept in the queue and will be processed once the worker runs)",
		last.V, first.V, first.T.UTC().Format("15:04"))
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// ServiceStates records the service the diagnosis read as the incident's baseline
// (playbook.ServiceStater).
func (ev Evidence) ServiceStates() []incident.ServiceState { return playbook.ServiceState(ev.Service) }
