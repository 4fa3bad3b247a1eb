package interact

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestVerifyAndParseDispatch(t *testing.T) {
	slackBody := "command=%2Fgpr&text=status&user_id=U1"
	discordBody := `{"id":"7","type":1,"application_id":"900","token":"t"}`
	both := signedSlack(slackBody)
	for k, v := range signedDiscord(discordBody).Headers {
		both.Headers[k] = v
	}
	full := Verifier{SlackSigningSecret: testSlackSecret, DiscordPublicKey: testDiscordKey.Public().(ed25519.PublicKey)}
	tests := []struct {
		name     string
		verifier Verifier
		request  Request
		platform Platform // when accepted
		want     error
	}{
		{"Slack headers go to Slack", full, signedSlack(slackBody), PlatformSlack, nil},
		{"Discord headers go to Discord", full, signedDiscord(discordBody), PlatformDiscord, nil},
		{"both sets of headers", full, both, "", ErrAmbiguous},
		{"no signature headers", full, Request{Headers: map[string]string{"content-type": "application/json"}, Body: []byte(discordBody)}, "", ErrMissingHeader},
		{"Slack not configured", Verifier{DiscordPublicKey: full.DiscordPublicKey}, signedSlack(slackBody), "", ErrNotConfigured},
		{"Discord not configured", Verifier{SlackSigningSecret: testSlackSecret}, signedDiscord(discordBody), "", ErrNotConfigured},
		{"Discord key of the wrong size", Verifier{DiscordPublicKey: ed25519.PublicKey{1, 2, 3}}, signedDiscord(discordBody), "", ErrNotConfigured},
		{"Slack body under Discord headers", full, discordRequest(signedDiscord(discordBody).Headers["x-signature-ed25519"], signedDiscord(discordBody).Headers["x-signature-timestamp"], []byte(slackBody)), "", ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.verifier.VerifyAndParse(tt.request, testNow)
			if tt.want != nil {
				checkVerifyError(t, err, tt.want)
				if !reflect.DeepEqual(got, Interaction{}) {
					t.Errorf("a rejected request came with %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Platform != tt.platform {
				t.Errorf("platform %q, want %q", got.Platform, tt.platform)
			}
		})
	}
}

func TestFromFunctionURL(t *testing.T) {
	body := "payload=%7B%22type%22%3A%22block_actions%22%7D"
	tests := []struct {
		name        string
		event       events.LambdaFunctionURLRequest
		wantHeaders map[string]string
		wantBody    string
		wantErr     error
	}{
		{
			name:        "plain body, lower-case names kept",
			event:       events.LambdaFunctionURLRequest{Headers: map[string]string{"x-slack-signature": "v0=ab", "content-type": "application/x-www-form-urlencoded"}, Body: body},
			wantHeaders: map[string]string{"x-slack-signature": "v0=ab", "content-type": "application/x-www-form-urlencoded"},
			wantBody:    body,
		},
		{
			name:        "base64 body, mixed-case names lowered",
			event:       events.LambdaFunctionURLRequest{Headers: map[string]string{"X-Signature-Ed25519": "ff", "X-Signature-Timestamp": "1"}, Body: base64.StdEncoding.EncodeToString([]byte(body)), IsBase64Encoded: true},
			wantHeaders: map[string]string{"x-signature-ed25519": "ff", "x-signature-timestamp": "1"},
			wantBody:    body,
		},
		{
			name:        "names differing in case are joined in sorted order",
			event:       events.LambdaFunctionURLRequest{Headers: map[string]string{"x-a": "2", "X-A": "1"}},
			wantHeaders: map[string]string{"x-a": "1,2"},
			wantBody:    "",
		},
		{
			name:        "no headers",
			event:       events.LambdaFunctionURLRequest{Body: "{}"},
			wantHeaders: map[string]string{},
			wantBody:    "{}",
		},
		{
			name:    "body marked base64 that is not",
			event:   events.LambdaFunctionURLRequest{Body: "not base64!", IsBase64Encoded: true},
			wantErr: ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromFunctionURL(tt.event)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Headers, tt.wantHeaders) {
				t.Errorf("headers %v, want %v", got.Headers, tt.wantHeaders)
			}
			if string(got.Body) != tt.wantBody {
				t.Errorf("body %q, want %q", got.Body, tt.wantBody)
			}
		})
	}
}

