package incident

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func openInc(alarms ...string) Incident {
	inc := Incident{ID: "dev.x.1", Environment: "dev", Status: StatusOpen, OpenedAt: t0}
	for _, a := range alarms {
		inc.Members = append(inc.Members, Member{Alarm: a, State: StateAlarm, FollowUp: FollowUpActive})
	}
	return inc
}

func st(state string) AlarmState { return AlarmState{State: state} }

func TestShouldClose(t *testing.T) {
	closed := openInc("a")
	closed.Status = StatusClosed
	tests := []struct {
		name   string
		inc    Incident
		states map[string]AlarmState
		now    time.Time
		maxAge time.Duration
		want   bool
		reason CloseReason
	}{
		{"all ok", openInc("a", "b"), map[string]AlarmState{"a": st(StateOK), "b": st(StateOK)}, t0.Add(time.Minute), time.Hour, true, CloseRecovered},
		{"one still alarm", openInc("a", "b"), map[string]AlarmState{"a": st(StateOK), "b": st(StateAlarm)}, t0.Add(time.Minute), time.Hour, false, ""},
		{"insufficient data is not ok", openInc("a"), map[string]AlarmState{"a": st(StateInsufficientData)}, t0.Add(time.Minute), time.Hour, false, ""},
		{"deleted alarm counts as recovered", openInc("a", "b"), map[string]AlarmState{"a": st(StateOK)}, t0.Add(time.Minute), time.Hour, true, CloseRecovered},
		{"max age", openInc("a"), map[string]AlarmState{"a": st(StateAlarm)}, t0.Add(time.Hour), time.Hour, true, CloseMaxAge},
		{"just under max age", openInc("a"), map[string]AlarmState{"a": st(StateAlarm)}, t0.Add(time.Hour - time.Second), time.Hour, false, ""},
		{"default max age", openInc("a"), map[string]AlarmState{"a": st(StateAlarm)}, t0.Add(DefaultMaxAge), 0, true, CloseMaxAge},
		{"recovered wins over max age", openInc("a"), map[string]AlarmState{"a": st(StateOK)}, t0.Add(48 * time.Hour), time.Hour, true, CloseRecovered},
		{"no members never recovers", openInc(), nil, t0.Add(time.Minute), time.Hour, false, ""},
		{"already closed", closed, map[string]AlarmState{"a": st(StateOK)}, t0.Add(time.Minute), time.Hour, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := ShouldClose(tt.inc, tt.states, tt.now, tt.maxAge)
			if got != tt.want || reason != tt.reason {
				t.Fatalf("ShouldClose = %v, %q; want %v, %q", got, reason, tt.want, tt.reason)
			}
		})
	}
}

