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
