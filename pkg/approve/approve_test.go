package approve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/deadletter"
	"github.com/arrakis/gp-remediation/pkg/interact"
	"github.com/arrakis/gp-remediation/pkg/offer"
	"github.com/arrakis/gp-remediation/pkg/ops"
	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/sandbox"
)

// The fakes keep what the handler did, so each test can say "exactly one run" or "nothing".

type memOffers struct {
	mu sync.Mutex
	m  map[string]offer.Offer
}

func (s *memOffers) Put(_ context.Context, o offer.Offer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[o.ID]; ok {
		return errors.New("exists")
	}
	s.m[o.ID] = o
	return nil
}

func (s *memOffers) Click(_ context.Context, id string, c offer.Click, allow offer.Approvers) (offer.Verdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.m[id]
	if !ok {
		return offer.Verdict{}, errors.New("offer not found")
	}
	v := offer.Consider(o, c, allow)
	if v.Outcome != offer.Refuse {
		s.m[id] = v.Offer
	}
	return v, nil
}

func (s *memOffers) Finish(_ context.Context, id string, st offer.Status, line string) (offer.Offer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.m[id]
	if o.Status != offer.StatusExecuting {
		return o, errors.New("not executing")
	}
	o.Status, o.Outcome = st, line
	s.m[id] = o
	return o, nil
}

type memClaims struct {
	mu sync.Mutex
	m  map[string]bool
}

func (c *memClaims) Claim(_ context.Context, key, _ string, _ time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key] {
		return false, nil
	}
	c.m[key] = true
	return true, nil
}

type memQueue struct {
	mu   sync.Mutex
	jobs []Job
}

func (q *memQueue) Enqueue(_ context.Context, j Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, j)
	return nil
}

type fakeOps struct {
	mu      sync.Mutex
	state   ops.State
	runs    []ops.Request
	expects []*ops.State
}

// State is the services' state, as ops.Operator's: none for a replay-dlq, which acts on the
// DLQ (pkg/ops tests that the Operator reads none).
func (f *fakeOps) State(_ context.Context, r ops.Request) (ops.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Kind == ops.KindReplayDLQ {
		return ops.State{}, nil
	}
	return f.state, nil
}

func (f *fakeOps) Run(_ context.Context, r ops.Request, by ops.Requester, apply bool, expect *ops.State) report.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, r)
	f.expects = append(f.expects, expect)
	return report.Report{Result: report.Result{Function: "gpr", Actions: []report.Action{{Kind: "force-new-deployment", Target: "arrakis-production-gp-worker", Outcome: report.OutcomeDone}},
		Verification: &report.Verification{Status: report.Verified}}, Presentation: report.Presentation{Headline: "worker restarted by " + by.Who}}
}

type memReplies struct {
	mu  sync.Mutex
	got []render.Reply
}

func (m *memReplies) Reply(_ context.Context, to Target, r render.Reply) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, r)
	return nil
}

var now = time.Date(2026, 12, 5, 3, 14, 0, 0, time.UTC)

type rig struct {
	h       *Handler
	offers  *memOffers
	queue   *memQueue
	ops     *fakeOps
	replies *memReplies
	sb      *sandbox.Sandbox
	clicks  int // each click is a new delivery, signed a second later
}

func newRig(t *testing.T, required int) *rig {
	t.Helper()
	key, err := interact.ParseDiscordPublicKey(sandbox.DiscordPublicKeyHex())
	if err != nil {
		t.Fatal(err)
	}
	allow, err := offer.ParseApprovers(sandbox.ApproversValue)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{offers: &memOffers{m: map[string]offer.Offer{}}, queue: &memQueue{}, replies: &memReplies{},
		ops: &fakeOps{state: ops.State{Worker: ops.ServiceState{Role: "worker", Service: "arrakis-production-gp-worker", Desired: 1, Running: 0, TaskDefinition: "td/w:42"}}},
		sb:  sandbox.New(sandbox.Options{Env: "production"})}
	r.sb.SetBaseURL("http://sandbox.invalid")
	r.h = &Handler{
		Config: config.Config{Environment: "production", ApprovalsRequired: required, OfferTTL: 30 * time.Minute},
		Verifier: func(context.Context) (interact.Verifier, error) {
			return interact.Verifier{SlackSigningSecret: sandbox.SlackSigningSecret, DiscordPublicKey: key}, nil
		},
		Approvers: allow, Offers: r.offers, Claims: &memClaims{m: map[string]bool{}}, Queue: r.queue, Ops: r.ops, Replies: r.replies,
		Now: func() time.Time { return now },
	}
	return r
}

