// Package queuedepth is the playbook for "Queue Depth High" (WARNING) and its return to OK:
// find out why arrakis.interactions is filling up, add workers only when more workers can
// help (never when the database is the bottleneck), restart workers that are up but not
// consuming, and scale back to what it was once the alarm clears.
package queuedepth

import (
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/pg"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/trend"
)

// Finding codes.
const (
	WorkersMissing     = "workers-missing"
	ConsumersMissing   = "consumers-missing"
	DatabaseBottleneck = "database-bottleneck"
	UnderProvisioned   = "under-provisioned"
	Draining           = "draining"
	ScaledBack         = "scaled-back"
	NothingToScaleBack = "nothing-to-scale-back"
	Unknown            = "unknown"
)

// Action kinds.
const (
	ScaleService       = playbook.KindScaleService
	ForceNewDeployment = playbook.KindForceNewDeployment
	// ScaleBack is the guard budget of a scale-back: none, only the target's lock.
	ScaleBack = "scale-back"
)

// Probe names.
const (
	ProbeQueue       = "amqp.queue"
	ProbeManagement  = "rabbitmq.management"
	ProbeDepth       = "metrics.queue-depth"
	ProbeWorker      = "ecs.worker"
	ProbeWorkerStats = "metrics.worker"
	ProbeLogs        = "logs.slow-timeout"
	ProbeDatabase    = "postgres.activity"
	ProbeLedger      = "ledger.scale-history"
)

// Evidence is what the probes saw.
type Evidence struct {
	Now         time.Time
	Queue       rabbit.QueueState
	Mgmt        *rabbit.QueueInfo
	Connections []rabbit.Connection
	Depth       metrics.Series
	Worker      ecs.Service
	CPU         metrics.Series
	Memory      metrics.Series
	Logs        logs.Excerpt
	Slow        *pg.SlowQueryReport
	Conns       *pg.ConnectionReport
	// ScaleUps are this function's recorded scale-ups of the worker (newest first), for the
	// scale-back on OK.
	ScaleUps []guard.Entry
}

// Policy is the environment's settings the decision depends on.
type Policy struct {
	Queue            string
	Database         string
	MaxWorkers       int
	ScaleStep        int
	WorkerConnName   string
	IngestorConnName string
	// SlowLogLines is how many `?slow ?timeout` worker log lines in the window mean the
	// database is the bottleneck.
	SlowLogLines int
	// Saturation is the share of the database's connection slots in use that means it is.
	Saturation float64
}

// Input is everything Decide looks at.
type Input struct {
	Target   playbook.Target
	Evidence Evidence
	Failed   map[string]string
	Policy   Policy
	// Recovered is true for the alarm's return to OK.
	Recovered bool
}

