package sandbox

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/arrakis/gp-remediation/pkg/interact"
)

// Slack's and Discord's side of the approve function: the interactions secret (Slack's signing
// secret, Discord's application public key), signed requests as the platforms send them, the
// response_url and interaction webhook the function answers through, and Lambda's Invoke for
// the asynchronous invocation it hands its work to.

// Interaction stand-in values. The Discord key pair is derived from a fixed seed so requests
// can be signed in tests and in `make demo`; nothing real is ever signed with it.
const (
	SlackSigningSecret   = "sandbox-slack-signing-secret-8f14e45fceea167a"
	DiscordApplicationID = "1100000000000000001"
	// Approvers the sandbox's environment lists (GPR_APPROVERS).
	SlackApprover1, SlackApprover2 = "UAPPROVER1", "UAPPROVER2"
	DiscordApproverRole            = "1300000000000000003"
	SlackStranger                  = "USTRANGER9"
)

var discordKey = ed25519.NewKeyFromSeed([]byte("gp-remediation sandbox discord!!"))

// DiscordSigningKey is the sandbox application's private key, which signs its Discord
// interactions (the sample events' included): for a real application only Discord has it.
func DiscordSigningKey() ed25519.PrivateKey { return discordKey }

// DiscordPublicKeyHex is the application public key the approve function verifies with.
func DiscordPublicKeyHex() string { return hex.EncodeToString(discordKey.Public().(ed25519.PublicKey)) }

// InteractionsSecretName is the secret holding the signing secret and public key.
func (s *Sandbox) InteractionsSecretName() string { return InteractionsSecretFor(s.opts.Env) }

// InteractionsSecretFor is InteractionsSecretName for environment env.
func InteractionsSecretFor(env string) string {
	return "arrakis-" + env + "/gp-remediation/interactions"
}

// ApproversValue is GPR_APPROVERS for the sandbox: two Slack users and one Discord role.
const ApproversValue = "slack:" + SlackApprover1 + ",slack:" + SlackApprover2 + ",discord:role:" + DiscordApproverRole

// SignSlack returns the headers Slack sends with body at time at (v0 signature), signed
// with the sandbox's signing secret.
func SignSlack(body []byte, at time.Time) map[string]string {
	return interact.SignSlack(SlackSigningSecret, body, at)
}

// SignDiscord returns the headers Discord sends with body at time at (Ed25519 over timestamp
// and body), signed with the sandbox application's key.
func SignDiscord(body []byte, at time.Time) map[string]string {
	return interact.SignDiscord(discordKey, body, at)
}

// FunctionURLEvent is the event Lambda hands a function for an HTTP POST of body with
// headers to its function URL (payload format 2.0).
func FunctionURLEvent(headers map[string]string, body []byte) []byte {
	ev := events.LambdaFunctionURLRequest{Version: "2.0", RawPath: "/", Headers: headers, Body: string(body)}
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = http.MethodPost, "/"
	raw, _ := json.Marshal(ev) // strings and maps only: cannot fail
	return raw
}

// SlackResponseURL is a response_url the sandbox answers, for a request with id.
func (s *Sandbox) SlackResponseURL(id string) string {
	return s.URL() + "/_sandbox/slack/response/" + url.PathEscape(id)
}

// SlackButtonBody is the form body of a Slack block_actions click on an offer's button
// (action "gpr-approve" or "gpr-reject", value the offer id) by user.
func (s *Sandbox) SlackButtonBody(user, actionID, offerID, messageTS string) []byte {
	payload := map[string]any{
		"type": "block_actions", "user": map[string]string{"id": user, "username": strings.ToLower(user)},
		"team":         map[string]string{"id": "TSANDBOX1"},
		"channel":      map[string]string{"id": SlackChannel},
		"container":    map[string]any{"type": "message", "message_ts": messageTS, "channel_id": SlackChannel},
		"message":      map[string]any{"ts": messageTS},
		"response_url": s.SlackResponseURL(messageTS + "-" + user + "-" + actionID),
		"trigger_id":   "1.2.3",
		"actions":      []map[string]string{{"type": "button", "action_id": actionID, "block_id": "offer-" + offerID, "value": offerID, "action_ts": "1"}},
	}
	raw, _ := json.Marshal(payload)
	return []byte("payload=" + url.QueryEscape(string(raw)))
}

