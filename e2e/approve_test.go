package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/internal/lambdarun"
	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/sandbox"
)

// startApprove runs the approve function under the emulator for the whole test, and makes
// the sandbox's Lambda forward its asynchronous invocations (the work) to it.
func startApprove(t *testing.T, f *cases.Fixture) *lambdarun.Emulator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	emu, err := f.StartApprove(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("approve's output:\n%s", tail(emu.Output(), 6000))
		}
		emu.Stop()
	})
	return emu
}

// post sends a function URL request (the event Lambda makes of an HTTP request) and returns
// the HTTP response the function gave.
func post(t *testing.T, emu *lambdarun.Emulator, headers map[string]string, body []byte) events.LambdaFunctionURLResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, err := emu.Invoke(ctx, sandbox.FunctionURLEvent(headers, body))
	if err != nil {
		t.Fatal(err)
	}
	var resp events.LambdaFunctionURLResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("not a function URL response: %s", raw)
	}
	return resp
}

// waitFor polls the sandbox's requests of kind until one satisfies ok.
func waitFor(t *testing.T, sb *sandbox.Sandbox, kind string, ok func(sandbox.Request) bool) sandbox.Request {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range sb.Requests(kind) {
			if ok(r) {
				return r
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %s request as expected; got %d: %+v; invocations %+v", kind, len(sb.Requests(kind)), sb.Requests(kind), sb.Invocations())
	return sandbox.Request{}
}

// TestApproveARollbackInSlack: the worker fails since a bad deployment and rollback is off in
// the environment, so no-tasks offers it; an approver clicks Approve in Slack; the approve
// function answers at once, does the work in its asynchronous invocation, rolls the worker back
// through the guard, and edits the message to say who approved and what happened. Unsigned
// requests, a stranger and a second click change nothing.
func TestApproveARollbackInSlack(t *testing.T) {
	f := setup(t, cases.Case{Name: "approve rollback", Function: "no-tasks", Scenario: "worker-bad-deployment", Mode: "on"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := f.InvokeFunction(ctx, "no-tasks", "../events/no-tasks/worker-alarm.json")
	if err != nil {
		t.Fatal(err)
	}
	res := out.Result
	if len(res.Actions) != 1 || res.Actions[0].Kind != "rollback" || res.Actions[0].Offer == nil || res.Actions[0].Offer.ID == "" {
		t.Fatalf("actions %+v: want the rollback skipped by policy and offered", res.Actions)
	}
	offerID := res.Actions[0].Offer.ID
	// The offer reached the chat as buttons.
	waitFor(t, f.Sandbox, "discord", func(r sandbox.Request) bool {
		return strings.Contains(r.Body, render.DiscordCustomID("approve", offerID))
	})
	worker := "arrakis-staging-gp-worker"
	before, _ := f.Sandbox.Service(worker)

	emu := startApprove(t, f)
	click := func(user string, at time.Time) events.LambdaFunctionURLResponse {
		body := f.Sandbox.SlackButtonBody(user, render.SlackActionApprove, offerID, "1733368440.000100")
		return post(t, emu, sandbox.SignSlack(body, at), body)
	}

	// Not signed, or signed with another secret: 401, and nothing is queued.
	body := f.Sandbox.SlackButtonBody(sandbox.SlackApprover1, render.SlackActionApprove, offerID, "1")
	if resp := post(t, emu, map[string]string{"content-type": "application/x-www-form-urlencoded"}, body); resp.StatusCode != 401 {
		t.Fatalf("unsigned: %d %s", resp.StatusCode, resp.Body)
	}
	forged := sandbox.SignSlack(body, time.Now())
	forged["x-slack-signature"] = "v0=" + strings.Repeat("0", 64)
	if resp := post(t, emu, forged, body); resp.StatusCode != 401 {
		t.Fatalf("bad signature: %d %s", resp.StatusCode, resp.Body)
	}
	if n := len(f.Sandbox.Invocations()); n != 0 {
		t.Fatalf("%d asynchronous invocations after refused requests", n)
	}

	// A stranger's click: accepted at the door (signed), refused by the offer, told why.
	if resp := click(sandbox.SlackStranger, time.Now()); resp.StatusCode != 200 {
		t.Fatalf("stranger: %d", resp.StatusCode)
	}
	waitFor(t, f.Sandbox, sandbox.KindSlackResponse, func(r sandbox.Request) bool {
		return strings.Contains(r.ID, sandbox.SlackStranger) && strings.Contains(r.Body, "not an approver")
	})

	// The approver's click: answered at once; the work edits the message.
	start := time.Now()
	if resp := click(sandbox.SlackApprover1, time.Now().Add(time.Second)); resp.StatusCode != 200 {
		t.Fatalf("approve: %d %s", resp.StatusCode, resp.Body)
	}
	answered := time.Since(start)
	edit := waitFor(t, f.Sandbox, sandbox.KindSlackResponse, func(r sandbox.Request) bool {
		return strings.Contains(r.ID, sandbox.SlackApprover1) && strings.Contains(r.Body, `"replace_original":true`) && strings.Contains(r.Body, "approved by")
	})
	t.Logf("front answered in %s; the edit says: %.300s", answered, edit.Body)
	after, _ := f.Sandbox.Service(worker)
	if after.TaskDefinition == before.TaskDefinition {
		t.Fatalf("the worker still runs %s: the approved rollback did not happen", after.TaskDefinition)
	}

	// A second click (another approver, a new delivery): nothing more happens.
	if resp := click(sandbox.SlackApprover2, time.Now().Add(2*time.Second)); resp.StatusCode != 200 {
		t.Fatalf("second click: %d", resp.StatusCode)
	}
	waitFor(t, f.Sandbox, sandbox.KindSlackResponse, func(r sandbox.Request) bool {
		return strings.Contains(r.ID, sandbox.SlackApprover2) && strings.Contains(r.Body, "Nothing done")
	})
	if again, _ := f.Sandbox.Service(worker); again.TaskDefinition != after.TaskDefinition {
		t.Fatalf("the second click changed the worker again: %s -> %s", after.TaskDefinition, again.TaskDefinition)
	}
}

// TestSlashCommands: /gpr health from Discord edits the command's deferred answer with the
// health report; /gpr complete-restart from Slack runs the runbook's Complete System Restart
// in its order (both services to 0, the worker up, then the ingestor) and says so in the
// channel; a stranger's /gpr restart is refused before anything is queued.
func TestSlashCommands(t *testing.T) {
	f := setup(t, cases.Case{Name: "slash commands", Function: "no-tasks", Scenario: "healthy", Mode: "dry-run",
		Env: map[string]string{"GPR_STABLE_TIMEOUT": "20s", "GPR_VERIFY_INTERVAL": "1s"}})
	emu := startApprove(t, f)

	// Discord: health, typed by a member with the approver role.
	body := f.Sandbox.DiscordCommandBody("1610000000000000001", "1710000000000000001", []string{sandbox.DiscordApproverRole}, "health")
	resp := post(t, emu, sandbox.SignDiscord(body, time.Now()), body)
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"type":5`) {
		t.Fatalf("discord command: %d %s, want a deferred answer", resp.StatusCode, resp.Body)
	}
	edit := waitFor(t, f.Sandbox, sandbox.KindDiscordAPI, func(r sandbox.Request) bool {
		return r.Method == "PATCH" && strings.HasSuffix(r.Path, "/webhooks/"+sandbox.DiscordApplicationID+"/itoken-1610000000000000001/messages/@original") && r.Status == 200
	})
	if !strings.Contains(edit.Body, "embeds") || !strings.Contains(edit.Body, "arrakis-staging-gp-worker") {
		t.Fatalf("the health report should name the services: %.500s", edit.Body)
	}

	// Slack: a stranger may not restart anything.
	body = f.Sandbox.SlackCommandBody(sandbox.SlackStranger, "restart worker")
	if resp := post(t, emu, sandbox.SignSlack(body, time.Now()), body); !strings.Contains(resp.Body, "not an approver") {
		t.Fatalf("stranger: %s", resp.Body)
	}
	// An approver's complete restart: one approver is enough in staging, and a person's
	// command acts even where the automation runs in dry-run.
	before := len(f.Sandbox.ServiceUpdates())
	body = f.Sandbox.SlackCommandBody(sandbox.SlackApprover1, "complete-restart")
	if resp := post(t, emu, sandbox.SignSlack(body, time.Now().Add(time.Second)), body); resp.StatusCode != 200 || !strings.Contains(resp.Body, "working on it") {
		t.Fatalf("complete-restart: %d %s", resp.StatusCode, resp.Body)
	}
	done := waitFor(t, f.Sandbox, sandbox.KindSlackResponse, func(r sandbox.Request) bool {
		return strings.Contains(r.ID, sandbox.SlackApprover1) && strings.Contains(r.Body, "approved by")
	})
	var order []string
	for _, u := range f.Sandbox.ServiceUpdates()[before:] {
		if u.DesiredCount != nil {
			order = append(order, strings.TrimPrefix(u.Service, "arrakis-staging-")+"="+fmt.Sprint(*u.DesiredCount))
		}
	}
	if got := strings.Join(order, " "); got != "ingestor=0 gp-worker=0 gp-worker=1 ingestor=1" {
		t.Fatalf("desired counts set in the order %q, want the runbook's; the answer was %.600s", got, done.Body)
	}
}

// TestSamples: every sample of events/approve, as `make invoke FN=approve` sends it (signed
// again now), gets the answer its name promises from the approve function under the emulator,
// and the commands' work reaches the conversation.
func TestSamples(t *testing.T) {
	for _, tc := range []struct {
		sample     string
		status     int
		body       string // in the function URL's answer
		work       string // the work's outcome status, "" for none
		replyKind  string
		replyCheck string // in what reached the conversation
	}{
		{"discord-ping", 200, `{"type":1}`, "", "", ""},
		{"unsigned", 401, "", "", "", ""},
		{"slack-stranger-restart", 200, "not an approver", "", "", ""},
		{"slack-health", 200, "working on it", "replied", sandbox.KindSlackResponse, "arrakis-staging-gp-worker"},
		{"discord-health", 200, `"type":5`, "replied", sandbox.KindDiscordAPI, "arrakis-staging-ingestor"},
		{"slack-restart-worker", 200, "working on it", "ran", sandbox.KindSlackResponse, "approved by uapprover1"},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			f := setup(t, cases.Case{Name: "sample " + tc.sample, Function: "approve", Scenario: "healthy", Mode: "on"})
			raw, err := os.ReadFile(filepath.Join("..", "events", "approve", tc.sample+".json"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			run, err := f.RunSample(ctx, raw)
			if err != nil {
				if run != nil {
					t.Logf("output:\n%s", tail(run.Output, 4000))
				}
				t.Fatal(err)
			}
			var resp events.LambdaFunctionURLResponse
			if err := json.Unmarshal(run.Response, &resp); err != nil || resp.StatusCode != tc.status || !strings.Contains(resp.Body, tc.body) {
				t.Fatalf("answer %s, want %d with %q", run.Response, tc.status, tc.body)
			}
			if tc.work == "" {
				if len(run.Work) != 0 || len(run.Replies) != 0 {
					t.Fatalf("work %s, replies %+v: none expected", run.Work, run.Replies)
				}
				return
			}
			if len(run.Work) != 1 {
				t.Fatalf("%d pieces of work, want 1", len(run.Work))
			}
			var done struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal(run.Work[0], &done); err != nil || done.Status != tc.work {
				t.Fatalf("work %s, want status %s", run.Work[0], tc.work)
			}
			for _, r := range run.Replies {
				if r.Kind == tc.replyKind && r.Status == 200 && strings.Contains(r.Body, tc.replyCheck) {
					return
				}
			}
			t.Fatalf("no %s reply with %q: %+v", tc.replyKind, tc.replyCheck, run.Replies)
		})
	}
}