// Decide judges the queue the way the runbook's "Queue Depth High" does. Pure.
func Decide(in Input) playbook.Decision {
	if in.Recovered {
		return decideOK(in)
	}
	ev, p := in.Evidence, in.Policy
	ev.Worker.Name = nonEmpty(ev.Worker.Name, in.Target.Service)
	qt := trend.ClassifyQueue(points(ev.Depth))
	evidence := queueEvidence(in, qt)

	d := playbook.Decision{Finding: report.Finding{Evidence: evidence}}
	_, workerBad := in.Failed[ProbeWorker]
	_, amqpBad := in.Failed[ProbeQueue]
	_, depthBad := in.Failed[ProbeDepth]
	if workerBad {
		d.Finding.Code, d.Finding.Summary = Unknown, "could not read the worker service: "+in.Failed[ProbeWorker]
		d.Missing = []string{ProbeWorker}
		return d
	}
	if amqpBad && depthBad {
		d.Finding.Code, d.Finding.Summary = Unknown, "could not read the queue depth over AMQP or from CloudWatch"
		d.Missing = []string{ProbeQueue, ProbeDepth}
		return d
	}
	w := ev.Worker
	consumers := ev.Queue.Consumers
	if amqpBad && ev.Mgmt != nil {
		consumers = ev.Mgmt.Consumers
	}
	switch {
	case w.Desired == 0:
		d.Finding.Code = WorkersMissing
		d.Finding.Summary = fmt.Sprintf("%s is scaled to 0 on purpose; %s keeps the messages until it is scaled up", w.Name, p.Queue)
		d.Recommendations = []string{"If the worker should run, scale it up (command below)."}
	case w.Running == 0:
		d.Finding.Code = WorkersMissing
		d.Finding.Summary = fmt.Sprintf("no %s task is running (desired %d): messages accumulate in %s; the no-tasks function handles the restart",
			w.Name, w.Desired, p.Queue)
		d.Recommendations = []string{"Messages are preserved in the queue and will be processed once the worker runs (runbook)."}
	case amqpBad && ev.Mgmt == nil:
		// Without the broker nobody can say whether consumers are there: adding or restarting
		// workers blind could make things worse (and the broker may be what is down).
		d.Finding.Code = Unknown
		d.Finding.Summary = fmt.Sprintf("could not reach the broker to see %s's consumers (%s); nothing was changed", p.Queue, in.Failed[ProbeQueue])
		d.Missing = []string{ProbeQueue, ProbeManagement}
		d.Recommendations = []string{"Check the broker (Amazon MQ console), this function's network path to it (VPC, security groups) and the credentials in the RabbitMQ secret."}
	case qt.Direction == trend.QueueDraining:
		d.Finding.Code = Draining
		d.Finding.Summary = fmt.Sprintf("%s is already draining: %.0f msgs/min, empty in about %s", p.Queue, -qt.SlopePerMin, ago(qt.TimeToEmpty))
	case !amqpBad && consumers == 0:
		d.Finding.Code = ConsumersMissing
		d.Finding.Summary = fmt.Sprintf("%d %s task(s) are running but %s has no consumer: the workers are up and not consuming", w.Running, w.Name, p.Queue)
		prim, _ := w.Primary()
		d.Actions = []playbook.Action{{Kind: ForceNewDeployment, Target: w.Name, Expect: prim.ID,
			Change: playbook.Change{Stalled: w.Running, FromTaskDefinition: w.TaskDefinition},
			Reason: "workers that run without consuming are stuck (lost broker connection, wedged consumer); a restart reconnects them"}}
	default:
		if why, ok := dbBottleneck(in); ok {
			d.Finding.Code = DatabaseBottleneck
			d.Finding.Summary = fmt.Sprintf("the database is the bottleneck (%s): more workers would load it more, so none were added", why)
			d.Recommendations = []string{"Investigate the slow queries below (runbook: Database Operations); add workers only once the database keeps up."}
			break
		}
		d.Finding.Code = UnderProvisioned
		d.Finding.Summary = fmt.Sprintf("%s is %s with %d consumer(s) on %d worker(s): the workers cannot keep up", p.Queue, qt.Direction, consumers, w.Running)
		d.Actions = []playbook.Action{scaleUp(in)}
		if _, bad := in.Failed[ProbeDatabase]; bad {
			d.Missing = append(d.Missing, ProbeDatabase) // cannot rule out the database: do not add load blind
		}
	}
	if rec := prefetchAdvice(ev); rec != "" {
		d.Recommendations = append(d.Recommendations, rec)
	}
	return d
}

// scaleUp proposes one step up, capped.
func scaleUp(in Input) playbook.Action {
	w, p := in.Evidence.Worker, in.Policy
	to := min(w.Desired+max(1, p.ScaleStep), p.MaxWorkers)
	act := playbook.Action{Kind: ScaleService, Target: w.Name, Change: playbook.Change{FromCount: w.Desired, ToCount: to},
		Reason: "more workers drain the queue faster (runbook: scale up workers)"}
	if to <= w.Desired {
		act.Blocked = guard.Rule{Code: guard.RuleCap, Detail: fmt.Sprintf("%s already has %d desired tasks, the cap is %d (GPR_MAX_WORKERS)", w.Name, w.Desired, p.MaxWorkers)}
	}
	return act
}

// dbBottleneck says whether the database is what holds the workers back.
func dbBottleneck(in Input) (string, bool) {
	ev, p := in.Evidence, in.Policy
	var why []string
	if ev.Slow != nil {
		n := 0
		for _, q := range ev.Slow.Queries {
			if p.Database == "" || q.Database == p.Database {
				n++
			}
		}
		if n > 0 {
			why = append(why, fmt.Sprintf("%d statement(s) running over %s", n, ev.Slow.Over))
		}
	}
	if ev.Conns != nil && ev.Conns.Saturation >= p.Saturation {
		why = append(why, fmt.Sprintf("%.0f %% of connection slots in use", ev.Conns.Saturation*100))
	}
	if n := len(ev.Logs.Lines); n >= p.SlowLogLines && p.SlowLogLines > 0 {
		why = append(why, fmt.Sprintf("%d worker log lines about slow queries or timeouts", n))
	}
	return strings.Join(why, "; "), len(why) > 0
}

