package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// TestParallelDeliveriesActOnce sends the same alarm to N functions at once (SNS delivers at
// least once; Lambda may run the copies in parallel on different instances). With the
// DynamoDB ledger shared between them, exactly one acts; the others say "duplicate".
func TestParallelDeliveriesActOnce(t *testing.T) {
	const n = 6
	f := setup(t, cases.Case{Name: "parallel", Function: "no-tasks", Scenario: "ingestor-oom", Mode: "on"})
	before := updates(f)
	results := invokeAll(t, f, slices.Repeat([]invocation{{"no-tasks", "../events/no-tasks/ingestor-alarm.json"}}, n))
	acted, dups := 0, 0
	for _, r := range results {
		switch {
		case r.Finding.Code == "duplicate":
			dups++
		case done(r) == 1:
			acted++
		default:
			t.Errorf("unexpected result: %s %+v", r.Finding.Code, r.Actions)
		}
	}
	if acted != 1 || dups != n-1 {
		t.Errorf("%d invocations acted and %d were duplicates; want 1 and %d", acted, dups, n-1)
	}
	if got := updates(f) - before; got != 1 {
		t.Errorf("%d new deployments of the ingestor, want exactly 1", got)
	}
}

// TestTwoAlarmsOneServiceActOnce: two different alarm transitions about the same service
// (the SNS and the EventBridge notification, as if two alarms fired) reach two invocations at
// once. Both are admitted (different transitions), but the lock on the service, the
// re-read of its state and the restart cooldown mean only one restart happens.
func TestTwoAlarmsOneServiceActOnce(t *testing.T) {
	f := setup(t, cases.Case{Name: "two alarms", Function: "no-tasks", Scenario: "ingestor-oom", Mode: "on"})
	before := updates(f)
	results := invokeAll(t, f, []invocation{{"no-tasks", "../events/no-tasks/ingestor-alarm.json"}, {"no-tasks", "../events/no-tasks/ingestor-alarm-eventbridge.json"}})
	total := 0
	for _, r := range results {
		total += done(r)
		for _, a := range r.Actions {
			if a.Kind == "force-new-deployment" && a.Outcome == report.OutcomeSkipped {
				t.Logf("the other invocation stood back: %s", a.Reason)
			}
		}
	}
	if total != 1 {
		t.Errorf("%d restarts done across the two invocations, want 1: %+v", total, results)
	}
	if got := updates(f) - before; got != 1 {
		t.Errorf("%d new deployments of the ingestor, want exactly 1", got)
	}
}

// TestNoTasksAndMemoryHighRestartTheIngestorOnce: a leaking ingestor is OOM-killed, so No
// Ingestor Tasks Running and Ingestor Memory High fire together and reach two different
// functions at once. Each wants to restart the ingestor; together they restart it once, and
// the one that stands back names its rule in its Result. Which rule depends on the timing: the
// lock on the service, the restart cooldown every function shares (both proven across
// functions in pkg/ledger's TestWithGuard), or memory-high's re-read of the state, which leaves
// a service with no running task to no-tasks.
func TestNoTasksAndMemoryHighRestartTheIngestorOnce(t *testing.T) {
	f := setup(t, cases.Case{Name: "two functions", Function: "no-tasks", Scenario: "ingestor-leak-oom", Mode: "on"})
	before := updates(f)
	calls := []invocation{
		{"no-tasks", "../events/no-tasks/ingestor-alarm.json"},
		{"memory-high", "../events/memory-high/ingestor-alarm.json"},
	}
	results := invokeAll(t, f, calls)
	total, stoodBack := 0, 0
	for i, r := range results {
		total += done(r)
		wanted := false
		for _, a := range r.Actions {
			if a.Kind != "force-new-deployment" {
				continue
			}
			wanted = true
			if a.Outcome == report.OutcomeSkipped {
				stoodBack++
				if a.Reason == "" {
					t.Errorf("%s skipped its restart without naming the rule", calls[i].fn)
				}
				t.Logf("%s stood back: %s", calls[i].fn, a.Reason)
			}
		}
		if !wanted {
			t.Errorf("%s did not want to restart the ingestor (finding %s): the scenario does not exercise the lock", calls[i].fn, r.Finding.Code)
		}
	}
	if total != 1 || stoodBack != 1 {
		t.Errorf("%d restarts done and %d skipped across the two functions, want 1 and 1: %+v", total, stoodBack, results)
	}
	if got := updates(f) - before; got != 1 {
		t.Errorf("%d new deployments of the ingestor, want exactly 1", got)
	}
}

func setup(t *testing.T, c cases.Case) *cases.Fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := cases.Setup(ctx, env, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// invocation is one function's event, for invokeAll.
type invocation struct{ fn, event string }

// invokeAll invokes every one at once, each through a fresh emulator, and returns their
// Results in the same order.
func invokeAll(t *testing.T, f *cases.Fixture, calls []invocation) []report.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results := make([]report.Result, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			out, err := f.InvokeFunction(ctx, c.fn, c.event)
			if err != nil {
				t.Errorf("invocation %d (%s): %v", i, c.fn, err)
				return
			}
			results[i] = out.Result
		})
	}
	wg.Wait()
	return results
}

// updates counts the UpdateService calls that succeeded: each started one deployment. (The
// service's deployment list forgets completed ones, so it cannot be counted instead.)
func updates(f *cases.Fixture) int {
	n := 0
	for _, c := range f.Sandbox.Calls() {
		if c.Service == "ecs" && c.Operation == "UpdateService" && c.Status == 200 {
			n++
		}
	}
	return n
}

func done(r report.Result) int {
	n := 0
	for _, a := range r.Actions {
		if a.Outcome == report.OutcomeDone {
			n++
		}
	}
	return n
}
