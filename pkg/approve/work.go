package approve

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/interact"
	"github.com/arrakis/gp-remediation/pkg/offer"
	"github.com/arrakis/gp-remediation/pkg/ops"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Outcome is what one job did, the function's Result for it (logged and returned).
type Outcome struct {
	// Status: refused, recorded (an approval, more needed), rejected, state-changed, ran
	// (an operation ran: Report says how), replied (a read-only operation's report).
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"` // why refused (offer.Refuse* codes, unverified, ...)
	Detail  string `json:"detail"`
	Offer   string `json:"offer,omitempty"`
	Request string `json:"request,omitempty"`
	By      string `json:"by,omitempty"`
	// Result is the operation's Result, when one ran.
	Result *report.Result `json:"result,omitempty"`
	// ReplyError says the answer in the chat could not be posted (the work was done).
	ReplyError string `json:"replyError,omitempty"`
}

// Target is where the answer to an interaction goes: Slack's response_url, or Discord's
// interaction webhook (application id and interaction token). Secret-like: never logged.
type Target struct {
	Platform             interact.Platform
	SlackResponseURL     string
	DiscordApplicationID string
	DiscordToken         string
}

// String and LogValue leave out the response_url and the token.
func (t Target) String() string { return string(t.Platform) + " reply" }

// LogValue implements slog.LogValuer.
func (t Target) LogValue() slog.Value { return slog.StringValue(t.String()) }

func targetOf(in interact.Interaction) Target {
	return Target{Platform: in.Platform, SlackResponseURL: in.Slack.ResponseURL,
		DiscordApplicationID: in.Discord.ApplicationID, DiscordToken: in.Discord.Token}
}

// Work does what Front accepted. It verifies the request again (a job is only as good as the
// signature it carries), claims it once, and then judges the click or runs the command.
func (h *Handler) Work(ctx context.Context, j Job) Outcome {
	log := h.log()
	in, _, err := h.verify(ctx, interact.Request{Headers: j.Headers, Body: j.Body})
	if err != nil {
		log.WarnContext(ctx, "job refused: its request does not verify; nothing done", "error", err.Error())
		return Outcome{Status: "refused", Code: "unverified", Detail: "the request does not verify: " + err.Error()}
	}
	log = log.With("interaction", in)
	// Front claimed the delivery; the job claims its own key, so a job invoked twice (an
	// asynchronous retry, a copy sent by hand) runs once.
	first, err := h.Claims.Claim(ctx, "job#"+in.ReplayID, h.owner(ctx), replayTTL)
	if err != nil || !first {
		why := "this request was handled before"
		if err != nil {
			why = "the ledger cannot be read: " + err.Error()
		}
		log.WarnContext(ctx, "job not run", "reason", why)
		return Outcome{Status: "refused", Code: "replay", Detail: why + ": nothing done"}
	}
	to := targetOf(in)
	var out Outcome
	switch in.Kind {
	case interact.KindButton:
		out = h.click(ctx, in, to)
	case interact.KindCommand:
		out = h.command(ctx, in, to)
	default:
		out = Outcome{Status: "refused", Code: "unsupported", Detail: "nothing to do for " + string(in.Kind)}
	}
	log.InfoContext(ctx, "job done", "outcome", out)
	return out
}

// click judges a click on an offer and, when it completes the approvals, runs the offer.
func (h *Handler) click(ctx context.Context, in interact.Interaction, to Target) Outcome {
	id, approve, err := button(in)
	if err != nil {
		return Outcome{Status: "refused", Code: "unknown-button", Detail: err.Error()}
	}
	by := person(in)
	v, err := h.Offers.Click(ctx, id, offer.Click{By: by, Approve: approve, At: h.now().UTC()}, h.Approvers)
	if err != nil {
		out := Outcome{Status: "refused", Code: "offer-unreadable", Offer: id, Detail: "the offer cannot be read: " + err.Error()}
		return h.reply(ctx, to, out, render.Reply{Text: "Nothing done: " + out.Detail, Ephemeral: true})
	}
	o := v.Offer
	out := Outcome{Offer: o.ID, Request: o.Request.String(), By: offer.Approval{Platform: by.Platform, UserID: by.UserID, Name: by.Name}.Who(), Detail: v.Reason}
	switch v.Outcome {
	case offer.Refuse:
		out.Status, out.Code = "refused", v.Code
		return h.reply(ctx, to, out, render.Reply{Text: "Nothing done: " + v.Reason, Ephemeral: true})
	case offer.Reject:
		out.Status = "rejected"
		h.record(ctx, o, incident.Entry{Kind: incident.KindDecision, Decision: &incident.Decision{Outcome: "rejected", Code: "offer-" + o.ID, Detail: o.Title() + " rejected by " + o.DecidedBy}})
		return h.reply(ctx, to, out, render.Reply{Text: fmt.Sprintf("✋ %s: rejected by %s at %s. Not done.", o.Title(), o.DecidedBy, o.DecidedAt.Format("15:04:05Z")), Replace: true})
	case offer.Record:
		out.Status = "recorded"
		return h.reply(ctx, to, out, render.Reply{Text: "☑️ " + o.Title() + ": " + v.Reason, Offers: []report.Offer{asReportOffer(o)}, Replace: true})
	}
	return h.execute(ctx, o, in, to)
}

