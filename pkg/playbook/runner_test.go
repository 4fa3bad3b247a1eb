package playbook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// fakePlaybook records what the pipeline asked of it.
type fakePlaybook struct {
	decision  Decision
	precheck  error
	actErr    map[string]error
	verify    report.Verification
	handlesOK bool

	mu       sync.Mutex
	acted    []string
	verified int
	partial  map[string]bool // kinds whose Act changes the target before failing
}

type fakeEvidence struct{ seen string }

func (f *fakePlaybook) Scope(a alarm.Alarm) (Target, error) {
	if a.Dimension("ServiceName") == "other" {
		return Target{}, errors.Join(ErrNotActionable, errors.New("not ours"))
	}
	return Target{Service: "svc", Severity: report.SeverityCritical}, nil
}
func (f *fakePlaybook) Diagnose(ctx context.Context, a alarm.Alarm, t Target) (fakeEvidence, []report.Diagnostic) {
	return fakeEvidence{seen: "x"}, RunProbes(ctx, time.Second, Probe{Name: "p1", Run: func(context.Context) error { return nil }})
}
func (f *fakePlaybook) Decide(a alarm.Alarm, t Target, e fakeEvidence, failed map[string]string) Decision {
	return f.decision
}
func (f *fakePlaybook) Precheck(ctx context.Context, act Action) error { return f.precheck }
func (f *fakePlaybook) Act(ctx context.Context, act Action) (Effect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acted = append(f.acted, act.Kind)
	err := f.actErr[act.Kind]
	if f.partial[act.Kind] {
		return Effect{Changed: true, Detail: "moved 104 of 500", Moved: 104}, err
	}
	return Effect{Changed: err == nil, Detail: "did " + act.Kind}, err
}
func (f *fakePlaybook) Verify(ctx context.Context, t Target, done []Action) report.Verification {
	f.mu.Lock()
	f.verified++
	f.mu.Unlock()
	return f.verify
}
func (f *fakePlaybook) Present(a alarm.Alarm, t Target, e fakeEvidence, r report.Result) report.Presentation {
	return report.Presentation{Headline: "svc: " + r.Finding.Code}
}
func (f *fakePlaybook) HandlesOK() bool { return f.handlesOK }

type fakePager struct {
	triggered, resolved []string
	err                 error
}

func (p *fakePager) Trigger(ctx context.Context, r report.Report, key string) error {
	p.triggered = append(p.triggered, key)
	return p.err
}
func (p *fakePager) Resolve(ctx context.Context, key string) error {
	p.resolved = append(p.resolved, key)
	return p.err
}

type staticKill struct {
	on  bool
	err error
}

func (k staticKill) Engaged(context.Context) (bool, error) { return k.on, k.err }

