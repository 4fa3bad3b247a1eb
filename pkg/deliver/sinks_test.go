package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/internal/reportfixture"
	"github.com/arrakis/gp-remediation/pkg/render"

	"github.com/arrakis/gp-remediation/pkg/report"

	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// hookPath is the secret part of a webhook URL, as in Slack's and Discord's.
const hookPath = "/services/T0000/B0000/XOXBSECRETTOKEN"

// recorder is an httptest server answering with the statuses (and Retry-After values) it
// is given, one per request, and recording what it received.
type recorder struct {
	srv       *httptest.Server
	mu        sync.Mutex
	bodies    [][]byte
	headers   []http.Header
	statuses  []int
	retry     []string
	delay     time.Duration
	requests  atomic.Int32
	badMethod atomic.Bool
}

func newRecorder(t *testing.T, statuses []int, retry []string) *recorder {
	rec := &recorder{statuses: statuses, retry: retry}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := int(rec.requests.Add(1)) - 1
		if req.Method != http.MethodPost || req.URL.Path != hookPath && req.URL.Path != "/v2/enqueue" {
			rec.badMethod.Store(true)
		}
		body, _ := io.ReadAll(req.Body)
		rec.mu.Lock()
		rec.bodies = append(rec.bodies, body)
		rec.headers = append(rec.headers, req.Header.Clone())
		rec.mu.Unlock()
		if rec.delay > 0 {
			select {
			case <-time.After(rec.delay):
			case <-req.Context().Done():
				return
			}
		}
		status := http.StatusOK
		if n < len(rec.statuses) {
			status = rec.statuses[n]
		}
		if n < len(rec.retry) && rec.retry[n] != "" {
			w.Header().Set("Retry-After", rec.retry[n])
		}
		w.WriteHeader(status)
		// A body that echoes the request path: it must never reach an error message.
		_, _ = io.WriteString(w, `{"message":"bad request to `+req.URL.Path+`"}`)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// assertNoSecret fails when msg holds a URL, the webhook path or the key. (host:port may
// appear, as in "dial tcp host:443": the host of a webhook is no secret.)
func assertNoSecret(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, "XOXBSECRETTOKEN", "http://") {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error %q contains %q", msg, s)
		}
	}
}

func TestWebhookSinks(t *testing.T) {
	cases := []struct {
		name     string
		statuses []int
		retry    []string
		delay    time.Duration
		timeout  time.Duration
		wantErr  string // "" for success
		requests int32
	}{
		{name: "delivered", statuses: []int{200}, requests: 1},
		{name: "204 no content is success", statuses: []int{204}, requests: 1},
		{name: "server error", statuses: []int{500}, wantErr: "POST %s webhook: status 500", requests: 1},
		{name: "not found", statuses: []int{404}, wantErr: "POST %s webhook: status 404", requests: 1},
		{name: "429 honoured once", statuses: []int{429, 200}, retry: []string{"0.3"}, requests: 2},
		{name: "429 twice", statuses: []int{429, 429}, retry: []string{"0", "0"}, wantErr: "POST %s webhook: status 429", requests: 2},
		{name: "429 past the deadline", statuses: []int{429}, retry: []string{"30"},
			wantErr: "POST %s webhook: status 429, retry after 30s is past the deadline", requests: 1},
		{name: "slow webhook", delay: 2 * time.Second, timeout: 300 * time.Millisecond,
			wantErr: "POST %s webhook: timed out", requests: 1},
	}
	for _, kind := range []string{"slack", "discord"} {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				rec := newRecorder(t, tc.statuses, tc.retry)
				rec.delay = tc.delay
				url := rec.srv.URL + hookPath
				var dest Destination = NewSlackSink(url, rec.srv.Client())
				if kind == "discord" {
					dest = NewDiscordSink(url, rec.srv.Client())
				}
				timeout := tc.timeout
				if timeout == 0 {
					timeout = DefaultSendTimeout
				}
				r := reportfixture.DryRun()
				st := DeliverTimeout(context.Background(), r, []Destination{dest}, timeout)
				if len(st) != 1 || st[0].Name != kind {
					t.Fatalf("statuses %+v", st)
				}
				if tc.wantErr == "" {
					if !st[0].OK || st[0].Error != "" {
						t.Errorf("status %+v, want ok", st[0])
					}
				} else {
					want := strings.Replace(tc.wantErr, "%s", kind, 1)
					if st[0].OK || st[0].Error != want {
						t.Errorf("status %+v, want error %q", st[0], want)
					}
				}
				assertNoSecret(t, st[0].Error, rec.srv.URL)
				if got := rec.requests.Load(); got != tc.requests {
					t.Errorf("%d requests, want %d", got, tc.requests)
				}
				if rec.badMethod.Load() {
					t.Error("not a POST to the webhook path")
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				want, _ := render.Slack(r)
				if kind == "discord" {
					want, _ = render.Discord(r)
				}
				for i, b := range rec.bodies {
					if !bytes.Equal(b, want) {
						t.Errorf("request %d body is not the %s rendering", i, kind)
					}
					if ct := rec.headers[i].Get("Content-Type"); ct != "application/json" {
						t.Errorf("Content-Type %q", ct)
					}
				}
			})
		}
	}
}

