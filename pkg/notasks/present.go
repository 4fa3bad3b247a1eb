package notasks

import (
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/runbook"
)

// Present builds the report's headline, commands, links and sparkline.
func (p *Playbook) Present(a alarm.Alarm, t playbook.Target, ev Evidence, r report.Result) report.Presentation {
	cmds := runbook.Commands{C: p.Config}
	logGroup := p.Config.IngestorLogGroup
	if t.Role == "worker" {
		logGroup = p.Config.WorkerLogGroup
	}
	pres := report.Presentation{Headline: Headline(t.Service, r)}
	switch r.Finding.Code {
	case ScaledToZero:
		pres.Commands = append(pres.Commands, cmds.Scale(t.Service, 1))
	case BadDeployment:
		if ev.Previous != "" {
			pres.Commands = append(pres.Commands, cmds.Rollback(t.Service, ev.Previous))
		}
		fam, _, _ := ecs.ParseRevision(ev.Service.TaskDefinition)
		pres.Commands = append(pres.Commands, cmds.ListRevisions(fam))
	case OOMKilled:
		if ev.TaskDef.MemoryMiB > 0 {
			next := min(int(float64(ev.TaskDef.MemoryMiB)*p.Config.MemoryFactor+0.5), p.Config.MaxTaskMemoryMiB)
			if next > ev.TaskDef.MemoryMiB && !actionDone(r, RaiseTaskMemory) {
				pres.Commands = append(pres.Commands, cmds.RaiseMemory(t.Service, ev.TaskDef.ARN, next))
			}
		}
	case NetworkError:
		if n := ev.Service.Network; n != nil {
			pres.Commands = append(pres.Commands, cmds.NetworkChecks(n.Subnets, n.SecurityGroups)...)
		}
	case DiscordTokenInvalid:
		pres.Commands = append(pres.Commands, report.Command{Title: "After replacing the token in the secret, restart the ingestor",
			Cmd: fmt.Sprintf("aws secretsmanager put-secret-value --secret-id %s --secret-string '{\"token\":\"<new token>\"}'\n%s",
				p.Config.DiscordSecret, cmds.ForceNewDeployment(t.Service).Cmd)})
	}
	if !actionDone(r, ForceNewDeployment) && !actionDone(r, Rollback) && !actionDone(r, RaiseTaskMemory) &&
		r.Finding.Code != ScaledToZero && r.Finding.Code != Recovered && r.Finding.Code != NetworkError && r.Finding.Code != DiscordTokenInvalid {
		pres.Commands = append(pres.Commands, cmds.ForceNewDeployment(t.Service))
	}
	pres.Commands = append(pres.Commands, cmds.DescribeService(t.Service), cmds.StoppedTasks(t.Service), cmds.CrashLogs(logGroup))
	if t.Role == "worker" {
		pres.Commands = append(pres.Commands, cmds.QueueDepth(p.Config.Queue, 15))
	}
	pres.Links = report.Links(report.LinkParams{
		Region: p.Config.Region, Cluster: p.Config.Cluster, Service: t.Service, LogGroups: []string{logGroup},
		AlarmName: a.Name, Dashboard: p.Config.Dashboard,
		Query:  "fields @timestamp, @message | filter @message like /(?i)(fatal|panic|crash|out of memory|4004)/ | sort @timestamp desc | limit 100",
		Window: time.Hour,
	})
	switch {
	case t.Role == "worker" && len(ev.Queue.Points) > 0:
		pres.Series = &report.Series{Label: "queue depth " + p.Config.Queue + " (15 min)", Unit: "msgs", Values: ev.Queue.Values()}
	case len(ev.Memory.Points) > 0:
		pres.Series = &report.Series{Label: "memory utilization, max per 5 min (1 h)", Unit: "%", Values: ev.Memory.Values()}
	}
	return pres
}

func actionDone(r report.Result, kind string) bool {
	for _, a := range r.Actions {
		if a.Kind == kind && a.Outcome == report.OutcomeDone {
			return true
		}
	}
	return false
}

var findingShort = map[string]string{
	ScaledToZero:        "scaled to 0 on purpose",
	Recovered:           "tasks running again",
	OOMKilled:           "tasks OOM-killed (exit 137)",
	DiscordTokenInvalid: "Discord bot token rejected",
	NetworkError:        "tasks cannot start (network error)",
	BadDeployment:       "failing since the last deployment",
	CrashLoop:           "crash loop",
	Unknown:             "no running task, cause unknown",
}

// Headline is the one line an on-call engineer acts on: what is wrong, what was done, whether
// it worked, and what is left to do.
func Headline(service string, r report.Result) string {
	parts := []string{fmt.Sprintf("%s: %s", service, nonEmpty(findingShort[r.Finding.Code], r.Finding.Code))}
	parts = append(parts, playbook.ActionsPhrase(r))
	if v := r.Verification; v != nil && v.Status != report.NotNeeded {
		switch v.Status {
		case report.Verified:
			parts = append(parts, "verified: "+v.Detail)
		case report.Pending:
			parts = append(parts, "not yet verified: "+v.Detail)
		default:
			parts = append(parts, "NOT fixed: "+v.Detail)
		}
	}
	if next := nextStep(r); next != "" {
		parts = append(parts, next)
	}
	return strings.Join(parts, " — ")
}

func nextStep(r report.Result) string {
	switch r.Finding.Code {
	case DiscordTokenInvalid:
		return "replace the bot token, then restart"
	case NetworkError:
		return "check subnets, security groups and NAT/endpoints (commands below)"
	case BadDeployment:
		if !actionDone(r, Rollback) {
			return "roll back (command below) or fix forward"
		}
	case OOMKilled:
		if !actionDone(r, RaiseTaskMemory) {
			return "raise task memory (command below) and file a bug"
		}
	case Unknown:
		return "look at the service events below"
	}
	if r.Escalation != nil && r.Escalation.Paged {
		return "on-call paged"
	}
	return ""
}

func nonEmpty(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
