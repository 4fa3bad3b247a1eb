package deliver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/arrakis/gp-remediation/internal/reportfixture"
	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/sandbox"
)

// The conversation tests talk to the sandbox's Slack Web API and Discord webhook stand-ins,
// which check the request shapes (Bearer token, channel, thread_ts, ts; wait=true, PATCH of
// a message the webhook sent) and answer as Slack and Discord do.

func standIns(t *testing.T) (*sandbox.Sandbox, string) {
	t.Helper()
	sb := sandbox.StartTest(t, sandbox.Options{})
	return sb, sb.URL() + "/_sandbox/hooks/discord/" + sandbox.DiscordHookPath
}

// sent decodes the recorded request bodies of kind.
func sent(t *testing.T, sb *sandbox.Sandbox, kind string) ([]sandbox.Request, []map[string]any) {
	t.Helper()
	reqs := sb.Requests(kind)
	bodies := make([]map[string]any, len(reqs))
	for i, r := range reqs {
		if err := json.Unmarshal([]byte(r.Body), &bodies[i]); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return reqs, bodies
}

func TestSlackBotThread(t *testing.T) {
	sb, _ := standIns(t)
	bot := NewSlackBot(sandbox.SlackBotToken, sandbox.SlackChannel, sb.SlackAPIURL(), nil)
	ctx := context.Background()

	first, err := bot.SendIn(ctx, reportfixture.Paged(), Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	if first.SlackChannel != sandbox.SlackChannel || first.SlackTS == "" || first.DiscordMessageID != "" {
		t.Fatalf("opened %+v", first)
	}
	second, err := bot.SendIn(ctx, reportfixture.ScaleBack(), first)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Errorf("a follow-up moved the conversation: %+v -> %+v", first, second)
	}

	reqs, bodies := sent(t, sb, sandbox.KindSlackAPI)
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want open, reply, update", len(reqs))
	}
	wantPaths := []string{"chat.postMessage", "chat.postMessage", "chat.update"}
	for i, r := range reqs {
		if r.Path != "/_sandbox/slack/api/"+wantPaths[i] || r.Status != 200 || r.ContentType != "application/json" {
			t.Errorf("request %d: %s %s %d %s", i, r.Method, r.Path, r.Status, r.ContentType)
		}
		if bodies[i]["channel"] != sandbox.SlackChannel {
			t.Errorf("request %d channel %v", i, bodies[i]["channel"])
		}
	}
	if _, ok := bodies[0]["thread_ts"]; ok {
		t.Error("the opening message names a thread")
	}
	if bodies[1]["thread_ts"] != first.SlackTS || bodies[2]["ts"] != first.SlackTS {
		t.Errorf("reply thread_ts %v, update ts %v, want %s", bodies[1]["thread_ts"], bodies[2]["ts"], first.SlackTS)
	}
	// The reply and the updated opener are exactly the follow-up's rendering.
	follow := reportfixture.ScaleBack()
	reply, _ := render.SlackChat(follow, sandbox.SlackChannel, first.SlackTS, "")
	update, _ := render.SlackChat(follow, sandbox.SlackChannel, "", first.SlackTS)
	if reqs[1].Body != string(reply) || reqs[2].Body != string(update) {
		t.Error("the reply or the update is not the follow-up's rendering")
	}
}

