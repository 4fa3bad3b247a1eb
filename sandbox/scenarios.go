package sandbox

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Scenarios: each is a short function that edits the healthy spec (data: counts, crash
// histories, metric shapes, log lines, reactions); materialize turns a spec into a consistent
// account (tasks, deployments, events, logs, metric gaps while nothing runs). Offsets are
// relative to the load time.

// Fixed values the scenarios put in secrets, exported so tests can compare.
const (
	// DiscordValidToken is the bot token the Discord API stand-in accepts.
	DiscordValidToken = "MTMwMDAwMDAwMDAwMDAwMDAwMA.GsAndB.sandbox-valid-bot-token-0000000000000"
	// DiscordRotatedToken is the stale token ingestor-token-invalid stores in the secret.
	DiscordRotatedToken = "MTMwMDAwMDAwMDAwMDAwMDAwMA.GoLdTk.sandbox-rotated-bot-token-000000000000"
	// PagerDutyRoutingKey is the routing key in the PagerDuty secret (32 characters).
	PagerDutyRoutingKey = "R0SANDBOXPAGERDUTYROUTINGKEY0000"
	// SlackHookPath and DiscordHookPath are the webhook ids in the webhooks secret.
	SlackHookPath   = "T0SANDBOX/B0REPORTS/sandboxslacktoken000000"
	DiscordHookPath = "1300000000000000000/sandbox-discord-webhook-token"
)

const (
	roleIngestor = "ingestor"
	roleWorker   = "worker"

	minute = time.Minute
	hour   = time.Hour
	day    = 24 * time.Hour
	// forever ends the last metric gap of a service that is down when the scenario loads.
	forever = 100000 * time.Hour
	// window is how far back scenario data (metrics, logs) reaches.
	window = 3 * time.Hour
)

// ScenarioInfo names a scenario with a one-line description.
type ScenarioInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type scenario struct {
	name, description string
	edit              func(sp *scenarioSpec)
}

// crash is one task of the PRIMARY deployment that stopped with a failure At (offset) after
// running Ran (0: it never started). A Ran reaching back to the deployment means the task
// started with it.
type crash struct {
	At      time.Duration
	Ran     time.Duration
	Failure TaskFailure
	Logs    []string
}

// logLine is one extra log line At (offset) in the service's log group.
type logLine struct {
	At   time.Duration
	Line string
}

type serviceSpec struct {
	Desired, Running int
	Revisions        int           // the family has revisions 1..Revisions (the last 4 ACTIVE)
	Revision         int           // the PRIMARY deployment's revision
	LatestAgo        time.Duration // when the latest revision was registered (default 7 days)
	DeployedAgo      time.Duration // when the PRIMARY deployment was created
	Rollout          string        // its rollout state (default COMPLETED)
	// PreviousAgo, when set, is a previous deployment (of revision Revision-1) that ran from
	// then until DeployedAgo; its tasks have aged out of ListTasks, but its events remain.
	PreviousAgo     time.Duration
	PreviousDesired int
	Crashes         []crash
	// History holds running periods of tasks that aged out of ListTasks (for metrics and logs).
	History         []Window
	ScaledToZeroAgo time.Duration // the running tasks were stopped by a scale-in then
	MinHealthy      int
	Outcomes        map[int]TaskOutcome // what new tasks do; key 0 = every revision
	CPU, Memory     Shape
	Logs            []logLine
	Events          []logLine // extra service events
}

type discordSpec struct {
	TokenValid bool
	Remaining  int
	ResetAfter time.Duration
}

type scenarioSpec struct {
	Ingestor, Worker serviceSpec
	Queue, DLQ       Shape
	Discord          discordSpec
	Reactions        []Reaction
}

// flat is a flat percentage series with noise.
func flat(level, noise float64) Shape {
	return Shape{Keys: []Key{{-window, level}, {0, level}}, Noise: noise, Max: 100}
}

// ramp is a percentage series through the given keyframes.
func ramp(noise float64, keys ...Key) Shape {
	return Shape{Keys: keys, Noise: noise, Max: 100}
}

// count is a message-count series through the given keyframes that keeps its last trend.
func count(noise float64, keys ...Key) Shape {
	return Shape{Keys: keys, Noise: noise, Continue: true, Integer: true}
}

func oomFailure() TaskFailure {
	return TaskFailure{StopCode: stopEssentialExited, StoppedReason: "Essential container in task exited",
		ExitCode: Int(137), ContainerReason: "OutOfMemoryError: Container killed due to memory usage"}
}

func exitFailure(code int, ran time.Duration) TaskFailure {
	return TaskFailure{StopCode: stopEssentialExited, StoppedReason: "Essential container in task exited",
		ExitCode: Int(code), Ran: ran}
}

func pullFailure(reason string) TaskFailure {
	return TaskFailure{StopCode: stopFailedToStart, StoppedReason: reason, ContainerReason: reason}
}

var oomLogs = []string{
	"fatal error: runtime: out of memory",
	"runtime stack:",
	"runtime.throw({0x8c3f1e?, 0x2000?})",
	"\t/usr/local/go/src/runtime/panic.go:1101 +0x48",
	"runtime.(*mheap).grow(0x1a2b3c0, 0x4000)",
	"\t/usr/local/go/src/runtime/mheap.go:1566 +0x2bc",
}

var nilPanicLogs = []string{
	`level=INFO msg="starting gp-worker" queue=arrakis.interactions prefetch=10`,
	"panic: runtime error: invalid memory address or nil pointer dereference",
	"[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6f2b3c]",
	"goroutine 1 [running]:",
	"github.com/arrakis/gp-worker/internal/consumer.(*Handler).Handle(0x0, {0x8a1f20, 0xc0001a2000})",
	"\t/src/internal/consumer/handler.go:88 +0x3c",
	"github.com/arrakis/gp-worker/internal/consumer.(*Consumer).Run(0xc000132000, {0x8a3e48, 0xc00009e0a0})",
	"\t/src/internal/consumer/consumer.go:141 +0x2b1",
	"main.main()",
	"\t/src/cmd/worker/main.go:64 +0x2f1",
}

var tokenLogs = []string{
	`level=INFO msg="connecting to Discord gateway" shard=0 intents=33281`,
	`level=ERROR msg="Shard 0 closed: 4004 Authentication failed" shard=0 code=4004`,
	"fatal: gateway rejected the bot token",
}

var dbDownLogs = []string{
	`level=INFO msg="starting gp-worker" queue=arrakis.interactions prefetch=10`,
	`level=ERROR msg="cannot connect to database" host=arrakis-db.internal port=5432 err="dial tcp 10.0.2.15:5432: connect: connection refused"`,
	"fatal: cannot connect to database: dial tcp 10.0.2.15:5432: connect: connection refused",
}

var queueConfigLogs = []string{
	`level=INFO msg="starting gp-worker" queue=arrakis.interactions prefetch=10`,
	`level=ERROR msg="consume setup failed" err="Exception (406) Reason: \"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'arrakis.interactions' in vhost '/': received 'quorum' but current is 'classic'\""`,
	"fatal: cannot consume arrakis.interactions: Exception (406) Reason: \"PRECONDITION_FAILED\"",
}

var ingestorStartLogs = []string{
	`level=INFO msg="connecting to Discord gateway" shard=0 intents=33281`,
	`level=INFO msg="gateway session ready" shard=0 guilds=1842`,
}

var workerStartLogs = []string{
	`level=INFO msg="starting gp-worker" queue=arrakis.interactions prefetch=10`,
	`level=INFO msg="consuming" queue=arrakis.interactions consumers=1`,
}

func pullReason(env string) string {
	return fmt.Sprintf("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref %s.dkr.ecr.%s.amazonaws.com/arrakis-gp-worker:v2.4.1: failed to do request: Head \"https://%s.dkr.ecr.%s.amazonaws.com/v2/arrakis-gp-worker/manifests/v2.4.1\": dial tcp 10.0.1.23:443: i/o timeout",
		AccountID, Region, AccountID, Region)
}

func secretsReason(env string) string {
	return fmt.Sprintf("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 5 time(s): failed to fetch secret %s from secrets manager: RequestCanceled: request context canceled caused by: context deadline exceeded. Please check your task network configuration.",
		secretARN("arrakis-"+env+"/rabbitmq"))
}

// every returns n offsets from first, step apart.
func every(first, step time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = first + time.Duration(i)*step
	}
	return out
}

