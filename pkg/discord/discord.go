// Package discord reads the bot's gateway session-start budget (GET /gateway/bot), so the
// functions can tell whether restarting the ingestor is safe: every gateway connection
// (one per shard) spends one session start, Discord allows a fixed number per 24 hours,
// and running out means Discord resets the bot's token.
//
// The token is a credential: it goes into the Authorization header and nowhere else. No
// error, log line or report carries it.
package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/scrub"
)

// UserAgent follows Discord's rule for bots, "DiscordBot ($url, $versionNumber)"; requests
// without a valid one may be blocked.
const UserAgent = "DiscordBot (https://github.com/arrakis/gp-remediation, 1.0)"

// ErrUnauthorized means Discord rejected the token (HTTP 401): evidence that the token is
// invalid, revoked or reset. Test with errors.Is.
var ErrUnauthorized = errors.New("discord rejected the bot token (401 Unauthorized)")

// ErrRateLimited is matched (errors.Is) by a *RateLimitError.
var ErrRateLimited = errors.New("discord rate limit (429 Too Many Requests)")

// RateLimitError is a 429 answer and how long Discord asks us to wait.
type RateLimitError struct {
	RetryAfter time.Duration
	Global     bool // the limit is global to the bot, not just this route
}

func (e *RateLimitError) Error() string {
	scope := "route"
	if e.Global {
		scope = "global"
	}
	return fmt.Sprintf("%v, %s limit: retry after %s", ErrRateLimited, scope, e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// StatusError is any other non-2xx answer.
type StatusError struct {
	StatusCode int
	Message    string // Discord's JSON "message" when it sent one, else a short body excerpt
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("discord answered HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("discord answered HTTP %d: %s", e.StatusCode, e.Message)
}

// SessionBudget is session_start_limit from GET /gateway/bot.
type SessionBudget struct {
	Total          int           // session starts allowed per reset period
	Remaining      int           // session starts left
	ResetAfter     time.Duration // until Remaining goes back to Total
	MaxConcurrency int           // identify requests allowed per 5 seconds
	// Shards is Discord's recommended shard count: a restart of an ingestor that follows it
	// spends this many session starts.
	Shards int
}

// Client calls the Discord REST API.
type Client struct {
	// BaseURL is the API root, such as https://discord.com/api/v10 (config.EnvDiscordAPIURL).
	BaseURL string
	// HTTP is the client used; nil means a client with a 10-second timeout. The ctx deadline
	// applies either way.
	HTTP *http.Client
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// maxBody bounds what we read: the real answer is ~150 bytes.
const maxBody = 64 << 10

// GatewayBot calls GET {baseURL}/gateway/bot with the bot token and returns the session
// budget. See Client.GatewayBot.
func GatewayBot(ctx context.Context, baseURL, token string) (SessionBudget, error) {
	return (&Client{BaseURL: baseURL}).GatewayBot(ctx, token)
}

// GatewayBot returns the bot's session-start budget. A 401 returns an error matching
// ErrUnauthorized; a 429 a *RateLimitError; any other non-2xx a *StatusError.
func (c *Client) GatewayBot(ctx context.Context, token string) (SessionBudget, error) {
	token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(token), "Bot "))
	if token == "" {
		return SessionBudget{}, errors.New("discord gateway/bot: empty bot token")
	}
	if strings.ContainsAny(token, "\r\n\t ") {
		// net/http would refuse the header anyway; say so without echoing it.
		return SessionBudget{}, errors.New("discord gateway/bot: bot token contains whitespace")
	}
	base, err := url.Parse(c.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return SessionBudget{}, fmt.Errorf("discord gateway/bot: base URL %s is not an http(s) URL", redactURL(c.BaseURL))
	}
	endpoint := base.JoinPath("gateway", "bot").String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return SessionBudget{}, fmt.Errorf("discord gateway/bot: build request: %w", err)
	}
	req.Header.Set("Authorization", "Bot "+token)
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "application/json")

	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error carries the method and URL, never the headers.
		return SessionBudget{}, fmt.Errorf("discord gateway/bot: %w", scrub.Error(err, token))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return SessionBudget{}, fmt.Errorf("discord gateway/bot: read answer (HTTP %d): %w", resp.StatusCode, scrub.Error(err, token))
	}

	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return SessionBudget{}, fmt.Errorf("discord gateway/bot: %w", ErrUnauthorized)
	case resp.StatusCode == http.StatusTooManyRequests:
		return SessionBudget{}, fmt.Errorf("discord gateway/bot: %w", rateLimit(resp.Header, body))
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return SessionBudget{}, fmt.Errorf("discord gateway/bot: %w", &StatusError{StatusCode: resp.StatusCode, Message: message(body, token)})
	}

	var gb struct {
		Shards *int `json:"shards"`
		Limit  *struct {
			Total          *int     `json:"total"`
			Remaining      *int     `json:"remaining"`
			ResetAfter     *float64 `json:"reset_after"` // milliseconds
			MaxConcurrency int      `json:"max_concurrency"`
		} `json:"session_start_limit"`
	}
	if err := json.Unmarshal(body, &gb); err != nil {
		return SessionBudget{}, fmt.Errorf("discord gateway/bot: decode answer (HTTP %d, %d bytes): %w", resp.StatusCode, len(body), scrub.JSONError(err))
	}
	// A budget we cannot read must not look like an empty one (or a full one).
	if gb.Limit == nil || gb.Limit.Total == nil || gb.Limit.Remaining == nil {
		return SessionBudget{}, fmt.Errorf("discord gateway/bot: answer has no session_start_limit.total/remaining (HTTP %d)", resp.StatusCode)
	}
	b := SessionBudget{Total: *gb.Limit.Total, Remaining: *gb.Limit.Remaining, MaxConcurrency: gb.Limit.MaxConcurrency, Shards: 1}
	if gb.Shards != nil && *gb.Shards > 0 {
		b.Shards = *gb.Shards
	}
	if ra := gb.Limit.ResetAfter; ra != nil && *ra > 0 {
		b.ResetAfter = millis(*ra)
	}
	return b, nil
}