func event(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../events/no-tasks/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newRunner(mode config.Mode, l guard.Ledger, kill guard.KillSwitch) (*Runner, *[]report.Report, *bytes.Buffer) {
	var delivered []report.Report
	metrics := &bytes.Buffer{}
	r := &Runner{
		Function: "no-tasks",
		Config:   config.Config{Environment: "staging", Mode: mode, VerifyTimeout: time.Second},
		Guard:    guard.Guard{Mode: mode, Ledger: l, Kill: kill, Budgets: map[string]guard.Budget{"restart": {Max: 1, Window: time.Hour}}},
		Deliver: func(ctx context.Context, rep report.Report) []report.Sink {
			delivered = append(delivered, rep)
			return []report.Sink{{Name: "test", OK: true}}
		},
		Metrics: metrics,
	}
	return r, &delivered, metrics
}

func restartDecision() Decision {
	return Decision{Finding: report.Finding{Code: "crash-loop", Summary: "s"}, Actions: []Action{{Kind: "restart", Target: "svc", Reason: "r"}}}
}

func TestPipeline(t *testing.T) {
	verified := report.Verification{Status: report.Verified, Detail: "1 running"}
	tests := []struct {
		name         string
		mode         config.Mode
		kill         guard.KillSwitch
		event        string
		pb           *fakePlaybook
		pager        bool
		wantCode     string
		wantOutcomes []report.Outcome
		wantActed    int
		wantPaged    bool
		wantResolved bool
		wantReports  int
		wantReason   string
	}{
		{name: "acts and verifies, resolving any earlier page", mode: config.ModeOn, event: "ingestor-alarm.json", pb: &fakePlaybook{decision: restartDecision(), verify: verified},
			pager: true, wantCode: "crash-loop", wantOutcomes: []report.Outcome{report.OutcomeDone}, wantActed: 1, wantReports: 1, wantResolved: true},
		{name: "dry-run acts on nothing and pages (critical, not fixed)", mode: config.ModeDryRun, event: "ingestor-alarm.json", pb: &fakePlaybook{decision: restartDecision()},
			pager: true, wantCode: "crash-loop", wantOutcomes: []report.Outcome{report.OutcomeDryRun}, wantPaged: true, wantReports: 1},
		{name: "mode off does nothing, reports nothing", mode: config.ModeOff, event: "ingestor-alarm.json", pb: &fakePlaybook{decision: restartDecision()},
			wantCode: "mode-off"},
		{name: "kill switch blocks actions but still reports", mode: config.ModeOn, kill: staticKill{on: true}, event: "ingestor-alarm.json", pb: &fakePlaybook{decision: restartDecision()},
			wantCode: "crash-loop", wantOutcomes: []report.Outcome{report.OutcomeSkipped}, wantReports: 1, wantReason: "kill-switch"},
		{name: "unreadable kill switch fails safe", mode: config.ModeOn, kill: staticKill{err: errors.New("AccessDenied")}, event: "ingestor-alarm.json", pb: &fakePlaybook{decision: restartDecision()},
			wantCode: "crash-loop", wantOutcomes: []report.Outcome{report.OutcomeSkipped}, wantReports: 1, wantReason: "kill-switch-unreadable"},
		{name: "missing evidence blocks every action", mode: config.ModeOn, event: "ingestor-alarm.json",
			pb:       &fakePlaybook{decision: Decision{Finding: report.Finding{Code: "unknown"}, Actions: []Action{{Kind: "restart", Target: "svc"}}, Missing: []string{"ecs.service"}}},
			wantCode: "unknown", wantOutcomes: []report.Outcome{report.OutcomeSkipped}, wantReports: 1, wantReason: "missing-evidence"},
		{name: "blocked action is skipped with its rule", mode: config.ModeOn, event: "ingestor-alarm.json",
			pb:       &fakePlaybook{decision: Decision{Finding: report.Finding{Code: "bad-deployment"}, Actions: []Action{{Kind: "rollback", Target: "svc", Blocked: guard.Rule{Code: guard.RulePolicy, Detail: "off"}}}}},
			wantCode: "bad-deployment", wantOutcomes: []report.Outcome{report.OutcomeSkipped}, wantReports: 1, wantReason: "policy: off"},
		{name: "state changed before acting", mode: config.ModeOn, event: "ingestor-alarm.json", pb: &fakePlaybook{decision: restartDecision(), precheck: errors.New("1 task running now")},
			wantCode: "crash-loop", wantOutcomes: []report.Outcome{report.OutcomeSkipped}, wantReports: 1, wantReason: "state-changed"},
		{name: "a failed action skips the rest and pages", mode: config.ModeOn, event: "ingestor-alarm.json", pager: true,
			pb: &fakePlaybook{decision: Decision{Finding: report.Finding{Code: "x"}, Actions: []Action{{Kind: "a", Target: "svc"}, {Kind: "b", Target: "svc"}}},
				actErr: map[string]error{"a": errors.New("AccessDenied")}},
			wantCode: "x", wantOutcomes: []report.Outcome{report.OutcomeFailed, report.OutcomeSkipped}, wantActed: 1, wantPaged: true, wantReports: 1},
		{name: "unverified fix pages", mode: config.ModeOn, event: "ingestor-alarm.json", pager: true,
			pb:       &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Pending, Detail: "still starting"}},
			wantCode: "crash-loop", wantOutcomes: []report.Outcome{report.OutcomeDone}, wantActed: 1, wantPaged: true, wantReports: 1},
		{name: "benign finding never pages", mode: config.ModeOn, event: "ingestor-alarm.json", pager: true,
			pb:       &fakePlaybook{decision: Decision{Finding: report.Finding{Code: "scaled-to-zero"}, Benign: true}},
			wantCode: "scaled-to-zero", wantReports: 1},
		{name: "OK resolves the page", mode: config.ModeOn, event: "ingestor-ok.json", pager: true, pb: &fakePlaybook{decision: restartDecision()},
			wantCode: "recovered", wantResolved: true, wantReports: 1},
		{name: "OK handled by a playbook that wants it", mode: config.ModeOn, event: "ingestor-ok.json", pb: &fakePlaybook{decision: restartDecision(), handlesOK: true, verify: verified},
			wantCode: "crash-loop", wantOutcomes: []report.Outcome{report.OutcomeDone}, wantActed: 1, wantReports: 1},
		{name: "insufficient data is report-only", mode: config.ModeOn, event: "ingestor-insufficient-data.json", pb: &fakePlaybook{decision: restartDecision()},
			wantCode: "not-actionable", wantReports: 1},
		{name: "malformed input: a Result, no error, nothing done", mode: config.ModeOn, event: "malformed.json", pb: &fakePlaybook{decision: restartDecision()},
			wantCode: "not-actionable"},
		{name: "not SNS", mode: config.ModeOn, event: "not-sns.json", pb: &fakePlaybook{decision: restartDecision()}, wantCode: "not-actionable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, delivered, metrics := newRunner(tc.mode, guard.NewMemoryLedger(), tc.kill)
			var pager *fakePager
			if tc.pager {
				pager = &fakePager{}
				r.Pager = pager
			}
			res, err := Handle(context.Background(), r, Playbook[fakeEvidence](tc.pb), event(t, tc.event))
			if err != nil {
				t.Fatalf("Handle returned an error: %v", err)
			}
			if res.Finding.Code != tc.wantCode {
				t.Fatalf("finding = %q (%s), want %q", res.Finding.Code, res.Finding.Summary, tc.wantCode)
			}
			var outcomes []report.Outcome
			for _, a := range res.Actions {
				outcomes = append(outcomes, a.Outcome)
				if tc.wantReason != "" && a.Outcome == report.OutcomeSkipped && !strings.Contains(a.Reason, tc.wantReason) {
					t.Errorf("skip reason %q lacks %q", a.Reason, tc.wantReason)
				}
			}
			if len(outcomes) != len(tc.wantOutcomes) {
				t.Fatalf("outcomes = %v, want %v", outcomes, tc.wantOutcomes)
			}
			for i := range outcomes {
				if outcomes[i] != tc.wantOutcomes[i] {
					t.Errorf("outcomes = %v, want %v", outcomes, tc.wantOutcomes)
				}
			}
			if len(tc.pb.acted) != tc.wantActed {
				t.Errorf("acted %v, want %d actions", tc.pb.acted, tc.wantActed)
			}
			if len(*delivered) != tc.wantReports {
				t.Errorf("%d reports delivered, want %d", len(*delivered), tc.wantReports)
			}
			if pager != nil {
				if (len(pager.triggered) > 0) != tc.wantPaged {
					t.Errorf("paged = %v, want %v", pager.triggered, tc.wantPaged)
				}
				if (len(pager.resolved) > 0) != tc.wantResolved {
					t.Errorf("resolved = %v, want %v", pager.resolved, tc.wantResolved)
				}
				if tc.wantPaged && (res.Escalation == nil || !res.Escalation.Paged || res.Escalation.DedupKey != "gp-remediation/staging/arrakis-staging No Ingestor Tasks Running") {
					t.Errorf("escalation = %+v", res.Escalation)
				}
			}
			// The Result must marshal with the contract's field names.
			b, _ := json.Marshal(res)
			for _, field := range []string{`"function"`, `"environment"`, `"alarm"`, `"finding"`, `"actions"`, `"recommendations"`, `"diagnostics"`, `"sinks"`} {
				if !bytes.Contains(b, []byte(field)) {
					t.Errorf("Result JSON lacks %s: %s", field, b)
				}
			}
			if tc.wantCode != "not-actionable" && tc.wantCode != "mode-off" && !strings.Contains(metrics.String(), `"Namespace":"GPRemediation"`) {
				t.Errorf("no EMF line: %q", metrics.String())
			}
		})
	}
}

