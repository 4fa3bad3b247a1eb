package playbook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Pager pages a human (PagerDuty Events v2) and resolves the page once the problem is fixed.
type Pager interface {
	Trigger(ctx context.Context, r report.Report, dedupKey string) error
	Resolve(ctx context.Context, dedupKey string) error
}

// Runner runs one function's playbook for each alarm it receives.
type Runner struct {
	Function string
	Config   config.Config
	// Guard is the template for each invocation's guard (Owner is set per invocation).
	Guard guard.Guard
	// Deliver sends a report to every configured sink and returns their statuses. It never
	// fails the function.
	Deliver func(ctx context.Context, r report.Report) []report.Sink
	// Pager is nil when no PagerDuty routing key is configured.
	Pager   Pager
	Log     *slog.Logger
	Metrics io.Writer // EMF lines (stdout in Lambda); nil: none
	Now     func() time.Time
	// RequestID identifies the invocation (lock owner); defaults to a time-based id.
	RequestID func(ctx context.Context) string
	// ReportReserve is the time kept back from the Lambda deadline to post the report.
	ReportReserve time.Duration
	// Warm, when set, runs alongside the diagnosis to fetch what the report will need (the
	// sinks' secrets), so reporting near the deadline is only the sending.
	Warm func(ctx context.Context)
}

// minActTime is the least time left in which an action is started: acting, re-reading and
// recording take a few calls, and a half-done action is worse than none.
const minActTime = time.Second

// Handle is the Lambda entry point body: it decodes the payload and runs the playbook for
// each alarm in it. It never returns an error for input it cannot use (Lambda would retry it
// forever); it says why in the Result instead.
func Handle[E any](ctx context.Context, r *Runner, pb Playbook[E], payload json.RawMessage) (report.Result, error) {
	recs, err := alarm.Decode(payload)
	if err != nil {
		return r.rejected(ctx, "unusable input: "+err.Error()), nil
	}
	var results []report.Result
	for _, rec := range recs {
		if rec.Err != nil {
			results = append(results, r.rejected(ctx, rec.Err.Error()))
			continue
		}
		results = append(results, Process(ctx, r, pb, rec.Alarm))
	}
	if len(results) == 0 { // every record was a duplicate of the first: Decode dropped them
		return r.rejected(ctx, "event carried no alarm"), nil
	}
	first := results[0]
	first.More = results[1:]
	if len(first.More) == 0 {
		first.More = nil
	}
	return first, nil
}

// rejected answers input that is not an alarm for this function.
func (r *Runner) rejected(ctx context.Context, why string) report.Result {
	res := r.base(alarm.Alarm{})
	res.Finding = report.Finding{Code: "not-actionable", Summary: why, Evidence: []string{}}
	res.Error = why
	r.logger().WarnContext(ctx, "input is not an actionable alarm; nothing done", "reason", why)
	return res
}

// maxAlarmReason bounds the alarm's reason as the Result repeats it. CloudWatch's reason is
// usually one sentence, but nothing stops it filling the 256 KiB of an SNS message; the Result
// is logged whole, and a log line past 256 KiB is cut by CloudWatch Logs.
const maxAlarmReason = 1024

func (r *Runner) base(a alarm.Alarm) report.Result {
	return report.Result{
		Function: r.Function, Environment: r.Config.Environment, Mode: string(r.Config.Mode),
		Alarm:   report.AlarmRef{Name: a.Name, State: string(a.State), ChangedAt: a.ChangedAt, ARN: a.ARN, Reason: Clip(a.Reason, maxAlarmReason)},
		Actions: []report.Action{}, Recommendations: []string{}, Diagnostics: []report.Diagnostic{}, Sinks: []report.Sink{},
		Finding: report.Finding{Evidence: []string{}},
	}
}

