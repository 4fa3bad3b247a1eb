package queuedepth

import (
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/playbook"
)

func TestCoordinateWaitsForAnUnverifiedRestart(t *testing.T) {
	const worker, alarm = "arrakis-staging-gp-worker", "arrakis-staging No Worker Tasks Running"
	at := time.Date(2026, 12, 5, 3, 12, 0, 0, time.UTC)
	restart := incident.Entry{At: at, Kind: incident.KindAction, Function: "no-tasks", Alarm: alarm,
		Action: &incident.Action{Kind: playbook.KindForceNewDeployment, Target: worker, Outcome: incident.ActionDone}}
	verified := incident.Entry{At: at.Add(time.Minute), Kind: incident.KindVerification, Function: "no-tasks", Alarm: alarm,
		Verification: &incident.Verification{Status: incident.VerificationPassed}}
	pending := incident.Entry{At: at.Add(time.Minute), Kind: incident.KindVerification, Function: "no-tasks", Alarm: alarm,
		Verification: &incident.Verification{Status: incident.VerificationUnknown}}
	scaleUp := playbook.Action{Kind: ScaleService, Target: worker, Change: playbook.Change{FromCount: 1, ToCount: 2}}
	scaleBack := playbook.Action{Kind: ScaleService, Target: worker, Change: playbook.Change{FromCount: 2, ToCount: 1}}
	tests := []struct {
		name     string
		timeline []incident.Entry
		action   playbook.Action
		blocked  bool
	}{
		{"no restart in the incident", nil, scaleUp, false},
		{"a restart not verified yet", []incident.Entry{restart}, scaleUp, true},
		{"a restart still pending", []incident.Entry{restart, pending}, scaleUp, true},
		{"a verified restart", []incident.Entry{restart, verified}, scaleUp, false},
		{"a scale-back never waits", []incident.Entry{restart}, scaleBack, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inc := incident.Incident{ID: "staging-1", Timeline: tc.timeline}
			d := playbook.Decision{Actions: []playbook.Action{tc.action}}
			got := Coordinate(inc, worker, d)
			if got.Actions[0].Blocked.Set() != tc.blocked {
				t.Fatalf("blocked = %v (%s), want %v", got.Actions[0].Blocked.Set(), got.Actions[0].Blocked, tc.blocked)
			}
			if tc.blocked && (!strings.Contains(got.Actions[0].Blocked.String(), alarm) || got.Actions[0].Blocked.Code != "incident") {
				t.Errorf("rule %q does not name the other alarm", got.Actions[0].Blocked)
			}
			if d.Actions[0].Blocked.Set() {
				t.Error("Coordinate changed the decision it was given")
			}
		})
	}
}
