package interact

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// MaxSkew is how far a request's timestamp may be from now, either way, on both platforms.
// Slack asks for five minutes to bound replay. Discord's documentation only asks that the
// signature be checked, but its timestamp header (Unix seconds) is signed too, so the same
// window is applied: a captured Discord request cannot be replayed later, and a clock
// five minutes out is a fault worth failing loudly on.
const MaxSkew = 5 * time.Minute

// Header names. Lookups ignore case; function URL events spell them in lower case.
const (
	HeaderSlackSignature   = "X-Slack-Signature"
	HeaderSlackTimestamp   = "X-Slack-Request-Timestamp"
	HeaderDiscordSignature = "X-Signature-Ed25519"
	HeaderDiscordTimestamp = "X-Signature-Timestamp"
)

// slackVersion is the only signature version Slack has defined.
const slackVersion = "v0"

// ErrBadPublicKey is returned by ParseDiscordPublicKey. It is a configuration fault, not a
// property of a request, so it does not match ErrUnverified.
var ErrBadPublicKey = errors.New("discord public key must be 64 hex characters (32 bytes)")

// ParseDiscordPublicKey decodes the application's public key as the Developer Portal shows it
// (hex). Parse it once at start-up so a bad key fails the function, not every request.
func ParseDiscordPublicKey(hexKey string) (ed25519.PublicKey, error) {
	key, err := hex.DecodeString(strings.TrimSpace(hexKey))
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, ErrBadPublicKey
	}
	return ed25519.PublicKey(key), nil
}

// Verifier holds what proves a request's origin: Slack's signing secret and the Discord
// application's public key. A platform left zero is not served: its requests fail with
// ErrNotConfigured. String and LogValue do not show the secret.
type Verifier struct {
	SlackSigningSecret string
	DiscordPublicKey   ed25519.PublicKey // from ParseDiscordPublicKey
}

// VerifyAndParse verifies and parses a request from either platform, choosing by the
// signature header present: X-Slack-Signature means Slack, X-Signature-Ed25519 means Discord.
// Both present is ErrAmbiguous, neither ErrMissingHeader. Choosing by header is safe because
// the chosen platform's signature must then hold; a handler that serves each platform on its
// own path may call VerifyAndParseSlack or VerifyAndParseDiscord instead.
func (v Verifier) VerifyAndParse(r Request, now time.Time) (Interaction, error) {
	slack := r.Header(HeaderSlackSignature) != ""
	discord := r.Header(HeaderDiscordSignature) != ""
	switch {
	case slack && discord:
		return Interaction{}, ErrAmbiguous
	case slack:
		return v.VerifyAndParseSlack(r, now)
	case discord:
		return v.VerifyAndParseDiscord(r, now)
	default:
		return Interaction{}, fmt.Errorf("%w: neither %s nor %s", ErrMissingHeader, HeaderSlackSignature, HeaderDiscordSignature)
	}
}

// VerifyAndParseSlack checks Slack's request signature and timestamp against now and, only if
// both hold, parses the form body: a block_actions payload (KindButton), a slash command
// (KindCommand) or an ssl_check (KindPing).
func (v Verifier) VerifyAndParseSlack(r Request, now time.Time) (Interaction, error) {
	if v.SlackSigningSecret == "" {
		return Interaction{}, fmt.Errorf("%w: no Slack signing secret", ErrNotConfigured)
	}
	sig, err := verifySlack(v.SlackSigningSecret, r, now)
	if err != nil {
		return Interaction{}, err
	}
	in, err := parseSlack(r.Body)
	if err != nil {
		return Interaction{}, err
	}
	in.ReplayID = "slack:" + hex.EncodeToString(sig)
	return in, nil
}

// VerifyAndParseDiscord checks Discord's Ed25519 signature and timestamp against now and, only
// if both hold, parses the JSON body: PING (KindPing), APPLICATION_COMMAND (KindCommand) or
// MESSAGE_COMPONENT (KindButton).
func (v Verifier) VerifyAndParseDiscord(r Request, now time.Time) (Interaction, error) {
	if len(v.DiscordPublicKey) != ed25519.PublicKeySize {
		// ed25519.Verify panics on a key of the wrong size; a zero key means "not served".
		return Interaction{}, fmt.Errorf("%w: no valid Discord public key", ErrNotConfigured)
	}
	if err := verifyDiscord(v.DiscordPublicKey, r, now); err != nil {
		return Interaction{}, err
	}
	return parseDiscord(r.Body)
}

