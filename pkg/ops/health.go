package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/pg"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/runbook"
)

// Health probe names (the report's diagnostics).
const (
	ProbeIngestor    = "ecs.ingestor"
	ProbeWorker      = "ecs.worker"
	ProbeQueue       = "rabbit.queue"
	ProbeDLQ         = "rabbit.dlq"
	ProbeSlowQueries = "pg.slow-queries"
)

// healthEvents is how many of a service's newest events the health report shows.
const healthEvents = 3

// errNotConfigured says a part of the system has no reader in this Operator.
var errNotConfigured = errors.New("not configured")

// health is the runbook's Check System Health: both services, the work queue and the DLQ,
// consumers, slow queries, read concurrently. Each part that cannot be read says unknown,
// with the error; nothing is guessed.
func (o *Operator) health(ctx context.Context, by Requester) report.Report {
	var (
		ingSvc      ecs.Service
		wrkSvc      ecs.Service
		work, dlq   QueueStatus
		slow        pg.SlowQueryReport
		ingErr      error
		wrkErr      error
		qErr, dlErr error
		slowErr     error
	)
	readQueue := func(name string, out *QueueStatus, errp *error) playbook.Probe {
		return playbook.Probe{Run: func(ctx context.Context) error {
			if o.Queues == nil {
				*errp = errNotConfigured
				return *errp
			}
			*out, *errp = o.Queues.Queue(ctx, name)
			return *errp
		}}
	}
	q, d := readQueue(o.Config.Queue, &work, &qErr), readQueue(o.Config.DLQ, &dlq, &dlErr)
	q.Name, d.Name = ProbeQueue, ProbeDLQ
	ing, wrk := o.Config.IngestorService, o.Config.WorkerService
	probes := []playbook.Probe{
		{Name: ProbeIngestor, Run: func(ctx context.Context) error {
			ingSvc, ingErr = o.ECS.Service(ctx, ing)
			return ingErr
		}},
		{Name: ProbeWorker, Run: func(ctx context.Context) error {
			wrkSvc, wrkErr = o.ECS.Service(ctx, wrk)
			return wrkErr
		}},
		q, d,
		{Name: ProbeSlowQueries, Run: func(ctx context.Context) error {
			if o.DB == nil {
				slowErr = errNotConfigured
				return slowErr
			}
			slow, slowErr = o.DB.SlowQueries(ctx)
			return slowErr
		}},
	}
	diags := runProbes(ctx, o.Config.ProbeTimeout, probes)
	// The probes wrote their own fields; a timed-out probe's error comes from its diagnostic.
	errOf := func(name string, err error) error {
		for _, d := range diags {
			if d.Name == name && !d.OK {
				return errors.New(d.Error)
			}
		}
		return err
	}
	ingErr, wrkErr = errOf(ProbeIngestor, ingErr), errOf(ProbeWorker, wrkErr)
	qErr, dlErr, slowErr = errOf(ProbeQueue, qErr), errOf(ProbeDLQ, dlErr), errOf(ProbeSlowQueries, slowErr)

	var ev, head []string
	warn := false
	ev = append(ev, "asked by "+by.String()+": health")
	for _, part := range []struct {
		role, name string
		svc        ecs.Service
		err        error
	}{{RoleIngestor, ing, ingSvc, ingErr}, {RoleWorker, wrk, wrkSvc, wrkErr}} {
		if part.err != nil {
			ev = append(ev, fmt.Sprintf("%s %s: unknown (%s)", part.role, part.name, part.err))
			head = append(head, part.role+" unknown")
			warn = true
			continue
		}
		s := part.svc
		ev = append(ev, fmt.Sprintf("%s %s: desired %d, running %d, pending %d", part.role, part.name, s.Desired, s.Running, s.Pending))
		for _, dep := range s.Deployments {
			ev = append(ev, fmt.Sprintf("%s deployment %s %s of %s: %s, running %d of %d, pending %d, failed %d, created %s",
				part.role, dep.ID, dep.Status, ecs.Short(dep.TaskDefinition), nonEmpty(dep.RolloutState, "rollout state not given"),
				dep.Running, dep.Desired, dep.Pending, dep.Failed, dep.CreatedAt.UTC().Format(time.RFC3339)))
		}
		for i, e := range s.Events {
			if i == healthEvents {
				break
			}
			ev = append(ev, fmt.Sprintf("%s event %s: %s", part.role, e.At.UTC().Format(time.RFC3339), playbook.Clip(e.Message, 300)))
		}
		head = append(head, fmt.Sprintf("%s %d/%d running", part.role, s.Running, s.Desired))
		if s.Running < s.Desired || len(s.Deployments) > 1 {
			warn = true
		}
	}
	for _, part := range []struct {
		label string
		name  string
		st    QueueStatus
		err   error
	}{{"queue", o.Config.Queue, work, qErr}, {"DLQ", o.Config.DLQ, dlq, dlErr}} {
		if part.err != nil {
			ev = append(ev, fmt.Sprintf("%s %s: unknown (%s)", part.label, part.name, part.err))
			head = append(head, part.label+" unknown")
			warn = true
			continue
		}
		ev = append(ev, fmt.Sprintf("%s %s: ready %d, unacked %d, consumers %d", part.label, part.name, part.st.Ready, part.st.Unacked, part.st.Consumers))
		if part.label == "queue" {
			head = append(head, fmt.Sprintf("%s %d ready, %d consumer(s)", part.name, part.st.Ready, part.st.Consumers))
			if part.st.Consumers == 0 {
				warn = true
			}
		} else {
			head = append(head, fmt.Sprintf("DLQ %d", part.st.Ready+part.st.Unacked))
			if part.st.Ready+part.st.Unacked > 0 {
				warn = true
			}
		}
	}
	if slowErr != nil {
		ev = append(ev, "slow queries: unknown ("+slowErr.Error()+")")
		head = append(head, "slow queries unknown")
		warn = true
	} else {
		ev = append(ev, slowLines(slow)...)
		switch {
		case slow.Total == 0 && !slow.Visibility.Complete:
			head = append(head, "no slow query visible (some sessions hidden)")
		default:
			head = append(head, fmt.Sprintf("%d slow quer%s", slow.Total, map[bool]string{true: "y", false: "ies"}[slow.Total == 1]))
		}
		if slow.Total > 0 {
			warn = true
		}
	}

	res := o.result(modeFor(o.Guard.Mode, false))
	res.Mode = ""
	res.Finding = report.Finding{Code: "manual-" + string(KindHealth), Summary: by.String() + " asked for the system's health in " + o.Config.Environment, Evidence: ev}
	res.Diagnostics = diags
	sev := report.SeverityInfo
	if warn {
		sev = report.SeverityWarning
	}
	cmds := runbook.Commands{C: o.Config}
	pres := report.Presentation{
		Headline: "Health of " + o.Config.Environment + ": " + strings.Join(head, ", "),
		Commands: []report.Command{cmds.DescribeService(ing), cmds.DescribeService(wrk), cmds.QueueDepth(o.Config.Queue, 5), cmds.SlowQueries()},
		Links:    report.Links(report.LinkParams{Region: o.Config.Region, Cluster: o.Config.Cluster, Dashboard: o.Config.Dashboard}),
	}
	return report.Report{Result: res, Severity: sev, Presentation: pres}
}

// runProbes runs the probes concurrently, each within timeout (pkg/playbook).
func runProbes(ctx context.Context, timeout time.Duration, probes []playbook.Probe) []report.Diagnostic {
	if timeout <= 0 {
		timeout = 8 * time.Second
	}
	return playbook.RunProbes(ctx, timeout, probes...)
}

// slowLines are the evidence lines of the slow-query report.
func slowLines(r pg.SlowQueryReport) []string {
	var out []string
	if r.Total == 0 {
		out = append(out, fmt.Sprintf("slow queries (over %s): none", r.Over))
	} else {
		out = append(out, fmt.Sprintf("slow queries (over %s): %d", r.Over, r.Total))
	}
	for _, q := range r.Queries {
		out = append(out, fmt.Sprintf("slow query pid %d on %s, %s for %s: %s", q.PID, q.Database, q.State, q.Duration.Round(100*time.Millisecond), q.Query))
	}
	if !r.Visibility.Complete && r.Visibility.Note != "" {
		out = append(out, "slow queries: "+r.Visibility.Note)
	}
	return out
}

func nonEmpty(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