func TestWebhookTransportErrors(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + hookPath
	dead.Close() // nothing listens there now

	cases := []struct {
		name string
		dest Destination
		want string // prefix
	}{
		{"connection refused", NewSlackSink(deadURL, nil), "POST slack webhook: dial tcp"},
		{"malformed URL", NewDiscordSink("http://[::1\x7f"+hookPath, nil), "POST discord webhook: malformed URL"},
		{"no URL", NewSlackSink("", nil), "POST slack webhook: no URL configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := Deliver(context.Background(), reportfixture.OOM(), []Destination{tc.dest})
			if len(st) != 1 || st[0].OK || !strings.HasPrefix(st[0].Error, tc.want) {
				t.Fatalf("status %+v, want an error starting %q", st, tc.want)
			}
			assertNoSecret(t, st[0].Error, deadURL)
			// Called directly, without Deliver's scrubbing, the error is just as clean.
			err := tc.dest.Send(context.Background(), reportfixture.OOM())
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Send: %v, want an error starting %q", err, tc.want)
			}
			assertNoSecret(t, err.Error(), deadURL)
		})
	}
	// The raw error net/http gives does hold the URL: what the sink must not pass on.
	_, err := http.Post(deadURL, "application/json", nil)
	if err == nil || !strings.Contains(err.Error(), "XOXBSECRETTOKEN") {
		t.Fatalf("expected net/http's error to quote the URL, got %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"2", 2 * time.Second},
		{"0.25", 250 * time.Millisecond},
		{"Fri, 27 Nov 2026 03:00:10 GMT", 10 * time.Second},
		{"Fri, 27 Nov 2026 02:00:00 GMT", 0},
		{"", time.Second},
		{"soon", time.Second},
		{"-3", time.Second},
	}
	for _, tc := range cases {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// fakeSNS records the PublishInput it is given.
type fakeSNS struct {
	in  *sns.PublishInput
	err error
}

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.in = in
	if f.err != nil {
		return nil, f.err
	}
	return &sns.PublishOutput{}, nil
}

var _ SNSPublisher = (*sns.Client)(nil)

func TestSNSSink(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:123456789012:arrakis-staging-gp-remediation-reports"
	t.Run("publishes the text rendering with filter attributes", func(t *testing.T) {
		f := &fakeSNS{}
		r := reportfixture.OOM()
		st := Deliver(context.Background(), r, []Destination{NewSNSSink(f, topic)})
		if len(st) != 1 || !st[0].OK || st[0].Name != "sns" {
			t.Fatalf("status %+v", st)
		}
		subject, body := render.Text(r)
		if *f.in.TopicArn != topic || *f.in.Subject != subject || *f.in.Message != body {
			t.Errorf("PublishInput topic %q subject %q, message matches: %v", *f.in.TopicArn, *f.in.Subject, *f.in.Message == body)
		}
		want := map[string]string{"severity": "CRITICAL", "function": "no-tasks", "environment": "staging", "finding": "oom-killed"}
		if len(f.in.MessageAttributes) != len(want) {
			t.Errorf("attributes %v", f.in.MessageAttributes)
		}
		for k, v := range want {
			a, ok := f.in.MessageAttributes[k]
			if !ok || *a.DataType != "String" || *a.StringValue != v {
				t.Errorf("attribute %s = %+v, want String %q", k, a, v)
			}
		}
	})
	t.Run("empty attributes are left out", func(t *testing.T) {
		f := &fakeSNS{}
		_ = NewSNSSink(f, topic).Send(context.Background(), reportfixture.InputError())
		if _, ok := f.in.MessageAttributes["finding"]; ok {
			t.Error("empty finding sent as an attribute (SNS rejects empty values)")
		}
		if *f.in.MessageAttributes["severity"].StringValue != "INFO" {
			t.Error("severity missing")
		}
	})
	t.Run("failure is a status, wrapped with what was done", func(t *testing.T) {
		f := &fakeSNS{err: errors.New("operation error SNS: Publish, NotFound: Topic does not exist")}
		st := Deliver(context.Background(), reportfixture.OOM(), []Destination{NewSNSSink(f, topic)})
		want := "publish report to " + topic + ": operation error SNS: Publish, NotFound: Topic does not exist"
		if len(st) != 1 || st[0].OK || st[0].Error != want {
			t.Errorf("status %+v, want %q", st, want)
		}
	})
	t.Run("huge report stays within SNS size", func(t *testing.T) {
		f := &fakeSNS{}
		if err := NewSNSSink(f, topic).Send(context.Background(), reportfixture.Huge()); err != nil {
			t.Fatal(err)
		}
		size := len(*f.in.Message)
		for k, a := range f.in.MessageAttributes {
			size += len(k) + len(*a.DataType) + len(*a.StringValue)
		}
		if size > 256*1024 || len(*f.in.Subject) >= 100 {
			t.Errorf("message and attributes are %d bytes, subject %d chars", size, len(*f.in.Subject))
		}
	})
}

// pdEventIn is the Events API v2 event as PagerDuty reads it.
type pdEventIn struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary       string `json:"summary"`
		Source        string `json:"source"`
		Severity      string `json:"severity"`
		Timestamp     string `json:"timestamp"`
		Component     string `json:"component"`
		Group         string `json:"group"`
		Class         string `json:"class"`
		CustomDetails struct {
			Finding struct {
				Code     string   `json:"code"`
				Summary  string   `json:"summary"`
				Evidence []string `json:"evidence"`
			} `json:"finding"`
			Actions      []report.Action      `json:"actions"`
			Verification *report.Verification `json:"verification"`
		} `json:"custom_details"`
	} `json:"payload"`
	Links []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
}

