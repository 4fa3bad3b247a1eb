package notasks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// DiscordBudget reads the ingestor's gateway session budget.
type DiscordBudget interface {
	SessionBudget(ctx context.Context) (DiscordEvidence, error)
}

// Playbook adapts the no-tasks decision to the pipeline.
type Playbook struct {
	Config  config.Config
	ECS     ecs.Client
	Logs    logs.Client
	Metrics metrics.Client
	Discord DiscordBudget // nil: the ingestor is never restarted (the budget cannot be checked)
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
	return ScopeService(p.Config, a, report.SeverityCritical)
}

// ScopeService maps an alarm to one of this environment's two services.
func ScopeService(c config.Config, a alarm.Alarm, sev report.Severity) (playbook.Target, error) {
	if cl := a.Dimension("ClusterName"); cl != "" && cl != c.Cluster {
		return playbook.Target{}, fmt.Errorf("%w: alarm %q is about cluster %q, this environment's is %q", playbook.ErrNotActionable, a.Name, cl, c.Cluster)
	}
	roles := map[string]string{c.IngestorService: "ingestor", c.WorkerService: "worker"}
	if svc := a.Dimension("ServiceName"); svc != "" {
		if role, ok := roles[svc]; ok {
			return playbook.Target{Service: svc, Role: role, Severity: sev}, nil
		}
		return playbook.Target{}, fmt.Errorf("%w: alarm %q is about service %q, which environment %s does not own", playbook.ErrNotActionable, a.Name, svc, c.Environment)
	}
	name := strings.ToLower(a.Name)
	for svc, role := range roles {
		if strings.Contains(name, svc) {
			return playbook.Target{Service: svc, Role: role, Severity: sev}, nil
		}
	}
	if strings.Contains(name, c.Environment) {
		switch {
		case strings.Contains(name, "ingestor"):
			return playbook.Target{Service: c.IngestorService, Role: "ingestor", Severity: sev}, nil
		case strings.Contains(name, "worker"):
			return playbook.Target{Service: c.WorkerService, Role: "worker", Severity: sev}, nil
		}
	}
	return playbook.Target{}, fmt.Errorf("%w: alarm %q names no service of environment %s (no ServiceName dimension, no service in its name)", playbook.ErrNotActionable, a.Name, c.Environment)
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
			s, err := p.Metrics.Fetch(ctx, now.Add(-15*time.Minute), now, QueueDepthQuery(p.Config, p.Config.Queue))
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

// QueueDepthQuery is the AWS/AmazonMQ MessageCount of a queue at one-minute resolution.
func QueueDepthQuery(c config.Config, queue string) metrics.Query {
	return metrics.Query{ID: "depth", Namespace: "AWS/AmazonMQ", Metric: "MessageCount", Stat: "Average", Period: time.Minute,
		Dimensions: map[string]string{"Broker": c.Broker, "VirtualHost": c.VirtualHost, "Queue": queue}}
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
	return StillDown(svc, act.Expect)
}

// StillDown says why acting on svc is no longer right, or nil.
func StillDown(svc ecs.Service, expectPrimary string) error {
	prim, _ := svc.Primary()
	switch {
	case svc.Desired == 0:
		return fmt.Errorf("desired count is now 0 (scaled down on purpose)")
	case svc.Running > 0:
		return fmt.Errorf("%d task(s) are running now", svc.Running)
	case expectPrimary != "" && prim.ID != expectPrimary:
		return fmt.Errorf("a new deployment (%s) started since the diagnosis", prim.ID)
	}
	return nil
}

// Act performs one action.
func (p *Playbook) Act(ctx context.Context, act playbook.Action) (string, error) {
	switch act.Kind {
	case ForceNewDeployment:
		svc, err := p.ECS.ForceNewDeployment(ctx, act.Target)
		if err != nil {
			return "", err
		}
		prim, _ := svc.Primary()
		return fmt.Sprintf("new deployment %s of %s", prim.ID, ecs.Short(prim.TaskDefinition)), nil
	case Rollback:
		svc, err := p.ECS.SetTaskDefinition(ctx, act.Target, act.Ref)
		if err != nil {
			return "", err
		}
		prim, _ := svc.Primary()
		return fmt.Sprintf("%s -> %s (deployment %s)", act.From, ecs.Short(act.Ref), prim.ID), nil
	case RaiseTaskMemory:
		td, err := p.ECS.TaskDefinition(ctx, act.Ref)
		if err != nil {
			return "", err
		}
		var mib int
		if _, err := fmt.Sscanf(act.To, "%d MiB", &mib); err != nil {
			return "", fmt.Errorf("raise memory: bad target %q", act.To)
		}
		next, err := p.ECS.RegisterWithMemory(ctx, td, mib)
		if err != nil {
			return "", err
		}
		svc, err := p.ECS.SetTaskDefinition(ctx, act.Target, next.ARN)
		if err != nil {
			return fmt.Sprintf("registered %s with %d MiB but could not deploy it", ecs.Short(next.ARN), mib), err
		}
		prim, _ := svc.Primary()
		return fmt.Sprintf("registered %s with %d MiB (was %d MiB), deployment %s", ecs.Short(next.ARN), mib, td.MemoryMiB, prim.ID), nil
	}
	return "", fmt.Errorf("unknown action %q", act.Kind)
}

// Verify polls the service until a task of the new deployment runs, the new deployment fails,
// or the bounded wait ends.
func (p *Playbook) Verify(ctx context.Context, t playbook.Target, _ []playbook.Action) report.Verification {
	return WaitForRunning(ctx, p.ECS, t.Service, p.Config.VerifyInterval)
}

// WaitForRunning is the no-tasks verification, shared with memory-high's restart: a task of
// the PRIMARY deployment must be seen running on two consecutive polls (a crash-looping task
// can run for a few seconds).
func WaitForRunning(ctx context.Context, c ecs.Client, service string, interval time.Duration) report.Verification {
	start := time.Now()
	seen := 0
	var last ecs.Service
	var lastErr error
	for {
		svc, err := c.Service(ctx, service)
		if err == nil {
			last, lastErr = svc, nil
			prim, _ := svc.Primary()
			switch {
			case prim.Running >= 1 || (prim.ID == "" && svc.Running >= 1):
				seen++
				if seen >= 2 || prim.RolloutState == "COMPLETED" {
					return report.Verification{Status: report.Verified, MS: time.Since(start).Milliseconds(),
						Detail: fmt.Sprintf("%d task(s) of deployment %s running (%s)", max(prim.Running, svc.Running), prim.ID, ecs.Short(prim.TaskDefinition))}
				}
			case prim.RolloutState == "FAILED" || prim.Failed > 0:
				return report.Verification{Status: report.VerifyFailed, MS: time.Since(start).Milliseconds(),
					Detail: fmt.Sprintf("deployment %s: %d task(s) failed to start (%s)", prim.ID, prim.Failed, nonEmpty(prim.RolloutReason, "rollout "+prim.RolloutState))}
			default:
				seen = 0
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return report.Verification{Status: report.Unverified, MS: time.Since(start).Milliseconds(), Detail: "could not read the service: " + lastErr.Error()}
			}
			return report.Verification{Status: report.Pending, MS: time.Since(start).Milliseconds(),
				Detail: fmt.Sprintf("still starting after %s: running %d, pending %d", time.Since(start).Round(time.Second), last.Running, last.Pending)}
		case <-time.After(interval):
		}
	}
}

func nonEmpty(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