// queueFalls is the reaction "when the workers recover or grow, the backlog drains".
func queueFalls(n queueNames, on Trigger, perMinute float64) Reaction {
	return Reaction{On: on, Service: roleWorker, Metric: n.queueRef(), Level: 5, PerMinute: perMinute, Noise: 3}
}

// queueNames is what the queue reactions need from the environment.
type queueNames struct{ broker, queue string }

func (q queueNames) queueRef() MetricRef {
	return MetricRef{Namespace: "AWS/AmazonMQ", Name: "MessageCount", Dimensions: map[string]string{"Broker": q.broker, "Queue": q.queue}}
}

func (s *Sandbox) queueNames() queueNames { return queueNames{s.names.Broker, s.names.Queue} }

func (s *Sandbox) serviceMetric(role, name string) MetricRef {
	svc := s.names.IngestorService
	if role == roleWorker {
		svc = s.names.WorkerService
	}
	return MetricRef{Namespace: "AWS/ECS", Name: name, Dimensions: map[string]string{"ClusterName": s.names.Cluster, "ServiceName": svc}}
}

// scenarioList is built per sandbox because a few values (failure reasons) name the
// environment's resources.
func (s *Sandbox) scenarioList() []scenario {
	env := s.opts.Env
	q := s.queueNames()
	return []scenario{
		{"healthy", "Both services running as desired, flat metrics, no errors.", func(sp *scenarioSpec) {}},

		{"ingestor-oom", "Ingestor OOM crash loop over the last hour (exit 137, OutOfMemoryError); a forced deployment's tasks keep running.", func(sp *scenarioSpec) {
			in := &sp.Ingestor
			in.Running = 0
			in.Crashes = []crash{{At: -55 * minute, Ran: in.DeployedAgo - 55*minute, Failure: oomFailure(), Logs: oomLogs}}
			for _, at := range every(-43*minute, 12*minute, 4) {
				in.Crashes = append(in.Crashes, crash{At: at, Ran: 10 * minute, Failure: oomFailure(), Logs: oomLogs})
			}
			in.Memory = ramp(0.8, Key{-window, 70}, Key{-56 * minute, 99},
				Key{-53 * minute, 31}, Key{-44 * minute, 99}, Key{-41 * minute, 31}, Key{-32 * minute, 99},
				Key{-29 * minute, 31}, Key{-20 * minute, 99}, Key{-17 * minute, 31}, Key{-8 * minute, 99})
			in.CPU = flat(16, 2)
			in.Outcomes = map[int]TaskOutcome{0: {Logs: ingestorStartLogs}}
		}},

		{"worker-bad-deployment", "Worker :42 deployed 25 min ago fails (circuit breaker FAILED, nil-pointer panic, exit 2); :41 ran for days; queue growing.", func(sp *scenarioSpec) {
			w := &sp.Worker
			w.Desired, w.Running = 2, 0
			w.Revisions, w.Revision = 42, 42
			w.LatestAgo = 26 * minute
			w.PreviousAgo, w.PreviousDesired = 3*day, 2
			w.DeployedAgo = 25 * minute
			w.Rollout = rolloutFailed
			w.MinHealthy = 0
			fail := exitFailure(2, 20*time.Second)
			for _, at := range []time.Duration{-24 * minute, -24 * minute, -19 * minute, -19 * minute} {
				w.Crashes = append(w.Crashes, crash{At: at, Ran: 20 * time.Second, Failure: fail, Logs: nilPanicLogs})
			}
			w.Outcomes = map[int]TaskOutcome{0: {Logs: workerStartLogs}, 42: {Failure: &fail, Logs: nilPanicLogs}}
			sp.Queue = count(8, Key{-window, 12}, Key{-25 * minute, 14}, Key{0, 1500})
			sp.Reactions = append(sp.Reactions, queueFalls(q, TriggerRestart, 150))
		}},

		{"ingestor-token-invalid", "Ingestor crash loop (exit 1): gateway close 4004, the stored bot token is rejected; Discord API answers 401.", func(sp *scenarioSpec) {
			in := &sp.Ingestor
			in.Running = 0
			fail := exitFailure(1, 6*time.Second)
			in.Crashes = []crash{{At: -62 * minute, Ran: in.DeployedAgo - 62*minute, Failure: fail, Logs: tokenLogs}}
			for _, at := range every(-52*minute, 11*minute, 5) {
				in.Crashes = append(in.Crashes, crash{At: at, Ran: 6 * time.Second, Failure: fail, Logs: tokenLogs})
			}
			in.Outcomes = map[int]TaskOutcome{0: {Failure: &fail, Logs: tokenLogs}}
			sp.Discord.TokenValid = false
		}},

		{"scaled-to-zero", "Ingestor and worker deliberately scaled to 0 two hours ago (fallback to the monolith); no failures.", func(sp *scenarioSpec) {
			sp.Ingestor.Desired, sp.Worker.Desired = 0, 0
			sp.Ingestor.ScaledToZeroAgo = 121 * minute
			sp.Worker.ScaledToZeroAgo = 120 * minute
			sp.Queue = count(0, Key{-window, 12}, Key{-121 * minute, 12}, Key{-118 * minute, 0}, Key{0, 0})
		}},

		{"image-pull-network-error", "Worker tasks fail to start (TaskFailedToStart: CannotPullContainerError i/o timeout, one ResourceInitializationError); no exit code.", func(sp *scenarioSpec) {
			w := &sp.Worker
			w.Running = 0
			w.History = []Window{{From: -w.DeployedAgo, To: -58 * minute}}
			for i, at := range every(-56*minute, 12*minute, 5) {
				reason := pullReason(env)
				if i == 2 {
					reason = secretsReason(env)
				}
				w.Crashes = append(w.Crashes, crash{At: at, Failure: pullFailure(reason)})
			}
			f := pullFailure(pullReason(env))
			w.Outcomes = map[int]TaskOutcome{0: {Failure: &f}}
			sp.Queue = count(8, Key{-window, 12}, Key{-58 * minute, 14}, Key{0, 900})
		}},

		{"worker-crash-loop-relapse", "Like worker-crash-loop, but a forced deployment's tasks crash too (the database is still down): a restart does not hold.", func(sp *scenarioSpec) {
			w := &sp.Worker
			w.Running = 0
			fail := exitFailure(1, 8*time.Second)
			w.Crashes = []crash{{At: -57 * minute, Ran: w.DeployedAgo - 57*minute, Failure: fail, Logs: dbDownLogs}}
			for _, at := range every(-45*minute, 12*minute, 4) {
				w.Crashes = append(w.Crashes, crash{At: at, Ran: 8 * time.Second, Failure: fail, Logs: dbDownLogs})
			}
			w.Outcomes = map[int]TaskOutcome{0: {Failure: &fail, Logs: dbDownLogs}}
			sp.Queue = count(8, Key{-window, 12}, Key{-57 * minute, 14}, Key{0, 700})
		}},

		{"worker-crash-loop", "Worker crash loop (exit 1, cannot connect to database), no recent deployment; a forced deployment's tasks run.", func(sp *scenarioSpec) {
			w := &sp.Worker
			w.Running = 0
			fail := exitFailure(1, 8*time.Second)
			w.Crashes = []crash{{At: -57 * minute, Ran: w.DeployedAgo - 57*minute, Failure: fail, Logs: dbDownLogs}}
			for _, at := range every(-45*minute, 12*minute, 4) {
				w.Crashes = append(w.Crashes, crash{At: at, Ran: 8 * time.Second, Failure: fail, Logs: dbDownLogs})
			}
			w.Outcomes = map[int]TaskOutcome{0: {Logs: workerStartLogs}}
			sp.Queue = count(8, Key{-window, 12}, Key{-57 * minute, 14}, Key{0, 700})
			sp.Reactions = append(sp.Reactions, queueFalls(q, TriggerRestart, 100))
		}},

		{"queue-under-provisioned", "Worker 1/1 at ~90% CPU; MessageCount 200 -> 2400 over 15 min; a scale-up makes it fall.", func(sp *scenarioSpec) {
			sp.Worker.CPU = ramp(2.5, Key{-window, 35}, Key{-30 * minute, 88}, Key{0, 91})
			sp.Queue = count(25, Key{-window, 150}, Key{-15 * minute, 200}, Key{0, 2400})
			sp.Worker.Logs = minuteLines(-15*minute, 0, 3*minute, `level=WARN msg="consumer saturated" prefetch=10 unacked=10 handler_p99_ms=950`)
			sp.Reactions = append(sp.Reactions,
				queueFalls(q, TriggerScaleUp, 250),
				Reaction{On: TriggerScaleUp, Service: roleWorker, Metric: s.serviceMetric(roleWorker, "CPUUtilization"), Level: 50, Noise: 3})
		}},

		{"queue-stays-high", "Like queue-under-provisioned, but more workers do not bring MessageCount down (it stays ~2400): the follow-ups step up to the cap, then escalate.", func(sp *scenarioSpec) {
			sp.Worker.CPU = ramp(2.5, Key{-window, 35}, Key{-30 * minute, 88}, Key{0, 91})
			sp.Queue = count(25, Key{-window, 150}, Key{-15 * minute, 200}, Key{0, 2400})
			sp.Worker.Logs = minuteLines(-15*minute, 0, 3*minute, `level=WARN msg="consumer saturated" prefetch=10 unacked=10 handler_p99_ms=950`)
		}},

		{"queue-workers-missing", "Worker desired 1 running 0 (tasks crash on queue setup); MessageCount growing.", func(sp *scenarioSpec) {
			w := &sp.Worker
			w.Running = 0
			fail := exitFailure(1, 5*time.Second)
			w.Crashes = []crash{{At: -29 * minute, Ran: w.DeployedAgo - 29*minute, Failure: fail, Logs: queueConfigLogs}}
			for _, at := range every(-22*minute, 6*minute, 4) {
				w.Crashes = append(w.Crashes, crash{At: at, Ran: 5 * time.Second, Failure: fail, Logs: queueConfigLogs})
			}
			w.Outcomes = map[int]TaskOutcome{0: {Failure: &fail, Logs: queueConfigLogs}}
			sp.Queue = count(15, Key{-window, 12}, Key{-29 * minute, 14}, Key{0, 1600})
		}},

		{"queue-consumers-missing", "Worker 2/2 at ~1% CPU, nobody consuming since 20 min; MessageCount growing; a forced deployment restores consumers.", func(sp *scenarioSpec) {
			w := &sp.Worker
			w.Desired, w.Running = 2, 2
			w.CPU = ramp(0.4, Key{-window, 20}, Key{-21 * minute, 20}, Key{-20 * minute, 1}, Key{0, 1})
			sp.Queue = count(10, Key{-window, 12}, Key{-20 * minute, 14}, Key{0, 2000})
			w.Logs = []logLine{
				{-20 * minute, `level=WARN msg="amqp channel closed" err="Exception (320) Reason: \"CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'\""`},
				{-20 * minute, `level=ERROR msg="consumer stopped; not reconnecting" queue=arrakis.interactions`},
			}
			w.Outcomes = map[int]TaskOutcome{0: {Logs: workerStartLogs}}
			sp.Reactions = append(sp.Reactions,
				queueFalls(q, TriggerRestart, 200),
				Reaction{On: TriggerRestart, Service: roleWorker, Metric: s.serviceMetric(roleWorker, "CPUUtilization"), Level: 40, Noise: 3})
		}},

		{"queue-database-bottleneck", "Worker 2/2 at ~20% CPU, MessageCount growing, logs: slow queries and connection-pool timeouts.", func(sp *scenarioSpec) {
			w := &sp.Worker
			w.Desired, w.Running = 2, 2
			w.CPU = flat(20, 2)
			sp.Queue = count(12, Key{-window, 12}, Key{-15 * minute, 200}, Key{0, 1400})
			for i, at := range every(-15*minute, minute, 15) {
				secs := []string{"8.2", "6.9", "9.4", "7.7", "8.8"}[i%5]
				w.Logs = append(w.Logs,
					logLine{at, fmt.Sprintf(`level=WARN msg="slow query took %ss" query="UPDATE interactions SET state = $1 WHERE id = $2" rows=1`, secs)},
					logLine{at + 20*time.Second, `level=ERROR msg="timeout acquiring connection" pool=pgx max_conns=20 waited=5s`})
			}
		}},

		{"queue-draining", "Worker 3/3; MessageCount falling from 3000 to 400 over 15 min.", func(sp *scenarioSpec) {
			w := &sp.Worker
			w.Desired, w.Running = 3, 3
			w.CPU = flat(70, 4)
			sp.Queue = count(20, Key{-window, 20}, Key{-50 * minute, 20}, Key{-25 * minute, 3000}, Key{-15 * minute, 3000}, Key{0, 400})
		}},

		{"memory-leak", "Ingestor MemoryUtilization rising steadily 40 -> 82% over the last hour, CPU flat; a forced deployment brings it to ~35%. Discord budget 900.", func(sp *scenarioSpec) {
			leak(sp)
		}},

		{"memory-spike", "Ingestor memory flat ~45% then a jump to ~88% in the last 5 minutes.", func(sp *scenarioSpec) {
			sp.Ingestor.Memory = ramp(0.8, Key{-window, 45}, Key{-5 * minute, 45}, Key{-4 * minute, 88}, Key{0, 88})
		}},

		{"memory-sustained-high", "Ingestor memory 87-93% throughout.", func(sp *scenarioSpec) {
			sp.Ingestor.Memory = ramp(3, Key{-window, 90}, Key{0, 90})
		}},

		{"memory-recovering", "Ingestor memory was 90%, now falling to 60%.", func(sp *scenarioSpec) {
			m := ramp(0.8, Key{-window, 86}, Key{-45 * minute, 90}, Key{0, 60})
			m.Continue, m.Min = true, 40
			sp.Ingestor.Memory = m
		}},

		{"memory-leak-discord-budget-low", "Like memory-leak, but only 2 Discord session starts remain (reset in 3 h).", func(sp *scenarioSpec) {
			leak(sp)
			sp.Discord.Remaining, sp.Discord.ResetAfter = 2, 3*hour
		}},

		{"ingestor-leak-oom", "Ingestor leaking (memory 40 -> 82% over the hour) and just OOM-killed: both No Ingestor Tasks Running and Ingestor Memory High fire; a forced deployment's tasks run.", func(sp *scenarioSpec) {
			leak(sp)
			in := &sp.Ingestor
			in.Running = 0
			in.Crashes = []crash{{At: -2 * minute, Ran: in.DeployedAgo - 2*minute, Failure: oomFailure(), Logs: oomLogs}}
		}},

		{"dlq", "Healthy AWS side; the dead letters live in the real RabbitMQ (DLQ MessageCount 37).", func(sp *scenarioSpec) {
			sp.DLQ = count(0, Key{-window, 0}, Key{-30 * minute, 0}, Key{-25 * minute, 37}, Key{0, 37})
			sp.DLQ.Continue = false
		}},
	}
}