// command runs a slash command: a read-only one at once, a change as an offer approved by
// whoever typed it (run now when one approver is enough, else waiting for a second).
func (h *Handler) command(ctx context.Context, in interact.Interaction, to Target) Outcome {
	r, err := ops.Parse(in.Args)
	if err != nil {
		out := Outcome{Status: "refused", Code: "usage", Detail: err.Error()}
		return h.reply(ctx, to, out, render.Reply{Text: err.Error() + "\n" + ops.Usage, Ephemeral: true})
	}
	by := person(in)
	who := offer.Approval{Platform: by.Platform, UserID: by.UserID, Name: by.Name}.Who()
	if !r.Mutates() {
		rep := h.Ops.Run(ctx, r, ops.Requester{Who: who, Via: string(in.Platform)}, true, nil)
		res := rep.Result
		out := Outcome{Status: "replied", Request: r.String(), By: who, Detail: rep.Headline, Result: &res}
		return h.reply(ctx, to, out, render.Reply{Report: &rep, Replace: true})
	}
	now := h.now().UTC()
	o := offer.Offer{ID: offer.NewID(), Environment: h.Config.Environment, Request: r, Reason: "asked for by " + who + " with /gpr",
		CreatedAt: now, ExpiresAt: offer.Expiry(now, h.Config.OfferTTL), Required: max(1, h.Config.ApprovalsRequired), Status: offer.StatusOpen}
	if st, err := h.Ops.State(ctx, r); err == nil {
		o.Bound = Bindings(st)
	} else {
		out := Outcome{Status: "refused", Code: "state-unreadable", Request: r.String(), By: who, Detail: "the state cannot be read: " + err.Error()}
		return h.reply(ctx, to, out, render.Reply{Text: "Nothing done: " + out.Detail, Replace: true})
	}
	v := offer.Consider(o, offer.Click{By: by, Approve: true, At: now}, h.Approvers)
	if v.Outcome == offer.Refuse {
		out := Outcome{Status: "refused", Code: v.Code, Request: r.String(), By: who, Detail: v.Reason}
		return h.reply(ctx, to, out, render.Reply{Text: "Nothing done: " + v.Reason, Replace: true})
	}
	if err := h.Offers.Put(ctx, v.Offer); err != nil {
		out := Outcome{Status: "refused", Code: "ledger", Request: r.String(), By: who, Detail: "the offer cannot be stored: " + err.Error()}
		return h.reply(ctx, to, out, render.Reply{Text: "Nothing done: " + out.Detail, Replace: true})
	}
	if v.Outcome == offer.Record {
		out := Outcome{Status: "recorded", Offer: v.Offer.ID, Request: r.String(), By: who, Detail: v.Reason}
		return h.reply(ctx, to, out, render.Reply{Text: "☑️ " + r.String() + ": " + v.Reason, Offers: []report.Offer{asReportOffer(v.Offer)}, Replace: true})
	}
	return h.execute(ctx, v.Offer, in, to)
}

