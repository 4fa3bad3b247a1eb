package sample_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/arrakis/gp-remediation/internal/sample"
	"github.com/arrakis/gp-remediation/pkg/interact"
	"github.com/arrakis/gp-remediation/sandbox"
)

var sandboxKeys = sample.Keys{SlackSigningSecret: sandbox.SlackSigningSecret, DiscordKey: sandbox.DiscordSigningKey()}

func verifier(t *testing.T) interact.Verifier {
	t.Helper()
	key, err := interact.ParseDiscordPublicKey(sandbox.DiscordPublicKeyHex())
	if err != nil {
		t.Fatal(err)
	}
	return interact.Verifier{SlackSigningSecret: sandbox.SlackSigningSecret, DiscordPublicKey: key}
}

func request(t *testing.T, raw []byte) interact.Request {
	t.Helper()
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	r, err := interact.FromFunctionURL(ev)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every sample in events/approve is what its name says, genuinely signed with the sandbox's
// keys when it was written (so it documents the real shape), refused as too old today, and
// accepted once Prepare has signed it again.
func TestTheSamples(t *testing.T) {
	want := map[string]struct {
		platform sample.Platform
		kind     interact.Kind
		user     string
		args     string
	}{
		"slack-health.json":           {sample.Slack, interact.KindCommand, "U0ENGINEER", "health"},
		"slack-restart-worker.json":   {sample.Slack, interact.KindCommand, sandbox.SlackApprover1, "restart worker"},
		"slack-stranger-restart.json": {sample.Slack, interact.KindCommand, sandbox.SlackStranger, "restart worker"},
		"discord-ping.json":           {sample.Discord, interact.KindPing, "", ""},
		"discord-health.json":         {sample.Discord, interact.KindCommand, "1710000000000000001", "health"},
		"unsigned.json":               {sample.Unsigned, "", "", ""},
	}
	files, err := filepath.Glob("../../events/approve/*.json")
	if err != nil || len(files) != len(want) {
		t.Fatalf("samples %v (%v), want %d", files, err, len(want))
	}
	v, now := verifier(t), time.Now()
	for _, f := range files {
		w, ok := want[filepath.Base(f)]
		if !ok {
			t.Errorf("%s: a sample this test does not know", f)
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := request(t, raw)
		if w.platform == sample.Unsigned {
			if _, err := v.VerifyAndParse(r, now); !errors.Is(err, interact.ErrMissingHeader) {
				t.Errorf("%s: %v, want it refused as unsigned", f, err)
			}
			out, p, err := sample.Prepare(raw, sandboxKeys, now, "")
			if err != nil || p != sample.Unsigned || string(out) != string(raw) {
				t.Errorf("%s: Prepare gave %s %v, want it unchanged", f, p, err)
			}
			continue
		}
		ts, _ := time.Parse(time.RFC3339, "2026-11-27T03:12:41Z")
		if _, err := v.VerifyAndParse(r, ts); err != nil {
			t.Errorf("%s: not signed with the sandbox's keys: %v", f, err)
		}
		if _, err := v.VerifyAndParse(r, now); !errors.Is(err, interact.ErrStale) {
			t.Errorf("%s: as written, today: %v, want a stale timestamp", f, err)
		}
		out, p, err := sample.Prepare(raw, sandboxKeys, now, "")
		if err != nil || p != w.platform {
			t.Fatalf("%s: Prepare: %s %v", f, p, err)
		}
		in, err := v.VerifyAndParse(request(t, out), now)
		if err != nil {
			t.Fatalf("%s: signed again, still refused: %v", f, err)
		}
		if in.Kind != w.kind || in.User.ID != w.user || strings.Join(in.Args, " ") != w.args {
			t.Errorf("%s: %s by %q args %q, want %s by %q args %q", f, in.Kind, in.User.ID, in.Args, w.kind, w.user, w.args)
		}
	}
}

// The response_url is replaced where each kind of Slack request carries it; the signature is
// over the new body.
func TestPrepareReplacesTheResponseURL(t *testing.T) {
	payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]string{"id": "U1"}, "response_url": "https://hooks.slack.com/actions/T/1/x",
		"actions": []map[string]string{{"type": "button", "action_id": "gpr-approve", "value": "o1"}}, "container": map[string]string{"message_ts": "1.2", "channel_id": "C1"}})
	bodies := map[string]string{
		"command":     url.Values{"command": {"/gpr"}, "text": {"health"}, "user_id": {"U1"}, "response_url": {"https://hooks.slack.com/commands/T/1/x"}}.Encode(),
		"interaction": url.Values{"payload": {string(payload)}}.Encode(),
	}
	for name, body := range bodies {
		ev, _ := json.Marshal(events.LambdaFunctionURLRequest{Headers: map[string]string{"x-slack-signature": "v0=00", "x-slack-request-timestamp": "1"}, Body: body})
		now := time.Now()
		out, _, err := sample.Prepare(ev, sandboxKeys, now, "http://127.0.0.1:9/_sandbox/slack/response/s")
		if err != nil {
			t.Fatal(name, err)
		}
		in, err := verifier(t).VerifyAndParse(request(t, out), now)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if in.Slack.ResponseURL != "http://127.0.0.1:9/_sandbox/slack/response/s" {
			t.Errorf("%s: response_url %q", name, in.Slack.ResponseURL)
		}
	}
}

// Without the key of its platform a sample is not signed, and the error says why; a body that
// is not a function URL event is refused.
func TestPrepareRefuses(t *testing.T) {
	discord, _ := os.ReadFile("../../events/approve/discord-ping.json")
	if _, _, err := sample.Prepare(discord, sample.Keys{SlackSigningSecret: "s"}, time.Now(), ""); !errors.Is(err, sample.ErrNoKey) || !strings.Contains(err.Error(), "only Discord") {
		t.Errorf("discord without a key: %v", err)
	}
	slack, _ := os.ReadFile("../../events/approve/slack-health.json")
	if _, _, err := sample.Prepare(slack, sample.Keys{DiscordKey: ed25519.NewKeyFromSeed(make([]byte, 32))}, time.Now(), ""); !errors.Is(err, sample.ErrNoKey) {
		t.Errorf("slack without a secret: %v", err)
	}
	if _, _, err := sample.Prepare([]byte(`[1,2]`), sandboxKeys, time.Now(), ""); err == nil {
		t.Error("an array was taken for an event")
	}
}
