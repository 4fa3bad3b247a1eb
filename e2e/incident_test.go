package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// TestOneOutageOneIncident: the worker cannot start (its image does not pull), so No Worker
// Tasks Running, Queue Depth High and DLQ Messages fire within moments and reach three
// functions. They make one incident: every Result carries its id, on-call is paged once, and
// the Discord conversation is one message that the later reports edit.
func TestOneOutageOneIncident(t *testing.T) {
	f := setup(t, cases.Case{Name: "one outage", Function: "no-tasks", Scenario: "image-pull-network-error", Mode: "on",
		Broker: &cases.Broker{Ready: 1500, DeadLetters: []cases.DeadLetters{{Count: 10, Header: "x-error", Error: "upstream timeout after 30s calling discord.com", Body: `{"type":2}`}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var results []report.Result
	for _, call := range []invocation{
		{"no-tasks", "../events/no-tasks/worker-alarm.json"},
		{"queue-depth", "../events/queue-depth/alarm.json"},
		{"dlq", "../events/dlq/alarm.json"},
	} {
		out, err := f.InvokeFunction(ctx, call.fn, call.event)
		if err != nil {
			t.Fatalf("%s: %v", call.fn, err)
		}
		results = append(results, out.Result)
	}
	id := results[0].Incident
	for i, r := range results {
		if id == "" || r.Incident != id {
			t.Fatalf("result %d (%s) has incident %q, want %q for all", i, r.Function, r.Incident, id)
		}
	}
	triggers := 0
	for _, rq := range f.Sandbox.Requests("pagerduty") {
		if strings.Contains(rq.Body, `"event_action":"trigger"`) {
			triggers++
		}
	}
	if results[0].Escalation == nil || !results[0].Escalation.Paged || triggers != 1 {
		t.Errorf("first escalation %+v, %d PagerDuty triggers; want one page for the incident", results[0].Escalation, triggers)
	}
	var posts, edits int
	for _, rq := range f.Sandbox.Requests("discord") {
		switch rq.Method {
		case "POST":
			posts++
		case "PATCH":
			edits++
		}
	}
	if posts != len(results) || edits != len(results)-1 {
		t.Errorf("Discord: %d messages and %d edits; want one per report, and the opening message edited by each later one", posts, edits)
	}
}

// TestFollowUpSaysWhyItStops: the worker's image cannot be pulled, which no restart fixes.
// The alarm stays in ALARM (the sandbox's DescribeAlarms says so), so the stack's rule runs
// no-tasks again: the follow-up joins the same incident, does not page again, finds nothing
// more it can do and records that; the next tick says the follow-up stopped and why.
func TestFollowUpSaysWhyItStops(t *testing.T) {
	f := setup(t, cases.Case{Name: "follow-up", Function: "no-tasks", Scenario: "image-pull-network-error", Mode: "on",
		Env: map[string]string{"GPR_ALARM_NAMES": "arrakis-staging No Worker Tasks Running", "GPR_FOLLOW_UP_INTERVAL": "1s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	invoke := func(event string) report.Result {
		t.Helper()
		out, err := f.InvokeFunction(ctx, "no-tasks", event)
		if err != nil {
			t.Fatal(err)
		}
		return out.Result
	}
	first := invoke("../events/no-tasks/worker-alarm.json")
	time.Sleep(1100 * time.Millisecond) // the next tick of a 1 s schedule
	follow := invoke("../events/no-tasks/follow-up.json")
	time.Sleep(1100 * time.Millisecond)
	after := invoke("../events/no-tasks/follow-up.json")

	if first.Incident == "" || follow.Incident != first.Incident {
		t.Fatalf("incidents %q then %q, want the same; follow-up result %+v", first.Incident, follow.Incident, follow)
	}
	if follow.Finding.Code != "network-error" || follow.Escalation == nil || follow.Escalation.Paged || !strings.Contains(follow.Escalation.Reason, "already paged") {
		t.Errorf("follow-up: finding %q, escalation %+v; want the same finding and no second page", follow.Finding.Code, follow.Escalation)
	}
	if after.Finding.Code != "nothing-to-follow" || !strings.Contains(strings.Join(after.Finding.Evidence, "\n"), "follow-up stopped: nothing-left") {
		t.Errorf("next tick: %q %v; want it to say the follow-up stopped with nothing left to do", after.Finding.Code, after.Finding.Evidence)
	}
}
