package playbook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/dlq"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/memoryhigh"
	"github.com/arrakis/gp-remediation/pkg/notasks"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/queuedepth"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/service"
)

// scopedPlaybook is a small fake playbook: everything after Scope is canned (one restart of
// the scoped service, verified), Scope is a real function's. What the pipeline makes of an odd
// notification then depends only on decoding, scoping and the runner.
type scopedPlaybook struct {
	scope func(alarm.Alarm) (playbook.Target, error)

	mu    sync.Mutex
	acted []string
}

func (p *scopedPlaybook) Scope(a alarm.Alarm) (playbook.Target, error) { return p.scope(a) }
func (p *scopedPlaybook) Diagnose(ctx context.Context, a alarm.Alarm, t playbook.Target) (string, []report.Diagnostic) {
	return t.Service, playbook.RunProbes(ctx, time.Second, playbook.Probe{Name: "fake", Run: func(context.Context) error { return nil }})
}
func (p *scopedPlaybook) Decide(a alarm.Alarm, t playbook.Target, e string, failed map[string]string) playbook.Decision {
	return playbook.Decision{
		Finding: report.Finding{Code: "crash-loop", Summary: "fake", Evidence: []string{"fake"}},
		Actions: []playbook.Action{{Kind: "force-new-deployment", Target: t.Service, Reason: "fake"}},
	}
}
func (p *scopedPlaybook) Precheck(context.Context, playbook.Action) error { return nil }
func (p *scopedPlaybook) Act(ctx context.Context, act playbook.Action) (playbook.Effect, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acted = append(p.acted, act.Target)
	return playbook.Effect{Changed: true, Detail: "restarted"}, nil
}
func (p *scopedPlaybook) Verify(context.Context, playbook.Target, []playbook.Action) report.Verification {
	return report.Verification{Status: report.Verified, Detail: "fake"}
}
func (p *scopedPlaybook) Present(a alarm.Alarm, t playbook.Target, e string, r report.Result) report.Presentation {
	return report.Presentation{Headline: a.Name + ": " + r.Finding.Code}
}

func stagingConfig(t testing.TB) config.Config {
	t.Helper()
	env := map[string]string{
		config.EnvEnvironment:    "staging",
		config.EnvMode:           "on",
		config.EnvReportTopicARN: "arn:aws:sns:us-east-1:123456789012:arrakis-staging-gp-remediation-reports",
	}
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c
}

// corpusRunner runs with an in-memory ledger, records the reports, and logs JSON to logs.
func corpusRunner(t testing.TB, fn string, logs *bytes.Buffer) (*playbook.Runner, *[]report.Report) {
	c := stagingConfig(t)
	c.VerifyTimeout = time.Second
	var mu sync.Mutex
	var delivered []report.Report
	return &playbook.Runner{
		Function: fn,
		Config:   c,
		Guard:    guard.Guard{Mode: config.ModeOn, Ledger: guard.NewMemoryLedger()},
		Deliver: func(ctx context.Context, r report.Report) []report.Sink {
			mu.Lock()
			delivered = append(delivered, r)
			mu.Unlock()
			return []report.Sink{{Name: "test", OK: true}}
		},
		Log: slog.New(slog.NewJSONHandler(logs, nil)),
	}, &delivered
}

const corpusDir = "../alarm/testdata/corpus"

// Findings the no-tasks scope (ScopeService: ServiceName, else a service named in the alarm's
// name) must give, first Result then More. "error" marks a Result for input that is not an alarm.
var noTasksCorpus = map[string][]string{
	"sns-metric-math-expression.json":     {"crash-loop"},
	"sns-metric-math-two-services.json":   {"not-actionable"}, // about both services: neither is guessed
	"sns-composite.json":                  {"not-actionable"}, // composite without a service
	"sns-composite-names-service.json":    {"crash-loop"},     // composite that names the ingestor
	"eventbridge-composite.json":          {"not-actionable"},
	"eventbridge-metric-math.json":        {"not-actionable"}, // a queue alarm: no service
	"eventbridge-no-state-timestamp.json": {"crash-loop"},
	"eventbridge-unknown-state.json":      {"not-actionable"},
	"lambda-action-metric.json":           {"crash-loop"},
	"lambda-action-composite.json":        {"not-actionable"},
	"sns-missing-trigger.json":            {"crash-loop"},     // the worker, from the alarm's name
	"sns-missing-dimensions.json":         {"not-actionable"}, // no dimension, no service in the name
	"sns-huge-reason.json":                {"crash-loop"},
	"sns-unknown-state.json":              {"not-actionable"},
	"sns-empty-state.json":                {"not-actionable error"},
	"sns-duplicate-records.json":          {"crash-loop"},
	"sns-several-alarms.json":             {"crash-loop", "crash-loop", "recovered", "not-actionable"},
	"sns-unicode.json":                    {"crash-loop"},
	"sns-null-fields.json":                {"crash-loop"},
	"sns-numbers-as-strings.json":         {"crash-loop", "crash-loop"},
	"sns-console-test-message.json":       {"not-actionable error"},
	"sns-mixed-good-and-bad.json":         {"not-actionable error", "crash-loop", "not-actionable error"},
	"sns-timestamp-variants.json":         {"crash-loop", "crash-loop"},
	"sns-envelope-odd-timestamp.json":     {"crash-loop"},
}

// Bounds that keep one Result a usable log line and report input: CloudWatch Logs cuts an
// event at 256 KiB, so a Result (logged whole) must stay far below it whatever the alarm says.
const (
	maxResultJSON = 64 << 10
	maxLogLine    = 256 << 10
)

