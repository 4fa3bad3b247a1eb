package dlq

import (
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
)

func TestCoordinateWaitsForTheWorker(t *testing.T) {
	const worker = "arrakis-staging No Worker Tasks Running"
	at := time.Date(2026, 12, 5, 3, 12, 0, 0, time.UTC)
	member := []incident.Member{{Alarm: worker, Function: "no-tasks"}}
	firing := incident.Entry{At: at, Kind: incident.KindObservation, Function: "no-tasks", Alarm: worker, Observation: &incident.Observation{State: "ALARM"}}
	fixed := incident.Entry{At: at.Add(time.Minute), Kind: incident.KindVerification, Function: "no-tasks", Alarm: worker, Verification: &incident.Verification{Status: incident.VerificationPassed}}
	ok := incident.Entry{At: at.Add(2 * time.Minute), Kind: incident.KindObservation, Function: "no-tasks", Alarm: worker, Observation: &incident.Observation{State: "OK"}}
	tests := []struct {
		name     string
		members  []incident.Member
		timeline []incident.Entry
		blocked  bool
	}{
		{"no worker alarm in the incident", nil, nil, false},
		{"the worker alarm is firing", member, []incident.Entry{firing}, true},
		{"the worker's restart is verified", member, []incident.Entry{firing, fixed}, false},
		{"the worker alarm is OK again", member, []incident.Entry{firing, ok}, false},
		{"CloudWatch says ALARM now", []incident.Member{{Alarm: worker, Function: "no-tasks", State: "ALARM"}}, nil, true},
		{"CloudWatch says OK now, whatever the timeline", []incident.Member{{Alarm: worker, Function: "no-tasks", State: "OK"}}, []incident.Entry{firing}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inc := incident.Incident{ID: "staging-1", Members: tc.members, Timeline: tc.timeline}
			d := playbook.Decision{Actions: []playbook.Action{{Kind: Replay}, {Kind: Park}}}
			got := Coordinate(inc, Evidence{Work: rabbit.QueueState{Name: "arrakis.interactions", Consumers: 2}, WorkRead: true}, d)
			if got.Actions[0].Blocked.Set() != tc.blocked || got.Actions[1].Blocked.Set() {
				t.Fatalf("replay blocked %v (%s), park blocked %v; want replay %v, park never", got.Actions[0].Blocked.Set(), got.Actions[0].Blocked, got.Actions[1].Blocked.Set(), tc.blocked)
			}
			if tc.blocked && !strings.Contains(got.Actions[0].Blocked.String(), worker) {
				t.Errorf("rule %q does not name the worker alarm", got.Actions[0].Blocked)
			}
		})
	}
}

func TestCoordinateWaitsForAConsumer(t *testing.T) {
	inc := incident.Incident{ID: "staging-1", Members: []incident.Member{{Alarm: "arrakis-staging Queue Depth High", Function: "queue-depth"}}}
	d := playbook.Decision{Actions: []playbook.Action{{Kind: Replay}}}
	tests := []struct {
		name    string
		ev      Evidence
		blocked bool
	}{
		{"consumers on the work queue", Evidence{Work: rabbit.QueueState{Name: "arrakis.interactions", Consumers: 1}, WorkRead: true}, false},
		{"nobody consumes", Evidence{Work: rabbit.QueueState{Name: "arrakis.interactions"}, WorkRead: true}, true},
		{"the work queue could not be read", Evidence{}, false},
		{"the DLQ alarm alone: replays wait in the work queue", Evidence{Work: rabbit.QueueState{Name: "arrakis.interactions"}, WorkRead: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inc := inc
			if strings.HasPrefix(tc.name, "the DLQ alarm alone") {
				inc.Members = []incident.Member{{Alarm: "arrakis-staging DLQ Messages", Function: "dlq"}}
			}
			got := Coordinate(inc, tc.ev, d)
			if got.Actions[0].Blocked.Set() != tc.blocked {
				t.Fatalf("blocked = %v (%s), want %v", got.Actions[0].Blocked.Set(), got.Actions[0].Blocked, tc.blocked)
			}
			if tc.blocked && !strings.Contains(got.Actions[0].Blocked.String(), "Queue Depth High") {
				t.Errorf("rule %q does not name the incident's queue alarm", got.Actions[0].Blocked)
			}
		})
	}
}
