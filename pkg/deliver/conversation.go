package deliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Conversation is where an incident's reports continue: the first report opens it, later
// ones (follow-ups, other alarms of the same incident) go on in it. It is stored on the
// incident record between invocations; the zero value means "not opened yet".
//
// Slack (bot token only): the opening message and its thread; a follow-up is a reply in the
// thread and the opening message is updated to the latest report, so the channel shows the
// incident's current state and the thread its history.
//
// Discord: the opening message of the channel webhook (sent with wait=true, which answers
// with the message and its id). Discord webhooks cannot reply to a message
// (message_reference is not honoured for webhooks) and thread_id works only in forum or
// thread channels, so a follow-up is a new webhook message and the opening message is
// edited (PATCH /webhooks/{id}/{token}/messages/{message_id}) to the latest report.
type Conversation struct {
	SlackChannel     string `json:"slackChannel,omitempty"`
	SlackTS          string `json:"slackTs,omitempty"`
	DiscordMessageID string `json:"discordMessageId,omitempty"`
}

// Threaded is a Destination that can carry a conversation on.
type Threaded interface {
	Destination
	// SendIn delivers r into conv and returns conv with what it opened or moved to; on an
	// error it returns conv as it was unless something was opened anyway.
	SendIn(ctx context.Context, r report.Report, conv Conversation) (Conversation, error)
}

// Converse is Deliver for a report of an incident: threaded destinations continue conv,
// the others (the SNS topic, a Slack incoming webhook, PagerDuty) send as Deliver does.
// It returns the statuses and the conversation to store: conv with whatever the
// destinations opened. A destination that fails or overruns leaves its part unchanged.
func Converse(ctx context.Context, r report.Report, conv Conversation, dests []Destination) ([]report.Sink, Conversation) {
	return ConverseTimeout(ctx, r, conv, dests, DefaultSendTimeout)
}

// ConverseTimeout is Converse with a given time per destination.
func ConverseTimeout(ctx context.Context, r report.Report, conv Conversation, dests []Destination, timeout time.Duration) ([]report.Sink, Conversation) {
	// One buffered channel per destination, made before any goroutine starts: an overrun
	// SendIn delivers into its own channel later without blocking or racing with the reader.
	got := make([]chan Conversation, len(dests))
	for i := range got {
		got[i] = make(chan Conversation, 1)
	}
	sinks := run(ctx, dests, timeout, func(ctx context.Context, i int, d Destination) error {
		t, ok := d.(Threaded)
		if !ok {
			return d.Send(ctx, r)
		}
		next, err := t.SendIn(ctx, r, conv)
		got[i] <- next
		return err
	})
	out := conv
	for _, ch := range got {
		select {
		case next := <-ch:
			out = merge(out, next)
		default: // still running past its time: its part stays as it was
		}
	}
	return sinks, out
}

// merge takes what next set over base; each destination sets only its own fields.
func merge(base, next Conversation) Conversation {
	if next.SlackTS != "" {
		base.SlackChannel, base.SlackTS = next.SlackChannel, next.SlackTS
	}
	if next.DiscordMessageID != "" {
		base.DiscordMessageID = next.DiscordMessageID
	}
	return base
}

// DefaultSlackAPIURL is the base of Slack's Web API.
const DefaultSlackAPIURL = "https://slack.com/api"

// SlackBot posts with a bot token through Slack's Web API (chat.postMessage, chat.update),
// which, unlike an incoming webhook, answers with the message's ts and so can thread.
type SlackBot struct {
	hook    webhook // url is the API base
	channel string
}

// NewSlackBot posts to channel (an id, e.g. C0123456789) with token (a secret: it never
// appears in an error) through the Web API at apiURL; "" means DefaultSlackAPIURL. A nil
// client means a plain &http.Client{}; deadlines come from the context.
func NewSlackBot(token, channel, apiURL string, client *http.Client) *SlackBot {
	if apiURL == "" {
		apiURL = DefaultSlackAPIURL
	}
	return &SlackBot{
		hook:    webhook{what: "slack api", url: strings.TrimRight(apiURL, "/"), client: client, secrets: []string{token}, auth: "Bearer " + token},
		channel: channel,
	}
}

var _ Threaded = (*SlackBot)(nil)

// Name implements Destination: the same "slack" a webhook reports, since it is the same place.
func (s *SlackBot) Name() string { return "slack" }

func (s *SlackBot) secrets() []string { return s.hook.secrets }

// Send implements Destination: a report outside any conversation opens a message of its own.
func (s *SlackBot) Send(ctx context.Context, r report.Report) error {
	_, err := s.SendIn(ctx, r, Conversation{})
	return err
}

