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
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/picture"
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
	// Converse, when set, sends a report of an incident into the incident's conversation
	// (a Slack thread, a Discord message and its edits) and returns the conversation as it
	// then stands; reports outside an incident still go through Deliver.
	Converse func(ctx context.Context, r report.Report, conv incident.Conversation) ([]report.Sink, incident.Conversation)
	// Pager is nil when no PagerDuty routing key is configured.
	Pager Pager
	// Incidents keeps the environment's incident (nil: no incident record, each alarm alone);
	// AlarmStates reads member alarms to close it (nil: it closes only at its maximum age).
	Incidents   Incidents
	AlarmStates AlarmStates
	// Agreements judges the incident's actions when it closes against what happened to their
	// targets (nil: no verdicts are given).
	Agreements Agreements
	// Alarms reads this function's alarms for a follow-up (nil: follow-ups do nothing).
	Alarms  AlarmReader
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
	// Pictures draws the alarm's metric for each report (nil: reports carry the sparkline only).
	Pictures Painter
	// Offers keeps the offers of held-back fixes a person may approve (nil, or
	// Config.Offers false: none are made).
	Offers Offerer
}

// Painter draws a report's picture within its own budget; without one it says why
// (pkg/picture).
type Painter interface {
	Paint(ctx context.Context, s picture.Subject) (*report.Picture, report.PictureNote)
}

// minActTime is the least time left in which an action is started: acting, re-reading and
// recording take a few calls, and a half-done action is worse than none.
const minActTime = time.Second

// Handle is the Lambda entry point body: it decodes the payload and runs the playbook for
// each alarm in it. It never returns an error for input it cannot use (Lambda would retry it
// forever); it says why in the Result instead.
func Handle[E any](ctx context.Context, r *Runner, pb Playbook[E], payload json.RawMessage) (report.Result, error) {
	if IsFollowUp(payload) {
		return FollowUp(ctx, r, pb), nil
	}
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
	first.More = append(first.More, results[1:]...) // after an incident's closing report, if any
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
		return r.finish(ctx, log, res, report.SeverityInfo, report.Presentation{
			Headline: fmt.Sprintf("%s is %s: no action taken", a.Name, safeState(a.State))})
	}

	inv := &invocation[E]{r: r, pb: pb, log: log, alarm: a, target: t, guard: r.Guard}
	inv.guard.Owner = r.requestID(ctx)
	inv.guard.Function = r.Function
	if inv.guard.Now == nil {
		inv.guard.Now = r.now
	}
	// The incident is joined while the guard admits the alarm and the probes run: none of
	// them needs the others until the decision is coordinated with the incident's other
	// alarms, so the record costs the report no time. A redelivered alarm joins as the member
	// it already is; with remediation off nothing is recorded.
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		if r.Config.Mode != config.ModeOff {
			inv.joinIncident(ctx)
		}
	}()
	inv.adm = inv.guard.Admit(ctx, a.Key())
	if !inv.adm.Proceed {
		<-joined
		res.Finding = report.Finding{Code: inv.adm.Code, Summary: inv.adm.Reason, Evidence: []string{}}
		log.InfoContext(ctx, "not admitted; nothing done", "code", inv.adm.Code, "reason", inv.adm.Reason)
		r.emit(res)
		return res
	}
	res = inv.run(ctx, res, joined)
	inv.record(ctx, res)
	if a.State == alarm.StateOK {
		if closing, ok := r.closeIfRecovered(ctx, a); ok {
			res.More = append(res.More, closing)
		}
	}
	return res
}

// invocation is one admitted alarm going through the pipeline: what it is about and the
// guard it acts under. Its methods return what they produce; run assembles the Result.
type invocation[E any] struct {
	r      *Runner
	pb     Playbook[E]
	log    *slog.Logger
	alarm  alarm.Alarm
	target Target
	guard  guard.Guard
	adm    guard.Admission
	// inc is the incident the alarm joined (inIncident false: none).
	inc        incident.Incident
	inIncident bool
	// services are the ECS services the diagnosis read (the close's baseline).
	services []incident.ServiceState
}

