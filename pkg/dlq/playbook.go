package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/runbook"
)

// Connections opens the broker and its management API; each call a fresh connection that
// the caller closes.
type Connections interface {
	Broker(ctx context.Context) (*rabbit.Client, error)
	Management(ctx context.Context) (*rabbit.Management, error)
}

// History reads the ledger's record of earlier actions.
type History interface {
	History(ctx context.Context, target, kind string, since time.Time) ([]guard.Entry, error)
}

// Playbook adapts the DLQ decision to the pipeline.
type Playbook struct {
	Config config.Config
	Conns  Connections
	// Ledger is the record of earlier runs, for the per-hour pace (nil: no hourly bound).
	Ledger History
	Now    func() time.Time
}

var _ playbook.Playbook[Evidence] = (*Playbook)(nil)

func (p *Playbook) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Policy is the decision's view of the configuration.
func (p *Playbook) Policy() Policy {
	pol := Policy{DLQ: p.Config.DLQ, ParkingQueue: p.Config.ParkingQueue, MaxReplaysPerRun: p.Config.MaxReplaysPerRun, MaxReplaysPerMsg: p.Config.MaxReplaysPerMsg,
		MaxPerHour: p.Config.MaxReplaysPerHour, Interval: p.Config.FollowUpInterval}
	if p.Ledger == nil {
		pol.MaxPerHour = 0 // without the record of earlier runs the hour cannot be counted
	}
	if pol.Interval <= 0 {
		pol.Interval = playbook.DefaultFollowUpInterval
	}
	return pol
}

// Scope accepts alarms on this environment's dead-letter queue.
func (p *Playbook) Scope(a alarm.Alarm) (playbook.Target, error) {
	if b := a.Dimension("Broker"); b != "" && b != p.Config.Broker {
		return playbook.Target{}, fmt.Errorf("%w: alarm %q is about broker %q, this environment's is %q", playbook.ErrNotActionable, a.Name, b, p.Config.Broker)
	}
	if q := a.Dimension("Queue"); q != p.Config.DLQ {
		return playbook.Target{}, fmt.Errorf("%w: alarm %q is about queue %q; the dlq function handles %q", playbook.ErrNotActionable, a.Name, q, p.Config.DLQ)
	}
	return playbook.Target{Queue: p.Config.DLQ, Severity: report.SeverityWarning}, nil
}

// safety is the management API's verdict on whether peeking is harmless, when it can be read.
func safety(ctx context.Context, conns Connections) rabbit.SafetyChecker {
	m, err := conns.Management(ctx)
	if err != nil {
		return nil
	}
	return m
}

// ReplayRequest is a move out of the environment's DLQ with its caps and the broker's safety
// check (without the management API the queue type is unknown, and only a DLQ known to be
// classic is touched): what the dlq function's replays and parkings and a person's replay-dlq
// (pkg/ops) share. The caller chooses the messages (Select) and may lower MaxPerRun.
func ReplayRequest(ctx context.Context, c config.Config, conns Connections) rabbit.ReplayRequest {
	return rabbit.ReplayRequest{DLQ: c.DLQ, MaxPerRun: c.MaxReplaysPerRun, MaxPerMessage: c.MaxReplaysPerMsg,
		Safety: safety(ctx, conns), AllowUnverified: c.DLQAssumeClassic}
}