func TestCorpusThroughThePipeline(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	if len(files) == 0 {
		t.Fatal("no corpus files")
	}
	for _, f := range files {
		name := filepath.Base(f)
		want, ok := noTasksCorpus[name]
		if !ok {
			t.Errorf("%s: no expectation in noTasksCorpus", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			r, delivered := corpusRunner(t, "no-tasks", &logs)
			c := r.Config
			pb := &scopedPlaybook{scope: func(a alarm.Alarm) (playbook.Target, error) {
				return service.Scope(c, a, report.SeverityCritical)
			}}
			res, err := playbook.Handle(context.Background(), r, playbook.Playbook[string](pb), payload)
			if err != nil {
				t.Fatalf("Handle returned an error: %v", err)
			}
			all := append([]report.Result{res}, res.More...)
			var got []string
			for _, x := range all {
				code := x.Finding.Code
				if x.Error != "" {
					code += " error"
				}
				got = append(got, code)
			}
			if !slices.Equal(got, want) {
				for _, x := range all {
					t.Logf("%s: %s", x.Finding.Code, x.Finding.Summary)
				}
				t.Fatalf("findings %q, want %q", got, want)
			}
			checkResults(t, all)
			// Acted exactly on the Results that say so, and only on this environment's services.
			acted := 0
			for _, x := range all {
				for _, a := range x.Actions {
					if a.Outcome == report.OutcomeDone {
						acted++
					}
				}
			}
			if acted != len(pb.acted) {
				t.Errorf("Results report %d actions done, playbook acted %d times", acted, len(pb.acted))
			}
			for _, target := range pb.acted {
				if target != c.IngestorService && target != c.WorkerService {
					t.Errorf("acted on %q", target)
				}
			}
			// Every alarm acted on or recovered was reported (scope rejections are not).
			reported := 0
			for _, x := range all {
				if x.Finding.Code == "crash-loop" || x.Finding.Code == "recovered" {
					reported++
				}
			}
			if len(*delivered) < reported {
				t.Errorf("%d reports for %d alarms processed", len(*delivered), reported)
			}
			checkLogLines(t, logs.Bytes())
		})
	}
}

// checkResults holds every Result to the contract whatever the input was.
func checkResults(t *testing.T, all []report.Result) {
	t.Helper()
	for i, x := range all {
		if x.Function == "" || x.Environment != "staging" {
			t.Errorf("result %d: function %q environment %q", i, x.Function, x.Environment)
		}
		if x.Finding.Code == "" || x.Finding.Summary == "" {
			t.Errorf("result %d: empty finding %+v", i, x.Finding)
		}
		if x.Actions == nil || x.Recommendations == nil || x.Diagnostics == nil || x.Sinks == nil || x.Finding.Evidence == nil {
			t.Errorf("result %d: nil list in %+v (the JSON contract wants [])", i, x)
		}
		if x.Finding.Code == "not-actionable" && len(x.Actions) > 0 {
			t.Errorf("result %d: not actionable, yet actions %+v", i, x.Actions)
		}
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatalf("result %d does not marshal: %v", i, err)
		}
		if len(b) > maxResultJSON {
			t.Errorf("result %d is %d bytes of JSON (alarm reason %d bytes): too big for a log line", i, len(b), len(x.Alarm.Reason))
		}
	}
}

func checkLogLines(t *testing.T, logs []byte) {
	t.Helper()
	for _, line := range bytes.Split(logs, []byte("\n")) {
		if len(line) > maxLogLine {
			t.Errorf("a log line of %d bytes: CloudWatch Logs would cut it (%s…)", len(line), line[:120])
		}
		if len(line) > 0 && !json.Valid(line) {
			t.Errorf("log line is not JSON: %.200s", line)
		}
	}
}

// TestCorpusThroughEveryScope runs the corpus through the real Scope of each of the four
// functions: whatever the alarm, a Result without error or panic, the contract kept, and
// nothing acted on outside the environment's services.
func TestCorpusThroughEveryScope(t *testing.T) {
	c := stagingConfig(t)
	scopes := map[string]func(alarm.Alarm) (playbook.Target, error){
		"no-tasks":    (&notasks.Playbook{Config: c}).Scope,
		"queue-depth": (&queuedepth.Playbook{Config: c}).Scope,
		"dlq":         (&dlq.Playbook{Config: c}).Scope,
		"memory-high": (&memoryhigh.Playbook{Config: c}).Scope,
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	more, _ := filepath.Glob("../../events/*/*.json")
	for _, f := range append(files, more...) {
		if filepath.Base(f) == "cases.json" {
			continue
		}
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for fn, scope := range scopes {
			t.Run(fn+"/"+strings.TrimPrefix(f, "../"), func(t *testing.T) {
				var logs bytes.Buffer
				r, _ := corpusRunner(t, fn, &logs)
				pb := &scopedPlaybook{scope: scope}
				res, err := playbook.Handle(context.Background(), r, playbook.Playbook[string](pb), payload)
				if err != nil {
					t.Fatalf("Handle returned an error: %v", err)
				}
				all := append([]report.Result{res}, res.More...)
				checkResults(t, all)
				for _, target := range pb.acted {
					if target != c.IngestorService && target != c.WorkerService && target != "" {
						t.Errorf("acted on %q", target)
					}
				}
				for _, x := range all {
					if x.Finding.Code != "not-actionable" && x.Finding.Code != "recovered" && x.Finding.Code != "crash-loop" && x.Finding.Code != "follow-up-off" {
						t.Errorf("finding %q", x.Finding.Code)
					}
					if x.Finding.Code == "crash-loop" && x.Alarm.State != string(alarm.StateAlarm) {
						t.Errorf("acted on an alarm in state %q", x.Alarm.State)
					}
				}
				checkLogLines(t, logs.Bytes())
			})
		}
	}
}
