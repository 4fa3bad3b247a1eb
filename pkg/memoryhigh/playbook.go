package memoryhigh

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/runbook"
	"github.com/arrakis/gp-remediation/pkg/service"
)

// Playbook adapts the memory-high decision to the pipeline.
type Playbook struct {
	Config  config.Config
	ECS     ecs.Client
	Logs    logs.Client
	Metrics metrics.Client
	Discord service.DiscordBudget
	Now     func() time.Time
}

var _ playbook.Playbook[Evidence] = (*Playbook)(nil)

func (p *Playbook) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Policy is the decision's view of the configuration.
func (p *Playbook) Policy() Policy {
	return Policy{HighPct: p.Config.MemoryHighPercent, AllowRaiseMemory: p.Config.AllowRaiseMemory, MemoryFactor: p.Config.MemoryFactor,
		MaxTaskMemoryMiB: p.Config.MaxTaskMemoryMiB, MinDiscordSessions: p.Config.MinDiscordSessions}
}

// Scope accepts memory alarms on the ingestor (the runbook's alarm). The worker has no such
// alarm in the runbook, and restarting it has other consequences, so it is not handled here.
func (p *Playbook) Scope(a alarm.Alarm) (playbook.Target, error) {
	t, err := service.Scope(p.Config, a, report.SeverityWarning)
	if err != nil {
		return t, err
	}
	if t.Role != "ingestor" {
		return playbook.Target{}, fmt.Errorf("%w: memory-high handles the ingestor (runbook: Ingestor Memory High); alarm %q is about %s", playbook.ErrNotActionable, a.Name, t.Service)
	}
	return t, nil
}

// MemoryQueries are the runbook's memory trend query at 1- and 5-minute periods, plus CPU.
func MemoryQueries(c config.Config, service string) []metrics.Query {
	dims := map[string]string{"ClusterName": c.Cluster, "ServiceName": service}
	return []metrics.Query{
		{ID: "mem1m", Namespace: "AWS/ECS", Metric: "MemoryUtilization", Dimensions: dims, Stat: "Average", Period: time.Minute},
		{ID: "mem5m", Namespace: "AWS/ECS", Metric: "MemoryUtilization", Dimensions: dims, Stat: "Average", Period: 5 * time.Minute},
		{ID: "cpu5m", Namespace: "AWS/ECS", Metric: "CPUUtilization", Dimensions: dims, Stat: "Average", Period: 5 * time.Minute},
	}
}

// Diagnose reads the memory and CPU series (one GetMetricData call), the service and its
// task definition, recent error lines and the Discord session budget, concurrently.
func (p *Playbook) Diagnose(ctx context.Context, a alarm.Alarm, t playbook.Target) (Evidence, []report.Diagnostic) {
	now := p.now()
	ev := Evidence{Now: now}
	var chained []report.Diagnostic
	diags := playbook.RunProbes(ctx, p.Config.ProbeTimeout,
		playbook.Probe{Name: ProbeMemory, Run: func(ctx context.Context) error {
			s, err := p.Metrics.Fetch(ctx, now.Add(-MetricsWindow), now, MemoryQueries(p.Config, t.Service)...)
			if err != nil {
				return err
			}
			ev.Memory1m, ev.Memory5m, ev.CPU = s["mem1m"], s["mem5m"], s["cpu5m"]
			return nil
		}},
		playbook.Probe{Name: ProbeService, Run: func(ctx context.Context) error {
			svc, err := p.ECS.Service(ctx, t.Service)
			if err != nil {
				return err
			}
			ev.Service = svc
			chained = playbook.RunProbes(ctx, p.Config.ProbeTimeout, playbook.Probe{Name: ProbeTaskDef, Run: func(ctx context.Context) error {
				td, err := p.ECS.TaskDefinition(ctx, svc.TaskDefinition)
				ev.TaskDef = td
				return err
			}})
			return nil
		}},
		playbook.Probe{Name: ProbeLogs, Run: func(ctx context.Context) error {
			ex, err := p.Logs.Filter(ctx, p.Config.IngestorLogGroup, "?ERROR ?error ?fatal ?panic ?heap", now.Add(-MetricsWindow), now, logs.Limits{MaxLines: 20})
			ev.Logs = ex
			return err
		}},
		playbook.Probe{Name: ProbeDiscord, Run: func(ctx context.Context) error {
			if p.Discord == nil {
				return errors.New("no Discord token configured")
			}
			d, err := p.Discord.SessionBudget(ctx)
			ev.Discord = d
			return err
		}},
	)
	return ev, append(diags, chained...)
}

// Decide implements playbook.Playbook.
func (p *Playbook) Decide(_ alarm.Alarm, t playbook.Target, ev Evidence, failed map[string]string) playbook.Decision {
	return Decide(Input{Target: t, Evidence: ev, Failed: failed, Policy: p.Policy()})
}