// Process runs the pipeline for one alarm and returns its Result (also logged and reported).
func Process[E any](ctx context.Context, r *Runner, pb Playbook[E], a alarm.Alarm) report.Result {
	res := r.base(a)
	log := r.logger().With("alarm", a.Name, "state", string(a.State))

	t, err := pb.Scope(a)
	if err != nil {
		res.Finding = report.Finding{Code: "not-actionable", Summary: err.Error(), Evidence: []string{}}
		log.InfoContext(ctx, "alarm is not for this function; nothing done", "reason", err.Error())
		return res
	}

	handlesOK := false
	if h, ok := any(pb).(OKHandler); ok {
		handlesOK = h.HandlesOK()
	}
	switch {
	case a.State == alarm.StateAlarm, a.State == alarm.StateOK && handlesOK:
	case a.State == alarm.StateOK:
		return r.recovered(ctx, log, a, t, res)
	default:
		res.Finding = report.Finding{Code: "not-actionable", Summary: fmt.Sprintf("alarm state %s: report only, nothing done", safeState(a.State)), Evidence: []string{}}
		if a.Reason != "" {
			res.Finding.Evidence = []string{"CloudWatch: " + Clip(a.Reason, 500)}
		}
		log.InfoContext(ctx, "alarm state is not acted on", "reason", res.Finding.Summary)
		return r.finish(ctx, log, res, report.Report{Result: res, Severity: report.SeverityInfo,
			Headline: fmt.Sprintf("%s is %s: no action taken", a.Name, safeState(a.State))})
	}

	g := r.Guard
	g.Owner = r.requestID(ctx)
	g.Function = r.Function
	if g.Now == nil {
		g.Now = r.now
	}
	adm := g.Admit(ctx, a.Key())
	if !adm.Proceed {
		res.Finding = report.Finding{Code: adm.Code, Summary: adm.Reason, Evidence: []string{}}
		log.InfoContext(ctx, "not admitted; nothing done", "code", adm.Code, "reason", adm.Reason)
		r.emit(res)
		return res
	}

	work, cancel := r.workContext(ctx)
	defer cancel()
	if r.Warm != nil {
		go r.Warm(work)
	}
	ev, diags := pb.Diagnose(work, a, t)
	res.Diagnostics = diags
	failed := Failed(diags)
	dec := pb.Decide(a, t, ev, failed)
	res.Finding = dec.Finding
	if res.Finding.Evidence == nil {
		res.Finding.Evidence = []string{}
	}
	res.Recommendations = append(res.Recommendations, dec.Recommendations...)

	res.Actions, res.Verification = act(work, r, log, pb, &g, adm, a, t, dec, actTime(diags))
	res.Escalation = r.escalate(dec, t, a, res)
	pres := pb.Present(a, t, ev, res)
	rep := report.Report{Result: res, Severity: t.Severity, Headline: pres.Headline, Commands: pres.Commands, Links: pres.Links, Series: pres.Series}
	switch {
	case res.Escalation != nil && r.Pager != nil:
		rctx, cancel := r.reportContext(ctx)
		r.page(rctx, log, &rep)
		cancel()
		res = rep.Result
	case r.Pager != nil && t.Severity == report.SeverityCritical && res.Verification != nil && res.Verification.Status == report.Verified:
		// A fix verified now resolves the page an earlier, unfixed transition of this alarm
		// opened (PagerDuty ignores a resolve for an incident that is not open).
		key := DedupKey(r.Config.Environment, a.Name)
		rctx, cancel := r.reportContext(ctx)
		err := r.Pager.Resolve(rctx, key)
		cancel()
		res.Escalation = &report.Escalation{DedupKey: key, Reason: "the fix is verified", Resolution: true, Resolved: err == nil}
		if err != nil {
			res.Escalation.Reason += " (resolve failed: " + err.Error() + ")"
		}
		rep.Result = res
	}
	return r.finish(ctx, log, res, rep)
}