func leak(sp *scenarioSpec) {
	m := ramp(0.6, Key{-window, 33}, Key{-60 * minute, 40}, Key{0, 82})
	m.Continue = true
	sp.Ingestor.Memory = m
	sp.Ingestor.CPU = flat(12, 1.5)
	sp.Ingestor.Outcomes = map[int]TaskOutcome{0: {Logs: ingestorStartLogs}}
	sp.Discord.Remaining, sp.Discord.ResetAfter = 900, 14*hour
}

// minuteLines repeats line every step in [from, to).
func minuteLines(from, to, step time.Duration, line string) []logLine {
	var out []logLine
	for at := from; at < to; at += step {
		out = append(out, logLine{at, line})
	}
	return out
}

// healthySpec is the base every scenario edits.
func healthySpec() scenarioSpec {
	return scenarioSpec{
		Ingestor: serviceSpec{Desired: 1, Running: 1, Revisions: 17, Revision: 17, DeployedAgo: 6 * day,
			MinHealthy: 100, CPU: flat(12, 2), Memory: flat(38, 1)},
		Worker: serviceSpec{Desired: 1, Running: 1, Revisions: 41, Revision: 41, DeployedAgo: 3 * day,
			MinHealthy: 100, CPU: flat(18, 3), Memory: flat(30, 1)},
		Queue:   count(6, Key{-window, 12}, Key{0, 12}),
		DLQ:     count(0, Key{-window, 0}, Key{0, 0}),
		Discord: discordSpec{TokenValid: true, Remaining: 998, ResetAfter: 20 * hour},
	}
}

