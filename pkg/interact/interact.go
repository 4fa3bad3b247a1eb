// Package interact is the approve function's front door: it verifies that a request reaching
// the public function URL was signed by Slack or by Discord, and only then parses it into an
// Interaction (a button click, a slash command, or Discord's endpoint PING).
//
// The function URL has no authentication of its own (auth type NONE), so the signature is the
// only thing standing between the internet and a remediation. Two rules follow:
//
//   - Nothing unsigned is parsed. The only exported way to obtain an Interaction is through a
//     Verifier, which checks the signature and the timestamp before it reads the body.
//   - Secrets stay out of text. No error carries the Slack signing secret or a signature, and an
//     Interaction's String and LogValue leave out the Slack response_url and trigger_id and the
//     Discord interaction token, which let their holder post as the app.
//
// Every verification failure matches ErrUnverified (errors.Is), so a handler can answer 401 for
// those and 400 for the rest (a signed request the package cannot read), logging the error
// either way. Replay of a validly signed request inside the five-minute window is not caught
// here: Interaction.ReplayID is the key the handler records once (a conditional write) to
// refuse the second copy.
package interact

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// ErrUnverified is matched (errors.Is) by every error meaning "this request is not proven to
// come from Slack or Discord": the handler answers 401.
var ErrUnverified = errors.New("request not verified")

// The reasons a request is unverified. Each matches ErrUnverified as well as itself.
var (
	// ErrMissingHeader: a signature or timestamp header is absent or empty, or the request
	// carries neither platform's headers.
	ErrMissingHeader = fmt.Errorf("%w: missing header", ErrUnverified)
	// ErrBadTimestamp: the timestamp header is not an integer count of Unix seconds.
	ErrBadTimestamp = fmt.Errorf("%w: malformed timestamp", ErrUnverified)
	// ErrStale: the timestamp is more than MaxSkew away from now, in either direction.
	ErrStale = fmt.Errorf("%w: timestamp outside the accepted window", ErrUnverified)
	// ErrBadSignature: the signature is malformed (version, hex, length) or does not match.
	ErrBadSignature = fmt.Errorf("%w: bad signature", ErrUnverified)
	// ErrAmbiguous: the request carries both Slack's and Discord's signature headers, so
	// VerifyAndParse will not guess which to check.
	ErrAmbiguous = fmt.Errorf("%w: both Slack and Discord signature headers present", ErrUnverified)
	// ErrNotConfigured: the request is for a platform the Verifier holds no secret or key for.
	ErrNotConfigured = fmt.Errorf("%w: platform not configured", ErrUnverified)
)

// Errors for requests whose signature holds but whose content cannot be used (answer 400).
var (
	// ErrMalformed: the body (form, JSON, base64) cannot be decoded, or a required field such
	// as the user id is missing.
	ErrMalformed = errors.New("malformed interaction")
	// ErrUnsupported: a well-formed interaction of a type this package does not handle (a
	// Slack view_submission, a Discord autocomplete or modal submit, ...).
	ErrUnsupported = errors.New("unsupported interaction")
)

// Platform names the chat platform an Interaction came from.
type Platform string

const (
	PlatformSlack   Platform = "slack"
	PlatformDiscord Platform = "discord"
)

// Kind says what the user did.
type Kind string

const (
	// KindPing is a liveness check, not a user action: Discord's PING (type 1), sent when the
	// endpoint URL is saved and from time to time after, and Slack's ssl_check. Answer it
	// with Acknowledge and do nothing else.
	KindPing Kind = "ping"
	// KindButton is a click on a message button: Slack block_actions whose action is a
	// button, Discord MESSAGE_COMPONENT of component type 2 (button). Other components
	// (select menus and the like) carry no single value and are ErrUnsupported, so a
	// KindButton always means a button was pressed.
	KindButton Kind = "button"
	// KindCommand is a slash command: Slack's form-encoded command, Discord's
	// APPLICATION_COMMAND.
	KindCommand Kind = "command"
)

// User is the person who acted.
type User struct {
	ID   string // Slack user id (U…/W…), Discord user snowflake
	Name string // Slack username, Discord username; informational only, never authorize on it
	// Roles are the Discord guild member's role ids: non-nil (possibly empty) for a guild
	// member, nil on Slack and in Discord DMs, where there are no roles.
	Roles []string
}

// Interaction is a verified request, reduced to what the approve function needs. The common
// fields are filled on both platforms; Slack and Discord hold what only one platform has.
type Interaction struct {
	Platform Platform
	Kind     Kind
	// ReplayID identifies this delivery, to be recorded once so a replayed copy is refused:
	// "slack:" + the lower-case hex of the request signature (Slack sends no id; the
	// signature covers timestamp and body, so it is unique per delivery), or
	// "discord:" + the interaction id.
	ReplayID string
	// User is the acting user; zero for KindPing.
	User User
	// ChannelID is where the command was typed or the button clicked (may be empty for
	// Slack buttons outside a channel, e.g. in a modal).
	ChannelID string
	// MessageRef is the message holding the clicked button (KindButton): the Slack message
	// ts (container.message_ts, else message.ts) or the Discord message id.
	MessageRef string
	// Command is the slash command's name, as each platform spells it: "/gpr" on Slack,
	// "gpr" on Discord. Empty unless KindCommand.
	Command string
	// Args are the command's arguments in order: Slack's text split on white space;
	// Discord's options flattened depth first, a sub-command group or sub-command
	// contributing its name and any other option its value ("restart", "worker").
	Args []string

	Slack   SlackFields
	Discord DiscordFields
}