func TestTimeToRecover(t *testing.T) {
	tests := []struct {
		name string
		inc  Incident
		want time.Duration
		ok   bool
	}{
		{"recovered", Incident{Status: StatusClosed, CloseReason: CloseRecovered, OpenedAt: t0, ClosedAt: t0.Add(17 * time.Minute)}, 17 * time.Minute, true},
		{"max age is no recovery", Incident{Status: StatusClosed, CloseReason: CloseMaxAge, OpenedAt: t0, ClosedAt: t0.Add(24 * time.Hour)}, 0, false},
		{"open", Incident{Status: StatusOpen, OpenedAt: t0}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := TimeToRecover(tt.inc)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("TimeToRecover = %s, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func i64(v int64) *int64 { return &v }

func TestSummarize(t *testing.T) {
	scale := Entry{At: t0.Add(time.Minute), Kind: KindAction, Alarm: "q", Action: &Action{Kind: "scale", Target: "worker", Outcome: ActionDone, FromCount: i64(2), ToCount: i64(4)}}
	verified := Entry{At: t0.Add(3 * time.Minute), Kind: KindVerification, Alarm: "q", Verification: &Verification{Status: VerificationPassed, Target: "worker"}}
	redeploy := Entry{At: t0.Add(2 * time.Minute), Kind: KindAction, Alarm: "m", Action: &Action{Kind: "force-new-deployment", Target: "ingestor", Outcome: ActionDone}}
	notVerified := Entry{At: t0.Add(4 * time.Minute), Kind: KindVerification, Alarm: "m", Verification: &Verification{Status: VerificationFailed, Target: "ingestor"}}
	failed := Entry{At: t0.Add(5 * time.Minute), Kind: KindAction, Alarm: "d", Action: &Action{Kind: "redrive", Target: "dlq", Outcome: ActionFailed}}
	recommend := Entry{At: t0.Add(6 * time.Minute), Kind: KindDecision, Alarm: "d", Decision: &Decision{Outcome: DecisionRecommend, Recommendation: "inspect poison messages"}}
	skip := Entry{At: t0.Add(7 * time.Minute), Kind: KindDecision, Alarm: "q", Decision: &Decision{Outcome: DecisionSkip, Code: "budget-spent"}}
	act := Entry{At: t0.Add(7 * time.Minute), Kind: KindDecision, Alarm: "q", Decision: &Decision{Outcome: DecisionAct}}
	esc := Entry{At: t0.Add(8 * time.Minute), Kind: KindEscalation, Alarm: "d", Escalation: &Escalation{Reason: "redrive failed", Paged: true}}
	obs := Entry{At: t0, Kind: KindObservation, Alarm: "q", Observation: &Observation{Finding: "queue-depth-high"}}

	inc := openInc("q", "m", "d")
	inc.Status, inc.CloseReason, inc.ClosedAt = StatusClosed, CloseRecovered, t0.Add(30*time.Minute)
	inc.Timeline = []Entry{obs, scale, redeploy, verified, notVerified, failed, recommend, act, skip, esc}
	inc.TimelineTruncated = 2
	got := Summarize(inc)
	want := Summary{
		ID: inc.ID, Environment: "dev", OpenedAt: t0, ClosedAt: t0.Add(30 * time.Minute), CloseReason: CloseRecovered,
		TimeToRecover: 30 * time.Minute, Recovered: true, Members: inc.Members,
		Done: []Entry{scale, redeploy}, Verified: []Entry{scale}, Failed: []Entry{failed}, Skipped: []Entry{skip},
		Escalations:   []Entry{esc},
		LeftForPerson: []Entry{notVerified, failed, recommend, skip, esc},
		TimelineLen:   10, TimelineTruncated: 2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Summarize:\n got %+v\nwant %+v", got, want)
	}
	if empty := Summarize(openInc("a")); empty.Recovered || len(empty.Done)+len(empty.LeftForPerson) != 0 {
		t.Fatalf("empty summary %+v", empty)
	}
}

func TestAppendCapped(t *testing.T) {
	var inc Incident
	for range MaxTimeline - 1 {
		AppendCapped(&inc, Entry{Kind: KindObservation})
	}
	AppendCapped(&inc, Entry{Kind: KindAction}, Entry{Kind: KindReport}, Entry{Kind: KindClose})
	if len(inc.Timeline) != MaxTimeline || inc.TimelineTruncated != 2 || inc.Timeline[MaxTimeline-1].Kind != KindAction {
		t.Fatalf("len %d truncated %d", len(inc.Timeline), inc.TimelineTruncated)
	}
}

func TestSetMember(t *testing.T) {
	inc := openInc("a", "b")
	SetMember(&inc, Member{Alarm: "b", FollowUp: FollowUpStopped, StopReason: StopOK})
	SetMember(&inc, Member{Alarm: "c"})
	if got := inc.MemberAlarms(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("members %v", got)
	}
	if m, _ := inc.Member("b"); m.StopReason != StopOK {
		t.Fatalf("b = %+v", m)
	}
}

// The store keeps incidents as JSON: every typed field must survive the round trip.
func TestJSONRoundTrip(t *testing.T) {
	v := 12.5
	inc := openInc("a")
	inc.UpdatedAt = t0.Add(time.Second)
	inc.Conversation = Conversation{SlackChannel: "C1", SlackTS: "1.2", DiscordMessageID: "9"}
	inc.Page = Page{DedupKey: "k", Triggered: true, TriggeredAt: t0}
	inc.Timeline = []Entry{
		{At: t0, Kind: KindObservation, Alarm: "a", Observation: &Observation{Finding: "f", Value: &v, Unit: "Count"}},
		{At: t0, Kind: KindAction, Action: &Action{Kind: "scale", Target: "w", Outcome: ActionDone, FromCount: i64(1), ToCount: i64(2)}},
		{At: t0, Kind: KindClose, Close: &CloseNote{Reason: CloseRecovered, States: []AlarmState{{Name: "a", State: StateOK, UpdatedAt: t0}}}},
	}
	b, err := json.Marshal(inc)
	if err != nil {
		t.Fatal(err)
	}
	var back Incident
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, inc) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, inc)
	}
}
