package notasks

import (
	"context"
	"errors"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/service"
)

// Playbook adapts the no-tasks decision to the pipeline.
type Playbook struct {
	Config  config.Config
	ECS     ecs.Client
	Logs    logs.Client
	Metrics metrics.Client
	Discord service.DiscordBudget // nil: the ingestor is never restarted (the budget cannot be checked)
	Now     func() time.Time
	// StoppedWindow is how far back stopped tasks and logs are read (the runbook: 1 hour).
	StoppedWindow time.Duration
}

var _ playbook.Playbook[Evidence] = (*Playbook)(nil)

func (p *Playbook) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Playbook) window() time.Duration {
	if p.StoppedWindow > 0 {
		return p.StoppedWindow
	}
	return time.Hour
}

// Policy is the decision's view of the configuration.
func (p *Playbook) Policy() Policy {
	return Policy{
		AllowRollback: p.Config.AllowRollback, AllowRaiseMemory: p.Config.AllowRaiseMemory,
		MemoryFactor: p.Config.MemoryFactor, MaxTaskMemoryMiB: p.Config.MaxTaskMemoryMiB,
		MinDiscordSessions: p.Config.MinDiscordSessions, BadDeploymentWindow: 24 * time.Hour,
	}
}

// Scope finds the service: the alarm's ServiceName dimension, else its name. An alarm about
// another cluster or environment is not ours.
func (p *Playbook) Scope(a alarm.Alarm) (playbook.Target, error) {
	return service.Scope(p.Config, a, report.SeverityCritical)
}

// Diagnose runs the probes concurrently. The task-definition lookups need the service's
// current revision, so they run inside the service probe's chain rather than as a second
// batch: the wall time stays that of the longest chain of dependent calls.
func (p *Playbook) Diagnose(ctx context.Context, a alarm.Alarm, t playbook.Target) (Evidence, []report.Diagnostic) {
	now := p.now()
	ev := Evidence{Now: now}
	from := now.Add(-p.window())
	var chained []report.Diagnostic
	logGroup := p.Config.IngestorLogGroup
	if t.Role == "worker" {
		logGroup = p.Config.WorkerLogGroup
	}
	probes := []playbook.Probe{
		{Name: ProbeService, Run: func(ctx context.Context) error {
			svc, err := p.ECS.Service(ctx, t.Service)
			if err != nil {
				return err
			}
			ev.Service = svc
			prim, ok := svc.Primary()
			current := svc.TaskDefinition
			if ok {
				current = prim.TaskDefinition
			}
			chained = playbook.RunProbes(ctx, p.Config.ProbeTimeout,
				playbook.Probe{Name: ProbeTaskDefinition, Run: func(ctx context.Context) error {
					td, err := p.ECS.TaskDefinition(ctx, current)
					ev.TaskDef = td
					return err
				}},
				playbook.Probe{Name: ProbePrevious, Run: func(ctx context.Context) error {
					prev, err := p.ECS.PreviousRevision(ctx, current)
					ev.Previous = prev
					return err
				}},
			)
			return nil
		}},
		{Name: ProbeStoppedTasks, Run: func(ctx context.Context) error {
			tasks, err := p.ECS.StoppedTasks(ctx, t.Service, from, 50)
			ev.Stopped = tasks
			return err
		}},
		{Name: ProbeLogs, Run: func(ctx context.Context) error {
			ex, err := p.Logs.Filter(ctx, logGroup, "?fatal ?panic ?crash ?FATAL ?PANIC", from, now, logs.Limits{MaxLines: 30})
			ev.Logs = ex
			return err
		}},
		{Name: ProbeMemory, Run: func(ctx context.Context) error {
			s, err := p.Metrics.Fetch(ctx, now.Add(-time.Hour), now, metrics.Query{ID: "mem", Namespace: "AWS/ECS", Metric: "MemoryUtilization",
				Dimensions: map[string]string{"ClusterName": p.Config.Cluster, "ServiceName": t.Service}, Stat: "Maximum", Period: 5 * time.Minute})
			ev.Memory = s["mem"]
			return err
		}},
	}
	if t.Role == "worker" {
		probes = append(probes, playbook.Probe{Name: ProbeQueueDepth, Run: func(ctx context.Context) error {
			s, err := p.Metrics.Fetch(ctx, now.Add(-15*time.Minute), now, metrics.QueueDepth(p.Config.Broker, p.Config.VirtualHost, p.Config.Queue))
			ev.Queue = s["depth"]
			return err
		}})
	}
	if t.Role == "ingestor" {
		probes = append(probes, playbook.Probe{Name: ProbeDiscord, Run: func(ctx context.Context) error {
			if p.Discord == nil {
				return errors.New("no Discord token configured")
			}
			d, err := p.Discord.SessionBudget(ctx)
			ev.Discord = d
			return err
		}})
	}
	diags := playbook.RunProbes(ctx, p.Config.ProbeTimeout, probes...)
	return ev, append(diags, chained...)
}

// Decide implements playbook.Playbook.
func (p *Playbook) Decide(_ alarm.Alarm, t playbook.Target, ev Evidence, failed map[string]string) playbook.Decision {
	return Decide(Input{Target: t, Evidence: ev, Failed: failed, Policy: p.Policy()})
}

// Precheck re-reads the service: if someone scaled it to zero, tasks came back, or another
// deployment started since the diagnosis, the action is no longer ours to take.
func (p *Playbook) Precheck(ctx context.Context, act playbook.Action) error {
	svc, err := p.ECS.Service(ctx, act.Target)
	if err != nil {
		return err
	}
	return service.StillDown(svc, act.Expect)
}

// Act restarts, rolls back or raises memory (pkg/service).
func (p *Playbook) Act(ctx context.Context, act playbook.Action) (playbook.Effect, error) {
	return service.Operator{ECS: p.ECS}.Act(ctx, act)
}

// Verify polls the service until a task of the new deployment runs, the new deployment fails,
// or the bounded wait ends.
func (p *Playbook) Verify(ctx context.Context, t playbook.Target, _ []playbook.Action) report.Verification {
	return service.WaitForRunning(ctx, p.ECS, t.Service, p.Config.VerifyInterval)
}
