package discord

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The token looks like a real one so a leak would be obvious in any message.
const token = "MTA4NzY1NDMyMTAxMjM0NTY3OA.GxYzAb.s3cr3t-t0ken-v4lue_abcdefghijklmnop"

// discordStub answers like the sandbox and records what it saw.
type discordStub struct {
	mu      sync.Mutex
	seen    []*http.Request
	status  int
	header  http.Header
	body    string
	blockFn func(r *http.Request)
}

func (s *discordStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, r.Clone(context.Background()))
	s.mu.Unlock()
	if s.blockFn != nil {
		s.blockFn(r)
	}
	if r.URL.Path != "/api/v10/gateway/bot" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bot "+token {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message": "401: Unauthorized", "code": 0}`)
		return
	}
	for k, vs := range s.header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	io.WriteString(w, s.body)
}

const okBody = `{"url":"wss://gateway.discord.gg","shards":1,"session_start_limit":{"total":1000,"remaining":900,"reset_after":10800000,"max_concurrency":1}}`

func newStub(t *testing.T, status int, body string, header http.Header) (*discordStub, string) {
	t.Helper()
	s := &discordStub{status: status, body: body, header: header}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL + "/api/v10"
}

func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), token) {
		t.Fatalf("error leaks the token: %v", err)
	}
}

func TestGatewayBotSuccess(t *testing.T) {
	stub, base := newStub(t, http.StatusOK, okBody, nil)
	tests := []struct {
		name, base, token string
	}{
		{name: "plain", base: base, token: token},
		{name: "base with trailing slash", base: base + "/", token: token},
		{name: "token with Bot prefix and newline from the secret", base: base, token: "Bot " + token + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := GatewayBot(context.Background(), tc.base, tc.token)
			if err != nil {
				t.Fatal(err)
			}
			want := SessionBudget{Total: 1000, Remaining: 900, ResetAfter: 3 * time.Hour, MaxConcurrency: 1, Shards: 1}
			if b != want {
				t.Fatalf("budget %+v, want %+v", b, want)
			}
		})
	}
	stub.mu.Lock()
	defer stub.mu.Unlock()
	ua := regexp.MustCompile(`^DiscordBot \(https?://\S+, [0-9][0-9.]*\)$`)
	for _, r := range stub.seen {
		if r.Method != http.MethodGet || r.URL.Path != "/api/v10/gateway/bot" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bot "+token {
			t.Errorf("Authorization header %q", got)
		}
		if got := r.Header.Get("User-Agent"); !ua.MatchString(got) {
			t.Errorf("User-Agent %q does not follow Discord's DiscordBot (url, version)", got)
		}
	}
}

func TestGatewayBotFractionalResetAndShards(t *testing.T) {
	_, base := newStub(t, http.StatusOK, `{"url":"wss://gateway.discord.gg","shards":4,"session_start_limit":{"total":1000,"remaining":0,"reset_after":1500.5,"max_concurrency":16}}`, nil)
	b, err := GatewayBot(context.Background(), base, token)
	if err != nil {
		t.Fatal(err)
	}
	if b.Remaining != 0 || b.Shards != 4 || b.MaxConcurrency != 16 || b.ResetAfter != 1500500*time.Microsecond {
		t.Fatalf("budget %+v", b)
	}
}

func TestGatewayBotErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		header http.Header
		token  string
		check  func(t *testing.T, err error)
	}{
		{name: "401 is ErrUnauthorized", status: http.StatusOK, body: okBody, token: "wrong-" + token, check: func(t *testing.T, err error) {
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("want ErrUnauthorized, got %v", err)
			}
			if strings.Contains(err.Error(), "wrong-") {
				t.Fatalf("error leaks the rejected token: %v", err)
			}
		}},
		{name: "429 with JSON retry_after", status: http.StatusTooManyRequests, body: `{"message": "You are being rate limited.", "retry_after": 64.57, "global": true}`,
			header: http.Header{"Retry-After": {"65"}}, check: func(t *testing.T, err error) {
				var rl *RateLimitError
				if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) {
					t.Fatalf("want a RateLimitError, got %v", err)
				}
				if rl.RetryAfter != 64570*time.Millisecond || !rl.Global {
					t.Fatalf("retry after %s global %v", rl.RetryAfter, rl.Global)
				}
			}},
		{name: "429 with only Retry-After", status: http.StatusTooManyRequests, body: `rate limited`, header: http.Header{"Retry-After": {"5"}}, check: func(t *testing.T, err error) {
			var rl *RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter != 5*time.Second || rl.Global {
				t.Fatalf("got %v", err)
			}
		}},
		{name: "429 with X-RateLimit-Reset-After", status: http.StatusTooManyRequests, body: `{}`, header: http.Header{"X-Ratelimit-Reset-After": {"1.25"}, "X-Ratelimit-Scope": {"global"}}, check: func(t *testing.T, err error) {
			var rl *RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter != 1250*time.Millisecond || !rl.Global {
				t.Fatalf("got %v", err)
			}
		}},
		{name: "500 with Discord message", status: http.StatusInternalServerError, body: `{"message": "Internal Server Error", "code": 0}`, check: func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != 500 || !strings.Contains(err.Error(), "Internal Server Error") {
				t.Fatalf("got %v", err)
			}
			if errors.Is(err, ErrUnauthorized) {
				t.Fatal("a 500 is not evidence of a bad token")
			}
		}},
		{name: "403 from a proxy echoing the token", status: http.StatusForbidden, body: "<html><body>blocked request with Authorization: Bot " + token + "</body></html>", check: func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != 403 || !strings.Contains(err.Error(), "[redacted]") {
				t.Fatalf("got %v", err)
			}
		}},
		{name: "long error body is cut", status: http.StatusBadGateway, body: strings.Repeat("x", 5000), check: func(t *testing.T, err error) {
			if len(err.Error()) > 400 {
				t.Fatalf("error is %d bytes long", len(err.Error()))
			}
		}},
		{name: "malformed JSON", status: http.StatusOK, body: `{"session_start_limit": {"total": 1000, "remaining": `, check: func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "decode answer") {
				t.Fatalf("got %v", err)
			}
		}},
		{name: "wrong JSON types", status: http.StatusOK, body: `{"session_start_limit": {"total": "many", "remaining": 1}}`, check: func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "decode answer") {
				t.Fatalf("got %v", err)
			}
		}},
		{name: "no session_start_limit is not an empty budget", status: http.StatusOK, body: `{"url":"wss://gateway.discord.gg","shards":1}`, check: func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "session_start_limit") {
				t.Fatalf("got %v", err)
			}
		}},
		{name: "empty token", status: http.StatusOK, body: okBody, token: "  \n", check: func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "empty bot token") {
				t.Fatalf("got %v", err)
			}
		}},
		{name: "token with inner whitespace", status: http.StatusOK, body: okBody, token: token[:10] + "\n" + token[10:], check: func(t *testing.T, err error) {
			if err == nil || strings.Contains(err.Error(), token[10:]) {
				t.Fatalf("got %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, base := newStub(t, tc.status, tc.body, tc.header)
			tok := tc.token
			if tok == "" {
				tok = token
			}
			_, err := GatewayBot(context.Background(), base, tok)
			if err == nil {
				t.Fatal("want an error")
			}
			noToken(t, err)
			tc.check(t, err)
			t.Log(err)
		})
	}
}

