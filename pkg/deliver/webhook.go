package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/render"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// SlackSink posts the Slack rendering to an incoming webhook.
type SlackSink struct {
	hook webhook
}

// NewSlackSink sends to the incoming-webhook URL (a secret: it never appears in an error).
// A nil client means a plain &http.Client{}; deadlines come from the context.
func NewSlackSink(webhookURL string, client *http.Client) *SlackSink {
	return &SlackSink{hook: webhook{what: "slack webhook", url: webhookURL, client: client, secrets: []string{webhookURL}}}
}

// Name implements Destination.
func (s *SlackSink) Name() string { return "slack" }

// Send implements Destination.
func (s *SlackSink) Send(ctx context.Context, r report.Report) error {
	body, err := render.Slack(r)
	if err != nil {
		return fmt.Errorf("render slack message: %w", err)
	}
	return s.hook.post(ctx, body)
}

func (s *SlackSink) secrets() []string { return s.hook.secrets }

// DiscordSink posts the Discord rendering to a channel webhook.
type DiscordSink struct {
	hook webhook
}

// NewDiscordSink sends to the webhook URL (a secret: it never appears in an error). A nil
// client means a plain &http.Client{}; deadlines come from the context.
func NewDiscordSink(webhookURL string, client *http.Client) *DiscordSink {
	return &DiscordSink{hook: webhook{what: "discord webhook", url: webhookURL, client: client, secrets: []string{webhookURL}}}
}

// Name implements Destination.
func (s *DiscordSink) Name() string { return "discord" }

// Send implements Destination.
func (s *DiscordSink) Send(ctx context.Context, r report.Report) error {
	msg, err := discordMessage(r)
	if err != nil {
		return err
	}
	target := s.hook.url
	if len(r.Offers) > 0 {
		u, err := url.Parse(s.hook.url)
		if err != nil {
			return s.hook.errorf("POST %s: malformed URL", s.hook.what)
		}
		u.RawQuery = withComponents(u.Query(), r).Encode()
		target = u.String()
	}
	_, err = s.hook.sendAs(ctx, http.MethodPost, target, msg.ctype, msg.body)
	return err
}

// withComponents asks Discord to keep a message's buttons (the offers'): a webhook message
// carries interactive components only with with_components=true, and only from a webhook
// the application owns (one created by the bot, not by hand in the channel settings).
func withComponents(q url.Values, r report.Report) url.Values {
	if len(r.Offers) > 0 {
		q.Set("with_components", "true")
	}
	return q
}

func (s *DiscordSink) secrets() []string { return s.hook.secrets }

var (
	_ Destination = (*SlackSink)(nil)
	_ Destination = (*DiscordSink)(nil)
)

// webhook sends JSON to a URL that may itself be a secret. Its errors name what was sent to
// ("slack webhook") and the status code, never the URL or the response body, and are
// scrubbed of its secrets even when a caller uses them without Deliver.
type webhook struct {
	what    string
	url     string
	client  *http.Client
	secrets []string // the URL for Slack and Discord, the routing key for PagerDuty, the bot token
	auth    string   // the Authorization header, if any (a bot token: in secrets too)
}

func (w webhook) errorf(format string, args ...any) error {
	return errors.New(scrub(fmt.Sprintf(format, args...), w.secrets))
}

// post POSTs body to the webhook's URL.
func (w webhook) post(ctx context.Context, body []byte) error {
	_, err := w.send(ctx, http.MethodPost, w.url, body)
	return err
}

// send is sendAs with a JSON body.
func (w webhook) send(ctx context.Context, method, url string, body []byte) ([]byte, error) {
	return w.sendAs(ctx, method, url, "application/json", body)
}

// sendAs makes the request and returns the response body (up to 64 KiB) of a 2xx answer; a
// 429 is retried once after its Retry-After when that wait ends before the context's
// deadline.
func (w webhook) sendAs(ctx context.Context, method, url, contentType string, body []byte) ([]byte, error) {
	if url == "" {
		return nil, w.errorf("%s %s: no URL configured", method, w.what)
	}
	status, wait, resp, err := w.do(ctx, method, url, contentType, body)
	if err != nil {
		return nil, err
	}
	if status == http.StatusTooManyRequests {
		if !fitsBefore(ctx, wait) {
			return nil, w.errorf("%s %s: status 429, retry after %s is past the deadline", method, w.what, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, w.errorf("%s %s: status 429, then %s while waiting to retry", method, w.what, ctxReason(ctx))
		case <-t.C:
		}
		if status, _, resp, err = w.do(ctx, method, url, contentType, body); err != nil {
			return nil, err
		}
	}
	if status < 200 || status > 299 {
		return nil, statusError{err: w.errorf("%s %s: status %d", method, w.what, status), status: status}
	}
	return resp, nil
}

// statusError is a non-2xx answer; status lets a caller tell "gone" (404) from a failure.
type statusError struct {
	err    error
	status int
}

func (e statusError) Error() string { return e.err.Error() }

// do makes one request and returns the status, for a 429 how long to wait, and the body.
func (w webhook) do(ctx context.Context, method, url, contentType string, body []byte) (int, time.Duration, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		// url.Parse errors quote the URL: say only that it is malformed.
		return 0, 0, nil, w.errorf("%s %s: malformed URL", method, w.what)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "gp-remediation")
	if w.auth != "" {
		req.Header.Set("Authorization", w.auth)
	}
	client := w.client
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, nil, w.errorf("%s %s: %s", method, w.what, transportReason(ctx, err))
	}
	defer resp.Body.Close()
	// Read a little: enough for the ids an API answers with, and to let the connection be
	// reused. The body never goes into an error.
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	var wait time.Duration
	if resp.StatusCode == http.StatusTooManyRequests {
		wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp.StatusCode, wait, got, nil
}

// transportReason describes a failed request without the URL that *url.Error carries.
func transportReason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ctxReason(ctx)
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return err.Error() // and errorf scrubs it, in case a URL hides deeper
}

func ctxReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out"
	}
	return "cancelled"
}

// retryAfter reads a Retry-After header: seconds (Discord sends fractions) or an HTTP date.
// Missing or unreadable means one second, a polite default.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if secs, err := strconv.ParseFloat(h, 64); err == nil && secs >= 0 && secs < 24*3600 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return time.Second
}

// fitsBefore says whether waiting d and trying again (allowing a second for the request)
// still ends before ctx's deadline.
func fitsBefore(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return d <= DefaultSendTimeout
	}
	return time.Now().Add(d).Add(time.Second).Before(deadline)
}
