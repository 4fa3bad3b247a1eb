package dlq

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
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
		{name: "transient: replay", ev: Evidence{Sample: sample(group(rabbit.ClassTransient, 30, "timeout"))}, want: "transient", actions: []string{"replay transient 30"}},
		{name: "bad data: park", ev: Evidence{Sample: sample(group(rabbit.ClassBadData, 4, "invalid JSON"))}, want: "bad-data", actions: []string{"park  4"}},
		{name: "bad data without parking queue: blocked", ev: Evidence{Sample: sample(group(rabbit.ClassBadData, 4, "invalid JSON"))}, policy: noPark,
			want: "bad-data", actions: []string{"park  4 !policy"}},
		{name: "bug: the replay is held for a person", ev: Evidence{Sample: sample(group(rabbit.ClassBug, 3, "panic"))}, want: "bug", actions: []string{"replay bug 3 !policy"}},
		{name: "unknown: nothing automatic", ev: Evidence{Sample: sample(group(rabbit.ClassUnknown, 3, "???"))}, want: "unknown"},
		{name: "mixed: replay and park, the bugs' replay held", ev: Evidence{Sample: sample(group(rabbit.ClassTransient, 20, "timeout"), group(rabbit.ClassBadData, 5, "invalid"), group(rabbit.ClassBug, 3, "panic"))},
			want: Mixed, actions: []string{"replay transient 20", "park  5", "replay bug 3 !policy"}},
		{name: "replays disabled: blocked, the bugs' replay held by the policy still", ev: Evidence{Sample: sample(group(rabbit.ClassTransient, 30, "timeout"), group(rabbit.ClassBug, 2, "panic"))}, policy: noReplay,
			want: Mixed, actions: []string{"replay transient 30 !cap", "replay bug 2 !policy"}},
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
				k := fmt.Sprintf("%s %s %d", a.Kind, a.Change.Class, a.Change.Messages)
				if a.Blocked.Set() {
					k += " !" + string(a.Blocked.Code)
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

// The replay of messages that died on a bug waits for a person: held by the policy, with why,
// and the recommendation says how to run it when the offer has expired.
func TestDecideHoldsTheBugsReplayForAPerson(t *testing.T) {
	d := Decide(Input{Target: target, Evidence: Evidence{Sample: sample(group(rabbit.ClassBug, 3, "panic: runtime error: invalid memory address or nil pointer dereference"))},
		Failed: map[string]string{}, Policy: policy})
	if len(d.Actions) != 1 {
		t.Fatalf("actions %+v", d.Actions)
	}
	a := d.Actions[0]
	if a.Kind != Replay || a.Target != "arrakis.dlq" || a.Change.Class != rabbit.ClassBug || a.Change.Messages != 3 ||
		a.Blocked.Code != guard.RulePolicy || a.Blocked.Detail != "messages that died on a bug are replayed only when a person says the fix is deployed" {
		t.Errorf("action %+v", a)
	}
	if got := a.Describe(); got != "3 bug -> their original queue(s)" {
		t.Errorf("describe %q", got)
	}
	recs := strings.Join(d.Recommendations, "\n")
	for _, want := range []string{"3 message(s) died on a bug", "approve the offered replay-dlq", "/gpr replay-dlq bug 3", "GPR_OFFER_TTL"} {
		if !strings.Contains(recs, want) {
			t.Errorf("recommendations lack %q:\n%s", want, recs)
		}
	}
	// The follow-ups do not replay bugs: no estimate of how long they take to.
	if strings.Contains(recs, "the follow-ups get through them") {
		t.Errorf("a pace line for a replay the follow-ups never do:\n%s", recs)
	}
}

// Act replays transient messages only: a replay of another class is refused before the broker
// is even dialled (conns nil would panic otherwise).
func TestActRefusesToReplayBugs(t *testing.T) {
	p := &Playbook{Config: config.Config{DLQ: "arrakis.dlq", MaxReplaysPerRun: 500, MaxReplaysPerMsg: 3}}
	for _, class := range []rabbit.Class{rabbit.ClassBug, rabbit.ClassUnknown, rabbit.ClassBadData, ""} {
		eff, err := p.Act(context.Background(), playbook.Action{Kind: Replay, Target: "arrakis.dlq", Change: playbook.Change{Class: class, Messages: 3}})
		if err == nil || !strings.Contains(err.Error(), "replays transient messages only") || eff.Changed {
			t.Errorf("class %q: %+v, %v", class, eff, err)
		}
	}
}

func TestClassSelector(t *testing.T) {
	msg := func(queue, errText string) rabbit.Message {
		return rabbit.Message{Deaths: []rabbit.Death{{Queue: queue, Reason: "rejected"}}, Error: errText}
	}
	const panicked, timeout = "panic: runtime error: invalid memory address or nil pointer dereference", "upstream timeout after 30s calling discord.com"
	sel := ClassSelector(rabbit.ClassBug, "arrakis.dlq")
	for _, tc := range []struct {
		m    rabbit.Message
		want string
		ok   bool
	}{
		{msg("arrakis.interactions", panicked), "arrakis.interactions", true},
		{msg("arrakis.interactions", timeout), "", false}, // transient: not asked for
		{msg("arrakis.dlq", panicked), "", false},         // never the DLQ itself
		{rabbit.Message{Error: panicked}, "", false},      // no origin known
	} {
		if q, ok := sel(tc.m); q != tc.want || ok != tc.ok {
			t.Errorf("%s/%s: %q %v, want %q %v", tc.m.Key().Queue, tc.m.Key().Error, q, ok, tc.want, tc.ok)
		}
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
