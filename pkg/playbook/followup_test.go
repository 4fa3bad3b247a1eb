package playbook

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/report"
)

func TestIsFollowUp(t *testing.T) {
	for in, want := range map[string]bool{
		`{"source":"gp-remediation","detail-type":"follow-up"}`:       true,
		`{"source":"aws.events","detail-type":"follow-up"}`:           false,
		`{"source":"gp-remediation","detail-type":"Scheduled Event"}`: false,
		`not json follow-up`: false,
	} {
		if got := IsFollowUp([]byte(in)); got != want {
			t.Errorf("IsFollowUp(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestFollowUpStop(t *testing.T) {
	alarmed := report.AlarmRef{State: "ALARM"}
	skipped := func(rule string) report.Action {
		return report.Action{Kind: KindScaleService, Outcome: report.OutcomeSkipped, Rule: rule}
	}
	tests := []struct {
		name string
		res  report.Result
		want incident.StopReason
		stop bool
	}{
		{"an action was done: go on", report.Result{Alarm: alarmed, Actions: []report.Action{{Outcome: report.OutcomeDone}}}, "", false},
		{"at the cap: budget spent", report.Result{Alarm: alarmed, Actions: []report.Action{skipped("cap")}}, incident.StopBudgetSpent, true},
		{"budget spent", report.Result{Alarm: alarmed, Actions: []report.Action{skipped("budget")}}, incident.StopBudgetSpent, true},
		{"a cooldown only defers", report.Result{Alarm: alarmed, Actions: []report.Action{skipped("cooldown")}}, "", false},
		{"waiting for another alarm only defers", report.Result{Alarm: alarmed, Actions: []report.Action{skipped("incident")}}, "", false},
		{"nothing to do", report.Result{Alarm: alarmed, Finding: report.Finding{Code: "bug"}}, incident.StopNothingLeft, true},
		{"could not see: a later run may", report.Result{Alarm: alarmed, Diagnostics: []report.Diagnostic{{Name: "p", OK: false}}}, "", false},
		{"a duplicate says nothing", report.Result{Alarm: alarmed, Finding: report.Finding{Code: "duplicate"}}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, stop := FollowUpStop(tc.res)
			if got != tc.want || stop != tc.stop {
				t.Errorf("FollowUpStop = %q %v, want %q %v", got, stop, tc.want, tc.stop)
			}
		})
	}
}

// stillAlarming is CloudWatch with the ingestor alarm still in ALARM.
type stillAlarming struct{ changed time.Time }

func (s stillAlarming) Alarms(_ context.Context, names []string) ([]alarm.Alarm, error) {
	return []alarm.Alarm{{Name: "arrakis-staging No Ingestor Tasks Running", ARN: "arn:aws:cloudwatch:us-east-1:1:alarm:x", State: alarm.StateAlarm,
		ChangedAt: s.changed, Dimensions: map[string]string{"ServiceName": "svc"}}}, nil
}

// TestFollowUpTakesTheNextStepOnce: while the alarm stays in ALARM each tick runs the pipeline
// again, keyed by the tick (a redelivered tick is a duplicate); a restart that did not hold is
// not repeated inside its cooldown, and the follow-up's escalation carries the earlier attempt.
func TestFollowUpTakesTheNextStepOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 3, 12, 0, 0, time.UTC)
	now := t0
	store := &memIncidents{}
	r, _, _ := newRunner(config.ModeOn, guard.NewMemoryLedger(), nil)
	r.Now = func() time.Time { return now }
	r.Guard.Budgets = map[string]guard.Budget{"restart": {Max: 3, Window: 24 * time.Hour, Cooldown: 15 * time.Minute}}
	r.Incidents, r.Alarms = store, stillAlarming{changed: t0}
	r.Config.AlarmNames = []string{"arrakis-staging No Ingestor Tasks Running"}
	pb := &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Pending, Detail: "still starting"}}
	follow := []byte(`{"source":"gp-remediation","detail-type":"follow-up"}`)

	now = t0.Add(time.Minute)
	first, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pb), follow)
	again, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pb), follow) // the same tick, redelivered
	now = t0.Add(6 * time.Minute)
	next, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pb), follow)

	if done(first) != 1 || again.Finding.Code != "duplicate" {
		t.Fatalf("first tick: %d done; redelivery: %q; want one restart, then a duplicate", done(first), again.Finding.Code)
	}
	if len(next.Actions) != 1 || next.Actions[0].Rule != "cooldown" || len(pb.acted) != 1 {
		t.Fatalf("next tick: %+v (acted %v), want the restart skipped by its cooldown", next.Actions, pb.acted)
	}
	if next.Incident == "" || next.Incident != first.Incident || !strings.Contains(strings.Join(next.Finding.Evidence, "\n"), "earlier in incident") {
		t.Errorf("next tick's evidence lacks the earlier attempt: %v", next.Finding.Evidence)
	}
}

func done(r report.Result) int {
	n := 0
	for _, a := range r.Actions {
		if a.Outcome == report.OutcomeDone {
			n++
		}
	}
	return n
}