const routingKey = "R0UT1NGKEY0123456789abcdefabcdef"

func TestPagerDutyTrigger(t *testing.T) {
	rec := newRecorder(t, []int{202}, nil)
	pd := NewPagerDutySink(routingKey, rec.srv.URL+"/v2/enqueue", rec.srv.Client())
	r := reportfixture.Paged()
	if err := pd.Trigger(context.Background(), r, "gp-remediation/production/DLQ Messages"); err != nil {
		t.Fatal(err)
	}
	var ev pdEventIn
	if err := json.Unmarshal(rec.bodies[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RoutingKey != routingKey || ev.EventAction != "trigger" || ev.DedupKey != "gp-remediation/production/DLQ Messages" {
		t.Errorf("envelope %+v", ev)
	}
	p := ev.Payload
	if p.Summary != r.Headline || p.Source != "DLQ Messages" || p.Severity != "critical" || p.Group != "production" ||
		p.Class != "transient" || p.Component != "arrakis.interactions" || p.Timestamp != "2026-11-27T03:12:00Z" {
		t.Errorf("payload %+v", p)
	}
	cd := p.CustomDetails
	if cd.Finding.Code != "transient" || len(cd.Finding.Evidence) != 1 || len(cd.Actions) != 1 ||
		cd.Actions[0].Outcome != report.OutcomeFailed || cd.Verification == nil || cd.Verification.Status != report.Unverified {
		t.Errorf("custom_details %+v", cd)
	}
	if len(ev.Links) != len(r.Links) {
		t.Errorf("links %+v", ev.Links)
	}
}

func TestPagerDutyLimits(t *testing.T) {
	rec := newRecorder(t, []int{202}, nil)
	pd := NewPagerDutySink(routingKey, rec.srv.URL+"/v2/enqueue", rec.srv.Client())
	r := reportfixture.Huge()
	r.Headline = strings.Repeat("é", 3000)
	if err := pd.Trigger(context.Background(), r, strings.Repeat("k", 400)); err != nil {
		t.Fatal(err)
	}
	var ev pdEventIn
	if err := json.Unmarshal(rec.bodies[0], &ev); err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(ev.Payload.Summary)); n > 1024 || !strings.HasPrefix(ev.Payload.Summary, "éé") {
		t.Errorf("summary of %d chars", n)
	}
	if len(ev.DedupKey) > 255 {
		t.Errorf("dedup key of %d bytes", len(ev.DedupKey))
	}
	if len(rec.bodies[0]) > 512*1000 {
		t.Errorf("event of %d bytes, PagerDuty takes 512 KB", len(rec.bodies[0]))
	}
	if n := len(ev.Payload.CustomDetails.Finding.Evidence); n != 50+1 {
		t.Errorf("%d evidence lines, want %d and a note", n, 50)
	}
	if ev.Payload.Severity != "critical" {
		t.Errorf("severity %q", ev.Payload.Severity)
	}
}

// TestPagerDutyTriggerAndResolve: the one PagerDuty path is the runner's pager, which
// triggers with the dedup key it is given and resolves the same key.
func TestPagerDutyTriggerAndResolve(t *testing.T) {
	warningFailed := reportfixture.Paged()
	warningFailed.Severity = report.SeverityWarning
	cases := []struct {
		name       string
		resolve    bool
		r          report.Report
		key        string
		wantAction string
		wantSev    string
	}{
		{"a page triggers with the key given", false, reportfixture.Paged(), "gp-remediation/production/inc-1", "trigger", "critical"},
		{"a resolve carries no payload", true, report.Report{}, "gp-remediation/production/inc-1", "resolve", ""},
		{"failed action on a WARNING is an error", false, warningFailed, "k", "trigger", "error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, []int{202}, nil)
			pd := NewPagerDutySink(routingKey, rec.srv.URL+"/v2/enqueue", rec.srv.Client())
			var err error
			if tc.resolve {
				err = pd.Resolve(context.Background(), tc.key)
			} else {
				err = pd.Trigger(context.Background(), tc.r, tc.key)
			}
			if err != nil {
				t.Fatal(err)
			}
			var ev pdEventIn
			if err := json.Unmarshal(rec.bodies[0], &ev); err != nil {
				t.Fatal(err)
			}
			if ev.EventAction != tc.wantAction || ev.DedupKey != tc.key || ev.RoutingKey != routingKey {
				t.Errorf("event %s %q", ev.EventAction, ev.DedupKey)
			}
			if tc.resolve && ev.Payload != nil {
				t.Error("a resolve carries no payload")
			}
			if tc.wantSev != "" && ev.Payload.Severity != tc.wantSev {
				t.Errorf("severity %q, want %q", ev.Payload.Severity, tc.wantSev)
			}
		})
	}
}