// CanRestart is the "enough session starts left?" guard before an ingestor restart. A
// restart spends one session start per shard; afterwards at least minLeft must remain, so a
// crash loop after our restart cannot burn the last ones (running out resets the token).
// why always says what was compared and when the budget resets.
func CanRestart(b SessionBudget, minLeft int) (ok bool, why string) {
	need := max(b.Shards, 1)
	reset := "resets in " + roundDuration(b.ResetAfter)
	if b.ResetAfter <= 0 {
		reset = "reset time unknown"
	}
	if b.Total <= 0 {
		return false, fmt.Sprintf("session-start budget unknown (total %d, remaining %d); %s", b.Total, b.Remaining, reset)
	}
	left := b.Remaining - need
	if left < minLeft {
		return false, fmt.Sprintf("only %d of %d Discord session starts left; a restart needs %d and must leave at least %d; %s",
			b.Remaining, b.Total, need, minLeft, reset)
	}
	return true, fmt.Sprintf("%d of %d Discord session starts left; a restart needs %d, leaving %d (minimum %d); %s",
		b.Remaining, b.Total, need, left, minLeft, reset)
}

// rateLimit reads a 429: the JSON retry_after (seconds, fractional) is the most precise,
// then X-RateLimit-Reset-After, then Retry-After (whole seconds).
func rateLimit(h http.Header, body []byte) *RateLimitError {
	e := &RateLimitError{Global: strings.EqualFold(h.Get("X-RateLimit-Global"), "true") || h.Get("X-RateLimit-Scope") == "global"}
	var rl struct {
		RetryAfter *float64 `json:"retry_after"`
		Global     bool     `json:"global"`
	}
	if json.Unmarshal(body, &rl) == nil {
		e.Global = e.Global || rl.Global
		if rl.RetryAfter != nil && *rl.RetryAfter > 0 {
			e.RetryAfter = millis(*rl.RetryAfter * 1000)
			return e
		}
	}
	for _, name := range []string{"X-RateLimit-Reset-After", "Retry-After"} {
		if s, err := strconv.ParseFloat(strings.TrimSpace(h.Get(name)), 64); err == nil && s > 0 {
			e.RetryAfter = millis(s * 1000)
			return e
		}
	}
	return e
}

// millis converts milliseconds to a Duration, clamped so absurd values cannot overflow.
func millis(ms float64) time.Duration {
	const maxMS = float64(30 * 24 * time.Hour / time.Millisecond)
	if !(ms > 0) {
		return 0
	}
	return time.Duration(math.Round(math.Min(ms, maxMS) * float64(time.Millisecond)))
}

// message extracts Discord's error message, or a short excerpt of a non-JSON body (a proxy's
// HTML page), with the token removed in case something echoed it.
func message(body []byte, token string) string {
	var e struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = e.Message
		if e.Code != 0 {
			msg = fmt.Sprintf("%s (code %d)", msg, e.Code)
		}
	} else {
		msg = strings.Join(strings.Fields(string(body)), " ")
	}
	msg = strings.ReplaceAll(msg, token, scrub.Marker)
	if r := []rune(msg); len(r) > 200 {
		msg = string(r[:200]) + "…"
	}
	return msg
}

// redactURL drops a userinfo password from a URL for an error message.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	return strconv.Quote(u.Redacted())
}

func roundDuration(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}
