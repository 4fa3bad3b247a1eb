package deliver

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/internal/reportfixture"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// fakeDest is a Destination whose Send is a function.
type fakeDest struct {
	name    string
	send    func(ctx context.Context, r report.Report) error
	secret  string
	mu      sync.Mutex
	reports []report.Report
}

func (f *fakeDest) Name() string { return f.name }
func (f *fakeDest) Send(ctx context.Context, r report.Report) error {
	f.mu.Lock()
	f.reports = append(f.reports, r)
	f.mu.Unlock()
	return f.send(ctx, r)
}
func (f *fakeDest) secrets() []string { return []string{f.secret} }

func TestDeliver(t *testing.T) {
	const hookURL = "https://hooks.slack.com/services/T0/B0/XOXSECRET"
	ok := func(context.Context, report.Report) error { return nil }
	dests := []Destination{
		&fakeDest{name: "sns", send: ok},
		&fakeDest{name: "failing", send: func(context.Context, report.Report) error { return errors.New("POST slack webhook: status 500") }},
		&fakeDest{name: "panicking", send: func(context.Context, report.Report) error { panic("boom at " + hookURL) }},
		&fakeDest{name: "leaky", secret: "rk-0123456789abcdef", send: func(context.Context, report.Report) error {
			return fmt.Errorf("Post %q: dial tcp: refused (key rk-0123456789abcdef)", hookURL)
		}},
		&fakeDest{name: "stuck", send: func(context.Context, report.Report) error { select {} }}, // ignores its context
		&fakeDest{name: "pagerduty", send: func(context.Context, report.Report) error { return ErrNothingToSend }},
		&fakeDest{name: "ctx-aware", send: func(ctx context.Context, _ report.Report) error {
			<-ctx.Done()
			return fmt.Errorf("POST discord webhook: %s", ctxReason(ctx))
		}},
	}
	got := DeliverTimeout(context.Background(), reportfixture.OOM(), dests, 200*time.Millisecond)
	want := []report.Sink{
		{Name: "sns", OK: true},
		{Name: "failing", Error: "POST slack webhook: status 500"},
		{Name: "panicking", Error: "panic: boom at [url]"},
		{Name: "leaky", Error: `Post "[url]": dial tcp: refused (key [redacted])`},
		{Name: "stuck", Error: "timed out after 200ms"},
		{Name: "ctx-aware", Error: "POST discord webhook: timed out"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statuses\n got %+v\nwant %+v", got, want)
	}
	if f := dests[0].(*fakeDest); len(f.reports) != 1 || f.reports[0].Headline != reportfixture.OOM().Headline {
		t.Errorf("sns got %d reports", len(f.reports))
	}
}

// TestDeliverConcurrent: every destination has started before any may finish. Run one
// after another, the first would wait for the others until its deadline and fail.
func TestDeliverConcurrent(t *testing.T) {
	const n = 5
	var started sync.WaitGroup
	started.Add(n)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	var dests []Destination
	for i := range n {
		dests = append(dests, &fakeDest{name: fmt.Sprint("d", i), send: func(ctx context.Context, _ report.Report) error {
			started.Done()
			select {
			case <-all:
				return nil
			case <-ctx.Done():
				return errors.New("the others never started")
			}
		}})
	}
	for _, s := range DeliverTimeout(context.Background(), report.Report{}, dests, 5*time.Second) {
		if !s.OK {
			t.Errorf("%s: %s", s.Name, s.Error)
		}
	}
}

func TestDeliverEmptyAndNil(t *testing.T) {
	if got := Deliver(context.Background(), report.Report{}, nil); len(got) != 0 {
		t.Errorf("no destinations gave %v", got)
	}
	got := Deliver(context.Background(), report.Report{}, []Destination{nil})
	if len(got) != 1 || got[0].OK || got[0].Name != "unknown" {
		t.Errorf("nil destination gave %+v", got)
	}
}

func TestScrub(t *testing.T) {
	cases := []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"url in quotes", `Post "https://discord.com/api/webhooks/1/tok": EOF`, nil, `Post "[url]": EOF`},
		{"bare url", "dial https://h/x?y=1 failed", nil, "dial [url] failed"},
		{"secret and its escaped form", "key a/b c=d, sent a%2Fb%20c%3Dd", []string{"a/b c=d"}, "key [redacted], sent [redacted]"},
		{"short secrets are not secrets", "x y", []string{"x", ""}, "x y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scrub(tc.in, tc.secrets); got != tc.want {
				t.Errorf("scrub = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDeliverCallerContext: the caller's deadline or cancellation bounds every destination,
// and the status says which it was.
func TestDeliverCallerContext(t *testing.T) {
	stuck := &fakeDest{name: "stuck", send: func(context.Context, report.Report) error { select {} }}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	st := DeliverTimeout(ctx, report.Report{}, []Destination{stuck}, time.Minute)
	if len(st) != 1 || st[0].OK || !strings.HasPrefix(st[0].Error, "timed out after ") || strings.HasSuffix(st[0].Error, "1m0s") {
		t.Errorf("status %+v, want a timeout at the caller's deadline", st)
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	st = DeliverTimeout(ctx, report.Report{}, []Destination{stuck}, time.Minute)
	if len(st) != 1 || st[0].Error != "cancelled before it finished" {
		t.Errorf("status %+v, want cancelled", st)
	}
}