// Precheck re-reads the service: another deployment since the diagnosis means someone
// already acted.
func (p *Playbook) Precheck(ctx context.Context, act playbook.Action) error {
	svc, err := p.ECS.Service(ctx, act.Target)
	if err != nil {
		return err
	}
	prim, _ := svc.Primary()
	switch {
	case svc.Desired == 0:
		return errors.New("desired count is now 0")
	case act.Expect != "" && prim.ID != act.Expect:
		return fmt.Errorf("a new deployment (%s) started since the diagnosis", prim.ID)
	}
	return nil
}

// Act restarts the service or raises its memory, like no-tasks does.
func (p *Playbook) Act(ctx context.Context, act playbook.Action) (playbook.Effect, error) {
	return service.Operator{ECS: p.ECS}.Act(ctx, act)
}

// Verify waits for the new deployment to run, then for the memory metric to show the drop.
// CloudWatch publishes a minute or two late, so "restarted, memory not measured yet" is a
// common and honest answer (pending).
func (p *Playbook) Verify(ctx context.Context, t playbook.Target, done []playbook.Action) report.Verification {
	start := time.Now()
	restartedAt := p.now()
	v := service.WaitForRunning(ctx, p.ECS, t.Service, p.Config.VerifyInterval)
	if v.Status != report.Verified {
		return v
	}
	before := math.NaN()
	for _, a := range done {
		if a.Kind == playbook.KindForceNewDeployment && a.Change.MemoryPercent > 0 {
			before = a.Change.MemoryPercent
		}
	}
	if math.IsNaN(before) {
		return v // a memory raise: running tasks of the new revision is the effect
	}
	for {
		s, err := p.Metrics.Fetch(ctx, restartedAt.Add(-time.Minute), p.now().Add(time.Minute), MemoryQueries(p.Config, t.Service)[0])
		if err == nil {
			for _, pt := range s["mem1m"].Points {
				// A datapoint is stamped with the start of its minute: the restart's minute
				// already covers time after it.
				if pt.T.Add(time.Minute).After(restartedAt) && !math.IsNaN(pt.V) && pt.V < before-10 {
					return report.Verification{Status: report.Verified, MS: time.Since(start).Milliseconds(),
						Detail: fmt.Sprintf("%s; memory %.0f %% -> %.0f %% after the restart", v.Detail, before, pt.V)}
				}
			}
		}
		select {
		case <-ctx.Done():
			return report.Verification{Status: report.Pending, MS: time.Since(start).Milliseconds(),
				Detail: v.Detail + "; memory not yet measured lower after the restart (CloudWatch lags 1–2 min)"}
		case <-time.After(p.Config.VerifyInterval):
		}
	}
}

// Present builds the headline, commands, links and the memory sparkline.
func (p *Playbook) Present(a alarm.Alarm, t playbook.Target, ev Evidence, r report.Result) report.Presentation {
	cmds := runbook.Commands{C: p.Config}
	pres := report.Presentation{Headline: headline(t.Service, r)}
	pres.Commands = append(pres.Commands, cmds.ServiceMetric(t.Service, "MemoryUtilization", 60, 300))
	switch r.Finding.Code {
	case "leak":
		pres.Commands = append(pres.Commands, cmds.ForceNewDeployment(t.Service))
	case "sustained-high":
		if ev.TaskDef.MemoryMiB > 0 {
			next := min(int(math.Ceil(float64(ev.TaskDef.MemoryMiB)*p.Config.MemoryFactor)), p.Config.MaxTaskMemoryMiB)
			if next > ev.TaskDef.MemoryMiB {
				pres.Commands = append(pres.Commands, cmds.RaiseMemory(t.Service, ev.TaskDef.ARN, next))
			}
		}
	}
	pres.Commands = append(pres.Commands, cmds.ErrorLogs(p.Config.IngestorLogGroup, "?ERROR ?fatal ?panic", 60))
	pres.Links = report.Links(report.LinkParams{Region: p.Config.Region, Cluster: p.Config.Cluster, Service: t.Service,
		LogGroups: []string{p.Config.IngestorLogGroup}, AlarmName: a.Name, Dashboard: p.Config.Dashboard, Window: time.Hour})
	if len(ev.Memory5m.Points) > 0 {
		pres.Series = &report.Series{Label: "ingestor memory utilization, 5-min average (1 h)", Unit: "%", Values: ev.Memory5m.Values()}
	}
	return pres
}

var short = map[string]string{
	"leak": "memory leak", "sustained-high": "memory high and stable", "spike": "memory spike",
	"recovering": "memory recovering", "normal": "memory normal", "insufficient-data": "not enough memory data", Unknown: "memory unreadable",
}

func headline(service string, r report.Result) string {
	parts := []string{service + ": " + short[r.Finding.Code], playbook.ActionsPhrase(r)}
	if v := r.Verification; v != nil && v.Status != report.NotNeeded {
		parts = append(parts, v.Status+": "+v.Detail)
	}
	switch r.Finding.Code {
	case "leak":
		parts = append(parts, "file a bug with the slope (below)")
	case "sustained-high":
		if !strings.Contains(playbook.ActionsPhrase(r), "raised") {
			parts = append(parts, "raise task memory (command below)")
		}
	case "spike":
		parts = append(parts, "watch; no action needed now")
	}
	return strings.Join(parts, " — ")
}
