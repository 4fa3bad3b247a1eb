// Package dlq is the playbook for "DLQ Messages" (WARNING): look at the dead letters without
// losing or reordering any, group them by where and why they died, replay the transient ones
// to their queue with a no-loss protocol, park bad data when a parking queue is configured,
// and leave bugs and unknowns to a person with a redacted sample. Never purge.
package dlq

import (
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/guard"
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
	ProbePeek = "amqp.dlq-peek"
)

// Evidence is what the probes saw.
type Evidence struct {
	Now    time.Time
	Sample rabbit.Sample
	// PeekRefused says why the DLQ was not peeked (unsafe queue type, type unknown).
	PeekRefused string
}

// Policy is the environment's settings the decision depends on.
type Policy struct {
	DLQ              string
	ParkingQueue     string
	MaxReplaysPerRun int
	MaxReplaysPerMsg int
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

	if n := classes[rabbit.ClassTransient]; n > 0 {
		act := playbook.Action{Kind: Replay, Target: p.DLQ, Change: playbook.Change{Messages: n},
			Reason: "transient failures (timeouts, refused connections, 429/503, expiry) are expected to succeed on a retry"}
		switch {
		case p.MaxReplaysPerRun <= 0:
			act.Blocked = guard.Rule{Code: guard.RuleCap, Detail: "replays are disabled (GPR_MAX_REPLAYS_PER_RUN=0)"}
		case p.MaxReplaysPerMsg <= 0:
			act.Blocked = guard.Rule{Code: guard.RuleCap, Detail: "replays are disabled (GPR_MAX_REPLAYS_PER_MESSAGE=0)"}
		}
		d.Actions = append(d.Actions, act)
	}
	if n := classes[rabbit.ClassBadData]; n > 0 {
		act := playbook.Action{Kind: Park, Target: p.DLQ, Change: playbook.Change{Messages: n, Destination: p.ParkingQueue},
			Reason: "bad data fails again whatever happens: parking keeps it out of the DLQ's way for a person to look at"}
		if p.ParkingQueue == "" {
			act.Blocked = guard.Rule{Code: guard.RulePolicy, Detail: "no parking queue configured (GPR_PARKING_QUEUE); the messages stay in the DLQ"}
		}
		d.Actions = append(d.Actions, act)
		d.Recommendations = append(d.Recommendations, "Bad data: find the producer of the malformed messages; delete them only once understood (runbook: if bad data, delete from DLQ).")
	}
	if n := classes[rabbit.ClassBug]; n > 0 {
		d.Recommendations = append(d.Recommendations, fmt.Sprintf("%d message(s) died on a bug (panic, nil dereference): fix the code, then replay them (runbook: if bug, fix code, replay via the management console).", n))
	}
	if n := classes[rabbit.ClassUnknown]; n > 0 {
		d.Recommendations = append(d.Recommendations, fmt.Sprintf("%d message(s) died for a reason this function does not recognise: look at the samples below.", n))
	}
	if !s.Complete {
		d.Recommendations = append(d.Recommendations, "Only part of the DLQ was sampled; the counts per group are of the sample.")
	}
	return d
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