func TestDuplicateDeliveryActsOnce(t *testing.T) {
	l := guard.NewMemoryLedger()
	pb := &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Verified}}
	r, _, _ := newRunner(config.ModeOn, l, nil)
	first, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pb), event(t, "ingestor-alarm.json"))
	second, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pb), event(t, "ingestor-alarm.json"))
	if first.Finding.Code != "crash-loop" || second.Finding.Code != "duplicate" || len(pb.acted) != 1 {
		t.Fatalf("first %q, second %q, acted %v", first.Finding.Code, second.Finding.Code, pb.acted)
	}
}

func TestConcurrentInvocationsActOnce(t *testing.T) {
	l := guard.NewMemoryLedger()
	pb := &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Verified}}
	var wg sync.WaitGroup
	var dup atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, _ := newRunner(config.ModeOn, l, nil)
			res, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pb), event(t, "ingestor-alarm.json"))
			if res.Finding.Code == "duplicate" {
				dup.Add(1)
			}
		}()
	}
	wg.Wait()
	if len(pb.acted) != 1 || dup.Load() != 19 {
		t.Fatalf("acted %d times, %d duplicates", len(pb.acted), dup.Load())
	}
}

func TestBudgetDeniesSecondAction(t *testing.T) {
	// Two different alarm transitions, one budget of 1 per hour for "restart" on svc.
	l := guard.NewMemoryLedger()
	pb := &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Verified}}
	r, _, _ := newRunner(config.ModeOn, l, nil)
	a1 := alarm.Alarm{Name: "a", State: alarm.StateAlarm, ChangedAt: time.Now()}
	a2 := alarm.Alarm{Name: "a", State: alarm.StateAlarm, ChangedAt: time.Now().Add(time.Minute)}
	Process(context.Background(), r, Playbook[fakeEvidence](pb), a1)
	res := Process(context.Background(), r, Playbook[fakeEvidence](pb), a2)
	if len(pb.acted) != 1 || res.Actions[0].Outcome != report.OutcomeSkipped || !strings.HasPrefix(res.Actions[0].Reason, "budget:") {
		t.Fatalf("acted %v; second result %+v", pb.acted, res.Actions)
	}
}

