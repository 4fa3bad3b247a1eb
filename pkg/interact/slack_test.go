package interact

import (
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"
)

const testSlackSecret = "test-slack-signing-secret-0123456789"

var testNow = time.Unix(1_700_000_000, 0)

// signedSlack is a Slack request for body, validly signed at testNow.
func signedSlack(body string) Request {
	ts := strconv.FormatInt(testNow.Unix(), 10)
	return slackRequest(signSlack(testSlackSecret, ts, []byte(body)), ts, []byte(body))
}

func slackPayloadForm(payload string) string {
	return url.Values{"payload": {payload}}.Encode()
}

// A block_actions payload trimmed from Slack's reference, with the fields the package reads.
const slackBlockActionsJSON = `{
  "type": "block_actions",
  "team": {"id": "T9TK3CUKW", "domain": "example"},
  "user": {"id": "UA8RXUSPL", "username": "jtorrance", "name": "jtorrance", "team_id": "T9TK3CUKW"},
  "api_app_id": "AABA1ABCD",
  "token": "9s8d9as89d8as9d8as989",
  "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "CBR2V3XEX", "is_ephemeral": false},
  "trigger_id": "12466734323.1395872398.3a9e7d3c6fd3d0a18b6a0a0db6e9f7e3",
  "channel": {"id": "CBR2V3XEX", "name": "review-updates"},
  "message": {"type": "message", "ts": "1548261231.000200", "text": "Restart worker?"},
  "response_url": "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
  "actions": [
    {"action_id": "approve", "block_id": "remediation:42", "text": {"type": "plain_text", "text": "Approve"}, "value": "incident-42", "type": "button", "action_ts": "1548426417.840180"}
  ]
}`

func TestVerifyAndParseSlack(t *testing.T) {
	blockActions := slackPayloadForm(slackBlockActionsJSON)
	command := url.Values{
		"token":        {"gIkuvaNzQIHg97ATvDxqgjtO"},
		"team_id":      {"T0001"},
		"team_domain":  {"example"},
		"channel_id":   {"C2147483705"},
		"channel_name": {"test"},
		"user_id":      {"U2147483697"},
		"user_name":    {"Steve"},
		"command":      {"/gpr"},
		"text":         {"  restart   worker "},
		"response_url": {"https://hooks.slack.com/commands/1234/5678"},
		"trigger_id":   {"13345224609.738474920.8088930838d88f008e0"},
	}.Encode()
	tests := []struct {
		name string
		body string
		want Interaction // ReplayID is checked separately
	}{
		{
			name: "block_actions button",
			body: blockActions,
			want: Interaction{
				Platform:   PlatformSlack,
				Kind:       KindButton,
				User:       User{ID: "UA8RXUSPL", Name: "jtorrance"},
				ChannelID:  "CBR2V3XEX",
				MessageRef: "1548261231.000200",
				Slack: SlackFields{
					TeamID:      "T9TK3CUKW",
					ActionID:    "approve",
					BlockID:     "remediation:42",
					Value:       "incident-42",
					TriggerID:   "12466734323.1395872398.3a9e7d3c6fd3d0a18b6a0a0db6e9f7e3",
					ResponseURL: "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
				},
			},
		},
		{
			name: "block_actions without container falls back to message.ts and user.name",
			body: slackPayloadForm(`{"type":"block_actions","user":{"id":"U1","name":"ann"},"channel":{"id":"C1"},"message":{"ts":"1.2"},"actions":[{"action_id":"deny","type":"button","value":"v"}]}`),
			want: Interaction{
				Platform: PlatformSlack, Kind: KindButton,
				User: User{ID: "U1", Name: "ann"}, ChannelID: "C1", MessageRef: "1.2",
				Slack: SlackFields{ActionID: "deny", Value: "v"},
			},
		},
		{
			name: "slash command",
			body: command,
			want: Interaction{
				Platform:  PlatformSlack,
				Kind:      KindCommand,
				User:      User{ID: "U2147483697", Name: "Steve"},
				ChannelID: "C2147483705",
				Command:   "/gpr",
				Args:      []string{"restart", "worker"},
				Slack: SlackFields{
					TeamID:      "T0001",
					Text:        "  restart   worker ",
					TriggerID:   "13345224609.738474920.8088930838d88f008e0",
					ResponseURL: "https://hooks.slack.com/commands/1234/5678",
				},
			},
		},
		{
			name: "slash command without text",
			body: "command=%2Fgpr&text=&user_id=U1&user_name=bo&channel_id=C1&team_id=T1",
			want: Interaction{
				Platform: PlatformSlack, Kind: KindCommand,
				User: User{ID: "U1", Name: "bo"}, ChannelID: "C1", Command: "/gpr",
				Slack: SlackFields{TeamID: "T1"},
			},
		},
		{
			name: "Slack's documented example command",
			body: slackDocBody,
			want: Interaction{
				Platform: PlatformSlack, Kind: KindCommand,
				User: User{ID: "U2CERLKJA", Name: "roadrunner"}, ChannelID: "G8PSS9T3V", Command: "/webhook-collect",
				Slack: SlackFields{
					TeamID:      "T1DC2JH3J",
					TriggerID:   "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
					ResponseURL: "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN",
				},
			},
		},
		{
			name: "ssl_check",
			body: "ssl_check=1&token=abc",
			want: Interaction{Platform: PlatformSlack, Kind: KindPing},
		},
	}
	v := Verifier{SlackSigningSecret: testSlackSecret}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signedSlack(tt.body)
			got, err := v.VerifyAndParseSlack(req, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if wantReplay := "slack:" + req.Header(HeaderSlackSignature)[3:]; got.ReplayID != wantReplay {
				t.Errorf("ReplayID %q, want %q", got.ReplayID, wantReplay)
			}
			got.ReplayID = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v\n(secret-like fields: got %+v, want %+v)", got, tt.want, got.Slack, tt.want.Slack)
			}
		})
	}
}

