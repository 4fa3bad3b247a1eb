// Package memoryhigh is the playbook for "Ingestor Memory High" (WARNING): tell a leak from
// a spike or a high but stable need, restart a leaking ingestor (at most every few hours,
// and only with Discord session starts to spare), and ask for a bug with the numbers.
package memoryhigh

import (
	"fmt"
	"math"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/service"
	"github.com/arrakis/gp-remediation/pkg/trend"
)

// Finding codes are the trend classes: leak, spike, sustained-high, recovering, normal,
// insufficient-data; plus unknown when the memory metric could not be read.
const Unknown = "unknown"

// Probe names.
const (
	ProbeService  = "ecs.service"
	ProbeTaskDef  = "ecs.task-definition"
	ProbeMemory   = "metrics.memory"
	ProbeLogs     = "logs.errors"
	ProbeDiscord  = "discord.session-budget"
	MetricsWindow = time.Hour
)

// Evidence is what the probes saw.
type Evidence struct {
	Now      time.Time
	Service  ecs.Service
	TaskDef  ecs.TaskDefinition
	Memory1m metrics.Series
	Memory5m metrics.Series
	CPU      metrics.Series
	Logs     logs.Excerpt
	Discord  service.DiscordEvidence
}

// Policy is the environment's settings the decision depends on.
type Policy struct {
	HighPct            float64
	AllowRaiseMemory   bool
	MemoryFactor       float64
	MaxTaskMemoryMiB   int
	MinDiscordSessions int
}

// Input is everything Decide looks at.
type Input struct {
	Target   playbook.Target
	Evidence Evidence
	Failed   map[string]string
	Policy   Policy
}

// Classify runs the trend classification on the evidence's memory series.
func Classify(ev Evidence, highPct float64) trend.MemoryClass {
	return trend.ClassifyMemory(points(ev.Memory1m), points(ev.Memory5m), highPct)
}

func points(s metrics.Series) []trend.Point {
	out := make([]trend.Point, len(s.Points))
	for i, p := range s.Points {
		out[i] = trend.Point{T: p.T, V: p.V}
	}
	return out
}