// Scenarios lists the named scenarios with one-line descriptions.
func Scenarios() []ScenarioInfo {
	var out []ScenarioInfo
	for _, sc := range (&Sandbox{opts: Options{Env: "staging"}.withDefaults()}).scenarioList() {
		out = append(out, ScenarioInfo{Name: sc.name, Description: sc.description})
	}
	return out
}

// LoadScenario resets the simulated account (services, tasks, task definitions, metrics,
// logs, secrets, parameters, topics, Discord budget) and the records (calls, publications,
// requests) to the named scenario, as of now. Injected faults, the global latency and the
// hook failure switches are test settings and stay.
func (s *Sandbox) LoadScenario(name string) error {
	var sc *scenario
	list := s.scenarioList()
	for i := range list {
		if list[i].name == name {
			sc = &list[i]
		}
	}
	if sc == nil {
		names := make([]string, len(list))
		for i, x := range list {
			names[i] = x.name
		}
		return fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(names, ", "))
	}
	spec := healthySpec()
	sc.edit(&spec)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.scenario = name
	s.loadedAt = s.now()
	s.rng = rand.New(rand.NewPCG(fnv64(name), fnv64(s.opts.Env)))
	s.clusterARN = fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", Region, AccountID, s.names.Cluster)
	s.services = map[string]*service{}
	s.taskDefs = map[string][]*taskDef{}
	s.tasks = nil
	s.taskByID = map[string]*task{}
	s.outcomes = map[string]TaskOutcome{}
	s.series = map[string]*series{}
	s.reactions = nil
	s.logGroups = map[string]*logGroup{}
	s.secrets = map[string]*secret{}
	s.params = map[string]*parameter{}
	s.topics = map[string]bool{}
	s.published, s.requests, s.calls, s.updates = nil, nil, nil, nil
	s.logSeq = 0
	s.materialize(&spec)
	s.materializeAlarms(name, s.loadedAt)
	s.deriveRunningTasks()
	return nil
}

