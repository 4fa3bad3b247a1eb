package queuedepth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/pg"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/runbook"
	"github.com/arrakis/gp-remediation/pkg/service"
)

// Connections opens what the playbook talks to besides AWS. Each call opens a fresh
// connection that the caller closes: a Lambda can be frozen for hours between invocations,
// and a connection kept across that is more often dead than useful.
type Connections interface {
	Broker(ctx context.Context) (*rabbit.Client, error)
	Management(ctx context.Context) (*rabbit.Management, error)
	// VirtualHost is the one the AMQP connection uses, which the management API is asked about.
	VirtualHost(ctx context.Context) (string, error)
	Database(ctx context.Context) (*pg.Client, error)
}

// History reads the ledger's record of earlier actions.
type History interface {
	History(ctx context.Context, target, kind string, since time.Time) ([]guard.Entry, error)
}

// Playbook adapts the queue-depth decision to the pipeline.
type Playbook struct {
	Config  config.Config
	ECS     ecs.Client
	Logs    logs.Client
	Metrics metrics.Client
	Conns   Connections
	Ledger  History
	Now     func() time.Time
	// SlowQuery is the runbook's threshold for a slow statement (5 s).
	SlowQuery time.Duration
}

var _ playbook.Playbook[Evidence] = (*Playbook)(nil)

// HandlesOK says the alarm's return to OK is acted on (scale back).
func (p *Playbook) HandlesOK() bool { return true }

func (p *Playbook) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Policy is the decision's view of the configuration.
func (p *Playbook) Policy() Policy {
	return Policy{Queue: p.Config.Queue, Database: "", MaxWorkers: p.Config.MaxWorkers, ScaleStep: p.Config.ScaleStep,
		WorkerConnName: p.Config.WorkerConnName, IngestorConnName: p.Config.IngestorConnName, SlowLogLines: 5, Saturation: 0.9}
}

// Scope accepts alarms on this environment's work queue.
func (p *Playbook) Scope(a alarm.Alarm) (playbook.Target, error) {
	if b := a.Dimension("Broker"); b != "" && b != p.Config.Broker {
		return playbook.Target{}, fmt.Errorf("%w: alarm %q is about broker %q, this environment's is %q", playbook.ErrNotActionable, a.Name, b, p.Config.Broker)
	}
	if q := a.Dimension("Queue"); q != "" && q != p.Config.Queue {
		return playbook.Target{}, fmt.Errorf("%w: alarm %q is about queue %q; queue-depth handles %q", playbook.ErrNotActionable, a.Name, q, p.Config.Queue)
	}
	if a.Dimension("Broker") == "" && a.Dimension("Queue") == "" {
		return playbook.Target{}, fmt.Errorf("%w: alarm %q has no Broker/Queue dimension", playbook.ErrNotActionable, a.Name)
	}
	return playbook.Target{Service: p.Config.WorkerService, Role: "worker", Queue: p.Config.Queue, Severity: report.SeverityWarning}, nil
}

func (p *Playbook) slow() time.Duration {
	if p.SlowQuery > 0 {
		return p.SlowQuery
	}
	return 5 * time.Second
}