// Decide judges the memory trend the way the runbook's "Ingestor Memory High" does. Pure.
func Decide(in Input) playbook.Decision {
	ev, t, p := in.Evidence, in.Target, in.Policy
	if err, bad := in.Failed[ProbeMemory]; bad {
		return playbook.Decision{
			Finding: report.Finding{Code: Unknown, Summary: "could not read MemoryUtilization of " + t.Service + ": " + err, Evidence: []string{}},
			Missing: []string{ProbeMemory},
		}
	}
	mc := Classify(ev, p.HighPct)
	evidence := []string{"memory: " + mc.Reason}
	evidence = append(evidence, fmt.Sprintf("memory over %s: min %.0f %%, max %.0f %%, last %.0f %% (%d points at %s)",
		MetricsWindow, mc.Min, mc.Max, mc.Last, mc.Points, mc.Resolution))
	if cpu, ok := ev.CPU.Last(); ok {
		evidence = append(evidence, fmt.Sprintf("CPU: %.0f %% now", cpu.V))
	}
	if _, bad := in.Failed[ProbeService]; !bad {
		evidence = append(evidence, fmt.Sprintf("service %s: desired %d, running %d; task definition %s (%s)",
			ev.Service.Name, ev.Service.Desired, ev.Service.Running, ecs.Short(ev.Service.TaskDefinition), memoryOf(ev.TaskDef)))
		for _, d := range ev.Service.Deployments {
			if ev.Now.Sub(d.CreatedAt) <= MetricsWindow {
				evidence = append(evidence, fmt.Sprintf("deployment %s (%s) of %s %s ago: memory changes around it may be the deployment",
					d.ID, d.Status, ecs.Short(d.TaskDefinition), playbook.Ago(ev.Now.Sub(d.CreatedAt))))
			}
		}
	}
	for i, l := range ev.Logs.Lines {
		if i == 5 {
			break
		}
		evidence = append(evidence, fmt.Sprintf("log %s: %s", l.At.UTC().Format("15:04:05"), playbook.Clip(l.Message, 200)))
	}
	if ev.Discord.Checked {
		evidence = append(evidence, fmt.Sprintf("Discord: %d of %d gateway session starts left", ev.Discord.Remaining, ev.Discord.Total))
	}

	d := playbook.Decision{Finding: report.Finding{Code: string(mc.Class), Evidence: evidence}}
	prim, _ := ev.Service.Primary()
	switch mc.Class {
	case trend.MemoryLeak:
		d.Finding.Summary = fmt.Sprintf("%s is leaking memory: +%.1f %%/h (R² %.2f), %.0f %% now, 100 %% in about %s",
			t.Service, mc.SlopePctPerHour, mc.R2, mc.Last, playbook.Ago(mc.TimeToFull))
		act := playbook.Action{Kind: playbook.KindForceNewDeployment, Target: t.Service, Expect: prim.ID,
			Change: playbook.Change{MemoryPercent: mc.Last},
			Reason: "a rolling restart clears leaked memory before the tasks are OOM-killed"}
		switch {
		case in.Failed[ProbeService] != "":
			act.Blocked = guard.Rule{Code: guard.RuleMissingEvidence, Detail: "the service could not be read"}
		case ev.Service.Running == 0:
			act.Blocked = guard.Rule{Code: guard.RuleState, Detail: "no task is running (the no-tasks function handles that)"}
		default:
			act.Blocked = service.DiscordBlock(ev.Discord, in.Failed[ProbeDiscord], p.MinDiscordSessions)
		}
		d.Actions = []playbook.Action{act}
		d.Recommendations = []string{fmt.Sprintf(
			"File a bug: ingestor memory grows %.1f %%/h (R² %.2f) and would reach 100 %% in about %s; attach the memory graph (dashboard link below).",
			mc.SlopePctPerHour, mc.R2, playbook.Ago(mc.TimeToFull))}
	case trend.MemorySustainedHigh:
		d.Finding.Summary = fmt.Sprintf("%s memory is high but stable: above %.0f %% for %.0f %% of the last hour (now %.0f %%); it needs more memory, a restart would not help",
			t.Service, mc.HighPct, mc.ShareAboveHigh*100, mc.Last)
		d.Actions = []playbook.Action{raise(t, ev, in.Failed, p)}
		d.Recommendations = []string{"Raise the task memory (the runbook: sustained > 85 %); the command is below."}
	case trend.MemorySpike:
		d.Finding.Summary = fmt.Sprintf("%s memory spiked: %.0f %% -> %.0f %% in the last minutes from a flat line; no action (the runbook: may be normal during high traffic)",
			t.Service, mc.Baseline, mc.Last)
		d.Recommendations = []string{"Watch it: if it stays high or keeps rising, the next alarm will say leak or sustained-high."}
	case trend.MemoryRecovering:
		d.Finding.Summary = fmt.Sprintf("%s memory is recovering: %.0f %% now, down from %.0f %%", t.Service, mc.Last, mc.Peak)
	case trend.MemoryNormal:
		d.Finding.Summary = fmt.Sprintf("%s memory is %.0f %% now with no leak, spike or sustained high in the last hour", t.Service, mc.Last)
	default:
		d.Finding.Summary = fmt.Sprintf("not enough memory datapoints to judge %s (%s)", t.Service, mc.Reason)
	}
	return d
}

func raise(t playbook.Target, ev Evidence, failed map[string]string, p Policy) playbook.Action {
	prim, _ := ev.Service.Primary()
	act := playbook.Action{Kind: playbook.KindRaiseTaskMemory, Target: t.Service, Ref: ev.TaskDef.ARN, Expect: prim.ID,
		Reason: "memory stays above the high line: the tasks need more"}
	cur := ev.TaskDef.MemoryMiB
	if failed[ProbeTaskDef] != "" || cur == 0 {
		act.Blocked = guard.Rule{Code: guard.RuleMissingEvidence, Detail: "the task definition's memory could not be read"}
		return act
	}
	next := min(int(math.Ceil(float64(cur)*p.MemoryFactor)), p.MaxTaskMemoryMiB)
	act.Change = playbook.Change{FromMiB: cur, ToMiB: next, FromTaskDefinition: ev.TaskDef.ARN}
	switch {
	case next <= cur:
		act.Blocked = guard.Rule{Code: guard.RuleCap, Detail: fmt.Sprintf("task memory is already %d MiB, the cap is %d MiB (GPR_MAX_TASK_MEMORY_MIB)", cur, p.MaxTaskMemoryMiB)}
	case !p.AllowRaiseMemory:
		act.Blocked = guard.Rule{Code: guard.RulePolicy, Detail: "raise-task-memory is off in this environment (GPR_ALLOW_RAISE_MEMORY=false)"}
	default:
		// Deploying the new revision restarts the ingestor: the Discord guard applies.
		act.Blocked = service.DiscordBlock(ev.Discord, failed[ProbeDiscord], p.MinDiscordSessions)
	}
	return act
}

func memoryOf(td ecs.TaskDefinition) string {
	if td.MemoryMiB == 0 {
		return "memory unknown"
	}
	return fmt.Sprintf("%d MiB", td.MemoryMiB)
}

// ServiceStates records the service the diagnosis read as the incident's baseline
// (playbook.ServiceStater).
func (ev Evidence) ServiceStates() []incident.ServiceState { return playbook.ServiceState(ev.Service) }