// SlackCommandBody is the form body of a /gpr slash command typed by user.
func (s *Sandbox) SlackCommandBody(user, text string) []byte {
	v := url.Values{"command": {"/gpr"}, "text": {text}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"team_id": {"TSANDBOX1"}, "channel_id": {SlackChannel}, "trigger_id": {"1.2.3"},
		"response_url": {s.SlackResponseURL("cmd-" + user + "-" + strconv.FormatInt(time.Now().UnixNano(), 36))}}
	return []byte(v.Encode())
}

// DiscordButtonBody is the JSON of a Discord component interaction: a click on the button
// custom_id by a guild member with roles.
func (s *Sandbox) DiscordButtonBody(interactionID, userID string, roles []string, customID, messageID string) []byte {
	if roles == nil {
		roles = []string{}
	}
	raw, _ := json.Marshal(map[string]any{
		"id": interactionID, "application_id": DiscordApplicationID, "type": 3, "token": "itoken-" + interactionID,
		"guild_id": "1200000000000000002", "channel_id": "1400000000000000004", "version": 1,
		"member":  map[string]any{"user": map[string]string{"id": userID, "username": "user" + userID[len(userID)-2:]}, "roles": roles},
		"message": map[string]string{"id": messageID},
		"data":    map[string]any{"custom_id": customID, "component_type": 2},
	})
	return raw
}

// slackResponse answers a POST to a response_url as Slack does: {"ok":true} for a message it
// can show, an error for one it cannot.
func (s *Sandbox) slackResponse(r *http.Request, body []byte) standInAnswer {
	if r.Method != http.MethodPost {
		return jsonAnswer(http.StatusMethodNotAllowed, map[string]any{"ok": false, "error": "method_not_allowed"})
	}
	var m struct {
		Text   string            `json:"text"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_payload"})
	}
	if m.Text == "" && len(m.Blocks) == 0 {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"ok": false, "error": "no_text"})
	}
	return jsonAnswer(http.StatusOK, map[string]any{"ok": true})
}

// discordInteractionWebhook answers the interaction webhook: PATCH …/messages/@original edits
// the message the interaction belongs to, POST adds a follow-up. The token must be the one the
// sandbox put in the interaction ("itoken-…").
func discordInteractionWebhook(r *http.Request, body []byte, rest string) standInAnswer {
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || parts[0] != DiscordApplicationID || !strings.HasPrefix(parts[1], "itoken-") {
		return jsonAnswer(http.StatusUnauthorized, map[string]any{"message": "Invalid Webhook Token", "code": 50027})
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodPost:
	case len(parts) == 4 && parts[2] == "messages" && parts[3] == "@original" && r.Method == http.MethodPatch:
	default:
		return jsonAnswer(http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
	}
	var m struct {
		Content string            `json:"content"`
		Embeds  []json.RawMessage `json:"embeds"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"message": "Cannot send an empty message", "code": 50006})
	}
	if m.Content == "" && len(m.Embeds) == 0 {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"message": "Cannot send an empty message", "code": 50006})
	}
	return jsonAnswer(http.StatusOK, map[string]any{"id": "1500000000000000005", "content": m.Content})
}

// Invocation is one call of Lambda's Invoke the sandbox received.
type Invocation struct {
	Function string    `json:"function"`
	Type     string    `json:"type"` // Event, RequestResponse
	Payload  []byte    `json:"payload"`
	Time     time.Time `json:"time"`
	// Forwarded says whether the payload reached the function (its emulator), and its error.
	Forwarded bool   `json:"forwarded"`
	Error     string `json:"error,omitempty"`
	// Response is what the function returned to the forward (an asynchronous invocation's
	// answer goes nowhere in Lambda; the sandbox keeps it for tests and the demo).
	Response []byte `json:"response,omitempty"`
}

