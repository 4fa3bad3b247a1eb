// Package approve is the approve function: people approve offers and run the runbook's manual
// operations from Slack and Discord.
//
// It takes two kinds of invocation. The function URL's (Slack interactivity and slash
// commands, Discord interactions) go through Front, which must answer within Slack's and
// Discord's 3 seconds: it verifies the signature (the URL has no other authentication, so
// nothing unsigned gets past this), refuses a replayed delivery, answers what it can at once
// (PING, usage, a stranger's command), and hands the rest to an asynchronous invocation of
// this same function. That invocation, a Job, carries the original signed request, not a
// conclusion drawn from it: Work verifies the signature again before it does anything, so an
// invocation forged by anyone who may invoke the function changes nothing either.
//
// Work judges clicks on offers (pkg/offer: one-time, bound to the state they were decided on,
// expiring, approvers on an allowlist, two different ones where the environment says so) and
// runs operations (pkg/ops) through the same guard as the functions: kill switch, locks,
// budgets, cooldowns. It edits the message that was clicked to say who approved, when, and
// what happened, and posts the operation's report into the incident's conversation.
//
// Mode: a person's approval is the decision, so the environment's dry-run mode does not turn
// an approved operation into a dry run; mode off refuses everything (pkg/ops).
package approve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/interact"
	"github.com/arrakis/gp-remediation/pkg/offer"
	"github.com/arrakis/gp-remediation/pkg/ops"
	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Offers keeps offers (pkg/ledger.Offers).
type Offers interface {
	Put(ctx context.Context, o offer.Offer) error
	Click(ctx context.Context, id string, c offer.Click, allow offer.Approvers) (offer.Verdict, error)
	Finish(ctx context.Context, id string, status offer.Status, outcome string) (offer.Offer, error)
}

// Claims records a key once (the guard's ledger): a delivery seen before is refused.
type Claims interface {
	Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
}

// Queue starts the asynchronous invocation that does the work.
type Queue interface {
	Enqueue(ctx context.Context, j Job) error
}

// Operations reads the state an operation acts on and runs it (pkg/ops.Operator).
type Operations interface {
	State(ctx context.Context, r ops.Request) (ops.State, error)
	Run(ctx context.Context, r ops.Request, by ops.Requester, apply bool, expect *ops.State) report.Report
}

// Replier answers in the message a person acted on (Slack response_url, Discord's
// interaction webhook).
type Replier interface {
	Reply(ctx context.Context, to Target, r render.Reply) error
}

// Timeline records on the incident what people approved and what it did.
type Timeline interface {
	Append(ctx context.Context, id string, entries ...incident.Entry) error
}

// Handler is the approve function.
type Handler struct {
	Config config.Config
	// Verifier returns the verifier with the signing secret and public key (read from
	// Secrets Manager, cached); an error means nothing can be verified, so nothing is done.
	Verifier  func(ctx context.Context) (interact.Verifier, error)
	Approvers offer.Approvers
	Offers    Offers
	Claims    Claims
	Queue     Queue
	Ops       Operations
	Replies   Replier
	// Post sends an operation's report into the incident's conversation (incident "" : the
	// environment's report destinations) and says how each sink fared.
	Post     func(ctx context.Context, r report.Report, incidentID string) []report.Sink
	Timeline Timeline // nil: incidents are not recorded
	Now      func() time.Time
	Log      *slog.Logger
	// Owner names this invocation in the ledger (the Lambda request id).
	Owner func(ctx context.Context) string
}

// replayTTL is how long a delivery's id is remembered: past the signatures' 5-minute window
// a replay fails verification anyway.
const replayTTL = 15 * time.Minute

// Job is the asynchronous invocation's payload: the signed request as received.
type Job struct {
	// Kind marks the payload as a job ("interaction"); a function URL event has no such field.
	Kind    string            `json:"gprJob"`
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"`
}

// LogValue leaves the request out of logs: it holds the response_url and the interaction
// token, which let their holder post as the app.
func (j Job) LogValue() slog.Value { return slog.GroupValue(slog.String("kind", j.Kind)) }

const jobKind = "interaction"

// Invoke implements lambda.Handler: a job from Front, or a function URL request.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var probe struct {
		Kind string `json:"gprJob"`
	}
	if json.Unmarshal(payload, &probe) == nil && probe.Kind != "" {
		var j Job
		if err := json.Unmarshal(payload, &j); err != nil || j.Kind != jobKind {
			h.log().ErrorContext(ctx, "unusable job: nothing done", "kind", probe.Kind)
			return json.Marshal(Outcome{Status: "refused", Detail: "unusable job"})
		}
		return json.Marshal(h.Work(ctx, j))
	}
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return json.Marshal(plain(400, "not a function URL request"))
	}
	return json.Marshal(h.Front(ctx, ev))
}

func plain(status int, text string) events.LambdaFunctionURLResponse {
	return events.LambdaFunctionURLResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, Body: text + "\n"}
}

