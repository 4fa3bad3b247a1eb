package dlq

import (
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
	"github.com/arrakis/gp-remediation/pkg/report"
)

var (
	target = playbook.Target{Queue: "arrakis.dlq", Severity: report.SeverityWarning}
	policy = Policy{DLQ: "arrakis.dlq", ParkingQueue: "arrakis.parking", MaxReplaysPerRun: 500, MaxReplaysPerMsg: 3}
)

func group(class rabbit.Class, n int, errText string) rabbit.Group {
	t := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	return rabbit.Group{Key: rabbit.GroupKey{Queue: "arrakis.interactions", Reason: "rejected", Error: errText}, Class: class, Count: n,
		FirstDeath: t, LastDeath: t.Add(time.Minute), Sample: rabbit.Message{MessageID: "m1", Preview: `{"token":"[redacted]"}`}}
}

func sample(groups ...rabbit.Group) rabbit.Sample {
	s := rabbit.Sample{Queue: "arrakis.dlq", Groups: groups, Complete: true}
	for _, g := range groups {
		s.Depth += g.Count
		for i := 0; i < g.Count; i++ {
			s.Messages = append(s.Messages, rabbit.Message{})
		}
	}
	return s
}

func TestDecide(t *testing.T) {
	noPark := policy
	noPark.ParkingQueue = ""
	noReplay := policy
	noReplay.MaxReplaysPerRun = 0
	tests := []struct {
		name    string
		ev      Evidence
		failed  map[string]string
		policy  Policy
		want    string
		actions []string
		missing bool
	}{
		{name: "transient: replay", ev: Evidence{Sample: sample(group(rabbit.ClassTransient, 30, "timeout"))}, want: "transient", actions: []string{Replay}},
		{name: "bad data: park", ev: Evidence{Sample: sample(group(rabbit.ClassBadData, 4, "invalid JSON"))}, want: "bad-data", actions: []string{Park}},
		{name: "bad data without parking queue: blocked", ev: Evidence{Sample: sample(group(rabbit.ClassBadData, 4, "invalid JSON"))}, policy: noPark,
			want: "bad-data", actions: []string{Park + "!"}},
		{name: "bug: nothing automatic", ev: Evidence{Sample: sample(group(rabbit.ClassBug, 3, "panic"))}, want: "bug"},
		{name: "unknown: nothing automatic", ev: Evidence{Sample: sample(group(rabbit.ClassUnknown, 3, "???"))}, want: "unknown"},
		{name: "mixed: replay and park", ev: Evidence{Sample: sample(group(rabbit.ClassTransient, 20, "timeout"), group(rabbit.ClassBadData, 5, "invalid"), group(rabbit.ClassBug, 3, "panic"))},
			want: Mixed, actions: []string{Replay, Park}},
		{name: "replays disabled: blocked", ev: Evidence{Sample: sample(group(rabbit.ClassTransient, 30, "timeout"))}, policy: noReplay, want: "transient", actions: []string{Replay + "!"}},
		{name: "empty", ev: Evidence{Sample: rabbit.Sample{Queue: "arrakis.dlq", Complete: true}}, want: Empty},
		{name: "not peeked: quorum with delivery limit", ev: Evidence{PeekRefused: "peeking would be destructive: quorum queue, delivery limit 20"}, want: NotPeeked},
		{name: "peek failed: nothing", failed: map[string]string{ProbePeek: "connection refused"}, want: Unknown, missing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p.DLQ == "" {
				p = policy
			}
			if tc.failed == nil {
				tc.failed = map[string]string{}
			}
			d := Decide(Input{Target: target, Evidence: tc.ev, Failed: tc.failed, Policy: p})
			if d.Finding.Code != tc.want {
				t.Fatalf("finding = %s (%s), want %s", d.Finding.Code, d.Finding.Summary, tc.want)
			}
			var got []string
			for _, a := range d.Actions {
				k := a.Kind
				if a.Blocked.Set() {
					k += "!"
				}
				got = append(got, k)
			}
			if strings.Join(got, ",") != strings.Join(tc.actions, ",") {
				t.Errorf("actions = %v, want %v", got, tc.actions)
			}
			if (len(d.Missing) > 0) != tc.missing {
				t.Errorf("missing = %v", d.Missing)
			}
			for _, a := range d.Actions {
				if a.Kind == "purge" {
					t.Fatal("never purge")
				}
			}
		})
	}
}

func TestGroupLineIsOneActionableLine(t *testing.T) {
	line := GroupLine(group(rabbit.ClassTransient, 20, "dial tcp <n>: connect: connection refused"))
	for _, want := range []string{"[transient]", "20 ×", "arrakis.interactions", "rejected", "connection refused", "first 2026-11-27T03:00:00Z", "sample m1", "[redacted]"} {
		if !strings.Contains(line, want) {
			t.Errorf("group line lacks %q: %s", want, line)
		}
	}
}

func TestDescribe(t *testing.T) {
	got := Describe(Replay, rabbit.ReplayResult{Depth: 25, Seen: 25, Replayed: 10, Stopped: rabbit.StopCap,
		Left: map[rabbit.LeftReason]int{rabbit.LeftCap: 15, rabbit.LeftNotSelected: 0}, InDoubt: 0})
	if !strings.HasPrefix(got, "replayed 10 message(s)") || !strings.Contains(got, "15 cap") || !strings.Contains(got, "stopped: cap") {
		t.Errorf("describe: %s", got)
	}
}