func TestGatewayBotTransportErrors(t *testing.T) {
	t.Run("deadline while the server hangs", func(t *testing.T) {
		stub, base := newStub(t, http.StatusOK, okBody, nil)
		stub.blockFn = func(r *http.Request) { <-r.Context().Done() }
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := GatewayBot(ctx, base, token)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want DeadlineExceeded, got %v", err)
		}
		noToken(t, err)
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL + "/api/v10"
		srv.Close()
		_, err := GatewayBot(context.Background(), base, token)
		if err == nil {
			t.Fatal("want an error")
		}
		noToken(t, err)
	})
	t.Run("bad base URL does not echo its password", func(t *testing.T) {
		_, err := GatewayBot(context.Background(), "ftp://user:hunter2@example.com/api", token)
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "not an http(s) URL") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("custom client is used", func(t *testing.T) {
		_, base := newStub(t, http.StatusOK, okBody, nil)
		var used bool
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			used = true
			return http.DefaultTransport.RoundTrip(r)
		})}
		if _, err := (&Client{BaseURL: base, HTTP: hc}).GatewayBot(context.Background(), token); err != nil || !used {
			t.Fatalf("err %v used %v", err, used)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCanRestart(t *testing.T) {
	tests := []struct {
		name   string
		b      SessionBudget
		min    int
		want   bool
		whyHas []string
	}{
		{name: "plenty left", b: SessionBudget{Total: 1000, Remaining: 900, ResetAfter: 3 * time.Hour, Shards: 1}, min: 5, want: true, whyHas: []string{"900 of 1000", "leaving 899", "resets in 3h0m0s"}},
		{name: "two left", b: SessionBudget{Total: 1000, Remaining: 2, ResetAfter: 3 * time.Hour, Shards: 1}, min: 5, want: false, whyHas: []string{"only 2 of 1000", "at least 5", "resets in 3h0m0s"}},
		{name: "leaves exactly the minimum", b: SessionBudget{Total: 1000, Remaining: 6, ResetAfter: 90 * time.Second, Shards: 1}, min: 5, want: true, whyHas: []string{"leaving 5", "resets in 2m0s"}},
		{name: "would leave one under the minimum", b: SessionBudget{Total: 1000, Remaining: 5, ResetAfter: 42 * time.Second}, min: 5, want: false, whyHas: []string{"needs 1", "resets in 42s"}},
		{name: "every shard spends a start", b: SessionBudget{Total: 1000, Remaining: 8, ResetAfter: time.Hour, Shards: 4}, min: 5, want: false, whyHas: []string{"needs 4"}},
		{name: "zero minimum, one left", b: SessionBudget{Total: 1000, Remaining: 1, ResetAfter: time.Hour, Shards: 1}, min: 0, want: true},
		{name: "zero minimum, none left", b: SessionBudget{Total: 1000, Remaining: 0, ResetAfter: time.Hour, Shards: 1}, min: 0, want: false},
		{name: "unknown budget", b: SessionBudget{}, min: 5, want: false, whyHas: []string{"unknown", "reset time unknown"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := CanRestart(tc.b, tc.min)
			if ok != tc.want {
				t.Fatalf("ok = %v, want %v: %s", ok, tc.want, why)
			}
			for _, s := range tc.whyHas {
				if !strings.Contains(why, s) {
					t.Errorf("why %q lacks %q", why, s)
				}
			}
		})
	}
}