func TestSlackBotErrors(t *testing.T) {
	sb, _ := standIns(t)
	ctx := context.Background()
	t.Run("wrong token", func(t *testing.T) {
		const token = "xoxb-1111-2222-wrongtokenwrongtoken"
		conv, err := NewSlackBot(token, sandbox.SlackChannel, sb.SlackAPIURL(), nil).SendIn(ctx, reportfixture.OOM(), Conversation{})
		if err == nil || err.Error() != "slack chat.postMessage: invalid_auth" || conv != (Conversation{}) {
			t.Fatalf("%+v %v", conv, err)
		}
	})
	t.Run("unknown channel", func(t *testing.T) {
		err := NewSlackBot(sandbox.SlackBotToken, "C0NOPE", sb.SlackAPIURL(), nil).Send(ctx, reportfixture.OOM())
		var api slackError
		if !errors.As(err, &api) || api.code != "channel_not_found" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("a lost thread is replaced by a new one", func(t *testing.T) {
		lost := Conversation{SlackChannel: sandbox.SlackChannel, SlackTS: "1700000000.000001"}
		conv, err := NewSlackBot(sandbox.SlackBotToken, sandbox.SlackChannel, sb.SlackAPIURL(), nil).SendIn(ctx, reportfixture.OOM(), lost)
		if err != nil || conv.SlackTS == "" || conv.SlackTS == lost.SlackTS {
			t.Fatalf("%+v %v", conv, err)
		}
	})
	t.Run("HTTP failure names no token", func(t *testing.T) {
		sb.FailHooks(sandbox.KindSlackAPI, true)
		defer sb.FailHooks(sandbox.KindSlackAPI, false)
		st := Deliver(ctx, reportfixture.OOM(), []Destination{NewSlackBot(sandbox.SlackBotToken, sandbox.SlackChannel, sb.SlackAPIURL(), nil)})
		if len(st) != 1 || st[0].OK || st[0].Error != "POST slack api: status 500" {
			t.Fatalf("%+v", st)
		}
		assertNoSecret(t, st[0].Error, sandbox.SlackBotToken)
	})
}

func TestDiscordThread(t *testing.T) {
	sb, hook := standIns(t)
	d := NewDiscordSink(hook, nil)
	ctx := context.Background()
	first, err := d.SendIn(ctx, reportfixture.Paged(), Conversation{})
	if err != nil || first.DiscordMessageID == "" {
		t.Fatalf("%+v %v", first, err)
	}
	second, err := d.SendIn(ctx, reportfixture.ScaleBack(), first)
	if err != nil || second != first {
		t.Fatalf("follow-up: %+v %v", second, err)
	}
	reqs := sb.Requests(sandbox.KindDiscord)
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want open, follow-up, edit", len(reqs))
	}
	want := []struct{ method, suffix string }{
		{http.MethodPost, sandbox.DiscordHookPath},
		{http.MethodPost, sandbox.DiscordHookPath},
		{http.MethodPatch, sandbox.DiscordHookPath + "/messages/" + first.DiscordMessageID},
	}
	follow, _ := render.Discord(reportfixture.ScaleBack())
	for i, r := range reqs {
		if r.Method != want[i].method || !strings.HasSuffix(r.Path, want[i].suffix) || r.Status != 200 {
			t.Errorf("request %d: %s %s %d", i, r.Method, r.Path, r.Status)
		}
		if i > 0 && r.Body != string(follow) {
			t.Errorf("request %d is not the follow-up's rendering", i)
		}
	}

	// The opening message was deleted: the follow-up becomes the new opener.
	gone := Conversation{DiscordMessageID: "1000000000000000001"}
	conv, err := d.SendIn(ctx, reportfixture.OOM(), gone)
	if err != nil || conv.DiscordMessageID == "" || conv.DiscordMessageID == gone.DiscordMessageID {
		t.Fatalf("after a lost opener: %+v %v", conv, err)
	}
}

func TestConverse(t *testing.T) {
	sb, hook := standIns(t)
	ctx := context.Background()
	slackHook := sb.URL() + "/_sandbox/hooks/slack/" + sandbox.SlackHookPath
	f := &fakeSNS{}
	r := reportfixture.Paged()
	r.Result.Incident = "INC-20261127-0007"
	dests := []Destination{
		NewSNSSink(f, "arn:aws:sns:us-east-1:123456789012:reports"),
		NewSlackBot(sandbox.SlackBotToken, sandbox.SlackChannel, sb.SlackAPIURL(), nil),
		NewDiscordSink(hook, nil),
		NewSlackSink(slackHook, nil), // a webhook-only setup beside it: sent exactly as Deliver sends
		&fakeDest{name: "broken", send: func(context.Context, report.Report) error { return errors.New("boom") }},
	}
	st, conv := Converse(ctx, r, Conversation{}, dests)
	want := []report.Sink{{Name: "sns", OK: true}, {Name: "slack", OK: true}, {Name: "discord", OK: true}, {Name: "slack", OK: true}, {Name: "broken", Error: "boom"}}
	if len(st) != len(want) {
		t.Fatalf("statuses %+v", st)
	}
	for i := range want {
		if st[i] != want[i] {
			t.Errorf("status %d = %+v, want %+v", i, st[i], want[i])
		}
	}
	if conv.SlackTS == "" || conv.SlackChannel != sandbox.SlackChannel || conv.DiscordMessageID == "" {
		t.Fatalf("conversation %+v", conv)
	}
	if !strings.HasPrefix(*f.in.Subject, "[INC-20261127-0007] [CRITICAL] ") {
		t.Errorf("SNS subject %q does not carry the incident", *f.in.Subject)
	}
	hooks := sb.Requests(sandbox.KindSlack)
	webhookBody, _ := render.Slack(r)
	if len(hooks) != 1 || hooks[0].Body != string(webhookBody) {
		t.Errorf("webhook requests %+v", hooks)
	}

	// The next report continues the conversation; a failing destination changes nothing.
	sb.FailHooks(sandbox.KindDiscord, true)
	st, next := Converse(ctx, reportfixture.ScaleBack(), conv, dests[1:3])
	if next != conv || !st[0].OK || st[1].OK {
		t.Errorf("continued %+v -> %+v, statuses %+v", conv, next, st)
	}
	_, bodies := sent(t, sb, sandbox.KindSlackAPI)
	if len(bodies) != 3 || bodies[1]["thread_ts"] != conv.SlackTS {
		t.Errorf("slack api bodies %v", bodies)
	}
}