// Diagnose peeks at the DLQ: a bounded sample, consumed without ack and requeued, so depth
// and order are as before.
func (p *Playbook) Diagnose(ctx context.Context, a alarm.Alarm, t playbook.Target) (Evidence, []report.Diagnostic) {
	ev := Evidence{Now: p.now()}
	diags := playbook.RunProbes(ctx, p.Config.ProbeTimeout, playbook.Probe{Name: ProbePeek, Run: func(ctx context.Context) error {
		c, err := p.Conns.Broker(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		s, err := c.Peek(ctx, p.Config.DLQ, rabbit.PeekOptions{Max: p.Config.PeekSample, Safety: safety(ctx, p.Conns), AllowUnverified: p.Config.DLQAssumeClassic})
		switch {
		case errors.Is(err, rabbit.ErrPeekUnsafe), errors.Is(err, rabbit.ErrQueueTypeUnknown):
			ev.PeekRefused = err.Error()
			if errors.Is(err, rabbit.ErrQueueTypeUnknown) {
				ev.PeekRefused += fmt.Sprintf(" (the management API is needed to tell a classic queue from a quorum queue; set %s=true if %s is known to be classic)", config.EnvDLQAssumeClassic, p.Config.DLQ)
			}
			return nil
		case err != nil:
			return err
		}
		ev.Sample = s
		return nil
	}}, playbook.Probe{Name: ProbeWork, Run: func(ctx context.Context) error {
		c, err := p.Conns.Broker(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		q, err := c.Inspect(ctx, p.Config.Queue)
		if err != nil {
			return err
		}
		ev.Work, ev.WorkRead = q, true
		return nil
	}}, playbook.Probe{Name: ProbeLedger, Run: func(ctx context.Context) error {
		if p.Ledger == nil {
			return nil
		}
		since := p.now().Add(-time.Hour)
		for _, kind := range []string{Replay, Park} {
			hist, err := p.Ledger.History(ctx, p.Config.DLQ, kind, since)
			if err != nil {
				return err
			}
			for _, e := range hist {
				if e.Outcome.Changed() {
					ev.MovedLastHour += e.Moved
				}
			}
		}
		return nil
	}})
	return ev, diags
}

// Decide implements playbook.Playbook.
func (p *Playbook) Decide(_ alarm.Alarm, t playbook.Target, ev Evidence, failed map[string]string) playbook.Decision {
	return Decide(Input{Target: t, Evidence: ev, Failed: failed, Policy: p.Policy()})
}

// Precheck is done by the replay itself: it re-reads every message's headers and checks each
// target queue exists before publishing to it.
func (p *Playbook) Precheck(context.Context, playbook.Action) error { return nil }

// Act replays transient messages to the queue they died in, or parks bad data, each with the
// no-loss protocol: publish with confirms and mandatory, ack the DLQ copy only after a
// positive confirm with no return. A replay of any other class (bug) is refused: it is a
// person's, once the fix is out (pkg/ops, replay-dlq).
func (p *Playbook) Act(ctx context.Context, act playbook.Action) (playbook.Effect, error) {
	switch {
	case act.Kind != Replay && act.Kind != Park:
		return playbook.Effect{}, fmt.Errorf("unknown action %q", act.Kind)
	case act.Kind == Replay && act.Change.Class != rabbit.ClassTransient:
		return playbook.Effect{}, fmt.Errorf("the dlq function replays transient messages only, not %q ones: a person replays those once the fix is out (replay-dlq)", act.Change.Class)
	}
	c, err := p.Conns.Broker(ctx)
	if err != nil {
		return playbook.Effect{}, err
	}
	defer c.Close()
	req := ReplayRequest(ctx, p.Config, p.Conns)
	req.ParkingQueue = p.Config.ParkingQueue
	if act.Change.Limit > 0 {
		req.MaxPerRun = min(req.MaxPerRun, act.Change.Limit) // what the hour's pace leaves
	}
	var res rabbit.ReplayResult
	if act.Kind == Replay {
		req.Select = ReplaySelector() // transient messages only, whatever the action says
		res, err = c.Replay(ctx, req)
	} else {
		res, err = c.Park(ctx, req, func(m rabbit.Message) bool { return m.Class() == rabbit.ClassBadData })
	}
	if err == nil && res.Replayed+res.Parked == 0 && len(res.MissingTargets) > 0 {
		// Nothing could move: say it failed, so the report and the page say so.
		err = fmt.Errorf("target queue(s) %s do not exist; the messages stay in %s", strings.Join(res.MissingTargets, ", "), p.Config.DLQ)
	}
	// A run cut short (a closed connection) may still have moved messages: that is a change,
	// verified and reported as such.
	moved := res.Replayed + res.Parked
	return playbook.Effect{Changed: moved > 0, Moved: moved, Detail: Describe(act.Kind, res)}, err
}

// Describe says what a replay or park run did, group by group.
func Describe(kind string, r rabbit.ReplayResult) string {
	var b strings.Builder
	moved := r.Replayed
	if kind == Park {
		moved = r.Parked
	}
	fmt.Fprintf(&b, "%s %d message(s); looked at %d of %d; stopped: %s", past(kind), moved, r.Seen, r.Depth, r.Stopped)
	if len(r.Left) > 0 {
		var left []string
		for reason, n := range r.Left {
			if reason != rabbit.LeftNotSelected {
				left = append(left, fmt.Sprintf("%d %s", n, reason))
			}
		}
		if len(left) > 0 {
			fmt.Fprintf(&b, "; left in the DLQ: %s", strings.Join(left, ", "))
		}
	}
	if len(r.MissingTargets) > 0 {
		fmt.Fprintf(&b, "; target queue(s) missing: %s", strings.Join(r.MissingTargets, ", "))
	}
	if r.InDoubt > 0 {
		fmt.Fprintf(&b, "; %d in doubt (in the DLQ and maybe also delivered: possible duplicates)", r.InDoubt)
	}
	for _, g := range r.Groups {
		if g.Replayed+g.Parked > 0 {
			fmt.Fprintf(&b, "; [%s] %s/%s: %d", g.Class, g.Key.Queue, g.Key.Reason, g.Replayed+g.Parked)
		}
	}
	return b.String()
}

func past(kind string) string {
	if kind == Park {
		return "parked"
	}
	return "replayed"
}

// Verify reads the DLQ's depth: the moved messages must be gone from it.
func (p *Playbook) Verify(ctx context.Context, t playbook.Target, done []playbook.Action) report.Verification {
	start := time.Now()
	c, err := p.Conns.Broker(ctx)
	if err != nil {
		return report.Verification{Status: report.Unverified, Detail: "could not reconnect to read the DLQ: " + err.Error(), MS: time.Since(start).Milliseconds()}
	}
	defer c.Close()
	q, err := c.Inspect(ctx, p.Config.DLQ)
	if err != nil {
		return report.Verification{Status: report.Unverified, Detail: "could not read the DLQ: " + err.Error(), MS: time.Since(start).Milliseconds()}
	}
	return report.Verification{Status: report.Verified, MS: time.Since(start).Milliseconds(),
		Detail: fmt.Sprintf("%s now holds %d ready message(s); every message is either there or in its target queue (publisher confirms)", p.Config.DLQ, q.Ready)}
}

// Present builds the headline, commands and links.
func (p *Playbook) Present(a alarm.Alarm, t playbook.Target, ev Evidence, r report.Result) report.Presentation {
	cmds := runbook.Commands{C: p.Config}
	s := r.Finding.Summary + " — " + actionsPhrase(r)
	if next := nextStep(r); next != "" {
		s += " — " + next
	}
	pres := report.Presentation{Headline: s}
	pres.Commands = []report.Command{cmds.RabbitSecret(), cmds.QueueDepth(p.Config.DLQ, 60)}
	pres.Links = report.Links(report.LinkParams{Region: p.Config.Region, AlarmName: a.Name, Dashboard: p.Config.Dashboard,
		LogGroups: []string{p.Config.WorkerLogGroup}, Window: time.Hour,
		Query: "fields @timestamp, @message | filter @message like /(?i)(dead.?letter|dlq|nack|reject)/ | sort @timestamp desc | limit 100"})
	return pres
}

// actionsPhrase says what the runs did in numbers ("replayed 20; parked 5").
func actionsPhrase(r report.Result) string {
	var parts []string
	for _, a := range r.Actions {
		switch a.Outcome {
		case report.OutcomeDone:
			first, _, _ := strings.Cut(a.Detail, ";")
			parts = append(parts, first)
		case report.OutcomeFailed:
			parts = append(parts, a.Kind+" FAILED")
		default:
			parts = append(parts, playbook.ActionsPhrase(report.Result{Actions: []report.Action{a}}))
		}
	}
	if len(parts) == 0 {
		return "no automatic action"
	}
	return strings.Join(parts, "; ")
}

func nextStep(r report.Result) string {
	switch r.Finding.Code {
	case "bug", Mixed, Unknown, NotPeeked:
		return "a person must look at the groups below"
	case "bad-data":
		return "find the producer of the bad messages"
	}
	return ""
}
