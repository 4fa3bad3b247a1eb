package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// TestOneOutageOneIncident: the worker cannot start (its image does not pull), so No Worker
// Tasks Running, Queue Depth High and DLQ Messages fire within moments and reach three
// functions. They make one incident: every Result carries its id, on-call is paged once, and
// the Discord conversation is one message that the later reports edit.
func TestOneOutageOneIncident(t *testing.T) {
	f := setup(t, cases.Case{Name: "one outage", Function: "no-tasks", Scenario: "image-pull-network-error", Mode: "on",
		Broker: &cases.Broker{Ready: 1500, DeadLetters: []cases.DeadLetters{{Count: 10, Header: "x-error", Error: "upstream timeout after 30s calling discord.com", Body: `{"type":2}`}}},
		Env:    map[string]string{"GPR_ALARM_NAMES": "arrakis-staging DLQ Messages"}})
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

	// The DLQ waits for the worker: no replay into a queue nobody consumes, and the skip names
	// the other alarm. Once the worker alarm is OK, the follow-up replays.
	dlq := results[2]
	if len(dlq.Actions) == 0 || dlq.Actions[0].Kind != "replay" || dlq.Actions[0].Rule != "incident" || !strings.Contains(dlq.Actions[0].Reason, "No Worker Tasks Running") {
		t.Fatalf("dlq actions %+v, want the replay to wait for the worker alarm", dlq.Actions)
	}
	if err := f.Sandbox.SetAlarmState("arrakis-staging No Worker Tasks Running", "OK", "tasks running again"); err != nil {
		t.Fatal(err)
	}
	// The worker runs again: it consumes the work queue.
	conn, err := amqp.Dial(f.Case.Broker.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(10, 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume("arrakis.interactions", "worker", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Sandbox.SetAlarmState("arrakis-staging DLQ Messages", "ALARM", "still dead letters"); err != nil {
		t.Fatal(err)
	}
	out, err := f.InvokeFunction(ctx, "dlq", "../events/dlq/follow-up.json")
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Incident != id || len(out.Result.Actions) == 0 || out.Result.Actions[0].Outcome != report.OutcomeDone {
		t.Errorf("dlq follow-up: incident %q, actions %+v; want the replay done in the same incident", out.Result.Incident, out.Result.Actions)
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

// TestDLQFollowUpsReplayEveryTransientMessage: 3,000 real dead letters, two thirds bad data
// at the head of the DLQ and the transient third behind it, where no head sample sees them.
// The alarm's run and the follow-ups (a compressed 1 s schedule) each take the next batch:
// every transient message is replayed, the bad data parked, nothing lost, and the follow-up
// stops once nothing is left.
func TestDLQFollowUpsReplayEveryTransientMessage(t *testing.T) {
	const bad, transient = 2000, 1000
	broker := &cases.Broker{Parking: "arrakis.parking", DeadLetters: []cases.DeadLetters{
		{Count: bad, Header: "x-error", Error: "invalid JSON: unexpected end of input", Body: `{"type":2,"data":{`},
		{Count: transient, Header: "x-error", Error: "upstream timeout after 30s calling discord.com"},
	}}
	f := setup(t, cases.Case{Name: "dlq follow-ups", Function: "dlq", Scenario: "dlq", Mode: "on", Broker: broker,
		Env: map[string]string{"GPR_ALARM_NAMES": "arrakis-staging DLQ Messages", "GPR_FOLLOW_UP_INTERVAL": "1s", "GPR_DLQ_MAX_REPLAY_PER_HOUR": "100000"}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	event := "../events/dlq/alarm.json"
	var last report.Result
	for run := 0; run < 10; run++ {
		out, err := f.InvokeFunction(ctx, "dlq", event)
		if err != nil {
			t.Fatal(err)
		}
		last = out.Result
		if last.Finding.Code == "nothing-to-follow" {
			break
		}
		event = "../events/dlq/follow-up.json"
		time.Sleep(1100 * time.Millisecond) // the next tick
	}
	depth := func(q string) int {
		n, err := broker.Depth(q)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	dlq, work, parked := depth("arrakis.dlq"), depth("arrakis.interactions"), depth("arrakis.parking")
	t.Logf("after the follow-ups: DLQ %d, work queue %d, parking %d; last result %s: %v", dlq, work, parked, last.Finding.Code, last.Finding.Evidence)
	if work < transient || parked < bad || dlq != 0 {
		t.Errorf("DLQ %d, replayed %d of %d transient, parked %d of %d bad; want every one moved", dlq, work, transient, parked, bad)
	}
	if total := dlq + work + parked; total < bad+transient || total > bad+transient+256 {
		t.Errorf("%d messages in all, want %d (none lost, duplicates at most the confirm window)", total, bad+transient)
	}
	if last.Finding.Code != "nothing-to-follow" {
		t.Errorf("the follow-ups did not end: last finding %q", last.Finding.Code)
	}
}

// TestQueueDepthStepsToTheCapThenEscalates: more workers do not bring the queue down. The
// alarm's run adds one worker, the follow-ups (a compressed clock: 1 s ticks and cooldown) the
// next, up to the cap of 3; the next follow-up cannot step further and hands over to a person
// with the evidence of every step, then the follow-ups stop.
func TestQueueDepthStepsToTheCapThenEscalates(t *testing.T) {
	f := setup(t, cases.Case{Name: "queue stays high", Function: "queue-depth", Scenario: "queue-stays-high", Mode: "on",
		Broker: &cases.Broker{Ready: 2400, Consumers: 1, Prefetch: 10, Ingestor: true},
		Env: map[string]string{"GPR_ALARM_NAMES": "arrakis-staging Queue Depth High", "GPR_FOLLOW_UP_INTERVAL": "1s",
			"GPR_SCALE_COOLDOWN": "1s", "GPR_VERIFY_TIMEOUT": "2s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	worker := "arrakis-staging-gp-worker"
	event := "../events/queue-depth/alarm.json"
	var desired []int
	var results []report.Result
	for run := 0; run < 6; run++ {
		out, err := f.InvokeFunction(ctx, "queue-depth", event)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, out.Result)
		desired = append(desired, out.After[worker].Desired)
		if out.Result.Finding.Code == "nothing-to-follow" {
			break
		}
		event = "../events/queue-depth/follow-up.json"
		time.Sleep(1100 * time.Millisecond)
	}
	t.Logf("desired counts after each run: %v", desired)
	if len(desired) < 4 || desired[0] != 2 || desired[1] != 3 || desired[2] != 3 {
		t.Fatalf("desired counts %v, want 2, 3, then held at the cap", desired)
	}
	esc := results[2].Escalation
	evidence := strings.Join(results[2].Finding.Evidence, "\n")
	if esc == nil || !strings.Contains(esc.Reason, "cap") || strings.Count(evidence, "earlier in incident") < 2 {
		t.Errorf("at the cap: escalation %+v, evidence:\n%s\nwant an escalation carrying both earlier steps", esc, evidence)
	}
	if last := results[len(results)-1]; last.Finding.Code != "nothing-to-follow" || !strings.Contains(strings.Join(last.Finding.Evidence, " "), "budget-spent") {
		t.Errorf("last run %q %v, want the follow-up stopped: budget-spent", last.Finding.Code, last.Finding.Evidence)
	}
}

// TestARestartThatDoesNotHoldEscalatesOnce: the worker crash-loops on a database that is still
// down, so a restart's new tasks crash too. The alarm's run restarts it (and pages: the fix is
// not verified); the follow-up sees it still down, does not restart again inside the cooldown,
// and escalates without a second page, carrying the first attempt in its evidence.
func TestARestartThatDoesNotHoldEscalatesOnce(t *testing.T) {
	f := setup(t, cases.Case{Name: "relapse", Function: "no-tasks", Scenario: "worker-crash-loop-relapse", Mode: "on",
		Env: map[string]string{"GPR_ALARM_NAMES": "arrakis-staging No Worker Tasks Running", "GPR_FOLLOW_UP_INTERVAL": "1s", "GPR_VERIFY_TIMEOUT": "3s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	first, err := f.InvokeFunction(ctx, "no-tasks", "../events/no-tasks/worker-alarm.json")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	follow, err := f.InvokeFunction(ctx, "no-tasks", "../events/no-tasks/follow-up.json")
	if err != nil {
		t.Fatal(err)
	}
	a, b := first.Result, follow.Result
	if done(a) != 1 || a.Verification == nil || a.Verification.Status == report.Verified {
		t.Fatalf("first run: actions %+v, verification %+v; want a restart that did not hold", a.Actions, a.Verification)
	}
	if len(b.Actions) != 1 || b.Actions[0].Rule != "cooldown" {
		t.Fatalf("follow-up: actions %+v, want the restart skipped by its cooldown", b.Actions)
	}
	triggers := 0
	for _, rq := range f.Sandbox.Requests("pagerduty") {
		if strings.Contains(rq.Body, `"event_action":"trigger"`) {
			triggers++
		}
	}
	if b.Escalation == nil || triggers != 1 || !strings.Contains(strings.Join(b.Finding.Evidence, "\n"), "earlier in incident") {
		t.Errorf("follow-up escalation %+v, %d pages, evidence %v; want one page and the first attempt in the evidence", b.Escalation, triggers, b.Finding.Evidence)
	}
}