// --- materialize ---------------------------------------------------------------------------

func (s *Sandbox) materialize(sp *scenarioSpec) {
	t0 := s.loadedAt
	n := s.names

	// Secrets, parameters, topics.
	r, d := s.opts.Rabbit, s.opts.Database
	s.putSecretJSON(n.RabbitSecret, map[string]string{"username": r.Username, "password": r.Password,
		"management_url": r.ManagementURL, "amqp_url": r.AMQPURL}, t0.Add(-90*day))
	s.putSecretJSON(n.DatabaseSecret, map[string]any{"host": d.Host, "port": d.Port, "username": d.Username,
		"password": d.Password, "dbname": d.DBName}, t0.Add(-90*day))
	token := DiscordValidToken
	if !sp.Discord.TokenValid {
		token = DiscordRotatedToken
	}
	s.putSecretJSON(n.DiscordSecret, map[string]string{"token": token}, t0.Add(-30*day))
	s.putSecretJSON(s.WebhooksSecretName(), map[string]string{
		"slack_webhook_url":   SandboxURLTemplate + "/_sandbox/hooks/slack/" + SlackHookPath,
		"discord_webhook_url": SandboxURLTemplate + "/_sandbox/hooks/discord/" + DiscordHookPath,
	}, t0.Add(-30*day))
	s.putSecretJSON(s.PagerDutySecretName(), map[string]string{"routing_key": PagerDutyRoutingKey}, t0.Add(-30*day))
	s.putSecretJSON(s.InteractionsSecretName(), map[string]string{"slack_signing_secret": SlackSigningSecret,
		"discord_public_key": DiscordPublicKeyHex(), "discord_application_id": DiscordApplicationID}, t0.Add(-30*day))
	s.putSecretJSON(s.SlackBotSecretName(), map[string]string{"bot_token": SlackBotToken}, t0.Add(-30*day))
	s.putParameter(n.KillSwitchParam, "off", t0.Add(-30*day))
	s.topics[s.ReportTopicARN()] = true

	for _, g := range []string{n.IngestorLogGroup, n.WorkerLogGroup} {
		s.logGroups[g] = &logGroup{name: g, createdAt: t0.Add(-180 * day)}
	}

	// Queue metrics, under the runbook's dimensions and Amazon MQ's (with VirtualHost).
	for _, qs := range []struct {
		queue string
		shape Shape
	}{{n.Queue, sp.Queue}, {n.DLQ, sp.DLQ}} {
		ref := MetricRef{Namespace: "AWS/AmazonMQ", Name: "MessageCount", Dimensions: map[string]string{"Broker": n.Broker, "Queue": qs.queue}}
		s.addSeries(ref, qs.shape, map[string]string{"Broker": n.Broker, "VirtualHost": s.opts.VirtualHost, "Queue": qs.queue})
	}

	s.materializeService(roleIngestor, n.IngestorService, &sp.Ingestor, t0)
	s.materializeService(roleWorker, n.WorkerService, &sp.Worker, t0)
	// Set after the services: their history must not spend session starts.
	s.discord = discordState{validToken: DiscordValidToken, total: 1000, remaining: sp.Discord.Remaining,
		maxConcurrency: 1, resetAt: t0.Add(sp.Discord.ResetAfter)}

	// After a restart a service's memory and CPU go back to their baselines.
	s.reactions = []Reaction{
		{On: TriggerRestart, Service: roleIngestor, Metric: s.serviceMetric(roleIngestor, "MemoryUtilization"), Level: 35, Noise: 1},
		{On: TriggerRestart, Service: roleIngestor, Metric: s.serviceMetric(roleIngestor, "CPUUtilization"), Level: 12, Noise: 2},
		{On: TriggerRestart, Service: roleWorker, Metric: s.serviceMetric(roleWorker, "MemoryUtilization"), Level: 30, Noise: 1},
		{On: TriggerRestart, Service: roleWorker, Metric: s.serviceMetric(roleWorker, "CPUUtilization"), Level: 18, Noise: 3},
		// A scale-up (e.g. of a service that was scaled to zero) also brings fresh tasks' levels.
		{On: TriggerScaleUp, Service: roleIngestor, Metric: s.serviceMetric(roleIngestor, "MemoryUtilization"), Level: 35, Noise: 1},
		{On: TriggerScaleUp, Service: roleIngestor, Metric: s.serviceMetric(roleIngestor, "CPUUtilization"), Level: 12, Noise: 2},
		{On: TriggerScaleUp, Service: roleWorker, Metric: s.serviceMetric(roleWorker, "MemoryUtilization"), Level: 30, Noise: 1},
		{On: TriggerScaleUp, Service: roleWorker, Metric: s.serviceMetric(roleWorker, "CPUUtilization"), Level: 18, Noise: 3},
	}
	s.reactions = append(s.reactions, sp.Reactions...)
}