// String says which platforms are configured, never the secret itself.
func (v Verifier) String() string {
	return fmt.Sprintf("interact.Verifier{slack:%t discord:%t}", v.SlackSigningSecret != "", len(v.DiscordPublicKey) == ed25519.PublicKeySize)
}

// GoString keeps %#v from printing the signing secret.
func (v Verifier) GoString() string { return v.String() }

// LogValue keeps slog from printing the signing secret.
func (v Verifier) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("slack", v.SlackSigningSecret != ""),
		slog.Bool("discord", len(v.DiscordPublicKey) == ed25519.PublicKeySize),
	)
}

// verifySlack implements https://api.slack.com/authentication/verifying-requests-from-slack
// and returns the decoded signature, from which the replay id is derived. Decoding (rather
// than comparing hex text) means an upper-case spelling of the same signature is the same
// replay id, so re-casing a captured header does not slip past the ledger.
func verifySlack(secret string, r Request, now time.Time) ([]byte, error) {
	header := r.Header(HeaderSlackSignature)
	if header == "" {
		return nil, fmt.Errorf("%w: %s", ErrMissingHeader, HeaderSlackSignature)
	}
	timestamp := r.Header(HeaderSlackTimestamp)
	if timestamp == "" {
		return nil, fmt.Errorf("%w: %s", ErrMissingHeader, HeaderSlackTimestamp)
	}
	if err := checkTimestamp(timestamp, HeaderSlackTimestamp, now); err != nil {
		return nil, err
	}
	version, sigHex, ok := strings.Cut(header, "=")
	if !ok || version != slackVersion {
		return nil, fmt.Errorf("%w: %s is not a %s signature", ErrBadSignature, HeaderSlackSignature, slackVersion)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != sha256.Size {
		return nil, fmt.Errorf("%w: %s is not %d bytes of hex", ErrBadSignature, HeaderSlackSignature, sha256.Size)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(slackVersion + ":" + timestamp + ":"))
	mac.Write(r.Body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, fmt.Errorf("%w: %s does not match the body", ErrBadSignature, HeaderSlackSignature)
	}
	return sig, nil
}

// verifyDiscord implements Discord's endpoint security check: the Ed25519 signature in
// X-Signature-Ed25519 covers X-Signature-Timestamp followed by the raw body.
func verifyDiscord(key ed25519.PublicKey, r Request, now time.Time) error {
	header := r.Header(HeaderDiscordSignature)
	if header == "" {
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderDiscordSignature)
	}
	timestamp := r.Header(HeaderDiscordTimestamp)
	if timestamp == "" {
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderDiscordTimestamp)
	}
	if err := checkTimestamp(timestamp, HeaderDiscordTimestamp, now); err != nil {
		return err
	}
	sig, err := hex.DecodeString(header)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrBadSignature, HeaderDiscordSignature)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %s is %d bytes, want %d", ErrBadSignature, HeaderDiscordSignature, len(sig), ed25519.SignatureSize)
	}
	message := make([]byte, 0, len(timestamp)+len(r.Body))
	message = append(append(message, timestamp...), r.Body...)
	if !ed25519.Verify(key, message, sig) {
		return fmt.Errorf("%w: %s does not match the body", ErrBadSignature, HeaderDiscordSignature)
	}
	return nil
}

// checkTimestamp accepts whole Unix seconds no more than MaxSkew from now. The header value
// is quoted in errors: it is a number the sender chose, not a secret.
func checkTimestamp(value, header string, now time.Time) error {
	seconds, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not Unix seconds", ErrBadTimestamp, header, truncate(value, 32))
	}
	// Compare in whole seconds, as the header counts them: subtracting from now cannot
	// overflow because a seconds value that far off fails the first comparison.
	nowSeconds := now.Unix()
	maxSkew := int64(MaxSkew / time.Second)
	if seconds < nowSeconds-maxSkew || seconds > nowSeconds+maxSkew {
		direction := "behind"
		if seconds > nowSeconds {
			direction = "ahead of"
		}
		return fmt.Errorf("%w: %s is more than %s %s now", ErrStale, header, MaxSkew, direction)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