// Diagnose reads the queue (AMQP and the management API), its depth trend, the worker, its
// CPU and memory, its slow/timeout log lines and the database, all at once.
func (p *Playbook) Diagnose(ctx context.Context, a alarm.Alarm, t playbook.Target) (Evidence, []report.Diagnostic) {
	now := p.now()
	ev := Evidence{Now: now}
	dims := map[string]string{"ClusterName": p.Config.Cluster, "ServiceName": t.Service}
	probes := []playbook.Probe{
		{Name: ProbeWorker, Run: func(ctx context.Context) error {
			svc, err := p.ECS.Service(ctx, t.Service)
			ev.Worker = svc
			return err
		}},
		{Name: ProbeDepth, Run: func(ctx context.Context) error {
			s, err := p.Metrics.Fetch(ctx, now.Add(-15*time.Minute), now, metrics.QueueDepth(p.Config.Broker, p.Config.VirtualHost, p.Config.Queue))
			ev.Depth = s["depth"]
			return err
		}},
	}
	if a.State == alarm.StateOK {
		probes = append(probes, playbook.Probe{Name: ProbeLedger, Run: func(ctx context.Context) error {
			if p.Ledger == nil {
				return errors.New("no ledger")
			}
			h, err := p.Ledger.History(ctx, t.Service, ScaleService, now.Add(-7*24*time.Hour))
			for _, e := range h {
				if e.Function == "queue-depth" || e.Function == "" {
					ev.ScaleUps = append(ev.ScaleUps, e)
				}
			}
			return err
		}})
	} else {
		probes = append(probes,
			playbook.Probe{Name: ProbeQueue, Run: func(ctx context.Context) error {
				c, err := p.Conns.Broker(ctx)
				if err != nil {
					return err
				}
				defer c.Close()
				ev.Queue, err = c.Inspect(ctx, p.Config.Queue)
				return err
			}},
			playbook.Probe{Name: ProbeManagement, Run: func(ctx context.Context) error {
				m, err := p.Conns.Management(ctx)
				if err != nil {
					return err
				}
				vhost, err := p.Conns.VirtualHost(ctx)
				if err != nil {
					return err
				}
				q, err := m.Queue(ctx, vhost, p.Config.Queue)
				if err != nil {
					return err
				}
				ev.Mgmt = &q
				conns, err := m.Connections(ctx)
				if err != nil {
					return err
				}
				ev.Connections = []rabbit.Connection{}
				for _, c := range conns {
					if c.Vhost == "" || c.Vhost == vhost {
						ev.Connections = append(ev.Connections, c)
					}
				}
				return nil
			}},
			playbook.Probe{Name: ProbeWorkerStats, Run: func(ctx context.Context) error {
				s, err := p.Metrics.Fetch(ctx, now.Add(-15*time.Minute), now,
					metrics.Query{ID: "cpu", Namespace: "AWS/ECS", Metric: "CPUUtilization", Dimensions: dims, Stat: "Average", Period: time.Minute},
					metrics.Query{ID: "mem", Namespace: "AWS/ECS", Metric: "MemoryUtilization", Dimensions: dims, Stat: "Average", Period: time.Minute})
				ev.CPU, ev.Memory = s["cpu"], s["mem"]
				return err
			}},
			playbook.Probe{Name: ProbeLogs, Run: func(ctx context.Context) error {
				ex, err := p.Logs.Filter(ctx, p.Config.WorkerLogGroup, "?slow ?timeout", now.Add(-15*time.Minute), now, logs.Limits{MaxLines: 50})
				ev.Logs = ex
				return err
			}},
			playbook.Probe{Name: ProbeDatabase, Run: func(ctx context.Context) error {
				db, err := p.Conns.Database(ctx)
				if err != nil {
					return err
				}
				defer db.Close(context.WithoutCancel(ctx))
				slow, err := db.SlowQueries(ctx, p.slow(), 20)
				if err != nil {
					return err
				}
				conns, err := db.Connections(ctx)
				if err != nil {
					return err
				}
				ev.Slow, ev.Conns = &slow, &conns
				return nil
			}},
		)
	}
	return ev, playbook.RunProbes(ctx, p.Config.ProbeTimeout, probes...)
}

// Decide implements playbook.Playbook.
func (p *Playbook) Decide(a alarm.Alarm, t playbook.Target, ev Evidence, failed map[string]string) playbook.Decision {
	pol := p.Policy()
	if ev.Conns != nil {
		pol.Database = ev.Conns.Database
	}
	return Decide(Input{Target: t, Evidence: ev, Failed: failed, Policy: pol, Recovered: a.State == alarm.StateOK})
}

