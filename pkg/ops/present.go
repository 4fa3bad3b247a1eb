package ops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/runbook"
)

// report assembles the run's Report: the Result, the severity, the headline that says what
// happened (loudly when the system is left down), and the runbook commands still useful.
func (ru *run) report(ctx context.Context) report.Report {
	o := ru.o
	done, failed, dry, skippedN := 0, 0, 0, 0
	for _, a := range ru.actions {
		switch a.Outcome {
		case report.OutcomeDone:
			done++
		case report.OutcomeFailed:
			failed++
		case report.OutcomeDryRun:
			dry++
		case report.OutcomeSkipped:
			skippedN++
		}
	}
	complete := done == len(ru.actions) && done > 0
	if ru.req.Kind == KindCompleteRestart && complete {
		v := o.waitDrain(ctx)
		ru.verif = &v
	}
	switch {
	case ru.verif != nil:
	case dry > 0 && done == 0:
		ru.verif = &report.Verification{Status: report.NotNeeded, Detail: "dry-run: nothing was changed"}
	case done == 0:
		ru.verif = &report.Verification{Status: report.NotNeeded, Detail: "nothing was changed"}
	default:
		ru.verif = &report.Verification{Status: report.Unverified, Detail: "the operation stopped before its effect could be checked"}
	}

	// A plan that stopped after scaling down may leave the system down: look, do not infer.
	var down []string
	downUnknown := ""
	if (ru.req.Kind == KindCompleteRestart && ru.stoppedAt > 0 && done > 0) || (ru.req.Kind == KindDisable && done > 0) {
		// Read even when the run was interrupted (Ctrl-C, a deadline): this is what a person
		// must know first.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		st, err := o.State(rctx, ru.req)
		cancel()
		if err != nil {
			downUnknown = err.Error()
		} else {
			for _, s := range st.Services() {
				if s.Desired == 0 || s.Running == 0 {
					down = append(down, fmt.Sprintf("%s (desired %d, running %d)", s.Service, s.Desired, s.Running))
				}
			}
			ru.evidence = append(ru.evidence, "after: "+st.String())
		}
	}

	res := o.result(modeFor(ru.guard.Mode, ru.apply))
	res.Finding = report.Finding{Code: "manual-" + string(ru.req.Kind), Summary: ru.summary(), Evidence: ru.evidence}
	res.Actions = ru.actions
	res.Diagnostics = ru.diags
	res.Verification = ru.verif

	sev := report.SeverityInfo
	switch {
	case len(down) > 0 && ru.req.Kind == KindCompleteRestart, downUnknown != "" && ru.req.Kind == KindCompleteRestart:
		sev = report.SeverityCritical
	case failed > 0, ru.req.Kind == KindDisable && done > 0,
		done > 0 && ru.verif.Status != report.Verified && ru.verif.Status != report.NotNeeded:
		sev = report.SeverityWarning
	}

	pres := report.Presentation{Headline: ru.headline(done, failed, dry, skippedN, down, downUnknown)}
	cmds := runbook.Commands{C: o.Config}
	svc := ""
	if ru.req.Role != "" {
		svc = o.serviceName(ru.req.Role)
	}
	switch ru.req.Kind {
	case KindCompleteRestart:
		if len(down) > 0 || downUnknown != "" {
			pres.Commands = append(pres.Commands, cmds.Scale(o.Config.WorkerService, ru.restoreWorker), cmds.Scale(o.Config.IngestorService, ru.restoreIngestor))
		}
		pres.Commands = append(pres.Commands, cmds.QueueDepth(o.Config.Queue, 15))
	case KindDisable:
		res.Recommendations = append(res.Recommendations, UseGatewayProxyLine+" (runbook: Disable Gateway Proxy, step 1)")
	case KindReplayDLQ:
		pres.Commands = append(pres.Commands, cmds.RabbitSecret(), cmds.QueueDepth(o.Config.DLQ, 60), cmds.QueueDepth(o.Config.Queue, 15))
	default:
		pres.Commands = append(pres.Commands, cmds.DescribeService(svc))
	}
	pres.Links = report.Links(report.LinkParams{Region: o.Config.Region, Cluster: o.Config.Cluster, Service: svc, Dashboard: o.Config.Dashboard})
	return report.Report{Result: res, Severity: sev, Presentation: pres}
}

// summary is the finding's sentence: what was asked, by whom.
func (ru *run) summary() string {
	return fmt.Sprintf("%s asked for %s in %s", ru.by.String(), ru.req.String(), ru.o.Config.Environment)
}

// headline is the one line a person acts on.
func (ru *run) headline(done, failed, dry, skippedN int, down []string, downUnknown string) string {
	req := ru.req.String()
	var h string
	first := func(o report.Outcome) *report.Action {
		for i := range ru.actions {
			if ru.actions[i].Outcome == o {
				return &ru.actions[i]
			}
		}
		return nil
	}
	switch {
	case failed > 0:
		a := first(report.OutcomeFailed)
		h = fmt.Sprintf("FAILED %s at step %d (%s %s): %s", req, ru.stoppedAt, a.Kind, a.Target, a.Reason)
	case skippedN > 0 && done == 0:
		a := first(report.OutcomeSkipped)
		h = fmt.Sprintf("NOT DONE %s: %s", req, a.Reason)
		if dry > 0 {
			h = fmt.Sprintf("DRY-RUN %s would stop at step %d: %s", req, ru.stoppedAt, a.Reason)
		}
	case skippedN > 0:
		a := first(report.OutcomeSkipped)
		h = fmt.Sprintf("PARTLY DONE %s, stopped at step %d: %s", req, ru.stoppedAt, a.Reason)
	case dry > 0:
		var would []string
		for _, a := range ru.actions {
			would = append(would, strings.TrimSpace(a.Kind+" "+shortTarget(a.Target)+" "+a.Detail))
		}
		h = fmt.Sprintf("DRY-RUN %s: would %s; nothing was changed", req, strings.Join(would, ", then "))
	default:
		h = fmt.Sprintf("%s done", req)
		if len(ru.actions) == 1 {
			h += ": " + ru.actions[0].Detail
		}
		switch v := ru.verif; {
		case v == nil, v.Status == report.NotNeeded:
		case v.Status == report.Verified:
			h += " — verified: " + v.Detail
		default:
			h += " — NOT VERIFIED (" + v.Status + "): " + v.Detail
		}
	}
	if !ru.apply && !strings.HasPrefix(h, "DRY-RUN") {
		h = "DRY-RUN " + h
	}
	switch {
	case ru.req.Kind == KindCompleteRestart && len(down) > 0:
		h = "SYSTEM DOWN: " + strings.Join(down, ", ") + " left at 0 — a person must act now. " + h
	case ru.req.Kind == KindCompleteRestart && downUnknown != "":
		h = "SYSTEM MAY BE DOWN (could not re-read the services: " + downUnknown + ") — a person must look now. " + h
	case ru.req.Kind == KindDisable:
		h = "Set USE_GATEWAY_PROXY=false in Sietch yourself: gpr cannot and did not. " + h
	}
	return h
}

// shortTarget drops the environment prefix a person already knows from the report.
func shortTarget(t string) string {
	if i := strings.LastIndex(t, "-"); i > 0 && !strings.Contains(t, ",") {
		return t[i+1:]
	}
	return t
}