// prefetchAdvice is the runbook's "consider increasing prefetch limit": when every consumer
// holds as many unacknowledged messages as its prefetch allows, they wait on their own work.
func prefetchAdvice(ev Evidence) string {
	if ev.Mgmt == nil || len(ev.Mgmt.ConsumerDetails) == 0 {
		return ""
	}
	total := 0
	for _, c := range ev.Mgmt.ConsumerDetails {
		if c.PrefetchCount <= 0 {
			return ""
		}
		total += c.PrefetchCount
	}
	if ev.Mgmt.Unacked >= total {
		return fmt.Sprintf("Consumers sit at their prefetch limit (%d unacknowledged, prefetch %d in total): consider raising the worker's prefetch (runbook).",
			ev.Mgmt.Unacked, total)
	}
	return ""
}

// decideOK scales the worker back to the count recorded before this function scaled it up,
// never lower, and only if nobody changed it since.
func decideOK(in Input) playbook.Decision {
	ev := in.Evidence
	w := ev.Worker
	d := playbook.Decision{Finding: report.Finding{Evidence: []string{}}}
	if err, bad := in.Failed[ProbeWorker]; bad {
		d.Finding.Code, d.Finding.Summary, d.Missing = Unknown, "could not read the worker service: "+err, []string{ProbeWorker}
		return d
	}
	if err, bad := in.Failed[ProbeLedger]; bad {
		d.Finding.Code, d.Finding.Summary, d.Missing = Unknown, "could not read the scale-up history: "+err, []string{ProbeLedger}
		return d
	}
	d.Finding.Evidence = append(d.Finding.Evidence, fmt.Sprintf("worker %s: desired %d, running %d", w.Name, w.Desired, w.Running))
	var last *guard.Entry
	for i := range ev.ScaleUps {
		e := ev.ScaleUps[i]
		if e.Outcome == guard.OutcomeDone && e.HasCounts && e.ToCount > e.FromCount {
			last = &e
			break
		}
	}
	if last == nil {
		d.Finding.Code = NothingToScaleBack
		d.Finding.Summary = "the queue is back to normal; this function did not scale the worker up, so there is nothing to scale back"
		return d
	}
	from, to := last.FromCount, last.ToCount
	d.Finding.Evidence = append(d.Finding.Evidence, fmt.Sprintf("scaled up %d -> %d at %s (alarm %s)", from, to, last.At.UTC().Format(time.RFC3339), last.AlarmKey))
	switch {
	case w.Desired != to:
		d.Finding.Code = NothingToScaleBack
		d.Finding.Summary = fmt.Sprintf("the worker's desired count is %d, not the %d this function set: someone changed it since, so it is left alone", w.Desired, to)
	case w.Desired <= from:
		d.Finding.Code = NothingToScaleBack
		d.Finding.Summary = fmt.Sprintf("the worker already runs at %d, the count before the scale-up", w.Desired)
	default:
		d.Finding.Code = ScaledBack
		d.Finding.Summary = fmt.Sprintf("the queue is back to normal: scale %s back from %d to %d, the count before this function scaled it up", w.Name, w.Desired, from)
		d.Actions = []playbook.Action{{Kind: ScaleService, Budget: ScaleBack, Target: w.Name, Change: playbook.Change{FromCount: w.Desired, ToCount: from},
			Reason: "the alarm is OK again; return to the count recorded before the scale-up"}}
	}
	return d
}