// LambdaTarget runs one invocation of a function and returns what it returned: an emulator's
// Invoke, which queues invocations as Lambda does.
type LambdaTarget func(ctx context.Context, payload []byte) ([]byte, error)

// SetLambdaTarget makes Invoke of function forward to invoke. Without a target, invocations are
// only recorded. A function invoking itself synchronously would wait for itself: the functions
// here invoke themselves only asynchronously (type Event).
func (s *Sandbox) SetLambdaTarget(function string, invoke LambdaTarget) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lambdaTargets == nil {
		s.lambdaTargets = map[string]LambdaTarget{}
	}
	s.lambdaTargets[function] = invoke
}

// Invocations returns the Invoke calls so far.
func (s *Sandbox) Invocations() []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Invocation(nil), s.invocations...)
}

// serveLambda answers Invoke (REST-JSON: POST /2015-03-31/functions/{name}/invocations). An
// Event invocation is answered 202 at once and forwarded afterwards, as Lambda queues it (the
// target queues it behind the invocation that made it).
func (s *Sandbox) serveLambda(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
	name, ok2 := strings.CutSuffix(name, "/invocations")
	if !ok || !ok2 || r.Method != http.MethodPost {
		writeLambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "unknown operation")
		return
	}
	name, _ = url.PathUnescape(name)
	payload, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil || len(payload) > 1<<20 {
		writeLambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "payload too large")
		return
	}
	typ := r.Header.Get("X-Amz-Invocation-Type")
	if typ == "" {
		typ = "RequestResponse"
	}
	s.mu.Lock()
	target := s.lambdaTargets[name]
	s.invocations = append(s.invocations, Invocation{Function: name, Type: typ, Payload: payload, Time: s.now()})
	idx := len(s.invocations) - 1
	s.mu.Unlock()
	if target == nil {
		writeLambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		return
	}
	switch typ {
	case "Event":
		w.WriteHeader(http.StatusAccepted)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			out, err := target(ctx, payload)
			s.noteForward(idx, out, err)
		}()
	case "RequestResponse":
		out, err := target(r.Context(), payload)
		s.noteForward(idx, out, err)
		if err != nil {
			writeLambdaError(w, http.StatusBadGateway, "ServiceException", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	default:
		writeLambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "invocation type "+typ)
	}
}

func (s *Sandbox) noteForward(idx int, out []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invocations[idx].Forwarded, s.invocations[idx].Response = err == nil, out
	if err != nil {
		s.invocations[idx].Error = err.Error()
	}
}

func writeLambdaError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

// DiscordCommandBody is the JSON of a Discord /gpr command: args[0] as the sub-command, the
// rest as its string options, typed by a guild member with roles.
func (s *Sandbox) DiscordCommandBody(interactionID, userID string, roles []string, args ...string) []byte {
	if roles == nil {
		roles = []string{}
	}
	var opts []map[string]any
	for i, a := range args[1:] {
		opts = append(opts, map[string]any{"type": 3, "name": fmt.Sprintf("arg%d", i+1), "value": a})
	}
	sub := map[string]any{"type": 1, "name": args[0]}
	if len(opts) > 0 {
		sub["options"] = opts
	}
	raw, _ := json.Marshal(map[string]any{
		"id": interactionID, "application_id": DiscordApplicationID, "type": 2, "token": "itoken-" + interactionID,
		"guild_id": "1200000000000000002", "channel_id": "1400000000000000004", "version": 1,
		"member": map[string]any{"user": map[string]string{"id": userID, "username": "user" + userID[len(userID)-2:]}, "roles": roles},
		"data":   map[string]any{"id": "1900000000000000009", "name": "gpr", "type": 1, "options": []map[string]any{sub}},
	})
	return raw
}