// act runs the guard over each proposed action, then acts and verifies. Actions run in the
// order the decision gives (the runbook's order: worker before ingestor); after a failure the
// rest are skipped, since they were planned on the assumption that the earlier ones worked.
func act[E any](ctx context.Context, r *Runner, log *slog.Logger, pb Playbook[E], g *guard.Guard, adm guard.Admission, a alarm.Alarm, t Target, dec Decision, need time.Duration) ([]report.Action, *report.Verification) {
	out := []report.Action{}
	var done []Action
	var failed string
	dryRun := false
	for _, act := range dec.Actions {
		ra := report.Action{Kind: act.Kind, Target: act.Target, Reason: act.Reason, Detail: change(act)}
		switch {
		case len(dec.Missing) > 0:
			ra.Outcome, ra.Reason = report.OutcomeSkipped, "missing-evidence: could not see "+strings.Join(dec.Missing, ", ")
		case act.Blocked != "":
			ra.Outcome, ra.Reason = report.OutcomeSkipped, act.Blocked
		case failed != "":
			ra.Outcome, ra.Reason = report.OutcomeSkipped, "previous-action-failed: "+failed
		case tooLate(ctx, need):
			ra.Outcome, ra.Reason = report.OutcomeSkipped, "deadline: too little time left in this invocation to act and verify safely"
		default:
			v := g.Check(ctx, adm, act.BudgetKey(), act.Target)
			switch {
			case v.DryRun:
				ra.Outcome, dryRun = report.OutcomeDryRun, true
			case !v.Allowed:
				ra.Outcome, ra.Reason = report.OutcomeSkipped, v.Rule
			default:
				ra = execute(ctx, log, pb, g, a, act, ra)
				v.Release(context.WithoutCancel(ctx))
				if ra.Outcome == report.OutcomeDone {
					done = append(done, act)
				} else if ra.Outcome == report.OutcomeFailed {
					failed = act.Kind + " " + act.Target
				}
			}
		}
		out = append(out, ra)
	}
	switch {
	case len(done) > 0:
		vctx, cancel := context.WithTimeout(ctx, r.Config.VerifyTimeout)
		defer cancel()
		start := time.Now()
		v := pb.Verify(vctx, t, done)
		if v.MS == 0 {
			v.MS = time.Since(start).Milliseconds()
		}
		return out, &v
	case dryRun:
		return out, &report.Verification{Status: report.NotNeeded, Detail: "dry-run: nothing was changed"}
	default:
		return out, &report.Verification{Status: report.NotNeeded, Detail: "no action was taken"}
	}
}

func execute[E any](ctx context.Context, log *slog.Logger, pb Playbook[E], g *guard.Guard, a alarm.Alarm, act Action, ra report.Action) report.Action {
	if err := pb.Precheck(ctx, act); err != nil {
		ra.Outcome, ra.Reason = report.OutcomeSkipped, "state-changed: "+err.Error()
		log.InfoContext(ctx, "action skipped: state changed since diagnosis", "kind", act.Kind, "target", act.Target, "reason", err.Error())
		return ra
	}
	detail, err := pb.Act(ctx, act)
	if detail != "" {
		ra.Detail = detail
	}
	ra.Outcome = report.OutcomeDone
	if err != nil {
		ra.Outcome = report.OutcomeFailed
		ra.Reason = act.Reason + "; failed: " + err.Error()
	}
	rec := guard.Entry{Target: act.Target, Kind: act.Kind, From: act.From, To: act.To, Outcome: string(ra.Outcome), AlarmKey: a.Key()}
	if rerr := g.Record(context.WithoutCancel(ctx), rec); rerr != nil {
		// The action happened; losing its record weakens later budgets, so say so loudly.
		log.ErrorContext(ctx, "could not record action in the ledger", "kind", act.Kind, "target", act.Target, "error", rerr.Error())
		ra.Detail = strings.TrimSpace(ra.Detail + " (not recorded in the ledger: " + rerr.Error() + ")")
	}
	log.InfoContext(ctx, "action", "kind", act.Kind, "target", act.Target, "outcome", string(ra.Outcome), "detail", ra.Detail)
	return ra
}

// escalate decides whether a human must be paged: the decision says so, or a CRITICAL alarm
// was not fixed (no safe action, an action failed or was skipped, or the effect was not
// verified). Intended states (Benign) never page.
func (r *Runner) escalate(dec Decision, t Target, a alarm.Alarm, res report.Result) *report.Escalation {
	reason := dec.Escalate
	if reason == "" && t.Severity == report.SeverityCritical && a.State == alarm.StateAlarm && !dec.Benign {
		reason = notFixed(res)
	}
	if reason == "" {
		return nil
	}
	return &report.Escalation{Reason: reason, DedupKey: DedupKey(r.Config.Environment, a.Name)}
}

func notFixed(res report.Result) string {
	done := 0
	for _, act := range res.Actions {
		switch act.Outcome {
		case report.OutcomeFailed:
			return "an action failed: " + act.Kind + " " + act.Target
		case report.OutcomeDone:
			done++
		}
	}
	switch {
	case done == 0 && len(res.Actions) == 0:
		return "no safe automatic fix for " + res.Finding.Code
	case done == 0 && res.Actions[0].Outcome == report.OutcomeDryRun:
		return "dry-run: nothing was changed"
	case done == 0:
		return "no action was taken (" + string(res.Actions[0].Outcome) + ": " + res.Actions[0].Reason + ")"
	case res.Verification == nil || res.Verification.Status != report.Verified:
		status := "unverified"
		if res.Verification != nil {
			status = res.Verification.Status + ": " + res.Verification.Detail
		}
		return "the fix is not verified (" + status + ")"
	}
	return ""
}