// run diagnoses, decides, acts, verifies, escalates and reports.
func (inv *invocation[E]) run(ctx context.Context, res report.Result, joined <-chan struct{}) report.Result {
	work, cancel := inv.r.workContext(ctx)
	defer cancel()
	if inv.r.Warm != nil {
		go inv.r.Warm(work)
	}
	ev, diags := inv.pb.Diagnose(work, inv.alarm, inv.target)
	if s, ok := any(ev).(ServiceStater); ok {
		inv.services = s.ServiceStates()
	}
	<-joined
	res.Incident = inv.inc.ID
	dec := inv.pb.Decide(inv.alarm, inv.target, ev, Failed(diags))
	if c, ok := any(inv.pb).(Coordinator[E]); ok && inv.inIncident {
		dec = c.Coordinate(inv.inc, inv.target, ev, dec)
	}
	res.Diagnostics = diags
	res.Finding = dec.Finding
	if res.Finding.Evidence == nil {
		res.Finding.Evidence = []string{}
	}
	if inv.inIncident && !inv.alarm.FollowUp.IsZero() {
		// A follow-up carries what was tried before, so one escalation shows every attempt.
		res.Finding.Evidence = append(earlierSteps(inv.inc, inv.alarm.Name), res.Finding.Evidence...)
	}
	res.Recommendations = append(res.Recommendations, dec.Recommendations...)
	res.Actions, res.Verification = inv.act(work, dec, actTime(diags))
	offers := inv.offers(ctx, dec.Actions, res.Actions)
	pres := inv.pb.Present(inv.alarm, inv.target, ev, res)
	pres.Offers = offers
	var inc *incident.Incident
	if inv.inIncident {
		inc = &inv.inc
	}
	// Drawn before paging, so the page and the chat show the same graph.
	pres.Picture, res.Picture = inv.r.paint(ctx, inv.alarm, inc, res.Actions)
	res.Escalation = inv.escalation(ctx, dec, res, pres)
	return inv.r.finishIn(ctx, inv.log, res, inv.target.Severity, pres, inc)
}

// act runs the guard over each proposed action, then acts and verifies. Actions run in the
// order the decision gives (the runbook's order: worker before ingestor); after a failure the
// rest are skipped, since they were planned on the assumption that the earlier ones worked.
func (inv *invocation[E]) act(ctx context.Context, dec Decision, need time.Duration) ([]report.Action, *report.Verification) {
	out := []report.Action{}
	var changed []Action
	var failed string
	dryRun := false
	for _, action := range dec.Actions {
		ra := report.Action{Kind: action.Kind, Target: action.Target, Reason: action.Reason, Detail: action.Describe()}
		if rule := inv.standBack(ctx, dec, action, failed, need); rule.Set() {
			out = append(out, skipped(ra, rule))
			continue
		}
		v := inv.guard.Check(ctx, inv.adm, action.BudgetKey(), action.Target)
		switch {
		case v.DryRun:
			ra.Outcome, dryRun = report.OutcomeDryRun, true
		case !v.Allowed:
			ra = skipped(ra, v.Rule)
		default:
			var eff Effect
			ra, eff = inv.execute(ctx, action, ra)
			v.Release(context.WithoutCancel(ctx))
			if eff.Changed {
				changed = append(changed, action)
			}
			if ra.Outcome == report.OutcomeFailed {
				failed = action.Kind + " " + action.Target
			}
		}
		out = append(out, ra)
	}
	return out, inv.verify(ctx, changed, dryRun)
}

// standBack is the rule that keeps an action from even reaching the guard, or none.
func (inv *invocation[E]) standBack(ctx context.Context, dec Decision, action Action, failed string, need time.Duration) guard.Rule {
	switch {
	case len(dec.Missing) > 0:
		return guard.Rule{Code: guard.RuleMissingEvidence, Detail: "could not see " + strings.Join(dec.Missing, ", ")}
	case action.Blocked.Set():
		return action.Blocked
	case failed != "":
		return guard.Rule{Code: guard.RulePreviousActionFailed, Detail: failed}
	case tooLate(ctx, need):
		return guard.Rule{Code: guard.RuleDeadline, Detail: "too little time left in this invocation to act and verify safely"}
	}
	return guard.Rule{}
}

// verify waits (bounded) for the effect of every action that changed something, including
// one that failed part-way: what it changed is checked and reported like any other change.
func (inv *invocation[E]) verify(ctx context.Context, changed []Action, dryRun bool) *report.Verification {
	switch {
	case len(changed) > 0:
		vctx, cancel := context.WithTimeout(ctx, inv.r.Config.VerifyTimeout)
		defer cancel()
		start := time.Now()
		v := inv.pb.Verify(vctx, inv.target, changed)
		if v.MS == 0 {
			v.MS = time.Since(start).Milliseconds()
		}
		return &v
	case dryRun:
		return &report.Verification{Status: report.NotNeeded, Detail: "dry-run: nothing was changed"}
	default:
		return &report.Verification{Status: report.NotNeeded, Detail: "no action was taken"}
	}
}

func skipped(ra report.Action, rule guard.Rule) report.Action {
	ra.Outcome, ra.Reason, ra.Rule = report.OutcomeSkipped, rule.String(), string(rule.Code)
	return ra
}

