package playbook

import (
	"context"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/deadletter"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/offer"
	"github.com/arrakis/gp-remediation/pkg/operation"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Offerer keeps offers: actions a person may approve (the ledger, pkg/ledger.Offers).
type Offerer interface {
	Put(ctx context.Context, o offer.Offer) error
}

// OfferFor says whether a decided action that a rule held back can be offered to a person,
// and as which operation, bound to which state. Only a policy switch that is off or a cap
// that is reached make an offer: those are the environment's choice not to let the functions
// do it alone, and a person may decide otherwise. A cooldown, a budget, the kill switch or
// missing evidence are not: they say nobody should act now. It is pure.
//
// Of the DLQ's moves only a replay the policy keeps for a person is offered: messages that
// died on a bug, as replay-dlq <class> <n> (n: the messages seen of the class, at most the
// per-run cap), to approve once the fix is deployed. It is bound to no service state: the
// replay re-reads the DLQ itself and moves only what is there. A transient replay held by a
// cap or the hour's pace, and a parking, are not offered.
func OfferFor(c config.Config, a Action, rule guard.Rule) (operation.Request, []offer.Binding, bool) {
	if rule.Code != guard.RulePolicy && rule.Code != guard.RuleCap {
		return operation.Request{}, nil, false
	}
	if a.Kind == KindReplay {
		return replayOffer(c, a, rule)
	}
	role := roleOf(c, a.Target)
	if role == "" {
		return operation.Request{}, nil, false
	}
	bind := offer.Binding{Service: a.Target}
	ch := a.Change
	var req operation.Request
	switch a.Kind {
	case KindRollback:
		if ch.ToTaskDefinition == "" || rule.Code != guard.RulePolicy {
			return operation.Request{}, nil, false
		}
		req = operation.Request{Kind: operation.KindRollback, Role: role, Revision: shortRef(ch.ToTaskDefinition)} // family:revision
		bind.TaskDefinition = ch.FromTaskDefinition
	case KindRaiseTaskMemory:
		// Past the memory cap is not offered: the cap is what a task may have at all.
		if ch.ToMiB <= ch.FromMiB || rule.Code != guard.RulePolicy {
			return operation.Request{}, nil, false
		}
		req = operation.Request{Kind: operation.KindRaiseMemory, Role: role, MemoryMiB: ch.ToMiB}
		bind.TaskDefinition = ch.FromTaskDefinition
	case KindScaleService:
		to := ch.ToCount
		if rule.Code == guard.RuleCap {
			to = ch.FromCount + max(1, c.ScaleStep) // the step the cap held back
		}
		if to <= ch.FromCount {
			return operation.Request{}, nil, false
		}
		req = operation.Request{Kind: operation.KindScale, Role: role, Count: to}
		from := ch.FromCount
		bind.Desired = &from
	case KindForceNewDeployment:
		req = operation.Request{Kind: operation.KindRestart, Role: role}
		bind.TaskDefinition = ch.FromTaskDefinition
	default:
		return operation.Request{}, nil, false
	}
	return req, []offer.Binding{bind}, true
}

// replayOffer is OfferFor of a replay.
func replayOffer(c config.Config, a Action, rule guard.Rule) (operation.Request, []offer.Binding, bool) {
	ch := a.Change
	if rule.Code != guard.RulePolicy || ch.Class == deadletter.Transient || !deadletter.Replayable(ch.Class) || a.Target != c.DLQ {
		return operation.Request{}, nil, false
	}
	n := min(ch.Messages, c.MaxReplaysPerRun, operation.MaxReplayMessages)
	if n <= 0 {
		return operation.Request{}, nil, false // none seen, or replays are off in this environment
	}
	return operation.Request{Kind: operation.KindReplayDLQ, Class: ch.Class, Messages: n}, nil, true
}

func roleOf(c config.Config, service string) string {
	switch service {
	case c.IngestorService:
		return "ingestor"
	case c.WorkerService:
		return "worker"
	}
	return ""
}

// offers puts an offer in the ledger for each action a rule held back that a person may
// approve instead, marks the action with it, and returns them for the report's buttons. An
// offer that cannot be stored is said on its action; the report goes out either way.
func (inv *invocation[E]) offers(ctx context.Context, planned []Action, done []report.Action) []report.Offer {
	r := inv.r
	if r.Offers == nil || !r.Config.Offers || !inv.inIncident || len(planned) != len(done) {
		return nil
	}
	var out []report.Offer
	now := r.now().UTC()
	for i, a := range planned {
		ra := &done[i]
		if ra.Outcome != report.OutcomeSkipped {
			continue
		}
		req, bound, ok := OfferFor(r.Config, a, guard.Rule{Code: guard.RuleCode(ra.Rule)})
		if !ok {
			continue
		}
		o := offer.Offer{
			ID: offer.NewID(), Environment: r.Config.Environment, Incident: inv.inc.ID, Alarm: inv.alarm.Name, Request: req,
			Reason: ra.Reason, Bound: bound, CreatedAt: now, ExpiresAt: offer.Expiry(now, r.Config.OfferTTL),
			Required: max(1, r.Config.ApprovalsRequired), Status: offer.StatusOpen,
		}
		ref := &report.OfferRef{ID: o.ID, ExpiresAt: o.ExpiresAt, Required: o.Required}
		if err := r.Offers.Put(context.WithoutCancel(ctx), o); err != nil {
			inv.log.ErrorContext(ctx, "could not store an offer", "request", req.String(), "error", err.Error())
			ra.Offer = &report.OfferRef{Error: err.Error()}
			continue
		}
		ra.Offer = ref
		out = append(out, report.Offer{ID: o.ID, Title: o.Title(), Reason: ra.Reason, ExpiresAt: o.ExpiresAt, Required: o.Required})
	}
	return out
}
