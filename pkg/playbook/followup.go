package playbook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// FollowUpSource and FollowUpDetailType mark the follow-up event the stack's scheduled rule
// sends every few minutes (its constant input): CloudWatch notifies on a state change only, so
// an alarm that stays in ALARM is followed up by reading its state.
const (
	FollowUpSource     = "gp-remediation"
	FollowUpDetailType = "follow-up"
)

// AlarmReader reads alarms as they stand now (CloudWatch DescribeAlarms).
type AlarmReader interface {
	Alarms(ctx context.Context, names []string) ([]alarm.Alarm, error)
}

// IsFollowUp says whether payload is the follow-up event.
func IsFollowUp(payload []byte) bool {
	if !bytes.Contains(payload, []byte(FollowUpDetailType)) {
		return false
	}
	var ev struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	return json.Unmarshal(payload, &ev) == nil && ev.Source == FollowUpSource && ev.DetailType == FollowUpDetailType
}

// FollowUp runs the function again for each of its alarms still in ALARM: the same pipeline,
// guard and idempotency (keyed by the follow-up's tick), so each run takes the next step (the
// next worker, the next batch) until the alarm is OK, the budgets are spent, or nothing more
// can be done, and it says which. It also closes the environment's incident once every member
// alarm is OK. Alarms in ALARM whose follow-up has stopped are not acted on again.
func FollowUp[E any](ctx context.Context, r *Runner, pb Playbook[E]) report.Result {
	res := r.base(alarm.Alarm{})
	log := r.logger().With("follow-up", true)
	if r.Alarms == nil || len(r.Config.AlarmNames) == 0 {
		res.Finding = report.Finding{Code: "follow-up-off", Summary: "no alarm names or alarm reader configured (GPR_ALARM_NAMES): nothing to follow up", Evidence: []string{}}
		return res
	}
	alarms, err := r.Alarms.Alarms(ctx, r.Config.AlarmNames)
	if err != nil {
		res.Finding = report.Finding{Code: "follow-up-failed", Summary: "could not read the alarms: " + err.Error(), Evidence: []string{}}
		res.Error = res.Finding.Summary
		log.ErrorContext(ctx, "follow-up could not read the alarms", "error", err.Error())
		return res
	}
	interval := r.Config.FollowUpInterval
	if interval <= 0 {
		interval = DefaultFollowUpInterval
	}
	tick := r.now().UTC().Truncate(interval)
	var results []report.Result
	var quiet []string
	for _, a := range alarms {
		if a.State != alarm.StateAlarm {
			quiet = append(quiet, fmt.Sprintf("%s is %s", a.Name, a.State))
			continue
		}
		if why, stopped := r.followUpStopped(ctx, a.Name); stopped {
			quiet = append(quiet, fmt.Sprintf("%s is in ALARM; its follow-up stopped: %s", a.Name, why))
			continue
		}
		a.FollowUp = tick
		out := Process(ctx, r, pb, a)
		r.noteFollowUp(ctx, a.Name, out)
		results = append(results, out)
	}
	if closing, ok := r.closeIfRecovered(ctx, alarm.Alarm{}); ok {
		results = append(results, closing)
	}
	if len(results) == 0 {
		res.Finding = report.Finding{Code: "nothing-to-follow", Summary: "no alarm of " + r.Function + " needs a next step", Evidence: quiet}
		if res.Finding.Evidence == nil {
			res.Finding.Evidence = []string{}
		}
		r.emit(res)
		log.InfoContext(ctx, "follow-up: nothing to do", "alarms", strings.Join(quiet, "; "))
		return res
	}
	first := results[0]
	first.More = append(first.More, results[1:]...)
	return first
}

// DefaultFollowUpInterval is the stack's default schedule.
const DefaultFollowUpInterval = 5 * time.Minute

// FollowUpStop says whether an alarm's follow-ups end after this run, and why: the budgets or
// caps are spent (every action was refused by a budget or a cap), or nothing more can be done
// (no action proposed, and the decision did not lack evidence). A cooldown, a lock or a
// deadline only defers the next step.
func FollowUpStop(res report.Result) (incident.StopReason, bool) {
	if res.Alarm.State != string(alarm.StateAlarm) || res.Finding.Code == "duplicate" || res.Finding.Code == "not-actionable" {
		return "", false
	}
	if len(res.Actions) == 0 {
		for _, d := range res.Diagnostics {
			if !d.OK {
				return "", false // it could not see: a later run may
			}
		}
		return incident.StopNothingLeft, true
	}
	for _, a := range res.Actions {
		if a.Outcome != report.OutcomeSkipped || (a.Rule != "budget" && a.Rule != "cap" && a.Rule != "policy") {
			return "", false
		}
	}
	return incident.StopBudgetSpent, true
}

// noteFollowUp records on the incident that an alarm's follow-ups stop.
func (r *Runner) noteFollowUp(ctx context.Context, alarmName string, res report.Result) {
	why, stop := FollowUpStop(res)
	if !stop || r.Incidents == nil || res.Incident == "" {
		return
	}
	cur, ok, err := r.Incidents.Current(ctx, r.Config.Environment)
	if err != nil || !ok || cur.ID != res.Incident {
		return
	}
	m, ok := cur.Member(alarmName)
	if !ok {
		return
	}
	m.FollowUp, m.StopReason = incident.FollowUpStopped, why
	if err := r.Incidents.SetMember(context.WithoutCancel(ctx), cur.ID, m); err != nil {
		r.logger().ErrorContext(ctx, "could not record that the follow-up stopped", "alarm", alarmName, "error", err.Error())
		return
	}
	_ = r.Incidents.Append(context.WithoutCancel(ctx), cur.ID, incident.Entry{At: r.now().UTC(), Kind: incident.KindFollowUp,
		Function: r.Function, Alarm: alarmName, FollowUp: &incident.FollowUpNote{Status: incident.FollowUpStopped, StopReason: why}})
}

// followUpStopped says whether the alarm's follow-ups stopped in the open incident.
func (r *Runner) followUpStopped(ctx context.Context, alarmName string) (incident.StopReason, bool) {
	if r.Incidents == nil {
		return "", false
	}
	cur, ok, err := r.Incidents.Current(ctx, r.Config.Environment)
	if err != nil || !ok || cur.Status != incident.StatusOpen {
		return "", false
	}
	m, ok := cur.Member(alarmName)
	return m.StopReason, ok && m.FollowUp == incident.FollowUpStopped
}