// execute re-reads the state, acts and records what the action did.
func (inv *invocation[E]) execute(ctx context.Context, action Action, ra report.Action) (report.Action, Effect) {
	if err := inv.pb.Precheck(ctx, action); err != nil {
		inv.log.InfoContext(ctx, "action skipped: state changed since diagnosis", "kind", action.Kind, "target", action.Target, "reason", err.Error())
		return skipped(ra, guard.Rule{Code: guard.RuleStateChanged, Detail: err.Error()}), Effect{}
	}
	eff, err := inv.pb.Act(ctx, action)
	if eff.Detail != "" {
		ra.Detail = eff.Detail
	}
	ra.Outcome = report.OutcomeDone
	recorded := guard.OutcomeDone
	if err != nil {
		ra.Outcome, recorded = report.OutcomeFailed, guard.OutcomeFailed
		ra.Reason = action.Reason + "; failed: " + err.Error()
		if eff.Changed {
			recorded = guard.OutcomePartial
			ra.Reason = action.Reason + "; failed after changing the target (" + eff.Detail + "): " + err.Error()
		}
	}
	rec := guard.Entry{Target: action.Target, Kind: action.Kind, Outcome: recorded, AlarmKey: inv.alarm.Key(), Moved: eff.Moved}
	if action.Kind == KindScaleService {
		rec.FromCount, rec.ToCount, rec.HasCounts = action.Change.FromCount, action.Change.ToCount, true
	}
	if rerr := inv.guard.Record(context.WithoutCancel(ctx), rec); rerr != nil {
		// The action happened; losing its record weakens later budgets, so say so loudly.
		inv.log.ErrorContext(ctx, "could not record action in the ledger", "kind", action.Kind, "target", action.Target, "error", rerr.Error())
		ra.Detail = strings.TrimSpace(ra.Detail + " (not recorded in the ledger: " + rerr.Error() + ")")
	}
	inv.log.InfoContext(ctx, "action", "kind", action.Kind, "target", action.Target, "outcome", string(ra.Outcome), "detail", ra.Detail)
	return ra, eff
}