func queueEvidence(in Input, qt trend.QueueTrend) []string {
	ev, p := in.Evidence, in.Policy
	var out []string
	if _, bad := in.Failed[ProbeQueue]; !bad {
		out = append(out, fmt.Sprintf("queue %s (AMQP, now): %d ready, %d consumer(s)", p.Queue, ev.Queue.Ready, ev.Queue.Consumers))
	}
	if qt.Points > 0 {
		out = append(out, "queue depth (CloudWatch, 15 min): "+qt.Reason)
	}
	if m := ev.Mgmt; m != nil {
		out = append(out, fmt.Sprintf("management API (lags ~5 s): %d messages, %d unacked, publish %.1f/s, deliver %.1f/s, ack %.1f/s",
			m.Messages, m.Unacked, m.Rates.Publish, m.Rates.Deliver, m.Rates.Ack))
	}
	if w := ev.Worker; w.Name != "" {
		line := fmt.Sprintf("worker %s: desired %d, running %d, pending %d", w.Name, w.Desired, w.Running, w.Pending)
		if c, ok := ev.CPU.Last(); ok {
			line += fmt.Sprintf("; CPU %.0f %%", c.V)
		}
		if m, ok := ev.Memory.Last(); ok {
			line += fmt.Sprintf(", memory %.0f %%", m.V)
		}
		out = append(out, line)
	}
	if ev.Connections != nil {
		out = append(out, consumerHealth(ev, p)...)
	}
	if ev.Slow != nil {
		if !ev.Slow.Visibility.Complete {
			out = append(out, "database: slow queries could not all be seen: "+ev.Slow.Visibility.Note)
		} else if len(ev.Slow.Queries) == 0 {
			out = append(out, fmt.Sprintf("database: no statement running over %s", ev.Slow.Over))
		}
		for i, q := range ev.Slow.Queries {
			if i == 5 {
				break
			}
			out = append(out, fmt.Sprintf("database: pid %d on %s running %s (%s%s): %s", q.PID, q.Database, q.Duration.Round(time.Second), q.State, wait(q), q.Query))
		}
	}
	if c := ev.Conns; c != nil {
		out = append(out, fmt.Sprintf("database connections: %d clients + %d unreadable of %d available (%.0f %%)", c.Clients, c.Hidden, c.Available, c.Saturation*100))
	}
	for i, l := range ev.Logs.Lines {
		if i == 5 {
			break
		}
		out = append(out, fmt.Sprintf("worker log %s: %s", l.At.UTC().Format("15:04:05"), playbook.Clip(l.Message, 200)))
	}
	if n := len(ev.Logs.Lines); n > 5 {
		out = append(out, fmt.Sprintf("(%d worker log lines about slow queries or timeouts in 15 min)", n))
	}
	return out
}

// consumerHealth is the runbook's "Check Consumer Health": the ingestor's and the worker's
// connections are present, and the worker channels match the running worker count.
func consumerHealth(ev Evidence, p Policy) []string {
	ingestors, workers, channels := 0, 0, 0
	for _, c := range ev.Connections {
		switch {
		case strings.HasPrefix(c.ClientName, p.IngestorConnName):
			ingestors++
		case strings.HasPrefix(c.ClientName, p.WorkerConnName):
			workers++
			channels += c.Channels
		}
	}
	out := []string{fmt.Sprintf("connections: %d ingestor, %d worker (%d channels) for %d running worker task(s)", ingestors, workers, channels, ev.Worker.Running)}
	if ingestors == 0 {
		out = append(out, "consumer health: no ingestor connection (client name "+p.IngestorConnName+"*): the ingestor is not publishing")
	}
	if workers != ev.Worker.Running {
		out = append(out, fmt.Sprintf("consumer health: %d worker connection(s) but %d running worker task(s)", workers, ev.Worker.Running))
	}
	return out
}

func wait(q pg.SlowQuery) string {
	if q.WaitEventType == "" {
		return ""
	}
	s := ", waiting on " + q.WaitEventType + "/" + q.WaitEvent
	if len(q.BlockedBy) > 0 {
		s += fmt.Sprintf(", blocked by %v", q.BlockedBy)
	}
	return s
}

func points(s metrics.Series) []trend.Point {
	out := make([]trend.Point, len(s.Points))
	for i, p := range s.Points {
		out[i] = trend.Point{T: p.T, V: p.V}
	}
	return out
}

func ago(d time.Duration) string {
	if d <= 0 {
		return "unknown time"
	}
	d = d.Round(time.Minute)
	if d < time.Hour {
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func nonEmpty(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// ServiceStates records the service the diagnosis read as the incident's baseline
// (playbook.ServiceStater).
func (ev Evidence) ServiceStates() []incident.ServiceState { return playbook.ServiceState(ev.Worker) }