func TestNotOurs(t *testing.T) {
	r, delivered, _ := newRunner(config.ModeOn, nil, nil)
	pb := &fakePlaybook{decision: restartDecision()}
	res := Process(context.Background(), r, Playbook[fakeEvidence](pb), alarm.Alarm{Name: "x", State: alarm.StateAlarm, Dimensions: map[string]string{"ServiceName": "other"}})
	if res.Finding.Code != "not-actionable" || len(pb.acted) != 0 || len(*delivered) != 0 {
		t.Fatalf("result %+v acted %v delivered %d", res.Finding, pb.acted, len(*delivered))
	}
}

func TestRunProbes(t *testing.T) {
	// slow-ok and also-slow each wait for the other to have started: run one after the
	// other, both would time out.
	var started sync.WaitGroup
	started.Add(2)
	meet := func(ctx context.Context) error {
		started.Done()
		done := make(chan struct{})
		go func() { started.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return errors.New("the other probe never started: probes are not concurrent")
		}
	}
	ds := RunProbes(context.Background(), 2*time.Second,
		Probe{Name: "slow-ok", Run: meet},
		Probe{Name: "also-slow", Run: meet},
		Probe{Name: "hangs", Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		Probe{Name: "own-timeout", Timeout: 10 * time.Millisecond, Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		Probe{Name: "fails", Run: func(ctx context.Context) error { return errors.New("AccessDenied") }},
		Probe{Name: "panics", Run: func(ctx context.Context) error { panic("boom") }},
	)
	want := map[string]bool{"slow-ok": true, "also-slow": true, "hangs": false, "own-timeout": false, "fails": false, "panics": false}
	for i, d := range ds {
		if d.Name != []string{"slow-ok", "also-slow", "hangs", "own-timeout", "fails", "panics"}[i] {
			t.Errorf("order: %d is %s", i, d.Name)
		}
		if d.OK != want[d.Name] {
			t.Errorf("%s ok = %v (%s)", d.Name, d.OK, d.Error)
		}
	}
	if !strings.Contains(ds[2].Error, "timed out after 2s") || !strings.Contains(ds[5].Error, "panicked") {
		t.Errorf("errors: %q %q", ds[2].Error, ds[5].Error)
	}
}

func TestWorkContextKeepsTimeForTheReport(t *testing.T) {
	r := &Runner{ReportReserve: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	work, c2 := r.workContext(ctx)
	defer c2()
	dl, _ := work.Deadline()
	outer, _ := ctx.Deadline()
	if gap := outer.Sub(dl); gap < 4*time.Second || gap > 6*time.Second {
		t.Errorf("reserve = %s, want ~5s", gap)
	}
	short, c3 := context.WithTimeout(context.Background(), 3*time.Second)
	defer c3()
	work, c4 := r.workContext(short)
	defer c4()
	dl, _ = work.Deadline()
	outer, _ = short.Deadline()
	if gap := outer.Sub(dl); gap < 900*time.Millisecond || gap > 1100*time.Millisecond {
		t.Errorf("short deadline reserve = %s, want ~1s", gap)
	}
}

// TestAnActionThatChangedSomethingIsVerified: a replay cut by a closed connection after moving
// messages failed, but it changed the queues. Its verification runs and the report says what
// it changed; the ledger records it as partial, so it spends its budget.
func TestAnActionThatChangedSomethingIsVerified(t *testing.T) {
	l := guard.NewMemoryLedger()
	r, _, _ := newRunner(config.ModeOn, l, nil)
	pb := &fakePlaybook{
		decision: Decision{Finding: report.Finding{Code: "transient"}, Actions: []Action{{Kind: KindReplay, Target: "dlq", Reason: "r"}}},
		actErr:   map[string]error{KindReplay: errors.New("connection lost during replay")},
		partial:  map[string]bool{KindReplay: true},
		verify:   report.Verification{Status: report.Verified, Detail: "dlq holds 396"},
	}
	res, err := Handle(context.Background(), r, Playbook[fakeEvidence](pb), event(t, "ingestor-alarm.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Actions) != 1 || res.Actions[0].Outcome != report.OutcomeFailed || !strings.Contains(res.Actions[0].Detail, "moved 104") {
		t.Fatalf("actions = %+v, want one failed replay that says what it moved", res.Actions)
	}
	if pb.verified != 1 || res.Verification == nil || res.Verification.Status != report.Verified {
		t.Fatalf("verification = %+v (verified %d times), want the change verified", res.Verification, pb.verified)
	}
	hist, _ := l.History(context.Background(), "dlq", KindReplay, time.Time{})
	if len(hist) != 1 || hist[0].Outcome != guard.OutcomePartial || hist[0].Moved != 104 {
		t.Fatalf("ledger = %+v, want one partial replay of 104", hist)
	}
}