func TestPagerDutyErrors(t *testing.T) {
	for _, status := range []int{400, 429, 500} {
		rec := newRecorder(t, []int{status, status}, []string{"0"})
		pd := NewPagerDutySink(routingKey, rec.srv.URL+"/v2/enqueue", rec.srv.Client())
		err := pd.Trigger(context.Background(), reportfixture.Paged(), "k1")
		want := fmt.Sprintf("pagerduty trigger: POST pagerduty event: status %d", status)
		if err == nil || err.Error() != want {
			t.Errorf("status %d: error %v, want %q", status, err, want)
			continue
		}
		assertNoSecret(t, err.Error(), routingKey, rec.srv.URL)
	}
	rec := newRecorder(t, []int{403}, nil)
	err := NewPagerDutySink(routingKey, rec.srv.URL+"/v2/enqueue", rec.srv.Client()).Resolve(context.Background(), "k1")
	if err == nil || err.Error() != "pagerduty resolve: POST pagerduty event: status 403" {
		t.Errorf("resolve error %v", err)
	}
	if err := NewPagerDutySink("", "", nil).Resolve(context.Background(), "k"); err == nil || err.Error() != "pagerduty resolve: no routing key configured" {
		t.Errorf("no routing key: %v", err)
	}
	if err := NewPagerDutySink(routingKey, "", nil).Trigger(context.Background(), report.Report{}, ""); err == nil {
		t.Error("trigger without a dedup key sent")
	}
	if got := NewPagerDutySink(routingKey, "", nil).hook.url; got != DefaultPagerDutyURL {
		t.Errorf("default URL %q", got)
	}
}

// A report with offers asks Discord to keep its buttons (with_components=true), on the first
// message of a conversation and on the edit of its opening message alike; one without leaves
// the URL as it is.
func TestDiscordOffersKeepTheirButtons(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		queries = append(queries, req.Method+" "+req.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"1500000000000000001"}`))
	}))
	defer srv.Close()
	offered := reportfixture.Offered()
	plain := reportfixture.OOM()
	sink := NewDiscordSink(srv.URL+"/api/webhooks/1/tok", srv.Client())
	ctx := context.Background()
	if err := sink.Send(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(ctx, offered); err != nil {
		t.Fatal(err)
	}
	conv, err := sink.SendIn(ctx, offered, Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.SendIn(ctx, offered, conv); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST ", "POST with_components=true", "POST wait=true&with_components=true", "POST wait=true&with_components=true", "PATCH with_components=true"}
	if strings.Join(queries, "|") != strings.Join(want, "|") {
		t.Fatalf("requests %q, want %q", queries, want)
	}
}
