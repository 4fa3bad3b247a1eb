package interact

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// SignSlack gives Slack's documented signature for its documented request, and what it signs
// the Verifier accepts; a signature with another secret it refuses.
func TestSignSlack(t *testing.T) {
	h := SignSlack(slackDocSecret, []byte(slackDocBody), slackDocNow)
	if h["x-slack-signature"] != slackDocSignature || h["x-slack-request-timestamp"] != slackDocTimestamp {
		t.Fatalf("headers %v, Slack documents %s at %s", h, slackDocSignature, slackDocTimestamp)
	}
	v := Verifier{SlackSigningSecret: slackDocSecret}
	if _, err := v.VerifyAndParse(Request{Headers: h, Body: []byte(slackDocBody)}, slackDocNow); err != nil {
		t.Fatalf("the Verifier refused what SignSlack signed: %v", err)
	}
	other := SignSlack("another secret", []byte(slackDocBody), slackDocNow)
	if _, err := v.VerifyAndParse(Request{Headers: other, Body: []byte(slackDocBody)}, slackDocNow); err == nil {
		t.Fatal("a signature with another secret was accepted")
	}
}

// What SignDiscord signs the Verifier accepts with the matching public key, and only with it.
func TestSignDiscord(t *testing.T) {
	body := []byte(`{"type":1,"id":"1","application_id":"2","token":"t","version":1}`)
	now := time.Unix(1733368440, 0)
	h := SignDiscord(testDiscordKey, body, now)
	v := Verifier{DiscordPublicKey: testDiscordKey.Public().(ed25519.PublicKey)}
	if _, err := v.VerifyAndParse(Request{Headers: h, Body: body}, now); err != nil {
		t.Fatalf("the Verifier refused what SignDiscord signed: %v", err)
	}
	other := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	if _, err := v.VerifyAndParse(Request{Headers: SignDiscord(other, body, now), Body: body}, now); err == nil {
		t.Fatal("a signature by another key was accepted")
	}
}
