package interact

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Slack's worked example from https://api.slack.com/authentication/verifying-requests-from-slack.
const (
	slackDocSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	slackDocTimestamp = "1531420618"
	slackDocBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackDocSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

var slackDocNow = time.Unix(1531420618, 0)

// signSlack is SignSlack at a timestamp given as text (TestSignSlack holds it to Slack's own
// example, independently of verifySlack).
func signSlack(secret, timestamp string, body []byte) string {
	seconds, _ := strconv.ParseInt(timestamp, 10, 64)
	return SignSlack(secret, body, time.Unix(seconds, 0))["x-slack-signature"]
}

func slackRequest(signature, timestamp string, body []byte) Request {
	headers := map[string]string{}
	if signature != "" {
		headers["x-slack-signature"] = signature
	}
	if timestamp != "" {
		headers["x-slack-request-timestamp"] = timestamp
	}
	return Request{Headers: headers, Body: body}
}

// testDiscordKey is a fixed key, so the vectors are the same on every run.
var testDiscordKey = ed25519.NewKeyFromSeed([]byte("gp-remediation interact test key"))

func signDiscord(key ed25519.PrivateKey, timestamp string, body []byte) string {
	seconds, _ := strconv.ParseInt(timestamp, 10, 64)
	return SignDiscord(key, body, time.Unix(seconds, 0))["x-signature-ed25519"]
}

func discordRequest(signature, timestamp string, body []byte) Request {
	headers := map[string]string{}
	if signature != "" {
		headers["x-signature-ed25519"] = signature
	}
	if timestamp != "" {
		headers["x-signature-timestamp"] = timestamp
	}
	return Request{Headers: headers, Body: body}
}

func TestSlackDocumentationVector(t *testing.T) {
	if got := signSlack(slackDocSecret, slackDocTimestamp, []byte(slackDocBody)); got != slackDocSignature {
		t.Fatalf("computed signature %s, Slack documents %s", got, slackDocSignature)
	}
	sig, err := verifySlack(slackDocSecret, slackRequest(slackDocSignature, slackDocTimestamp, []byte(slackDocBody)), slackDocNow)
	if err != nil {
		t.Fatalf("verifySlack rejected Slack's own example: %v", err)
	}
	if got := "v0=" + hex.EncodeToString(sig); got != slackDocSignature {
		t.Errorf("verifySlack returned signature %s, want %s", got, slackDocSignature)
	}
}

func TestVerifySlack(t *testing.T) {
	body := []byte(slackDocBody)
	ts := func(d time.Duration) string { return strconv.FormatInt(slackDocNow.Add(d).Unix(), 10) }
	tests := []struct {
		name    string
		secret  string
		request Request
		want    error // nil: accepted
	}{
		{"documented vector", slackDocSecret, slackRequest(slackDocSignature, slackDocTimestamp, body), nil},
		{"upper-case hex", slackDocSecret, slackRequest("v0="+strings.ToUpper(strings.TrimPrefix(slackDocSignature, "v0=")), slackDocTimestamp, body), nil},
		{"mixed-case header names", slackDocSecret, Request{Headers: map[string]string{"X-Slack-Signature": slackDocSignature, "X-SLACK-REQUEST-TIMESTAMP": slackDocTimestamp}, Body: body}, nil},
		{"4m59s old", slackDocSecret, slackRequest(signSlack(slackDocSecret, ts(-299*time.Second), body), ts(-299*time.Second), body), nil},
		{"exactly 5m old", slackDocSecret, slackRequest(signSlack(slackDocSecret, ts(-5*time.Minute), body), ts(-5*time.Minute), body), nil},
		{"tampered body", slackDocSecret, slackRequest(slackDocSignature, slackDocTimestamp, []byte(strings.Replace(slackDocBody, "roadrunner", "coyote", 1))), ErrBadSignature},
		{"empty body", slackDocSecret, slackRequest(slackDocSignature, slackDocTimestamp, nil), ErrBadSignature},
		{"wrong secret", "not-the-signing-secret", slackRequest(slackDocSignature, slackDocTimestamp, body), ErrBadSignature},
		{"signature for another timestamp", slackDocSecret, slackRequest(slackDocSignature, ts(time.Second), body), ErrBadSignature},
		{"6 minutes old", slackDocSecret, slackRequest(signSlack(slackDocSecret, ts(-6*time.Minute), body), ts(-6*time.Minute), body), ErrStale},
		{"6 minutes in the future", slackDocSecret, slackRequest(signSlack(slackDocSecret, ts(6*time.Minute), body), ts(6*time.Minute), body), ErrStale},
		{"far future", slackDocSecret, slackRequest(slackDocSignature, "9223372036854775807", body), ErrStale},
		{"far past", slackDocSecret, slackRequest(slackDocSignature, "-9223372036854775808", body), ErrStale},
		{"timestamp not an integer", slackDocSecret, slackRequest(slackDocSignature, "1531420618.5", body), ErrBadTimestamp},
		{"timestamp words", slackDocSecret, slackRequest(slackDocSignature, "yesterday", body), ErrBadTimestamp},
		{"missing signature", slackDocSecret, slackRequest("", slackDocTimestamp, body), ErrMissingHeader},
		{"missing timestamp", slackDocSecret, slackRequest(slackDocSignature, "", body), ErrMissingHeader},
		{"no headers", slackDocSecret, Request{Body: body}, ErrMissingHeader},
		{"unknown version", slackDocSecret, slackRequest("v1="+strings.TrimPrefix(slackDocSignature, "v0="), slackDocTimestamp, body), ErrBadSignature},
		{"no version", slackDocSecret, slackRequest(strings.TrimPrefix(slackDocSignature, "v0="), slackDocTimestamp, body), ErrBadSignature},
		{"bad hex", slackDocSecret, slackRequest("v0=zz"+slackDocSignature[5:], slackDocTimestamp, body), ErrBadSignature},
		{"truncated signature", slackDocSecret, slackRequest(slackDocSignature[:len(slackDocSignature)-2], slackDocTimestamp, body), ErrBadSignature},
		{"empty signature hex", slackDocSecret, slackRequest("v0=", slackDocTimestamp, body), ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifySlack(tt.secret, tt.request, slackDocNow)
			checkVerifyError(t, err, tt.want)
			if err != nil {
				if strings.Contains(err.Error(), tt.secret) {
					t.Errorf("error %q contains the signing secret", err)
				}
				if sig := tt.request.Header(HeaderSlackSignature); len(sig) > 8 && strings.Contains(err.Error(), sig[3:]) {
					t.Errorf("error %q contains the signature", err)
				}
			}
		})
	}
}