// DedupKey is the PagerDuty dedup key of an alarm: one incident per alarm, so a later
// verified fix or the alarm's return to OK resolves it.
func DedupKey(env, alarmName string) string { return "gp-remediation/" + env + "/" + alarmName }

func (r *Runner) page(ctx context.Context, log *slog.Logger, rep *report.Report) {
	esc := rep.Result.Escalation
	if err := r.Pager.Trigger(ctx, *rep, esc.DedupKey); err != nil {
		log.ErrorContext(ctx, "could not page", "error", err.Error())
		esc.Reason += " (paging failed: " + err.Error() + ")"
		return
	}
	esc.Paged = true
}

// recovered reports an alarm's return to OK and resolves its page, if any.
func (r *Runner) recovered(ctx context.Context, log *slog.Logger, a alarm.Alarm, t Target, res report.Result) report.Result {
	res.Finding = report.Finding{Code: "recovered", Summary: a.Name + " returned to OK", Evidence: []string{}}
	if a.Reason != "" {
		res.Finding.Evidence = []string{"CloudWatch: " + Clip(a.Reason, 500)}
	}
	if r.Pager != nil && t.Severity == report.SeverityCritical {
		key := DedupKey(r.Config.Environment, a.Name)
		esc := &report.Escalation{DedupKey: key, Reason: "alarm returned to OK", Resolution: true}
		rctx, cancel := r.reportContext(ctx)
		err := r.Pager.Resolve(rctx, key)
		cancel()
		if err != nil {
			esc.Reason += " (resolve failed: " + err.Error() + ")"
		} else {
			esc.Resolved = true
		}
		res.Escalation = esc
	}
	return r.finish(ctx, log, res, report.Report{Result: res, Severity: report.SeverityInfo,
		Headline: fmt.Sprintf("RESOLVED %s returned to OK: no action needed", a.Name)})
}

// finish delivers the report, emits metrics and logs the Result.
func (r *Runner) finish(ctx context.Context, log *slog.Logger, res report.Result, rep report.Report) report.Result {
	rep.Result = res
	if r.Deliver != nil {
		dctx, cancel := r.reportContext(ctx) // report even when the work context ran out
		res.Sinks = r.Deliver(dctx, rep)
		cancel()
		if res.Sinks == nil {
			res.Sinks = []report.Sink{}
		}
	}
	r.emit(res)
	log.InfoContext(ctx, "result", "result", res)
	return res
}

// reportContext is for reporting: it outlives the work context (so a report goes out even
// when the work ran out of time) but not the invocation.
func (r *Runner) reportContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, dl.Add(-200*time.Millisecond))
	}
	return context.WithTimeout(base, 15*time.Second)
}

// actTime estimates how long an action needs: re-reading the state, acting and recording
// are a chain of calls about as long as the diagnosis' longest one, twice over to be safe.
func actTime(diags []report.Diagnostic) time.Duration {
	var slowest int64
	for _, d := range diags {
		slowest = max(slowest, d.MS)
	}
	return max(minActTime, 2*time.Duration(slowest)*time.Millisecond)
}

// tooLate says the work context has too little time left to start an action that needs need.
func tooLate(ctx context.Context, need time.Duration) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < need
}

// workContext bounds diagnosis, action and verification so the report still goes out before
// the Lambda deadline.
func (r *Runner) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := r.ReportReserve
	if reserve <= 0 {
		reserve = 5 * time.Second
	}
	if left := time.Until(dl); left < 2*reserve {
		reserve = left / 3 // a short deadline: keep a third for the report
	}
	return context.WithDeadline(ctx, dl.Add(-reserve))
}

func (r *Runner) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) requestID(ctx context.Context) string {
	if r.RequestID != nil {
		if id := r.RequestID(ctx); id != "" {
			return id
		}
	}
	return fmt.Sprintf("local-%d", r.now().UnixNano())
}

func change(a Action) string {
	if a.From == "" && a.To == "" {
		return ""
	}
	return a.From + " -> " + a.To
}

// safeState prints an alarm state for a message without trusting its content.
func safeState(s alarm.State) string {
	if s.Known() {
		return string(s)
	}
	return fmt.Sprintf("%q (unknown)", Clip(string(s), 40))
}

// Clip shortens s to at most n bytes (plus an ellipsis), never cutting a UTF-8 sequence:
// evidence lines quote logs and messages of any length.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
