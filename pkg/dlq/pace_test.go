package dlq

import (
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/rabbit"
)

func TestPace(t *testing.T) {
	const interval = 5 * time.Minute
	tests := []struct {
		name                  string
		left, perRun, perHour int
		want                  time.Duration
	}{
		{"nothing left", 0, 500, 2000, 0},
		{"one run", 400, 500, 2000, 0},
		{"runs every 5 min", 3000, 500, 0, 25 * time.Minute},
		{"the hourly bound is slower", 3000, 500, 1000, 2 * time.Hour},
		{"the runs are slower", 1000, 100, 6000, 45 * time.Minute},
		{"replays disabled", 100, 0, 1000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Pace(tc.left, tc.perRun, tc.perHour, interval); got != tc.want {
				t.Errorf("Pace(%d, %d, %d) = %s, want %s", tc.left, tc.perRun, tc.perHour, got, tc.want)
			}
		})
	}
}

// TestDecideLooksBeyondTheSample: transient messages behind a head of bad data are still
// replayed (the run looks at the unseen rest), the hour's pace bounds the run, and a group whose
// replays came back is named and not replayed again.
func TestDecideLooksBeyondTheSample(t *testing.T) {
	headOfBadData := sample(group(rabbit.ClassBadData, 50, "invalid JSON: unexpected end of input"))
	headOfBadData.Complete, headOfBadData.Depth = false, 3000
	hourly := policy
	hourly.MaxPerHour, hourly.Interval = 2000, 5*time.Minute

	d := Decide(Input{Target: target, Evidence: Evidence{Sample: headOfBadData}, Failed: map[string]string{}, Policy: hourly})
	if len(d.Actions) != 2 || d.Actions[0].Kind != Replay || d.Actions[0].Blocked.Set() || d.Actions[0].Change.Unseen != 2950 || d.Actions[0].Change.Limit != 500 {
		t.Fatalf("actions %+v, want a replay over the 2,950 unseen messages, 500 at most", d.Actions)
	}
	if !strings.Contains(strings.Join(d.Recommendations, "\n"), "3000 message(s) in the DLQ") {
		t.Errorf("recommendations lack the pace: %v", d.Recommendations)
	}

	d = Decide(Input{Target: target, Evidence: Evidence{Sample: headOfBadData, MovedLastHour: 1800}, Failed: map[string]string{}, Policy: hourly})
	if d.Actions[0].Change.Limit != 200 {
		t.Errorf("limit %d with 1,800 moved this hour, want 200", d.Actions[0].Change.Limit)
	}
	d = Decide(Input{Target: target, Evidence: Evidence{Sample: headOfBadData, MovedLastHour: 2000}, Failed: map[string]string{}, Policy: hourly})
	if !d.Actions[0].Blocked.Set() || d.Actions[0].Blocked.Code != "budget" {
		t.Errorf("the hour's pace is spent: replay %+v, want it blocked by the budget", d.Actions[0])
	}
	d = Decide(Input{Target: target, Evidence: Evidence{Sample: headOfBadData}, Failed: map[string]string{ProbeLedger: "throttled"}, Policy: hourly})
	if !d.Actions[0].Blocked.Set() {
		t.Errorf("the hour's moves are unknown: replay %+v, want it blocked", d.Actions[0])
	}

	back := sample(group(rabbit.ClassTransient, 3, "upstream timeout"))
	back.Messages[1].Replays = 1
	d = Decide(Input{Target: target, Evidence: Evidence{Sample: back}, Failed: map[string]string{}, Policy: policy})
	if !strings.Contains(strings.Join(d.Finding.Evidence, "\n"), "dead-lettered again") {
		t.Errorf("evidence does not name the group whose replays came back: %v", d.Finding.Evidence)
	}
}

func TestReplaySelectorStopsAGroupThatComesBack(t *testing.T) {
	msg := func(errText string, replays int) rabbit.Message {
		return rabbit.Message{Deaths: []rabbit.Death{{Queue: "arrakis.interactions", Reason: "rejected"}}, Error: errText, Replays: replays}
	}
	const timeout, refused = "upstream timeout after 30s calling discord.com", "dial tcp 10.0.3.4:5432: connect: connection refused"
	sel := ReplaySelector()
	steps := []struct {
		m    rabbit.Message
		want bool
	}{
		{msg(timeout, 0), true},         // fresh and transient: replayed
		{msg(timeout, 1), false},        // replayed before and back: its group stops
		{msg(timeout, 0), false},        // the rest of that group stays too
		{msg(refused, 0), true},         // another transient group goes on
		{msg("invalid JSON", 0), false}, // bad data is never replayed
	}
	for i, st := range steps {
		q, ok := sel(st.m)
		if ok != st.want || (ok && q != "arrakis.interactions") {
			t.Errorf("step %d: selected %v (%q), want %v", i, ok, q, st.want)
		}
	}
}
