package playbook

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Incidents is the incident record the runner keeps (pkg/ledger's Incidents on the ledger
// table): the subset of incident.Store the pipeline uses.
type Incidents interface {
	OpenOrJoin(ctx context.Context, env, alarm, function string, at time.Time) (incident.Incident, incident.JoinResult, error)
	Current(ctx context.Context, env string) (incident.Incident, bool, error)
	Append(ctx context.Context, id string, entries ...incident.Entry) error
	SetMember(ctx context.Context, id string, m incident.Member) error
	SetConversation(ctx context.Context, id string, conv incident.Conversation) (incident.Conversation, error)
	TriggerPage(ctx context.Context, id, key string, at time.Time) (first bool, err error)
	ResolvePage(ctx context.Context, id string, at time.Time) (first bool, err error)
	Close(ctx context.Context, id string, reason incident.CloseReason, at time.Time) (closedByMe bool, inc incident.Incident, err error)
}

// AlarmStates reads the current state of alarms (CloudWatch DescribeAlarms).
type AlarmStates interface {
	States(ctx context.Context, names []string) (map[string]incident.AlarmState, error)
}

// Agreements judges, at its close, each action of an incident against what happened to its
// target meanwhile (pkg/trust ECSHistories: reads bounded in time, unknown on failure).
type Agreements interface {
	Agreements(ctx context.Context, inc incident.Incident) []incident.Agreement
}

// ServiceStater is implemented by evidence that read ECS services: their state is recorded on
// the incident as the baseline its close compares with.
type ServiceStater interface {
	ServiceStates() []incident.ServiceState
}

// Coordinator is implemented by playbooks whose actions depend on the other alarms of the
// incident (dlq waits for the worker, queue-depth for an unverified restart of it). It is pure:
// it returns the decision with the actions that must wait blocked by a rule naming the other
// alarm.
type Coordinator[E any] interface {
	Coordinate(inc incident.Incident, t Target, e E, d Decision) Decision
}

// IncidentDedupKey is the PagerDuty dedup key of an incident: one page per incident, whatever
// alarms join it, resolved when the incident closes.
func IncidentDedupKey(env, id string) string { return "gp-remediation/" + env + "/" + id }

// joinIncident puts the alarm into its environment's incident (opening one), after closing an
// open incident that outlived the maximum age. Bookkeeping never blocks remediation: an error
// is logged and the invocation goes on without an incident.
func (inv *invocation[E]) joinIncident(ctx context.Context) {
	r := inv.r
	if r.Incidents == nil {
		return
	}
	env, now := r.Config.Environment, r.now()
	if inv.alarm.State != alarm.StateAlarm {
		// An OK never opens an incident; it belongs to the open one it is a member of.
		if cur, ok, err := r.Incidents.Current(ctx, env); err == nil && ok && cur.Status == incident.StatusOpen {
			if _, member := cur.Member(inv.alarm.Name); member {
				inv.inc, inv.inIncident = cur, true
			}
		}
		return
	}
	inc, join, err := r.Incidents.OpenOrJoin(ctx, env, inv.alarm.Name, r.Function, inv.alarm.ChangedAt)
	if err == nil && join != incident.Opened && !inc.OpenedAt.IsZero() && now.Sub(inc.OpenedAt) >= r.incidentMaxAge() {
		// An incident open past its maximum age is history: close it and open a new one. (Rare:
		// checked on the joined record rather than read first, which would cost every alarm a
		// round trip.)
		if closed, _, cerr := r.Incidents.Close(ctx, inc.ID, incident.CloseMaxAge, now); cerr == nil && closed {
			inv.log.InfoContext(ctx, "incident closed at its maximum age", "incident", inc.ID)
		}
		inc, join, err = r.Incidents.OpenOrJoin(ctx, env, inv.alarm.Name, r.Function, inv.alarm.ChangedAt)
	}
	if err != nil {
		inv.log.ErrorContext(ctx, "could not open or join the incident; going on without it", "error", err.Error())
		return
	}
	if r.AlarmStates != nil && len(inc.Members) > 1 {
		// What the other alarms say now, for the coordination rules (read, not stored; an
		// incident of this alarm alone has nothing to coordinate).
		if states, err := r.AlarmStates.States(ctx, inc.MemberAlarms()); err == nil {
			for i, m := range inc.Members {
				if st, ok := states[m.Alarm]; ok {
					inc.Members[i].State = st.State
				}
			}
		}
	}
	inv.inc, inv.inIncident = inc, true
	inv.log.InfoContext(ctx, "incident", "incident", inc.ID, "join", string(join))
}

func (r *Runner) incidentMaxAge() time.Duration {
	if r.Config.IncidentMaxAge > 0 {
		return r.Config.IncidentMaxAge
	}
	return incident.DefaultMaxAge
}

// timeline is what this invocation adds to the incident: what was observed and decided, each
// action and its outcome, the verification, the escalation and the report.
func (inv *invocation[E]) timeline(res report.Result, at time.Time) []incident.Entry {
	base := incident.Entry{At: at.UTC(), Function: inv.r.Function, Alarm: inv.alarm.Name}
	entry := func(k incident.Kind) incident.Entry { e := base; e.Kind = k; return e }
	obs := entry(incident.KindObservation)
	obs.Observation = &incident.Observation{State: string(inv.alarm.State), Finding: res.Finding.Code, Source: "diagnosis", Detail: Clip(res.Finding.Summary, 300), Services: inv.services}
	out := []incident.Entry{obs}
	for _, a := range res.Actions {
		e := entry(incident.KindAction)
		e.Action = &incident.Action{Kind: a.Kind, Target: a.Target, Outcome: string(a.Outcome), Detail: Clip(a.Detail, 300), Rule: a.Rule}
		if a.Outcome == report.OutcomeSkipped {
			e.Action.Detail = Clip(a.Reason, 300)
		}
		out = append(out, e)
	}
	if v := res.Verification; v != nil && v.Status != report.NotNeeded {
		e := entry(incident.KindVerification)
		e.Verification = &incident.Verification{Status: VerificationStatus(v.Status), Target: inv.target.Service, Detail: Clip(v.Detail, 300)}
		out = append(out, e)
	}
	if esc := res.Escalation; esc != nil && !esc.Resolution {
		e := entry(incident.KindEscalation)
		e.Escalation = &incident.Escalation{Reason: Clip(esc.Reason, 300), Paged: esc.Paged}
		out = append(out, e)
	}
	rep := entry(incident.KindReport)
	rep.Report = &incident.Report{}
	for _, s := range res.Sinks {
		rep.Report.Sinks = append(rep.Report.Sinks, incident.Sink{Name: s.Name, Delivered: s.OK, Error: Clip(s.Error, 200)})
	}
	return append(out, rep)
}

// VerificationStatus is the incident timeline's word for a report's verification status.
func VerificationStatus(s string) string {
	switch s {
	case report.Verified:
		return incident.VerificationPassed
	case report.VerifyFailed:
		return incident.VerificationFailed
	}
	return incident.VerificationUnknown
}

// record appends the invocation's timeline to its incident (after the report).
func (inv *invocation[E]) record(ctx context.Context, res report.Result) {
	if !inv.inIncident {
		return
	}
	inv.recordPage(ctx, res)
	if err := inv.r.Incidents.Append(context.WithoutCancel(ctx), inv.inc.ID, inv.timeline(res, inv.r.now())...); err != nil {
		inv.log.ErrorContext(ctx, "could not record the timeline of the incident", "incident", inv.inc.ID, "error", err.Error())
	}
}

// incidentPage pages once per incident: the first escalation triggers the incident's page
// (one PagerDuty dedup key per incident), later ones (other alarms, follow-ups) say on-call was
// paged already. Whether it was is read from the record the join returned, so paging costs no
// extra round trip before the report; the page is recorded after the report (recordPage). Two
// functions escalating at the same instant may both trigger: PagerDuty merges them by key.
func (inv *invocation[E]) incidentPage(ctx context.Context, rep report.Report, esc report.Escalation) report.Escalation {
	r := inv.r
	esc.DedupKey = IncidentDedupKey(r.Config.Environment, inv.inc.ID)
	if inv.inc.Page.Triggered {
		esc.Reason += " (on-call was already paged for incident " + inv.inc.ID + ")"
		return esc
	}
	return r.page(ctx, inv.log, rep, esc)
}

// recordPage records the incident's page once it was sent.
func (inv *invocation[E]) recordPage(ctx context.Context, res report.Result) {
	esc := res.Escalation
	if !inv.inIncident || esc == nil || !esc.Paged {
		return
	}
	if _, err := inv.r.Incidents.TriggerPage(context.WithoutCancel(ctx), inv.inc.ID, esc.DedupKey, inv.r.now()); err != nil {
		inv.log.ErrorContext(ctx, "could not record the page on the incident", "incident", inv.inc.ID, "error", err.Error())
	}
}

// closeIfRecovered closes the incident an OK alarm belongs to once every member alarm reads
// OK (DescribeAlarms), resolves its page and reports the close. It returns the closing
// report's Result, or false when the incident stays open (or this invocation did not close it).
func (r *Runner) closeIfRecovered(ctx context.Context, a alarm.Alarm) (report.Result, bool) {
	alarmName := a.Name
	if r.Incidents == nil || r.AlarmStates == nil {
		return report.Result{}, false
	}
	log := r.logger().With("alarm", alarmName)
	env, now := r.Config.Environment, r.now()
	cur, ok, err := r.Incidents.Current(ctx, env)
	if err != nil || !ok || cur.Status != incident.StatusOpen {
		return report.Result{}, false
	}
	if _, member := cur.Member(alarmName); !member && alarmName != "" {
		return report.Result{}, false
	}
	states, err := r.AlarmStates.States(ctx, cur.MemberAlarms())
	if err != nil {
		log.ErrorContext(ctx, "could not read the incident's alarm states; it stays open", "incident", cur.ID, "error", err.Error())
		return report.Result{}, false
	}
	shouldClose, reason := incident.ShouldClose(cur, states, now, r.incidentMaxAge())
	if !shouldClose {
		return report.Result{}, false
	}
	closed, inc, err := r.Incidents.Close(ctx, cur.ID, reason, now)
	if err != nil || !closed {
		return report.Result{}, false
	}
	res := r.base(alarmStub(alarmName))
	res.Incident = inc.ID
	agreements := r.agreements(ctx, inc)
	res.Finding = report.Finding{Code: "incident-closed", Summary: closingSummary(inc), Evidence: append(agreementLines(agreements), timelineLines(inc)...)}
	sum := incident.Summarize(inc)
	for _, e := range sum.LeftForPerson {
		res.Recommendations = append(res.Recommendations, "Left for a person: "+entryLine(e))
	}
	if r.Pager != nil && inc.Page.Triggered {
		esc := r.resolve(ctx, IncidentDedupKey(env, inc.ID), "incident closed: "+string(reason))
		if esc.Resolved {
			_, _ = r.Incidents.ResolvePage(ctx, inc.ID, now)
		}
		res.Escalation = &esc
	}
	pres := report.Presentation{Headline: "RESOLVED " + closingSummary(inc)}
	pres.Picture, res.Picture = r.paint(ctx, a, &inc, nil)
	res = r.finishIn(ctx, log, res, report.SeverityInfo, pres, &inc)
	close := incident.Entry{At: now.UTC(), Kind: incident.KindClose, Function: r.Function, Alarm: alarmName, Close: &incident.CloseNote{Reason: reason}}
	for _, name := range inc.MemberAlarms() {
		close.Close.States = append(close.Close.States, states[name])
	}
	entries := []incident.Entry{close}
	for _, ag := range agreements {
		entries = append(entries, incident.Entry{At: now.UTC(), Kind: incident.KindAgreement, Function: r.Function, Alarm: alarmName, Agreement: &ag})
	}
	_ = r.Incidents.Append(context.WithoutCancel(ctx), inc.ID, entries...)
	return res, true
}

// agreements judges the closed incident's actions against what happened to their targets;
// the reads are bounded by the judge's own timeout. A function without a judge (one whose
// bootstrap must stay small, or that reads no ECS) still records a verdict per action:
// unknown, saying why, so the digest counts every action.
func (r *Runner) agreements(ctx context.Context, inc incident.Incident) []incident.Agreement {
	if r.Agreements != nil {
		return r.Agreements.Agreements(ctx, inc)
	}
	var out []incident.Agreement
	for _, e := range inc.Timeline {
		if a := e.Action; a != nil && (a.Outcome == incident.ActionDone || a.Outcome == incident.ActionDryRun) {
			out = append(out, incident.Agreement{ActionAt: e.At, Kind: a.Kind, Target: a.Target, Outcome: a.Outcome,
				Verdict: incident.VerdictUnknown, Why: r.Function + " closed the incident and does not read what happened to the targets"})
		}
	}
	return out
}

// agreementLines are the closing report's agreement section: one line per judged action.
func agreementLines(ags []incident.Agreement) []string {
	out := make([]string, 0, len(ags))
	for _, ag := range ags {
		out = append(out, "Agreement: "+ag.Line())
	}
	return out
}

func alarmStub(name string) alarm.Alarm { return alarm.Alarm{Name: name} }

func closingSummary(inc incident.Incident) string {
	s := fmt.Sprintf("incident %s closed (%s): %d alarm(s)", inc.ID, inc.CloseReason, len(inc.Members))
	if d, ok := incident.TimeToRecover(inc); ok {
		s += ", recovered in " + d.Round(time.Second).String()
	}
	sum := incident.Summarize(inc)
	return s + fmt.Sprintf(", %d action(s) done, %d verified, %d left for a person", len(sum.Done), len(sum.Verified), len(sum.LeftForPerson))
}

// timelineLines are the closing report's evidence: the timeline, oldest first.
func timelineLines(inc incident.Incident) []string {
	out := make([]string, 0, len(inc.Timeline))
	for _, e := range inc.Timeline {
		out = append(out, entryLine(e))
	}
	return out
}

func entryLine(e incident.Entry) string {
	head := e.At.UTC().Format("15:04:05") + " " + e.Function
	switch {
	case e.Observation != nil:
		return fmt.Sprintf("%s %s is %s: %s", head, e.Alarm, e.Observation.State, e.Observation.Finding)
	case e.Action != nil:
		return fmt.Sprintf("%s %s %s: %s %s", head, e.Action.Kind, e.Action.Target, e.Action.Outcome, e.Action.Detail)
	case e.Verification != nil:
		return fmt.Sprintf("%s verification %s: %s", head, e.Verification.Status, e.Verification.Detail)
	case e.Escalation != nil:
		return fmt.Sprintf("%s escalation (paged %v): %s", head, e.Escalation.Paged, e.Escalation.Reason)
	case e.Report != nil:
		var sinks []string
		for _, s := range e.Report.Sinks {
			sinks = append(sinks, fmt.Sprintf("%s %v", s.Name, s.Delivered))
		}
		return fmt.Sprintf("%s report to %s", head, strings.Join(sinks, ", "))
	case e.Close != nil:
		return fmt.Sprintf("%s closed: %s", head, e.Close.Reason)
	case e.Agreement != nil:
		return head + " agreement: " + e.Agreement.Line()
	}
	return head + " " + string(e.Kind)
}

// earlierSteps are the incident's earlier actions and verifications for one alarm.
func earlierSteps(inc incident.Incident, alarmName string) []string {
	var out []string
	for _, e := range inc.Timeline {
		if e.Alarm == alarmName && (e.Action != nil || e.Verification != nil) {
			out = append(out, "earlier in incident "+inc.ID+": "+entryLine(e))
		}
	}
	return out
}

// ServiceState is the state of svc as a diagnosis read it, for ServiceStater; a service that
// was not read (no name) gives nothing.
func ServiceState(svc ecs.Service) []incident.ServiceState {
	if svc.Name == "" {
		return nil
	}
	st := incident.ServiceState{Name: svc.Name, TaskDefinition: svc.TaskDefinition, Desired: svc.Desired}
	if p, ok := svc.Primary(); ok {
		st.Deployment = p.ID
	}
	return []incident.ServiceState{st}
}