func TestVerifyDiscord(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	ts := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	body := []byte(`{"id":"1","type":1,"application_id":"2","token":"t"}`)
	good := signDiscord(testDiscordKey, ts(0), body)
	_, otherKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	goodBytes, _ := hex.DecodeString(good)
	flipped := append([]byte(nil), goodBytes...)
	flipped[10] ^= 1
	tests := []struct {
		name    string
		request Request
		want    error
	}{
		{"valid", discordRequest(good, ts(0), body), nil},
		{"4m59s in the future", discordRequest(signDiscord(testDiscordKey, ts(299*time.Second), body), ts(299*time.Second), body), nil},
		{"mixed-case header names", Request{Headers: map[string]string{"X-Signature-Ed25519": good, "X-Signature-Timestamp": ts(0)}, Body: body}, nil},
		{"tampered body", discordRequest(good, ts(0), []byte(`{"id":"1","type":2,"application_id":"2","token":"t"}`)), ErrBadSignature},
		{"signature for another timestamp", discordRequest(good, ts(time.Second), body), ErrBadSignature},
		{"signed by another key", discordRequest(signDiscord(otherKey, ts(0), body), ts(0), body), ErrBadSignature},
		{"flipped bit", discordRequest(hex.EncodeToString(flipped), ts(0), body), ErrBadSignature},
		{"bad hex", discordRequest("xy"+good[2:], ts(0), body), ErrBadSignature},
		{"odd hex length", discordRequest(good[1:], ts(0), body), ErrBadSignature},
		{"short signature", discordRequest(good[:64], ts(0), body), ErrBadSignature},
		{"long signature", discordRequest(good+"00", ts(0), body), ErrBadSignature},
		{"6 minutes old", discordRequest(signDiscord(testDiscordKey, ts(-6*time.Minute), body), ts(-6*time.Minute), body), ErrStale},
		{"6 minutes in the future", discordRequest(signDiscord(testDiscordKey, ts(6*time.Minute), body), ts(6*time.Minute), body), ErrStale},
		{"timestamp not an integer", discordRequest(signDiscord(testDiscordKey, "soon", body), "soon", body), ErrBadTimestamp},
		{"missing signature", discordRequest("", ts(0), body), ErrMissingHeader},
		{"missing timestamp", discordRequest(good, "", body), ErrMissingHeader},
	}
	key := testDiscordKey.Public().(ed25519.PublicKey)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerifyError(t, verifyDiscord(key, tt.request, now), tt.want)
		})
	}
}

func checkVerifyError(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("rejected: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	if !errors.Is(err, ErrUnverified) {
		t.Errorf("error %v does not match ErrUnverified", err)
	}
}

func TestParseDiscordPublicKey(t *testing.T) {
	pub := testDiscordKey.Public().(ed25519.PublicKey)
	valid := hex.EncodeToString(pub)
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"lower-case hex", valid, true},
		{"upper-case hex", strings.ToUpper(valid), true},
		{"surrounding white space", " " + valid + "\n", true},
		{"empty", "", false},
		{"bad hex", "zz" + valid[2:], false},
		{"short", valid[:62], false},
		{"long", valid + "00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseDiscordPublicKey(tt.input)
			if !tt.ok {
				if !errors.Is(err, ErrBadPublicKey) {
					t.Fatalf("error %v, want ErrBadPublicKey", err)
				}
				if errors.Is(err, ErrUnverified) {
					t.Errorf("a configuration error must not look like a request's 401")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !key.Equal(pub) {
				t.Errorf("key %x, want %x", key, pub)
			}
		})
	}
}

func TestVerifierDoesNotPrintSecret(t *testing.T) {
	v := Verifier{SlackSigningSecret: slackDocSecret, DiscordPublicKey: testDiscordKey.Public().(ed25519.PublicKey)}
	for _, text := range []string{v.String(), v.GoString(), v.LogValue().String()} {
		if strings.Contains(text, slackDocSecret) {
			t.Errorf("%q shows the signing secret", text)
		}
		if !strings.Contains(text, "true") {
			t.Errorf("%q does not say which platforms are configured", text)
		}
	}
}
