// Package dlq is the playbook for "DLQ Messages" (WARNING): look at the dead letters without
// losing or reordering any, group them by where and why they died, replay the transient ones
// to their queue with a no-loss protocol, park bad data when a parking queue is configured,
// and leave bugs and unknowns to a person with a redacted sample: the replay of bugs is
// offered, for a person to approve once the fix is deployed. Never purge.
package dlq

import (
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/operation"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Finding codes: the class of every group when they agree, else mixed.
const (
	Empty     = "empty"      // the DLQ is empty now
	NotPeeked = "not-peeked" // looking would have been destructive, or could not be shown harmless
	Mixed     = "mixed"
	Unknown   = "unknown"
)

// Action kinds.
const (
	Replay = playbook.KindReplay
	Park   = playbook.KindPark
)

// Probe names.
const (
	ProbePeek   = "amqp.dlq-peek"
	ProbeLedger = "ledger.moved-last-hour"
	ProbeWork   = "amqp.work-queue"
)

// Evidence is what the probes saw.
type Evidence struct {
	Now    time.Time
	Sample rabbit.Sample
	// MovedLastHour is how many messages this function replayed or parked in the last hour
	// (the ledger's record), for the per-hour pace.
	MovedLastHour int
	// Work is the work queue as AMQP sees it now (WorkRead false: it could not be read).
	Work     rabbit.QueueState
	WorkRead bool
	// PeekRefused says why the DLQ was not peeked (unsafe queue type, type unknown).
	PeekRefused string
}

// Policy is the environment's settings the decision depends on.
type Policy struct {
	DLQ              string
	ParkingQueue     string
	MaxReplaysPerRun int
	MaxReplaysPerMsg int
	// MaxPerHour bounds what runs move in an hour (0: no hourly bound); Interval is how often
	// the follow-up runs (for the estimate of how long the rest takes).
	MaxPerHour int
	Interval   time.Duration
}

// Input is everything Decide looks at.
type Input struct {
	Target   playbook.Target
	Evidence Evidence
	Failed   map[string]string
	Policy   Policy
}

// Decide judges the dead letters the way the runbook's "DLQ Messages" does. Pure.
func Decide(in Input) playbook.Decision {
	ev, p := in.Evidence, in.Policy
	d := playbook.Decision{Finding: report.Finding{Evidence: []string{}}}
	if err, bad := in.Failed[ProbePeek]; bad {
		d.Finding.Code, d.Finding.Summary = Unknown, "could not look at "+p.DLQ+": "+err
		d.Missing = []string{ProbePeek}
		return d
	}
	if ev.PeekRefused != "" {
		d.Finding.Code = NotPeeked
		d.Finding.Summary = fmt.Sprintf("%s was not peeked: %s", p.DLQ, ev.PeekRefused)
		d.Recommendations = []string{"Inspect the messages in the management console (runbook: Queues -> " + p.DLQ + " -> Get Message(s), Ack Mode: Nack message requeue true)."}
		return d
	}
	s := ev.Sample
	if s.Depth == 0 && len(s.Messages) == 0 {
		d.Finding.Code, d.Finding.Summary = Empty, p.DLQ+" is empty now: someone or something already handled the dead letters"
		return d
	}
	seen := fmt.Sprintf("%d message(s) in %s", s.Depth, p.DLQ)
	if !s.Complete {
		seen += fmt.Sprintf(" (looked at the first %d)", len(s.Messages))
	}
	d.Finding.Evidence = append(d.Finding.Evidence, seen)
	classes := map[rabbit.Class]int{}
	for _, g := range s.Groups {
		classes[g.Class] += g.Count
		d.Finding.Evidence = append(d.Finding.Evidence, GroupLine(g))
	}
	d.Finding.Code = Mixed
	if len(classes) == 1 {
		for c := range classes {
			d.Finding.Code = string(c)
		}
	}
	d.Finding.Summary = fmt.Sprintf("%s: %s", seen, classSummary(classes))
	// Messages beyond the sample may be anything: a replay (a parking) looks at them too, so
	// transient messages behind bad data are found wherever they sit in the queue.
	unseen := 0
	if !s.Complete {
		unseen = max(0, s.Depth-len(s.Messages))
	}
	limit, paceRule := p.pace(ev)
	if _, bad := in.Failed[ProbeLedger]; bad && p.MaxPerHour > 0 {
		paceRule = guard.Rule{Code: guard.RuleMissingEvidence, Detail: "the moves of the last hour could not be read, so the hourly pace cannot be kept"}
	}
	for _, g := range ReturnedGroups(s) {
		d.Finding.Evidence = append(d.Finding.Evidence, fmt.Sprintf("[%s] %s/%s %q: replayed before and dead-lettered again: not replayed again (a person must look)", rabbit.Classify(g), g.Queue, g.Reason, g.Error))
	}

	if n := classes[rabbit.ClassTransient]; n > 0 || unseen > 0 {
		act := playbook.Action{Kind: Replay, Target: p.DLQ, Change: playbook.Change{Class: rabbit.ClassTransient, Messages: n, Unseen: unseen, Limit: limit},
			Reason: "transient failures (timeouts, refused connections, 429/503, expiry) are expected to succeed on a retry"}
		switch {
		case p.MaxReplaysPerRun <= 0:
			act.Blocked = guard.Rule{Code: guard.RuleCap, Detail: "replays are disabled (GPR_MAX_REPLAYS_PER_RUN=0)"}
		case p.MaxReplaysPerMsg <= 0:
			act.Blocked = guard.Rule{Code: guard.RuleCap, Detail: "replays are disabled (GPR_MAX_REPLAYS_PER_MESSAGE=0)"}
		case paceRule.Set():
			act.Blocked = paceRule
		}
		d.Actions = append(d.Actions, act)
	}
	if n := classes[rabbit.ClassBadData]; n > 0 || (unseen > 0 && p.ParkingQueue != "") {
		act := playbook.Action{Kind: Park, Target: p.DLQ, Change: playbook.Change{Messages: n, Unseen: unseen, Limit: limit, Destination: p.ParkingQueue},
			Reason: "bad data fails again whatever happens: parking keeps it out of the DLQ's way for a person to look at"}
		switch {
		case p.ParkingQueue == "":
			act.Blocked = guard.Rule{Code: guard.RulePolicy, Detail: "no parking queue configured (GPR_PARKING_QUEUE); the messages stay in the DLQ"}
		case paceRule.Set():
			act.Blocked = paceRule
		}
		d.Actions = append(d.Actions, act)
		d.Recommendations = append(d.Recommendations, "Bad data: find the producer of the malformed messages; delete them only once understood (runbook: if bad data, delete from DLQ).")
	}
	// What the follow-ups move by themselves: the pace line below is about these only.
	automatic := len(d.Actions)
	if n := classes[rabbit.ClassBug]; n > 0 {
		// Right once the fix is deployed, and only a person knows when that is: the replay is
		// decided here and held by the policy, so it can be offered (playbook.OfferFor).
		d.Actions = append(d.Actions, playbook.Action{Kind: Replay, Target: p.DLQ, Change: playbook.Change{Class: rabbit.ClassBug, Messages: n},
			Reason:  "messages that died on a bug succeed on a replay once the fix is deployed",
			Blocked: guard.Rule{Code: guard.RulePolicy, Detail: BugReplayPolicy}})
		d.Recommendations = append(d.Recommendations, fmt.Sprintf("%d message(s) died on a bug (panic, nil dereference): fix the code, then replay them once the fix is deployed: approve the offered replay-dlq, or, when the fix takes longer than the offer lasts (%s, default 30m), run /gpr replay-dlq bug %d (runbook: if bug, fix code, replay).", n, config.EnvOfferTTL, min(n, operation.MaxReplayMessages)))
	}
	if n := classes[rabbit.ClassUnknown]; n > 0 {
		d.Recommendations = append(d.Recommendations, fmt.Sprintf("%d message(s) died for a reason this function does not recognise: look at the samples below.", n))
	}
	if !s.Complete {
		d.Recommendations = append(d.Recommendations, "Only part of the DLQ was sampled; the counts per group are of the sample.")
	}
	if automatic > 0 && p.MaxReplaysPerRun > 0 {
		d.Recommendations = append(d.Recommendations, PaceLine(s.Depth, p.MaxReplaysPerRun, p.MaxPerHour, p.Interval))
	}
	return d
}

// BugReplayPolicy is why the dlq function does not replay messages that died on a bug itself.
const BugReplayPolicy = "messages that died on a bug are replayed only when a person says the fix is deployed"

// pace is the most messages this run may move, or the rule that stops it: the per-run cap,
// and what the hour's budget has left.
func (p Policy) pace(ev Evidence) (int, guard.Rule) {
	limit := p.MaxReplaysPerRun
	if p.MaxPerHour > 0 {
		room := p.MaxPerHour - ev.MovedLastHour
		if room <= 0 {
			return 0, guard.Rule{Code: guard.RuleBudget, Detail: fmt.Sprintf("%d message(s) moved in the last hour, the pace is %d an hour (GPR_DLQ_MAX_REPLAY_PER_HOUR); a later follow-up goes on", ev.MovedLastHour, p.MaxPerHour)}
		}
		limit = min(limit, room)
	}
	return limit, guard.Rule{}
}

// Pace is how long moving left messages takes at perRun a run, a run every interval, and at
// most perHour an hour (0: no hourly bound). The first run is now.
func Pace(left, perRun, perHour int, interval time.Duration) time.Duration {
	if left <= 0 || perRun <= 0 {
		return 0
	}
	runs := (left + perRun - 1) / perRun
	byRuns := time.Duration(runs-1) * interval
	if perHour > 0 {
		byHour := time.Duration(float64(left-min(left, perHour)) / float64(perHour) * float64(time.Hour))
		return max(byRuns, byHour)
	}
	return byRuns
}

// PaceLine says how much is in the DLQ and how long it takes at the configured pace.
func PaceLine(left, perRun, perHour int, interval time.Duration) string {
	hour := "no hourly bound"
	if perHour > 0 {
		hour = fmt.Sprintf("at most %d an hour", perHour)
	}
	return fmt.Sprintf("%d message(s) in the DLQ: at %d a run every %s (%s) the follow-ups get through them in about %s, if every one can move.",
		left, perRun, interval, hour, Pace(left, perRun, perHour, interval).Round(time.Minute))
}

// ReturnedGroups are the groups of the sample with a message that carries our replay counter:
// it was replayed and dead-lettered again. They are not replayed again.
func ReturnedGroups(s rabbit.Sample) []rabbit.GroupKey {
	seen := map[rabbit.GroupKey]bool{}
	var out []rabbit.GroupKey
	for _, m := range s.Messages {
		if k := m.Key(); m.Replays > 0 && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// ReplaySelector replays transient messages to the queue they died in, except a group whose
// replays came back: a message of it carrying our replay counter is left in the DLQ, and so is
// the rest of its group in this run.
func ReplaySelector() func(rabbit.Message) (string, bool) {
	returned := map[rabbit.GroupKey]bool{}
	return func(m rabbit.Message) (string, bool) {
		if m.Class() != rabbit.ClassTransient {
			return "", false
		}
		k := m.Key()
		if m.Replays > 0 {
			returned[k] = true
		}
		if returned[k] {
			return "", false
		}
		q, _ := m.Origin()
		return q, q != ""
	}
}

// ClassSelector sends the messages of class back to the queue they died in: a person's
// replay (replay-dlq), once the fix is out. A message without a known origin, or whose origin
// is the DLQ itself, stays. Unlike ReplaySelector it does not hold back a group whose replays
// came back: the person says the cause is fixed; the per-message limit
// (GPR_MAX_REPLAYS_PER_MESSAGE) still bounds how often one message goes round.
func ClassSelector(class rabbit.Class, dlq string) func(rabbit.Message) (string, bool) {
	return func(m rabbit.Message) (string, bool) {
		if m.Class() != class {
			return "", false
		}
		if q, _ := m.Origin(); q != "" && q != dlq {
			return q, true
		}
		return "", false
	}
}

// GroupLine is one group in a sentence: where and why the messages died, when, how many,
// and a redacted sample.
func GroupLine(g rabbit.Group) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %d × died in %s (%s)", g.Class, g.Count, nonEmpty(g.Key.Queue, "?"), nonEmpty(g.Key.Reason, "?"))
	if g.Key.Error != "" {
		fmt.Fprintf(&b, ", error %q", playbook.Clip(strings.ReplaceAll(g.Key.Error, "\n", " "), 120))
	}
	if !g.FirstDeath.IsZero() {
		fmt.Fprintf(&b, ", first %s, last %s", g.FirstDeath.UTC().Format(time.RFC3339), g.LastDeath.UTC().Format(time.RFC3339))
	}
	if g.MaxReplays > 0 {
		fmt.Fprintf(&b, ", replayed up to %d time(s) before", g.MaxReplays)
	}
	if g.Sample.Preview != "" {
		fmt.Fprintf(&b, "; sample %s: %s", nonEmpty(g.Sample.MessageID, "(no id)"), playbook.Clip(strings.ReplaceAll(g.Sample.Preview, "\n", " "), 160))
	}
	return b.String()
}

func classSummary(classes map[rabbit.Class]int) string {
	var parts []string
	for _, c := range []rabbit.Class{rabbit.ClassTransient, rabbit.ClassBadData, rabbit.ClassBug, rabbit.ClassUnknown} {
		if n := classes[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, c))
		}
	}
	return strings.Join(parts, ", ")
}

func nonEmpty(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
