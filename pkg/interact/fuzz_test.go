package interact

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// checkOutcome asserts what a validly signed request may produce: a content error (never an
// "unverified" one, and never with a partial Interaction) or a well-formed Interaction.
func checkOutcome(t *testing.T, platform Platform, in Interaction, err error) {
	t.Helper()
	if err != nil {
		if errors.Is(err, ErrUnverified) {
			t.Fatalf("validly signed request rejected as unverified: %v", err)
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("error %v is neither ErrMalformed nor ErrUnsupported", err)
		}
		if strings.Contains(err.Error(), testSlackSecret) {
			t.Fatalf("error %q contains the signing secret", err)
		}
		if !reflect.DeepEqual(in, Interaction{}) {
			t.Fatalf("error %v came with a non-zero Interaction", err)
		}
		return
	}
	if in.Platform != platform {
		t.Fatalf("platform %q, want %q", in.Platform, platform)
	}
	if !strings.HasPrefix(in.ReplayID, string(platform)+":") || len(in.ReplayID) == len(platform)+1 {
		t.Fatalf("replay id %q", in.ReplayID)
	}
	switch in.Kind {
	case KindPing:
		if in.User.ID != "" || in.Command != "" || len(in.Args) != 0 {
			t.Fatalf("ping carries a user or command: %v", in)
		}
	case KindButton:
		if in.User.ID == "" {
			t.Fatalf("button without user: %v", in)
		}
		if platform == PlatformSlack && in.Slack.ActionID == "" || platform == PlatformDiscord && in.Discord.CustomID == "" {
			t.Fatalf("button without an action id: %v", in)
		}
	case KindCommand:
		if in.User.ID == "" || in.Command == "" {
			t.Fatalf("command without user or name: %v", in)
		}
		if platform == PlatformSlack && !strings.HasPrefix(in.Command, "/") {
			t.Fatalf("Slack command %q without slash", in.Command)
		}
		if in.Args != nil && len(in.Args) == 0 {
			t.Fatalf("empty non-nil Args: %v", in)
		}
	default:
		t.Fatalf("unknown kind %q", in.Kind)
	}
	if platform == PlatformSlack && !reflect.DeepEqual(in.Discord, DiscordFields{}) ||
		platform == PlatformDiscord && !reflect.DeepEqual(in.Slack, SlackFields{}) {
		t.Fatalf("fields of the other platform are set: %v", in)
	}
}

func FuzzParseSlack(f *testing.F) {
	f.Add([]byte(slackDocBody))
	f.Add([]byte(slackPayloadForm(slackBlockActionsJSON)))
	f.Add([]byte("command=%2Fgpr&text=restart+worker&user_id=U1"))
	f.Add([]byte("ssl_check=1&token=x"))
	f.Add([]byte(slackPayloadForm(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"a","type":"button"}]}`)))
	f.Add([]byte(slackPayloadForm(`{"type":"view_submission"}`)))
	f.Add([]byte("payload=%7B"))
	f.Add([]byte("%zz"))
	f.Add([]byte{})
	v := Verifier{SlackSigningSecret: testSlackSecret}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := v.VerifyAndParse(signedSlack(string(body)), testNow)
		checkOutcome(t, PlatformSlack, in, err)
		if err == nil && in.Kind == KindCommand {
			// A command's Args are its text's words: nothing invented, nothing lost.
			form, _ := url.ParseQuery(string(body))
			if strings.Join(in.Args, " ") != strings.Join(strings.Fields(form.Get("text")), " ") {
				t.Fatalf("args %q from text %q", in.Args, form.Get("text"))
			}
		}
	})
}

func FuzzParseDiscord(f *testing.F) {
	f.Add([]byte(`{"id":"1","application_id":"900","type":1,"token":"t"}`))
	f.Add([]byte(`{"id":"2","type":2,"token":"t","guild_id":"7","channel_id":"8","member":{"user":{"id":"42","username":"d"},"roles":["r"]},"data":{"name":"gpr","options":[{"name":"restart","type":1,"options":[{"name":"service","type":3,"value":"worker"},{"name":"n","type":4,"value":3}]}]}}`))
	f.Add([]byte(`{"id":"3","type":3,"token":"t","user":{"id":"43"},"message":{"id":"9"},"data":{"custom_id":"approve:1","component_type":2}}`))
	f.Add([]byte(`{"id":"4","type":4}`))
	f.Add([]byte(`{"id":"5","type":2,"token":"t","user":{"id":"1"},"data":{"name":"x","options":[{"type":3,"value":null}]}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{`))
	f.Add([]byte{})
	v := testDiscordVerifier()
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := v.VerifyAndParse(signedDiscord(string(body)), testNow)
		checkOutcome(t, PlatformDiscord, in, err)
	})
}