// Precheck re-reads the worker: a scale acts only if the desired count is still the one the
// decision saw; a restart only if the workers are still not consuming.
func (p *Playbook) Precheck(ctx context.Context, act playbook.Action) error {
	svc, err := p.ECS.Service(ctx, act.Target)
	if err != nil {
		return err
	}
	switch act.Kind {
	case ScaleService:
		if svc.Desired != act.Change.FromCount {
			return fmt.Errorf("desired count is now %d, not %d", svc.Desired, act.Change.FromCount)
		}
	case ForceNewDeployment:
		prim, _ := svc.Primary()
		if act.Expect != "" && prim.ID != act.Expect {
			return fmt.Errorf("a new deployment (%s) started since the diagnosis", prim.ID)
		}
		c, err := p.Conns.Broker(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		q, err := c.Inspect(ctx, p.Config.Queue)
		if err != nil {
			return err
		}
		if q.Consumers > 0 {
			return fmt.Errorf("%s has %d consumer(s) now", p.Config.Queue, q.Consumers)
		}
	}
	return nil
}

// Act scales or restarts the worker (pkg/service), never past the worker cap.
func (p *Playbook) Act(ctx context.Context, act playbook.Action) (playbook.Effect, error) {
	return service.Operator{ECS: p.ECS, MaxCount: p.Config.MaxWorkers}.Act(ctx, act)
}

// Verify waits until the worker runs at its new desired count, then, after a scale-up or a
// restart, until the queue shrinks (AMQP ready count, or the CloudWatch depth).
func (p *Playbook) Verify(ctx context.Context, t playbook.Target, done []playbook.Action) report.Verification {
	start := time.Now()
	act := done[len(done)-1]
	before := -1
	if c, err := p.Conns.Broker(ctx); err == nil {
		if q, err := c.Inspect(ctx, p.Config.Queue); err == nil {
			before = q.Ready
		}
		c.Close()
	}
	actedAt := p.now()
	running := false
	var last ecs.Service
	for {
		if svc, err := p.ECS.Service(ctx, t.Service); err == nil {
			last = svc
			prim, _ := svc.Primary()
			running = svc.Running >= svc.Desired && svc.Desired > 0 && (act.Kind != ForceNewDeployment || prim.Running >= 1)
		}
		if running {
			if act.Kind == ForceNewDeployment {
				if n, ok := p.consumers(ctx); ok && n > 0 {
					return report.Verification{Status: report.Verified, MS: ms(start), Detail: fmt.Sprintf("%d worker task(s) running, %d consumer(s) on %s again", last.Running, n, p.Config.Queue)}
				}
			}
			if act.Kind == ScaleService && isDown(act) {
				return report.Verification{Status: report.Verified, MS: ms(start), Detail: fmt.Sprintf("worker runs %d task(s) as desired", last.Running)}
			}
			if why, ok := p.shrinking(ctx, before, actedAt); ok {
				return report.Verification{Status: report.Verified, MS: ms(start), Detail: fmt.Sprintf("%d worker task(s) running; %s", last.Running, why)}
			}
		}
		select {
		case <-ctx.Done():
			if !running {
				return report.Verification{Status: report.Pending, MS: ms(start), Detail: fmt.Sprintf("still starting: %d of %d worker task(s) running", last.Running, last.Desired)}
			}
			return report.Verification{Status: report.Pending, MS: ms(start), Detail: fmt.Sprintf("%d worker task(s) running, the queue is not falling yet", last.Running)}
		case <-time.After(p.Config.VerifyInterval):
		}
	}
}

// consumers reads the work queue's consumer count over AMQP.
func (p *Playbook) consumers(ctx context.Context) (int, bool) {
	c, err := p.Conns.Broker(ctx)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	q, err := c.Inspect(ctx, p.Config.Queue)
	return q.Consumers, err == nil
}

// shrinking says whether the queue got shorter since the action.
func (p *Playbook) shrinking(ctx context.Context, before int, since time.Time) (string, bool) {
	if before > 0 {
		if c, err := p.Conns.Broker(ctx); err == nil {
			q, err := c.Inspect(ctx, p.Config.Queue)
			c.Close()
			if err == nil && q.Ready < before {
				return fmt.Sprintf("queue ready %d -> %d", before, q.Ready), true
			}
		}
	}
	s, err := p.Metrics.Fetch(ctx, since.Add(-5*time.Minute), p.now().Add(time.Minute), metrics.QueueDepth(p.Config.Broker, p.Config.VirtualHost, p.Config.Queue))
	if err != nil {
		return "", false
	}
	// A datapoint is stamped with the start of its period: the point of the action's minute
	// already covers time after it. Compare the newest point with the last one before that
	// minute: a queue that was growing and now is lower has turned.
	depth := s["depth"]
	actionMinute := since.Truncate(depth.Period)
	var prev, cur *metrics.Point
	for i := range depth.Points {
		pt := depth.Points[i]
		if math.IsNaN(pt.V) {
			continue
		}
		if pt.T.Before(actionMinute) {
			prev = &pt
		} else {
			cur = &pt
		}
	}
	if prev != nil && cur != nil && cur.V < prev.V {
		return fmt.Sprintf("queue depth %.0f -> %.0f (CloudWatch)", prev.V, cur.V), true
	}
	return "", false
}

func isDown(a playbook.Action) bool { return a.Change.ToCount < a.Change.FromCount }

func ms(start time.Time) int64 { return time.Since(start).Milliseconds() }

// Present builds the headline, commands, links and the depth sparkline.
func (p *Playbook) Present(a alarm.Alarm, t playbook.Target, ev Evidence, r report.Result) report.Presentation {
	cmds := runbook.Commands{C: p.Config}
	pres := report.Presentation{Headline: headline(p.Config.Queue, r)}
	switch r.Finding.Code {
	case UnderProvisioned:
		pres.Commands = append(pres.Commands, cmds.Scale(t.Service, p.Config.MaxWorkers))
	case DatabaseBottleneck:
		pres.Commands = append(pres.Commands, cmds.SlowQueries())
	case WorkersMissing:
		pres.Commands = append(pres.Commands, cmds.DescribeService(t.Service), cmds.Scale(t.Service, 1))
	case ConsumersMissing:
		pres.Commands = append(pres.Commands, cmds.RabbitSecret())
	}
	pres.Commands = append(pres.Commands, cmds.QueueDepth(p.Config.Queue, 15), cmds.ErrorLogs(p.Config.WorkerLogGroup, "?slow ?timeout", 15))
	pres.Links = report.Links(report.LinkParams{Region: p.Config.Region, Cluster: p.Config.Cluster, Service: t.Service,
		LogGroups: []string{p.Config.WorkerLogGroup}, AlarmName: a.Name, Dashboard: p.Config.Dashboard, Window: 15 * time.Minute,
		Query: "fields @timestamp, @message | filter @message like /(?i)(slow|timeout)/ | sort @timestamp desc | limit 100"})
	if len(ev.Depth.Points) > 0 {
		pres.Series = &report.Series{Label: "queue depth " + p.Config.Queue + " (15 min)", Unit: "msgs", Values: ev.Depth.Values()}
	}
	return pres
}

var short = map[string]string{
	WorkersMissing: "no worker running", ConsumersMissing: "workers up but not consuming", DatabaseBottleneck: "database is the bottleneck",
	UnderProvisioned: "workers cannot keep up", Draining: "already draining", ScaledBack: "back to normal",
	NothingToScaleBack: "back to normal", Unknown: "cause unknown",
}

func headline(queue string, r report.Result) string {
	s := queue + ": " + short[r.Finding.Code] + " — " + playbook.ActionsPhrase(r)
	if v := r.Verification; v != nil && v.Status != report.NotNeeded {
		s += " — " + v.Status + ": " + v.Detail
	}
	switch r.Finding.Code {
	case DatabaseBottleneck:
		s += " — look at the slow queries (below); do not add workers"
	case WorkersMissing:
		s += " — see the no-tasks report for the worker"
	}
	return s
}