// escalation pages when a human must look, or resolves the page an earlier, unfixed
// transition of this alarm opened once a fix is verified; nil when neither applies.
func (inv *invocation[E]) escalation(ctx context.Context, dec Decision, res report.Result, pres report.Presentation) *report.Escalation {
	r := inv.r
	esc := r.escalate(dec, inv.target, inv.alarm, res)
	if why, stop := FollowUpStop(res); esc == nil && stop && why == incident.StopBudgetSpent && !inv.alarm.FollowUp.IsZero() {
		// The alarm is still in ALARM and the next step is out of reach (a cap, a budget):
		// a person takes over, with every step of the incident in the evidence.
		esc = &report.Escalation{Reason: "still in ALARM and no further step is allowed (" + firstRule(res) + ")", DedupKey: DedupKey(r.Config.Environment, inv.alarm.Name)}
	}
	switch {
	case esc != nil && r.Pager != nil && inv.inIncident:
		res.Escalation = esc
		paged := inv.incidentPage(ctx, report.Report{Result: res, Severity: inv.target.Severity, Presentation: pres}, *esc)
		return &paged
	case esc != nil && r.Pager != nil:
		res.Escalation = esc
		paged := r.page(ctx, inv.log, report.Report{Result: res, Severity: inv.target.Severity, Presentation: pres}, *esc)
		return &paged
	case esc != nil:
		return esc
	case inv.inIncident:
		// The incident's page is resolved when the incident closes, not by one verified fix:
		// other alarms of the outage may still be firing.
		return nil
	case r.Pager != nil && inv.target.Severity == report.SeverityCritical && res.Verification != nil && res.Verification.Status == report.Verified:
		// A fix verified now resolves the page an earlier, unfixed transition of this alarm
		// opened (PagerDuty ignores a resolve for an incident that is not open).
		resolved := r.resolve(ctx, DedupKey(r.Config.Environment, inv.alarm.Name), "the fix is verified")
		return &resolved
	}
	return nil
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

// firstRule is the rule that skipped the first action.
func firstRule(res report.Result) string {
	for _, a := range res.Actions {
		if a.Outcome == report.OutcomeSkipped {
			return a.Reason
		}
	}
	return "no action"
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

// page triggers the page and returns the escalation as it then stands.
func (r *Runner) page(ctx context.Context, log *slog.Logger, rep report.Report, esc report.Escalation) report.Escalation {
	rctx, cancel := r.reportContext(ctx)
	defer cancel()
	if err := r.Pager.Trigger(rctx, rep, esc.DedupKey); err != nil {
		log.ErrorContext(ctx, "could not page", "error", err.Error())
		esc.Reason += " (paging failed: " + err.Error() + ")"
		return esc
	}
	esc.Paged = true
	return esc
}

// resolve resolves the page with key and says how that went.
func (r *Runner) resolve(ctx context.Context, key, why string) report.Escalation {
	rctx, cancel := r.reportContext(ctx)
	defer cancel()
	esc := report.Escalation{DedupKey: key, Reason: why, Resolution: true}
	if err := r.Pager.Resolve(rctx, key); err != nil {
		esc.Reason += " (resolve failed: " + err.Error() + ")"
		return esc
	}
	esc.Resolved = true
	return esc
}

// recovered reports an alarm's return to OK and resolves its page, if any.
func (r *Runner) recovered(ctx context.Context, log *slog.Logger, a alarm.Alarm, t Target, res report.Result) report.Result {
	res.Finding = report.Finding{Code: "recovered", Summary: a.Name + " returned to OK", Evidence: []string{}}
	if a.Reason != "" {
		res.Finding.Evidence = []string{"CloudWatch: " + Clip(a.Reason, 500)}
	}
	if r.Pager != nil && t.Severity == report.SeverityCritical && r.Incidents == nil {
		esc := r.resolve(ctx, DedupKey(r.Config.Environment, a.Name), "alarm returned to OK")
		res.Escalation = &esc
	}
	var inc *incident.Incident
	if r.Incidents != nil {
		if cur, ok, err := r.Incidents.Current(ctx, r.Config.Environment); err == nil && ok && cur.Status == incident.StatusOpen {
			if _, member := cur.Member(a.Name); member {
				inc = &cur
				res.Incident = cur.ID
				obs := incident.Entry{At: r.now().UTC(), Kind: incident.KindObservation, Function: r.Function, Alarm: a.Name,
					Observation: &incident.Observation{State: string(a.State), Source: "alarm notification"}}
				_ = r.Incidents.Append(context.WithoutCancel(ctx), cur.ID, obs)
			}
		}
	}
	pres := report.Presentation{Headline: fmt.Sprintf("RESOLVED %s returned to OK: no action needed", a.Name)}
	pres.Picture, res.Picture = r.paint(ctx, a, inc, nil)
	res = r.finishIn(ctx, log, res, report.SeverityInfo, pres, inc)
	if closing, ok := r.closeIfRecovered(ctx, a); ok {
		res.More = append(res.More, closing)
	}
	return res
}

// finish delivers the report, emits metrics and logs the Result.
func (r *Runner) finish(ctx context.Context, log *slog.Logger, res report.Result, sev report.Severity, pres report.Presentation) report.Result {
	return r.finishIn(ctx, log, res, sev, pres, nil)
}

// finishIn is finish for a report of incident inc (nil: none): it continues the incident's
// conversation and records where it stands.
func (r *Runner) finishIn(ctx context.Context, log *slog.Logger, res report.Result, sev report.Severity, pres report.Presentation, inc *incident.Incident) report.Result {
	rep := report.Report{Result: res, Severity: sev, Presentation: pres}
	switch {
	case inc != nil && r.Converse != nil:
		dctx, cancel := r.reportContext(ctx) // report even when the work context ran out
		sinks, conv := r.Converse(dctx, rep, inc.Conversation)
		cancel()
		res.Sinks = sinks
		if conv != inc.Conversation && r.Incidents != nil {
			if _, err := r.Incidents.SetConversation(context.WithoutCancel(ctx), inc.ID, conv); err != nil {
				log.ErrorContext(ctx, "could not record the incident's conversation", "incident", inc.ID, "error", err.Error())
			}
		}
		if res.Sinks == nil {
			res.Sinks = []report.Sink{}
		}
	case r.Deliver != nil:
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

// paint draws the report's picture of alarm a (in incident inc, after actions), within the
// painter's budget and never past the report's deadline; nil, nil without a painter.
func (r *Runner) paint(ctx context.Context, a alarm.Alarm, inc *incident.Incident, actions []report.Action) (*report.Picture, *report.PictureNote) {
	if r.Pictures == nil {
		return nil, nil
	}
	rctx, cancel := r.reportContext(ctx)
	defer cancel()
	pic, note := r.Pictures.Paint(rctx, picture.Subject{Environment: r.Config.Environment, Alarm: a, Incident: inc, Actions: actions, Now: r.now()})
	if !note.Drawn {
		r.logger().InfoContext(ctx, "report goes without its picture", "alarm", a.Name, "reason", note.Error)
	}
	return pic, &note
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
