package interact

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// The sending side of the checks in verify.go, for the sandbox's stand-ins, the sample events
// (events/approve) and an engineer invoking a deployed function with one: the verification is
// the production code path, and these are its inverse, tested against it.

// SignSlack returns the headers Slack sends with body at time at: the request timestamp and
// the v0 signature, with the lower-case header names of a function URL event (HMAC-SHA256 of "v0:timestamp:body" with the signing secret).
func SignSlack(secret string, body []byte, at time.Time) map[string]string {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(slackVersion + ":" + ts + ":"))
	mac.Write(body)
	return map[string]string{
		"content-type":                        "application/x-www-form-urlencoded",
		strings.ToLower(HeaderSlackTimestamp): ts,
		strings.ToLower(HeaderSlackSignature): slackVersion + "=" + hex.EncodeToString(mac.Sum(nil)),
	}
}

// SignDiscord returns the headers Discord sends with body at time at: the timestamp and the
// Ed25519 signature of timestamp followed by body. Only the holder of the application's
// private key can do this: Discord for a real application, the sandbox for its own.
func SignDiscord(key ed25519.PrivateKey, body []byte, at time.Time) map[string]string {
	ts := strconv.FormatInt(at.Unix(), 10)
	sig := ed25519.Sign(key, append([]byte(ts), body...))
	return map[string]string{
		"content-type":                          "application/json",
		strings.ToLower(HeaderDiscordTimestamp): ts,
		strings.ToLower(HeaderDiscordSignature): hex.EncodeToString(sig),
	}
}