// SendIn implements Threaded. Without a thread it posts to the configured channel and
// opens one; with one it replies in the thread and updates the opening message. A thread
// whose opening message is gone (thread_not_found) is replaced by a new one.
func (s *SlackBot) SendIn(ctx context.Context, r report.Report, conv Conversation) (Conversation, error) {
	if conv.SlackTS == "" {
		return s.open(ctx, r, conv)
	}
	_, err := s.call(ctx, "chat.postMessage", r, conv.SlackChannel, conv.SlackTS, "")
	var api slackError
	if errors.As(err, &api) && api.code == "thread_not_found" {
		return s.open(ctx, r, conv)
	}
	if err != nil {
		return conv, err
	}
	if _, err := s.call(ctx, "chat.update", r, conv.SlackChannel, "", conv.SlackTS); err != nil {
		return conv, fmt.Errorf("reply posted, opening message not updated: %w", err)
	}
	if err := s.uploadPicture(ctx, r, conv.SlackChannel, conv.SlackTS); err != nil {
		return conv, fmt.Errorf("reply posted, graph not uploaded: %w", err)
	}
	return conv, nil
}

func (s *SlackBot) open(ctx context.Context, r report.Report, conv Conversation) (Conversation, error) {
	if s.channel == "" {
		return conv, errors.New("slack api: no channel configured")
	}
	ans, err := s.call(ctx, "chat.postMessage", r, s.channel, "", "")
	if err != nil {
		return conv, err
	}
	conv.SlackChannel, conv.SlackTS = ans.Channel, ans.TS
	if err := s.uploadPicture(ctx, r, conv.SlackChannel, conv.SlackTS); err != nil {
		return conv, fmt.Errorf("report posted, graph not uploaded: %w", err)
	}
	return conv, nil
}

// slackAnswer is the part of a Web API answer delivery reads.
type slackAnswer struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// slackError is an API error Slack answered with (HTTP 200, ok false): its code, e.g.
// channel_not_found, which names no secret.
type slackError struct{ method, code string }

func (e slackError) Error() string { return "slack " + e.method + ": " + e.code }

func (s *SlackBot) call(ctx context.Context, method string, r report.Report, channel, threadTS, ts string) (slackAnswer, error) {
	body, err := render.SlackChat(r, channel, threadTS, ts)
	if err != nil {
		return slackAnswer{}, fmt.Errorf("render slack message: %w", err)
	}
	raw, err := s.hook.send(ctx, http.MethodPost, s.hook.url+"/"+method, body)
	if err != nil {
		return slackAnswer{}, err
	}
	var ans slackAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return slackAnswer{}, fmt.Errorf("slack %s: unreadable answer", method)
	}
	if !ans.OK {
		return slackAnswer{}, slackError{method: method, code: ans.Error}
	}
	if method == "chat.postMessage" && (ans.TS == "" || ans.Channel == "") {
		return slackAnswer{}, fmt.Errorf("slack %s: answer without channel and ts", method)
	}
	return ans, nil
}

var _ Threaded = (*DiscordSink)(nil)

// SendIn implements Threaded. Without a conversation it sends with wait=true and keeps the
// message id; with one it sends the report as a new message and edits the opening one to
// it (see Conversation for why not a reply). An opening message that is gone (404) is
// replaced by the new one.
func (s *DiscordSink) SendIn(ctx context.Context, r report.Report, conv Conversation) (Conversation, error) {
	msg, err := discordMessage(r)
	if err != nil {
		return conv, err
	}
	u, err := url.Parse(s.hook.url)
	if err != nil || s.hook.url == "" {
		return conv, s.hook.errorf("POST %s: malformed URL", s.hook.what)
	}
	wait := *u
	q := wait.Query()
	q.Set("wait", "true")
	if len(r.Offers) > 0 {
		q.Set("with_components", "true") // buttons: see withComponents
	}
	wait.RawQuery = q.Encode()
	raw, err := s.hook.sendAs(ctx, http.MethodPost, wait.String(), msg.ctype, msg.body)
	if err != nil {
		return conv, err
	}
	var sent struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &sent); err != nil || sent.ID == "" {
		return conv, errors.New("POST discord webhook: answer without a message id")
	}
	if conv.DiscordMessageID == "" {
		conv.DiscordMessageID = sent.ID
		return conv, nil
	}
	edit := *u
	edit.Path = strings.TrimRight(edit.Path, "/") + "/messages/" + url.PathEscape(conv.DiscordMessageID)
	edit.RawQuery = withComponents(u.Query(), r).Encode()
	if _, err := s.hook.sendAs(ctx, http.MethodPatch, edit.String(), msg.ctype, msg.body); err != nil {
		var st statusError
		if errors.As(err, &st) && st.status == http.StatusNotFound {
			conv.DiscordMessageID = sent.ID // the opener was deleted: the follow-up opens anew
			return conv, nil
		}
		return conv, fmt.Errorf("follow-up sent, opening message not edited: %w", err)
	}
	return conv, nil
}