// TestFromFunctionURLEndToEnd runs a signed request through the event adapter, as the handler
// will.
func TestFromFunctionURLEndToEnd(t *testing.T) {
	signed := signedSlack(slackPayloadForm(slackBlockActionsJSON))
	event := events.LambdaFunctionURLRequest{
		Headers: map[string]string{
			"x-slack-signature":         signed.Headers["x-slack-signature"],
			"x-slack-request-timestamp": signed.Headers["x-slack-request-timestamp"],
		},
		Body:            base64.StdEncoding.EncodeToString(signed.Body),
		IsBase64Encoded: true,
	}
	req, err := FromFunctionURL(event)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Verifier{SlackSigningSecret: testSlackSecret}.VerifyAndParse(req, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if in.Kind != KindButton || in.Slack.ActionID != "approve" {
		t.Errorf("got %v", in)
	}
}

func TestRequestHeader(t *testing.T) {
	r := Request{Headers: map[string]string{"x-lower": "a", "X-Mixed-Case": "b"}}
	for name, want := range map[string]string{
		"x-lower": "a", "X-Lower": "a", "x-mixed-case": "b", "X-MIXED-CASE": "b", "x-absent": "",
	} {
		if got := r.Header(name); got != want {
			t.Errorf("Header(%q) = %q, want %q", name, got, want)
		}
	}
	if got := (Request{}).Header("x-any"); got != "" {
		t.Errorf("Header on a zero Request = %q", got)
	}
}

// TestInteractionHidesTokens checks that neither slog (text and JSON handlers) nor fmt (%v,
// %+v, %#v, %s) prints the secret-like fields, while the identifying fields remain.
func TestInteractionHidesTokens(t *testing.T) {
	const (
		responseURL = "https://hooks.slack.com/actions/T1/123/SECRETPATH"
		triggerID   = "1234.5678.SECRETTRIGGER"
		token       = "aW50ZXJhY3Rpb246SECRETTOKEN"
	)
	interactions := map[string]struct {
		in      Interaction
		secrets []string
		visible []string
	}{
		"slack": {
			in: Interaction{
				Platform: PlatformSlack, Kind: KindButton, ReplayID: "slack:abcd",
				User: User{ID: "U1", Name: "ann"}, ChannelID: "C1", MessageRef: "1.2",
				Slack: SlackFields{TeamID: "T1", ActionID: "approve", BlockID: "b1", Value: "incident-42", TriggerID: triggerID, ResponseURL: responseURL},
			},
			secrets: []string{responseURL, "SECRETPATH", triggerID},
			visible: []string{"slack:abcd", "U1", "ann", "C1", "1.2", "T1", "approve", "b1", "incident-42"},
		},
		"discord": {
			in: Interaction{
				Platform: PlatformDiscord, Kind: KindCommand, ReplayID: "discord:9",
				User: User{ID: "42", Name: "duncan", Roles: []string{"r-oncall"}}, ChannelID: "800",
				Command: "gpr", Args: []string{"restart", "worker"},
				Discord: DiscordFields{InteractionID: "9", ApplicationID: "900", GuildID: "700", Token: token},
			},
			secrets: []string{token, "SECRETTOKEN"},
			visible: []string{"discord:9", "42", "duncan", "r-oncall", "800", "gpr", "restart", "worker", "900", "700"},
		},
	}
	for name, tc := range interactions {
		t.Run(name, func(t *testing.T) {
			var text, js bytes.Buffer
			slog.New(slog.NewTextHandler(&text, nil)).Info("interaction", "in", tc.in)
			slog.New(slog.NewJSONHandler(&js, nil)).Info("interaction", "in", tc.in)
			outputs := map[string]string{
				"slog text": text.String(),
				"slog JSON": js.String(),
				"%v":        fmt.Sprintf("%v", tc.in),
				"%+v":       fmt.Sprintf("%+v", tc.in),
				"%#v":       fmt.Sprintf("%#v", tc.in),
				"Sprint":    fmt.Sprint(tc.in),
				"pointer":   fmt.Sprintf("%v", &tc.in),
			}
			for how, out := range outputs {
				for _, secret := range tc.secrets {
					if strings.Contains(out, secret) || strings.Contains(out, url.QueryEscape(secret)) {
						t.Errorf("%s output shows %q: %s", how, secret, out)
					}
				}
				for _, want := range tc.visible {
					if !strings.Contains(out, want) {
						t.Errorf("%s output lacks %q: %s", how, want, out)
					}
				}
			}
		})
	}
}