// aliveWindow is when one task (or a task that aged out) was running, relative to t0.
type aliveWindow struct {
	from, to time.Duration
	stream   string
}

func (s *Sandbox) taskDefBody(role, family string, rev int, memory string) map[string]any {
	name, cpu := "ingestor", "256"
	if role == roleWorker {
		name, cpu = "gp-worker", "512"
	}
	mem := 512
	if memory == "1024" {
		mem = 1024
	}
	image := fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/arrakis-%s:%s", AccountID, Region, name, imageTag(role, rev))
	group := s.names.IngestorLogGroup
	if role == roleWorker {
		group = s.names.WorkerLogGroup
	}
	secrets := []map[string]string{{"name": "RABBITMQ_URL", "valueFrom": secretARN(s.names.RabbitSecret) + ":amqp_url::"}}
	if role == roleIngestor {
		secrets = append(secrets, map[string]string{"name": "DISCORD_TOKEN", "valueFrom": secretARN(s.names.DiscordSecret) + ":token::"})
	} else {
		secrets = append(secrets, map[string]string{"name": "DATABASE_PASSWORD", "valueFrom": secretARN(s.names.DatabaseSecret) + ":password::"})
	}
	body := map[string]any{
		"family":           family,
		"taskRoleArn":      fmt.Sprintf("arn:aws:iam::%s:role/arrakis-%s-%s-task", AccountID, s.opts.Env, name),
		"executionRoleArn": fmt.Sprintf("arn:aws:iam::%s:role/arrakis-%s-ecs-execution", AccountID, s.opts.Env),
		"networkMode":      "awsvpc",
		"containerDefinitions": []map[string]any{{
			"name": name, "image": image, "cpu": 0, "memory": mem, "essential": true,
			"portMappings": []any{},
			"environment": []map[string]string{
				{"name": "ARRAKIS_ENV", "value": s.opts.Env}, {"name": "LOG_LEVEL", "value": "info"},
			},
			"secrets":     secrets,
			"mountPoints": []any{}, "volumesFrom": []any{}, "systemControls": []any{},
			"logConfiguration": map[string]any{"logDriver": "awslogs", "options": map[string]string{
				"awslogs-group": group, "awslogs-region": Region, "awslogs-stream-prefix": "ecs",
			}},
		}},
		"volumes":                 []any{},
		"placementConstraints":    []any{},
		"requiresCompatibilities": []string{"FARGATE"},
		"cpu":                     cpu,
		"memory":                  memory,
		"runtimePlatform":         map[string]string{"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
	}
	return jsonClone(body)
}

func imageTag(role string, rev int) string {
	if role == roleWorker {
		return fmt.Sprintf("v2.%d.%d", rev/10, rev%10)
	}
	return fmt.Sprintf("v1.%d.0", rev)
}

func (s *Sandbox) materializeService(role, name string, sp *serviceSpec, t0 time.Time) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	memory := "512"
	if role == roleWorker {
		memory = "1024"
	}
	latestAgo := sp.LatestAgo
	if latestAgo == 0 {
		latestAgo = 7 * day
	}
	// Task definitions: revisions 1..Revisions, one a week, the last four ACTIVE.
	for rev := 1; rev <= sp.Revisions; rev++ {
		td, msg := s.buildTaskDef(name, s.taskDefBody(role, name, rev, memory))
		if msg != "" {
			panic("sandbox: built-in task definition: " + msg)
		}
		td.registeredAt = at(-latestAgo - time.Duration(sp.Revisions-rev)*7*day)
		td.registeredBy = fmt.Sprintf("arn:aws:sts::%s:assumed-role/arrakis-%s-deploy/github-actions", AccountID, s.opts.Env)
		if rev <= sp.Revisions-4 {
			td.status = "INACTIVE"
		}
		s.addTaskDef(td)
	}
	for rev, o := range sp.Outcomes {
		s.outcomes[outcomeKey(name, rev)] = o
	}
	rollout := sp.Rollout
	if rollout == "" {
		rollout = rolloutCompleted
	}
	svc := &service{
		name: name, arn: s.serviceARN(name), role: role, status: "ACTIVE", desired: sp.Desired,
		createdAt: at(-400 * day), breaker: true, minHealthy: sp.MinHealthy, maxPercent: 200,
		scaleFrom: sp.Desired, exhaustedNoted: true,
	}
	s.services[name] = svc
	td := s.lookupTaskDef(fmt.Sprintf("%s:%d", name, sp.Revision))
	dep := &deployment{
		id: s.deploymentID(), status: deployPrimary, taskDef: td, desired: sp.Desired,
		createdAt: at(-sp.DeployedAgo), updatedAt: at(-sp.DeployedAgo + 3*minute), rollout: rollout,
	}
	svc.deployments = []*deployment{dep}
	var alive []aliveWindow
	type evt struct {
		at  time.Duration
		msg string
	}
	var events []evt
	started := map[time.Duration][]string{} // task creations grouped by time, for "has started" events

	// A previous deployment whose tasks aged out: only its events and its running time remain.
	currentCompleted := rollout == rolloutCompleted
	if sp.PreviousAgo > 0 {
		prevID := s.deploymentID()
		ids := make([]string, max(sp.PreviousDesired, 1))
		for i := range ids {
			ids[i] = s.hexID(32)
			alive = append(alive, aliveWindow{from: -sp.PreviousAgo + time.Minute, to: -sp.DeployedAgo + time.Minute,
				stream: "ecs/" + td.container.name + "/" + ids[i]})
		}
		started[-sp.PreviousAgo] = ids
		events = append(events,
			evt{-sp.PreviousAgo + 3*minute, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", name, prevID)},
			evt{-sp.PreviousAgo + 3*minute + time.Second, fmt.Sprintf("(service %s) has reached a steady state.", name)})
		for t := -sp.PreviousAgo + 3*minute + 6*hour; t < -sp.DeployedAgo; t += 6 * hour {
			events = append(events, evt{t, fmt.Sprintf("(service %s) has reached a steady state.", name)})
		}
	}

	// Running tasks, started with the deployment.
	for range sp.Running {
		t := s.newTask(svc, dep, at(-sp.DeployedAgo))
		s.runTask(t, at(-sp.DeployedAgo+time.Minute), nil)
		started[-sp.DeployedAgo] = append(started[-sp.DeployedAgo], t.id)
		alive = append(alive, aliveWindow{from: -sp.DeployedAgo + time.Minute, to: forever, stream: t.stream()})
	}
	// Crashed tasks. healthyUntil ends the periodic steady-state events.
	healthyUntil := time.Duration(0)
	for _, c := range sp.Crashes {
		created := c.At - c.Ran - 40*time.Second
		if c.Ran >= sp.DeployedAgo-time.Hour { // the long-lived task started with the deployment
			created = -sp.DeployedAgo
		}
		t := s.newTask(svc, dep, at(created))
		f := c.Failure
		if c.Ran > 0 {
			f.Ran = c.Ran
		}
		s.failTask(t, at(c.At), f, c.Logs)
		started[created] = append(started[created], t.id)
		if f.ExitCode != nil {
			alive = append(alive, aliveWindow{from: c.At - f.Ran, to: c.At, stream: t.stream()})
		}
		healthyUntil = min(healthyUntil, c.At)
	}
	if dep.rollout == rolloutFailed {
		dep.rolloutReason = circuitBreakerReason
		last := sp.Crashes[len(sp.Crashes)-1].At
		dep.updatedAt = at(last + 10*time.Second)
		events = append(events, evt{last + 10*time.Second, fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", name, dep.id)})
	} else {
		dep.rolloutReason = "ECS deployment " + dep.id + " completed."
	}
	// A deliberate scale-in to zero.
	if sp.ScaledToZeroAgo > 0 {
		var ids []string
		for _, t := range s.tasks {
			if t.service == svc && t.lastStatus == statusRunning {
				s.stopTask(t, at(-sp.ScaledToZeroAgo), dep.id)
				s.appendLog(s.logGroupFor(svc), t.stream(), at(-sp.ScaledToZeroAgo+2*time.Second), `level=INFO msg="received SIGTERM, shutting down gracefully"`)
				ids = append(ids, t.id)
			}
		}
		for i := range alive {
			if alive[i].to == forever {
				alive[i].to = -sp.ScaledToZeroAgo
			}
		}
		events = append(events,
			evt{-sp.ScaledToZeroAgo, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", name, len(ids), taskList(ids))},
			evt{-sp.ScaledToZeroAgo + time.Minute, fmt.Sprintf("(service %s) has reached a steady state.", name)})
		healthyUntil = min(healthyUntil, -sp.ScaledToZeroAgo)
		dep.updatedAt = at(-sp.ScaledToZeroAgo)
	}
	for _, w := range sp.History {
		alive = append(alive, aliveWindow{from: w.From, to: w.To, stream: "ecs/" + td.container.name + "/" + s.hexID(32)})
	}

	// Events: task starts, the deployment's completion, steady states every 6 hours while healthy.
	for when, ids := range started {
		events = append(events, evt{when, fmt.Sprintf("(service %s) has started %d tasks: %s.", name, len(ids), taskList(ids))})
	}
	if currentCompleted {
		from := -sp.DeployedAgo + 3*minute
		events = append(events,
			evt{from, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", name, dep.id)},
			evt{from + time.Second, fmt.Sprintf("(service %s) has reached a steady state.", name)})
		for t := from + 6*hour; t < healthyUntil; t += 6 * hour {
			events = append(events, evt{t, fmt.Sprintf("(service %s) has reached a steady state.", name)})
		}
	}
	for _, e := range sp.Events {
		events = append(events, evt{e.At, e.Line})
	}
	slices.SortStableFunc(events, func(a, b evt) int { return int(a.at - b.at) })
	for _, e := range events {
		s.addEvent(svc, at(e.at), e.msg)
	}

	// Logs: a heartbeat line every 5 minutes from whichever task was running, plus extras.
	for off := -window; off <= 0; off += 5 * minute {
		for _, w := range alive {
			if off >= w.from && off < w.to {
				s.appendLog(s.logGroupFor(svc), w.stream, at(off), heartbeatLine(role, off))
				break
			}
		}
	}
	for _, l := range sp.Logs {
		stream := "ecs/" + td.container.name + "/" + s.hexID(32)
		for _, w := range alive {
			if l.At >= w.from && l.At < w.to {
				stream = w.stream
				break
			}
		}
		s.appendLog(s.logGroupFor(svc), stream, at(l.At), l.Line)
	}

	// CPU and memory: no datapoints while no task ran.
	gaps := downtime(alive)
	for _, m := range []struct {
		metric string
		shape  Shape
	}{{"CPUUtilization", sp.CPU}, {"MemoryUtilization", sp.Memory}} {
		sh := m.shape
		sh.Gaps = append(slices.Clone(sh.Gaps), gaps...)
		s.addSeries(s.serviceMetric(role, m.metric), sh)
	}
}

// downtime is the complement of the alive windows from before the data window to forever.
func downtime(alive []aliveWindow) []Window {
	ws := make([]Window, 0, len(alive))
	for _, a := range alive {
		ws = append(ws, Window{From: a.from, To: a.to})
	}
	slices.SortFunc(ws, func(a, b Window) int { return int(a.From - b.From) })
	var gaps []Window
	cursor := -window - hour
	for _, w := range ws {
		if w.From > cursor {
			gaps = append(gaps, Window{From: cursor, To: w.From})
		}
		cursor = max(cursor, w.To)
	}
	if cursor < forever {
		gaps = append(gaps, Window{From: cursor, To: forever})
	}
	return gaps
}

func heartbeatLine(role string, off time.Duration) string {
	h := fnv64(fmt.Sprint(role, off))
	if role == roleIngestor {
		return fmt.Sprintf(`level=INFO msg="gateway heartbeat acknowledged" shard=0 latency_ms=%d events_published=%d`, 30+h%40, 150+h%120)
	}
	return fmt.Sprintf(`level=INFO msg="processed interactions" count=%d failed=0 p50_ms=%d p99_ms=%d`, 90+h%80, 25+h%20, 150+h%120)
}