// openOffer stores an offer to restart the worker, bound to the state the fake reports.
func (r *rig) openOffer(t *testing.T, required int, expires time.Time) offer.Offer {
	t.Helper()
	one := 1
	o := offer.Offer{ID: offer.NewID(), Environment: "production", Incident: "production.x.1", Request: ops.Request{Kind: ops.KindRestart, Role: "worker"},
		Reason: "policy: restart held back", Bound: []offer.Binding{{Service: "arrakis-production-gp-worker", Desired: &one, TaskDefinition: "td/w:42"}},
		CreatedAt: now.Add(-time.Minute), ExpiresAt: expires, Required: required, Status: offer.StatusOpen}
	if err := r.offers.Put(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return o
}

func urlEvent(headers map[string]string, body []byte) events.LambdaFunctionURLRequest {
	ev := events.LambdaFunctionURLRequest{Headers: headers, Body: string(body)}
	ev.RequestContext.HTTP.Method = "POST"
	return ev
}

// slackClick is a signed Slack click on offer id by user.
func (r *rig) slackClick(user, action, id string) events.LambdaFunctionURLRequest {
	r.clicks++
	body := r.sb.SlackButtonBody(user, action, id, "1733368440.000100")
	return urlEvent(sandbox.SignSlack(body, now.Add(time.Duration(r.clicks)*time.Second)), body)
}

// slackCommand is a signed Slack slash command "/gpr text" by user.
func (r *rig) slackCommand(user, text string) events.LambdaFunctionURLRequest {
	body := r.sb.SlackCommandBody(user, text)
	return urlEvent(sandbox.SignSlack(body, now), body)
}

// do sends ev to Front and runs every job it queued, returning the Front status and the
// jobs' outcomes.
func (r *rig) do(t *testing.T, ev events.LambdaFunctionURLRequest) (int, []Outcome) {
	t.Helper()
	r.queue.mu.Lock()
	r.queue.jobs = nil
	r.queue.mu.Unlock()
	resp := r.h.Front(context.Background(), ev)
	var outs []Outcome
	for _, j := range r.queue.jobs {
		outs = append(outs, r.h.Work(context.Background(), j))
	}
	return resp.StatusCode, outs
}

func TestUnsignedRequestsAreRefused(t *testing.T) {
	r := newRig(t, 1)
	o := r.openOffer(t, 1, now.Add(30*time.Minute))
	good := r.slackClick(sandbox.SlackApprover1, render.SlackActionApprove, o.ID)

	unsigned := urlEvent(map[string]string{"content-type": "application/x-www-form-urlencoded"}, []byte(good.Body))
	tampered := r.slackClick(sandbox.SlackApprover1, render.SlackActionApprove, o.ID)
	tampered.Body = strings.Replace(tampered.Body, "UAPPROVER1", "UAPPROVER2", 1)
	old := urlEvent(sandbox.SignSlack([]byte(good.Body), now.Add(-6*time.Minute)), []byte(good.Body))
	discordBad := urlEvent(sandbox.SignDiscord([]byte(`{"type":1}`), now), []byte(`{"type":2}`))
	for name, ev := range map[string]events.LambdaFunctionURLRequest{"unsigned": unsigned, "tampered body": tampered, "old timestamp": old, "discord bad signature": discordBad} {
		if status, outs := r.do(t, ev); status != 401 || len(outs) != 0 {
			t.Errorf("%s: status %d with %d jobs, want 401 and none", name, status, len(outs))
		}
	}
	if len(r.ops.runs) != 0 {
		t.Fatalf("ran %v", r.ops.runs)
	}
	// A job is only as good as its signature: one made up by whoever may invoke the function
	// changes nothing.
	forged := Job{Kind: jobKind, Headers: map[string]string{"x-slack-signature": "v0=00", "x-slack-request-timestamp": fmt.Sprint(now.Unix())}, Body: []byte(good.Body)}
	if out := r.h.Work(context.Background(), forged); out.Status != "refused" || out.Code != "unverified" {
		t.Fatalf("forged job: %+v", out)
	}
	if len(r.ops.runs) != 0 {
		t.Fatalf("forged job ran %v", r.ops.runs)
	}
}

func TestDiscordPing(t *testing.T) {
	r := newRig(t, 1)
	body := []byte(`{"id":"1","application_id":"` + sandbox.DiscordApplicationID + `","type":1,"token":"t","version":1}`)
	resp := r.h.Front(context.Background(), urlEvent(sandbox.SignDiscord(body, now), body))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"type":1`) {
		t.Fatalf("PING: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestApprovalRunsOnce(t *testing.T) {
	r := newRig(t, 1)
	o := r.openOffer(t, 1, now.Add(30*time.Minute))
	click := r.slackClick(sandbox.SlackApprover1, render.SlackActionApprove, o.ID)
	status, outs := r.do(t, click)
	if status != 200 || len(outs) != 1 || outs[0].Status != "ran" {
		t.Fatalf("approve: %d %+v", status, outs)
	}
	// The same delivery again (a replay): refused at the door.
	if status, outs := r.do(t, click); status != 200 || len(outs) != 0 {
		t.Fatalf("replay: %d %+v", status, outs)
	}
	// A second click by another approver (a new delivery): refused by the offer.
	_, outs = r.do(t, r.slackClick(sandbox.SlackApprover2, render.SlackActionApprove, o.ID))
	if len(outs) != 1 || outs[0].Status != "refused" || outs[0].Code != offer.RefuseNotOpen {
		t.Fatalf("double click: %+v", outs)
	}
	if len(r.ops.runs) != 1 || r.ops.runs[0].String() != o.Request.String() {
		t.Fatalf("runs %v, want exactly one %s", r.ops.runs, o.Request)
	}
	if got := r.offers.m[o.ID]; got.Status != offer.StatusDone || !strings.Contains(got.Outcome, "worker restarted") {
		t.Fatalf("offer after: %+v", got)
	}
	first := r.replies.got[0]
	if !first.Replace || !strings.Contains(first.Text, "approved by uapprover1 (slack UAPPROVER1)") || first.Report == nil || len(first.Offers) != 0 {
		t.Fatalf("the clicked message should say who approved and what happened, without buttons: %+v", first)
	}
	if last := r.replies.got[len(r.replies.got)-1]; !last.Ephemeral || !strings.Contains(last.Text, "Nothing done") {
		t.Fatalf("the second clicker should be told why nothing happened: %+v", last)
	}
}

func TestRefusals(t *testing.T) {
	r := newRig(t, 1)
	expired := r.openOffer(t, 1, now.Add(-time.Second))
	open := r.openOffer(t, 1, now.Add(30*time.Minute))
	tests := []struct {
		name string
		ev   events.LambdaFunctionURLRequest
		code string
	}{
		{"stranger", r.slackClick(sandbox.SlackStranger, render.SlackActionApprove, open.ID), offer.RefuseNotApprover},
		{"expired", r.slackClick(sandbox.SlackApprover1, render.SlackActionApprove, expired.ID), offer.RefuseExpired},
	}
	for _, tt := range tests {
		_, outs := r.do(t, tt.ev)
		if len(outs) != 1 || outs[0].Status != "refused" || outs[0].Code != tt.code {
			t.Errorf("%s: %+v, want refused %s", tt.name, outs, tt.code)
		}
	}
	// The state changed since the offer: someone scaled the worker.
	r.ops.state.Worker.Desired = 2
	_, outs := r.do(t, r.slackClick(sandbox.SlackApprover1, render.SlackActionApprove, open.ID))
	if len(outs) != 1 || outs[0].Status != "state-changed" || !strings.Contains(outs[0].Detail, "desired count was 1, is 2") {
		t.Fatalf("changed state: %+v", outs)
	}
	if len(r.ops.runs) != 0 {
		t.Fatalf("ran %v", r.ops.runs)
	}
	if got := r.offers.m[open.ID]; got.Status != offer.StatusStateChanged {
		t.Fatalf("offer after a changed state: %s", got.Status)
	}
}

func TestTwoApprovers(t *testing.T) {
	r := newRig(t, 2)
	o := r.openOffer(t, 2, now.Add(30*time.Minute))
	_, outs := r.do(t, r.slackClick(sandbox.SlackApprover1, render.SlackActionApprove, o.ID))
	if len(outs) != 1 || outs[0].Status != "recorded" {
		t.Fatalf("first approval: %+v", outs)
	}
	if rep := r.replies.got[0]; len(rep.Offers) != 1 || !strings.Contains(rep.Text, "1 of 2") {
		t.Fatalf("the message should keep its buttons and say 1 of 2: %+v", rep)
	}
	_, outs = r.do(t, r.slackClick(sandbox.SlackApprover1, render.SlackActionApprove, o.ID))
	if len(outs) != 1 || outs[0].Code != offer.RefuseSameApprover {
		t.Fatalf("same approver again: %+v", outs)
	}
	// The second approver is on Discord, by role.
	body := r.sb.DiscordButtonBody("1600000000000000006", "1700000000000000007", []string{sandbox.DiscordApproverRole}, render.DiscordCustomID("approve", o.ID), "1800000000000000008")
	_, outs = r.do(t, urlEvent(sandbox.SignDiscord(body, now), body))
	if len(outs) != 1 || outs[0].Status != "ran" || !strings.Contains(outs[0].By, " and ") {
		t.Fatalf("second approval: %+v", outs)
	}
	if len(r.ops.runs) != 1 {
		t.Fatalf("runs %v", r.ops.runs)
	}
}

func TestReject(t *testing.T) {
	r := newRig(t, 1)
	o := r.openOffer(t, 1, now.Add(30*time.Minute))
	_, outs := r.do(t, r.slackClick(sandbox.SlackApprover2, render.SlackActionReject, o.ID))
	if len(outs) != 1 || outs[0].Status != "rejected" || len(r.ops.runs) != 0 {
		t.Fatalf("reject: %+v, runs %v", outs, r.ops.runs)
	}
	_, outs = r.do(t, r.slackClick(sandbox.SlackApprover1, render.SlackActionApprove, o.ID))
	if len(outs) != 1 || outs[0].Code != offer.RefuseNotOpen || len(r.ops.runs) != 0 {
		t.Fatalf("approve after reject: %+v", outs)
	}
}

func TestCommands(t *testing.T) {
	r := newRig(t, 1)
	// A stranger may not change anything: refused at once, nothing queued.
	resp := r.h.Front(context.Background(), r.slackCommand(sandbox.SlackStranger, "restart worker"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, "not an approver") || len(r.queue.jobs) != 0 {
		t.Fatalf("stranger: %d %s, %d jobs", resp.StatusCode, resp.Body, len(r.queue.jobs))
	}
	// Bad usage: answered at once with the usage.
	resp = r.h.Front(context.Background(), r.slackCommand(sandbox.SlackApprover1, "reboot everything"))
	if !strings.Contains(resp.Body, "ephemeral") || len(r.queue.jobs) != 0 {
		t.Fatalf("usage: %s", resp.Body)
	}
	// Health is read-only: anyone may ask.
	if _, outs := r.do(t, r.slackCommand(sandbox.SlackStranger, "health")); len(outs) != 1 || outs[0].Status != "replied" {
		t.Fatalf("health: %+v", outs)
	}
	// An approver's change runs at once where one approver is enough.
	if _, outs := r.do(t, r.slackCommand(sandbox.SlackApprover1, "restart worker")); len(outs) != 1 || outs[0].Status != "ran" {
		t.Fatalf("restart: %+v", outs)
	}
	if len(r.ops.runs) != 2 || r.ops.runs[0].Kind != ops.KindHealth || r.ops.runs[1].Kind != ops.KindRestart {
		t.Fatalf("runs %v", r.ops.runs)
	}
	// Where two are required, the command becomes an offer with the typist's approval.
	r.h.Config.ApprovalsRequired = 2
	_, outs := r.do(t, r.slackCommand(sandbox.SlackApprover1, "restart worker"))
	if len(outs) != 1 || outs[0].Status != "recorded" || len(r.ops.runs) != 2 {
		t.Fatalf("two required: %+v, runs %v", outs, r.ops.runs)
	}
	if last := r.replies.got[len(r.replies.got)-1]; len(last.Offers) != 1 {
		t.Fatalf("the reply should carry the offer's buttons: %+v", last)
	}
}

// replay-dlq from Slack and Discord: approvers only, listed in the usage, and run with no
// service state to hold (it re-reads the DLQ itself).
func TestReplayDLQCommand(t *testing.T) {
	r := newRig(t, 1)
	resp := r.h.Front(context.Background(), r.slackCommand(sandbox.SlackStranger, "replay-dlq bug 10"))
	if !strings.Contains(resp.Body, "not an approver") || len(r.queue.jobs) != 0 {
		t.Fatalf("stranger: %s, %d jobs", resp.Body, len(r.queue.jobs))
	}
	resp = r.h.Front(context.Background(), r.slackCommand(sandbox.SlackApprover1, "replay-dlq bad-data 10"))
	var answer struct{ Text string }
	_ = json.Unmarshal([]byte(resp.Body), &answer)
	if !strings.Contains(answer.Text, "bad data is parked, never replayed") || !strings.Contains(answer.Text, "\n  replay-dlq <bug|unknown|transient> [count]") || len(r.queue.jobs) != 0 {
		t.Fatalf("bad class: %s", resp.Body)
	}
	if _, outs := r.do(t, r.slackCommand(sandbox.SlackApprover1, "replay-dlq bug 10")); len(outs) != 1 || outs[0].Status != "ran" || outs[0].Request != "replay-dlq bug 10" {
		t.Fatalf("slack: %+v", outs)
	}
	body := r.sb.DiscordCommandBody("1610000000000000011", "1710000000000000011", []string{sandbox.DiscordApproverRole}, "replay-dlq", "bug", "10")
	if _, outs := r.do(t, urlEvent(sandbox.SignDiscord(body, now), body)); len(outs) != 1 || outs[0].Status != "ran" {
		t.Fatalf("discord: %+v", outs)
	}
	want := ops.Request{Kind: ops.KindReplayDLQ, Class: deadletter.Bug, Messages: 10}
	if len(r.ops.runs) != 2 || r.ops.runs[0] != want || r.ops.runs[1] != want {
		t.Fatalf("runs %+v", r.ops.runs)
	}
	for _, e := range r.ops.expects {
		if e == nil || *e != (ops.State{}) {
			t.Errorf("run with expect %+v, want the empty state", e)
		}
	}
}

// The DLQ's offer (playbook.OfferFor: replay-dlq bug <n>, bound to nothing) runs when approved:
// no binding is no state change.
func TestApproveAReplayOffer(t *testing.T) {
	r := newRig(t, 1)
	o := offer.Offer{ID: offer.NewID(), Environment: "production", Incident: "production.x.1", Alarm: "arrakis-production-dlq-messages",
		Request: ops.Request{Kind: ops.KindReplayDLQ, Class: deadletter.Bug, Messages: 3}, Reason: "policy: " + "messages that died on a bug are replayed only when a person says the fix is deployed",
		CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(29 * time.Minute), Required: 1, Status: offer.StatusOpen}
	if err := r.offers.Put(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	_, outs := r.do(t, r.slackClick(sandbox.SlackApprover1, render.SlackActionApprove, o.ID))
	if len(outs) != 1 || outs[0].Status != "ran" || outs[0].Request != "replay-dlq bug 3" {
		t.Fatalf("outcomes %+v", outs)
	}
	if len(r.ops.runs) != 1 || r.ops.runs[0] != o.Request {
		t.Fatalf("runs %+v", r.ops.runs)
	}
	if got := r.offers.m[o.ID]; got.Status != offer.StatusDone {
		t.Errorf("offer %s, want done", got.Status)
	}
}

// Jobs carry the response_url and the interaction token: neither may reach a log line.
func TestJobLogValueHidesTheRequest(t *testing.T) {
	j := Job{Kind: jobKind, Headers: map[string]string{"x": "y"}, Body: []byte("payload=" + url.QueryEscape(`{"response_url":"https://hooks.slack.com/actions/T/1/secret"}`))}
	raw, _ := json.Marshal(j.LogValue().Resolve().Group())
	if strings.Contains(string(raw), "secret") {
		t.Fatalf("job logs its request: %s", raw)
	}
}