// SlackFields are the parts of an Interaction only Slack has. Zero on Discord.
type SlackFields struct {
	TeamID string
	// ActionID, BlockID and Value are those of actions[0] of a block_actions payload (a
	// button click carries exactly one action).
	ActionID string
	BlockID  string
	Value    string
	// Text is a slash command's argument text as typed.
	Text string
	// TriggerID lets the app open a modal for the next 3 seconds. Secret-like: left out of
	// String and LogValue.
	TriggerID string
	// ResponseURL lets anyone holding it post into the conversation for 30 minutes.
	// Secret-like: left out of String and LogValue.
	ResponseURL string
}

// DiscordFields are the parts of an Interaction only Discord has. Zero on Slack.
type DiscordFields struct {
	InteractionID string
	ApplicationID string
	GuildID       string // empty in a DM
	// CustomID is the clicked button's custom_id (KindButton).
	CustomID string
	// Token authorizes follow-up messages and edits for 15 minutes. Secret-like: left out of
	// String and LogValue.
	Token string
}

// LogValue makes slog log an Interaction without its secret-like fields (Slack response_url
// and trigger_id, Discord interaction token); everything else is there to tell who did what.
func (in Interaction) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("platform", string(in.Platform)),
		slog.String("kind", string(in.Kind)),
		slog.String("replay_id", in.ReplayID),
	}
	if in.User.ID != "" || in.User.Name != "" {
		user := []slog.Attr{slog.String("id", in.User.ID), slog.String("name", in.User.Name)}
		if in.User.Roles != nil {
			user = append(user, slog.Any("roles", in.User.Roles))
		}
		attrs = append(attrs, slog.Attr{Key: "user", Value: slog.GroupValue(user...)})
	}
	optional := func(key, value string) {
		if value != "" {
			attrs = append(attrs, slog.String(key, value))
		}
	}
	optional("channel_id", in.ChannelID)
	optional("message_ref", in.MessageRef)
	optional("command", in.Command)
	if len(in.Args) > 0 {
		attrs = append(attrs, slog.Any("args", in.Args))
	}
	switch in.Platform {
	case PlatformSlack:
		optional("team_id", in.Slack.TeamID)
		optional("action_id", in.Slack.ActionID)
		optional("block_id", in.Slack.BlockID)
		optional("value", in.Slack.Value)
	case PlatformDiscord:
		optional("interaction_id", in.Discord.InteractionID)
		optional("application_id", in.Discord.ApplicationID)
		optional("guild_id", in.Discord.GuildID)
		optional("custom_id", in.Discord.CustomID)
	}
	return slog.GroupValue(attrs...)
}

// String is the LogValue rendering, so fmt's %v and %+v cannot print a token either.
func (in Interaction) String() string {
	var b strings.Builder
	b.WriteString("interact.Interaction{")
	writeAttrs(&b, in.LogValue().Group())
	b.WriteString("}")
	return b.String()
}

// GoString keeps %#v as safe as %v.
func (in Interaction) GoString() string { return in.String() }

func writeAttrs(b *strings.Builder, attrs []slog.Attr) {
	for i, a := range attrs {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(a.Key)
		b.WriteString("=")
		if a.Value.Kind() == slog.KindGroup {
			b.WriteString("{")
			writeAttrs(b, a.Value.Group())
			b.WriteString("}")
			continue
		}
		fmt.Fprint(b, a.Value.Any())
	}
}

// Request is an HTTP request as the package needs it: headers and the raw body, exactly as
// received (the signatures cover the raw bytes, so the body must not be re-encoded).
type Request struct {
	// Headers maps lower-case header names to values, as in a function URL event. Header
	// also finds a name stored in another case.
	Headers map[string]string
	Body    []byte
}

// Header returns the named header's value, or "" when it is absent. The name is matched
// without regard to case.
func (r Request) Header(name string) string {
	lower := strings.ToLower(name)
	if v, ok := r.Headers[lower]; ok {
		return v
	}
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// FromFunctionURL adapts a Lambda function URL event: it decodes a base64 body
// (IsBase64Encoded; Lambda encodes bodies it does not take for text) and lower-cases the header
// names. Names differing only in case, which a function URL does not send, are joined with ","
// as HTTP joins repeated headers, in sorted order so the result does not depend on map order.
func FromFunctionURL(ev events.LambdaFunctionURLRequest) (Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return Request{}, fmt.Errorf("%w: body marked base64 does not decode: %v", ErrMalformed, err)
		}
		body = decoded
	}
	names := make([]string, 0, len(ev.Headers))
	for name := range ev.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	headers := make(map[string]string, len(names))
	for _, name := range names {
		lower := strings.ToLower(name)
		if prev, ok := headers[lower]; ok {
			headers[lower] = prev + "," + ev.Headers[name]
			continue
		}
		headers[lower] = ev.Headers[name]
	}
	return Request{Headers: headers, Body: body}, nil
}