// execute runs an approved offer: it re-reads the state, refuses if it moved, runs the
// operation (through the guard), records how it ended and says so where it was approved.
func (h *Handler) execute(ctx context.Context, o offer.Offer, in interact.Interaction, to Target) Outcome {
	out := Outcome{Offer: o.ID, Request: o.Request.String(), By: o.ApprovedBy()}
	st, err := h.Ops.State(ctx, o.Request)
	if err == nil {
		err = offer.StateChange(o.Bound, Bindings(st))
	} else {
		err = fmt.Errorf("the state cannot be read again: %w", err)
	}
	if err != nil {
		out.Status, out.Code, out.Detail = "state-changed", "state-changed", err.Error()
		h.finish(ctx, o.ID, offer.StatusStateChanged, err.Error())
		h.record(ctx, o, incident.Entry{Kind: incident.KindDecision, Decision: &incident.Decision{Outcome: "not-run", Code: "state-changed", Detail: o.Title() + ": " + err.Error()}})
		return h.reply(ctx, to, out, render.Reply{Text: fmt.Sprintf("⚠️ %s approved by %s, not run: %s", o.Title(), o.ApprovedBy(), err), Replace: true})
	}
	rep := h.Ops.Run(ctx, o.Request, ops.Requester{Who: o.ApprovedBy(), Via: string(in.Platform)}, true, &st)
	rep.Result.Incident = o.Incident
	res := rep.Result
	out.Status, out.Detail, out.Result = "ran", rep.Headline, &res
	h.finish(ctx, o.ID, offer.StatusDone, rep.Headline)
	h.record(ctx, o, timeline(o, rep)...)
	if h.Post != nil {
		res.Sinks = h.Post(ctx, rep, o.Incident)
	}
	text := fmt.Sprintf("%s %s: approved by %s at %s. %s", outcomeEmoji(rep.Result), o.Title(), o.ApprovedBy(), o.DecidedAt.Format("15:04:05Z"), rep.Headline)
	return h.reply(ctx, to, out, render.Reply{Text: text, Report: &rep, Replace: true})
}

// finish records how an executing offer ended; a failure to record is logged (the work is done).
func (h *Handler) finish(ctx context.Context, id string, s offer.Status, line string) {
	if _, err := h.Offers.Finish(context.WithoutCancel(ctx), id, s, line); err != nil {
		h.log().ErrorContext(ctx, "could not record how the offer ended", "offer", id, "error", err.Error())
	}
}

// record appends entries to the offer's incident, if it has one.
func (h *Handler) record(ctx context.Context, o offer.Offer, entries ...incident.Entry) {
	if h.Timeline == nil || o.Incident == "" || len(entries) == 0 {
		return
	}
	at := h.now().UTC()
	for i := range entries {
		entries[i].At, entries[i].Function, entries[i].Alarm = at, "approve", o.Alarm
	}
	if err := h.Timeline.Append(context.WithoutCancel(ctx), o.Incident, entries...); err != nil {
		h.log().ErrorContext(ctx, "could not record on the incident", "incident", o.Incident, "error", err.Error())
	}
}

// timeline is what an approved operation adds to its incident: the approval, then each step.
func timeline(o offer.Offer, rep report.Report) []incident.Entry {
	out := []incident.Entry{{Kind: incident.KindDecision, Decision: &incident.Decision{Outcome: "approved", Code: "offer-" + o.ID, Detail: o.Title() + " approved by " + o.ApprovedBy()}}}
	for _, a := range rep.Result.Actions {
		out = append(out, incident.Entry{Kind: incident.KindAction, Action: &incident.Action{
			Kind: a.Kind, Target: a.Target, Outcome: string(a.Outcome), Detail: strings.TrimSpace(a.Detail + " (approved by " + o.ApprovedBy() + ")")}})
	}
	if v := rep.Result.Verification; v != nil && len(rep.Result.Actions) > 0 {
		out = append(out, incident.Entry{Kind: incident.KindVerification, Verification: &incident.Verification{Status: playbook.VerificationStatus(v.Status), Detail: v.Detail}})
	}
	return out
}

func outcomeEmoji(res report.Result) string {
	for _, a := range res.Actions {
		if a.Outcome == report.OutcomeFailed {
			return "❌"
		}
	}
	if res.Verification != nil && res.Verification.Status == report.Verified {
		return "✅"
	}
	return "☑️"
}

// reply answers where the person acted and notes a failure to do so on the outcome.
func (h *Handler) reply(ctx context.Context, to Target, out Outcome, r render.Reply) Outcome {
	if h.Replies == nil {
		return out
	}
	if err := h.Replies.Reply(context.WithoutCancel(ctx), to, r); err != nil {
		h.log().ErrorContext(ctx, "could not answer in the chat", "error", err.Error())
		out.ReplyError = err.Error()
	}
	return out
}

func asReportOffer(o offer.Offer) report.Offer {
	return report.Offer{ID: o.ID, Title: o.Title(), Reason: o.Reason, ExpiresAt: o.ExpiresAt, Required: o.Required}
}

// Bindings are the parts of a state an offer is bound to: each service's desired count and
// primary task definition (the running count moves by itself and is not bound).
func Bindings(st ops.State) []offer.Binding {
	svcs := st.Services()
	out := make([]offer.Binding, 0, len(svcs))
	for _, s := range svcs {
		d := s.Desired
		out = append(out, offer.Binding{Service: s.Service, Desired: &d, TaskDefinition: s.TaskDefinition})
	}
	return out
}