func TestVerifyAndParseSlackRejects(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
	}{
		{"bad percent escape", "command=%2Fgpr&user_id=U1&text=%zz", ErrMalformed},
		{"neither payload nor command", "user_id=U1&text=hello", ErrMalformed},
		{"empty body", "", ErrMalformed},
		{"ssl_check other than 1", "ssl_check=0", ErrMalformed},
		{"payload not JSON", slackPayloadForm("{not json"), ErrMalformed},
		{"payload JSON array", slackPayloadForm(`[1,2]`), ErrMalformed},
		{"payload missing user id", slackPayloadForm(`{"type":"block_actions","user":{"username":"x"},"actions":[{"action_id":"a"}]}`), ErrMalformed},
		{"payload without actions", slackPayloadForm(`{"type":"block_actions","user":{"id":"U1"},"actions":[]}`), ErrMalformed},
		{"action without action_id", slackPayloadForm(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"type":"button","value":"v"}]}`), ErrMalformed},
		{"select menu action", slackPayloadForm(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"a","type":"static_select","selected_option":{"value":"v"}}]}`), ErrUnsupported},
		{"action without type", slackPayloadForm(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"a","value":"v"}]}`), ErrUnsupported},
		{"payload user of the wrong JSON type", slackPayloadForm(`{"type":"block_actions","user":"U1","actions":[{"action_id":"a"}]}`), ErrMalformed},
		{"view_submission", slackPayloadForm(`{"type":"view_submission","user":{"id":"U1"}}`), ErrUnsupported},
		{"payload without type", slackPayloadForm(`{"user":{"id":"U1"},"actions":[{"action_id":"a"}]}`), ErrUnsupported},
		{"command missing user_id", "command=%2Fgpr&text=restart", ErrMalformed},
		{"command without slash", "command=gpr&user_id=U1", ErrMalformed},
		{"command only a slash", "command=%2F&user_id=U1", ErrMalformed},
	}
	v := Verifier{SlackSigningSecret: testSlackSecret}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.VerifyAndParseSlack(signedSlack(tt.body), testNow)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v (got %v)", err, tt.want, got)
			}
			if errors.Is(err, ErrUnverified) {
				t.Errorf("a signed request's content error %v must not read as unverified", err)
			}
			if !reflect.DeepEqual(got, Interaction{}) {
				t.Errorf("an error came with a non-zero Interaction %v", got)
			}
		})
	}
}

func TestVerifyAndParseSlackNeverParsesUnsigned(t *testing.T) {
	v := Verifier{SlackSigningSecret: testSlackSecret}
	req := signedSlack(slackPayloadForm(slackBlockActionsJSON))
	req.Body = append(req.Body, "&x=1"...)
	got, err := v.VerifyAndParseSlack(req, testNow)
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("error %v, want ErrBadSignature", err)
	}
	if !reflect.DeepEqual(got, Interaction{}) {
		t.Errorf("a tampered request was parsed into %v", got)
	}
}

func TestSlackReplayIDIgnoresHexCase(t *testing.T) {
	v := Verifier{SlackSigningSecret: testSlackSecret}
	lower := signedSlack(slackPayloadForm(slackBlockActionsJSON))
	upper := Request{Headers: map[string]string{}, Body: lower.Body}
	for k, val := range lower.Headers {
		upper.Headers[k] = val
	}
	upper.Headers["x-slack-signature"] = "v0=" + toUpperHex(lower.Headers["x-slack-signature"][3:])
	a, err := v.VerifyAndParseSlack(lower, testNow)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.VerifyAndParseSlack(upper, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if a.ReplayID != b.ReplayID {
		t.Errorf("re-casing the signature changed the replay id: %q vs %q", a.ReplayID, b.ReplayID)
	}
}

func toUpperHex(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c >= 'a' && c <= 'f' {
			out[i] = c - 'a' + 'A'
		}
	}
	return string(out)
}