// Front answers the function URL within Slack's and Discord's 3 seconds.
func (h *Handler) Front(ctx context.Context, ev events.LambdaFunctionURLRequest) events.LambdaFunctionURLResponse {
	log := h.log()
	if ev.RequestContext.HTTP.Method != "" && ev.RequestContext.HTTP.Method != "POST" {
		return plain(405, "POST only")
	}
	req, err := interact.FromFunctionURL(ev)
	if err != nil {
		log.WarnContext(ctx, "request refused", "status", 400, "error", err.Error())
		return plain(400, "bad request")
	}
	in, status, err := h.verify(ctx, req)
	if err != nil {
		log.WarnContext(ctx, "request refused", "status", status, "error", err.Error())
		return plain(status, strings.ToLower(statusText(status)))
	}
	if in.Kind == interact.KindPing {
		return interact.Acknowledge(in).FunctionURL()
	}
	log = log.With("interaction", in)
	first, err := h.Claims.Claim(ctx, "interaction#"+in.ReplayID, h.owner(ctx), replayTTL)
	switch {
	case err != nil:
		log.ErrorContext(ctx, "cannot record the request: nothing done", "error", err.Error())
		return say(in, "gp-remediation cannot reach its ledger: nothing was done. Try again, or use the runbook.")
	case !first:
		log.WarnContext(ctx, "replayed request: nothing done")
		return say(in, "This request was delivered before: nothing more was done.")
	}
	switch in.Kind {
	case interact.KindButton:
		if _, _, err := button(in); err != nil {
			log.WarnContext(ctx, "unknown button: nothing done", "error", err.Error())
			return say(in, "This button is not one of gp-remediation's: nothing done.")
		}
	case interact.KindCommand:
		r, err := ops.Parse(in.Args)
		if err != nil {
			return say(in, fmt.Sprintf("%s\n%s", err, ops.Usage))
		}
		if r.Mutates() && !h.Approvers.Allows(person(in)) {
			log.WarnContext(ctx, "command from someone not on the approver list: nothing done", "request", r.String())
			return say(in, fmt.Sprintf("You are not an approver in %s: `%s` was not run.", h.Config.Environment, r))
		}
	}
	if err := h.Queue.Enqueue(ctx, Job{Kind: jobKind, Headers: req.Headers, Body: req.Body}); err != nil {
		log.ErrorContext(ctx, "cannot start the work: nothing done", "error", err.Error())
		return say(in, "gp-remediation could not start the work: nothing was done. Try again, or use the runbook.")
	}
	log.InfoContext(ctx, "accepted; working on it")
	if in.Platform == interact.PlatformSlack && in.Kind == interact.KindCommand {
		return interact.SlackCommandReply(interact.SlackInChannel, fmt.Sprintf("<@%s> asked for `/gpr %s`: working on it.", in.User.ID, strings.Join(in.Args, " "))).FunctionURL()
	}
	return interact.Acknowledge(in).FunctionURL()
}

// verify checks the signature and parses; the status is what to answer when it fails.
func (h *Handler) verify(ctx context.Context, req interact.Request) (interact.Interaction, int, error) {
	v, err := h.Verifier(ctx)
	if err != nil {
		return interact.Interaction{}, 503, fmt.Errorf("verifier unavailable: %w", err)
	}
	in, err := v.VerifyAndParse(req, h.now())
	switch {
	case errors.Is(err, interact.ErrUnverified):
		return in, 401, err
	case err != nil:
		return in, 400, err
	}
	return in, 200, nil
}

func statusText(code int) string {
	switch code {
	case 401:
		return "Unauthorized"
	case 503:
		return "Service Unavailable"
	}
	return "Bad Request"
}

// say answers at once, visible only to the person (a Slack ephemeral reply, a Discord
// ephemeral message).
func say(in interact.Interaction, text string) events.LambdaFunctionURLResponse {
	if in.Platform == interact.PlatformDiscord {
		body, _ := json.Marshal(map[string]any{"type": 4, "data": map[string]any{"content": text, "flags": 64, "allowed_mentions": map[string]any{"parse": []string{}}}})
		return events.LambdaFunctionURLResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}
	}
	return interact.SlackCommandReply(interact.SlackEphemeral, text).FunctionURL()
}

// button reads an offer button: the offer id and whether it approves.
func button(in interact.Interaction) (id string, approve bool, err error) {
	switch in.Platform {
	case interact.PlatformSlack:
		switch in.Slack.ActionID {
		case render.SlackActionApprove:
			return in.Slack.Value, true, validOfferID(in.Slack.Value)
		case render.SlackActionReject:
			return in.Slack.Value, false, validOfferID(in.Slack.Value)
		}
	case interact.PlatformDiscord:
		rest, ok := strings.CutPrefix(in.Discord.CustomID, render.DiscordCustomIDPrefix)
		verb, id, ok2 := strings.Cut(rest, ":")
		if ok && ok2 && (verb == "approve" || verb == "reject") {
			return id, verb == "approve", validOfferID(id)
		}
	}
	return "", false, fmt.Errorf("button %q%q is not an offer's", in.Slack.ActionID, in.Discord.CustomID)
}

func validOfferID(id string) error {
	if id == "" || len(id) > 64 {
		return errors.New("bad offer id")
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return errors.New("bad offer id")
		}
	}
	return nil
}

func person(in interact.Interaction) offer.Person {
	return offer.Person{Platform: string(in.Platform), UserID: in.User.ID, Name: in.User.Name, Roles: in.User.Roles}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Handler) owner(ctx context.Context) string {
	if h.Owner != nil {
		if o := h.Owner(ctx); o != "" {
			return o
		}
	}
	return fmt.Sprintf("approve-%d", h.now().UnixNano())
}
