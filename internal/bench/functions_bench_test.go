package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/internal/bench"
	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ledger/dynalitetest"
	"github.com/arrakis/gp-remediation/sandbox"
)

// The functions' benchmarks: the built bootstraps under the Lambda Runtime Interface Emulator.
// `make bench` runs them (scripts/bench.sh); by hand:
//
//	go test -run '^$' -bench ColdInit -benchtime 5x -count 6 ./internal/bench
//	go test -run '^$' -bench DiagnoseLatency -benchtime 1x -count 6 ./internal/bench
//
// Set GPR_BENCH_DETAILS to a folder to get each latency case's call timeline there (JSON),
// which cmd/benchtable puts into docs/benchmarks.md.

// artifacts are the emulator, the hello-world baseline and every function, built for this
// machine with the Makefile's BUILD_FLAGS into a temporary folder, once per test binary, so
// that a benchmark always measures the code under test.
var artifacts struct {
	once sync.Once
	dir  string
	rie  string
	root string
	fns  []string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if artifacts.dir != "" {
		os.RemoveAll(artifacts.dir)
	}
	os.Exit(code)
}

func build(b *testing.B) {
	b.Helper()
	a := &artifacts
	a.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if a.root, a.err = bench.ModuleRoot("."); a.err != nil {
			return
		}
		if a.fns, a.err = bench.Functions(a.root); a.err != nil {
			return
		}
		if a.dir, a.err = os.MkdirTemp("", "gpr-bench-"); a.err != nil {
			return
		}
		var flags []string
		if flags, a.err = bench.MakefileBuildFlags(a.root); a.err != nil {
			return
		}
		a.rie = filepath.Join(a.dir, "aws-lambda-rie")
		if a.err = bench.BuildTool(ctx, a.root, bench.RIEPackage, a.rie); a.err != nil {
			return
		}
		if a.err = bench.Build(ctx, a.root, flags, bench.HelloPackage, runtime.GOARCH, bootstrap("hello")); a.err != nil {
			return
		}
		for _, fn := range a.fns {
			if a.err = bench.Build(ctx, a.root, flags, "./functions/"+fn, runtime.GOARCH, bootstrap(fn)); a.err != nil {
				return
			}
		}
	})
	if a.err != nil {
		b.Fatalf("build: %v", a.err)
	}
}

func bootstrap(fn string) string { return filepath.Join(artifacts.dir, fn, "bootstrap") }

// BenchmarkColdInit starts each function cold under the emulator (a fresh emulator process
// per start) next to the hello-world baseline, alternating which goes first so that a busy
// machine slows both alike. It reports the median INIT REPORT durations of the run and their
// ratio (target: ≤ 3× hello-world).
func BenchmarkColdInit(b *testing.B) {
	build(b)
	// A configuration the functions accept (the stack's, pointed at a port nothing listens
	// on) with the ledger table set, so init builds every client it builds in production. The
	// event is not an alarm: the invocation ends at once, without a network call.
	env := sandbox.EnvFor("http://127.0.0.1:9", "staging")
	// As deployed (infra renders the same): the collector off until the memory limit.
	maps.Copy(env, config.RuntimeEnv(256))
	env[config.EnvMode] = string(config.ModeDryRun)
	env[config.EnvLedgerTable] = "gpr-bench-ledger"
	payload := []byte(`{}`)
	ctx := context.Background()
	start := func(b *testing.B, fn string) float64 {
		d, err := bench.ColdStart(ctx, artifacts.rie, bootstrap(fn), env, payload)
		if err != nil {
			b.Fatal(err)
		}
		return float64(d) / float64(time.Millisecond)
	}
	for _, fn := range artifacts.fns {
		b.Run(fn, func(b *testing.B) {
			// One start of each first, unmeasured: both binaries then come from the page
			// cache, as they do for every later start.
			start(b, "hello")
			start(b, fn)
			var hello, fnInit []float64
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					hello = append(hello, start(b, "hello"))
					fnInit = append(fnInit, start(b, fn))
				} else {
					fnInit = append(fnInit, start(b, fn))
					hello = append(hello, start(b, "hello"))
				}
				i++
			}
			h, f := bench.Median(hello), bench.Median(fnInit)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(f, "init-ms")
			b.ReportMetric(h, "hello-init-ms")
			b.ReportMetric(f/h, "x-hello")
		})
	}
}

// latencyCases are the invocations timed under latency: every function in dry-run (no
// action, so no verification polling), each on a scenario of its own cases.json, whose
// broker set-up, parameters and secrets it reuses.
var latencyCases = []struct {
	name, function, scenario, event string
}{
	{"no-tasks-ingestor", "no-tasks", "ingestor-oom", "ingestor-alarm.json"},
	{"no-tasks-worker", "no-tasks", "worker-crash-loop", "worker-alarm.json"},
	{"queue-depth", "queue-depth", "queue-under-provisioned", ""},
	{"dlq", "dlq", "dlq", ""},
	{"memory-high", "memory-high", "memory-leak", ""},
}

// Latency is added to every call the function makes to the sandbox, and to DynamoDB.
const Latency = 100 * time.Millisecond

// BenchmarkDiagnoseLatency runs one invocation per iteration with Latency added to every
// sandbox call (sandbox SetLatency) and to every ledger call (a DelayProxy in front of
// dynalite), and compares its wall time with the longest chain of dependent calls recorded in
// that invocation (see bench.Chain for what counts as dependent). Target for no-tasks:
// wall ≤ 1.5 × chain × per-call time. RabbitMQ and PostgreSQL round trips get no added
// latency and are not in the chain.
func BenchmarkDiagnoseLatency(b *testing.B) {
	build(b)
	all, err := cases.Load(filepath.Join(artifacts.root, "events"))
	if err != nil {
		b.Fatal(err)
	}
	ddb, err := dynalitetest.StartProcess()
	if err != nil {
		b.Fatalf("dynalite (scripts/dynalite.sh install): %v", err)
	}
	defer ddb.Stop()
	proxy, err := bench.StartDelayProxy(ddb.Endpoint, Latency)
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()

	for _, lc := range latencyCases {
		b.Run(lc.name, func(b *testing.B) {
			c, err := latencyCase(all, lc.function, lc.scenario, lc.event)
			if err != nil {
				b.Fatal(err)
			}
			env := cases.Env{RIE: artifacts.rie, Bootstraps: artifacts.dir, DynamoDB: proxy.URL(),
				Customize: func(_ cases.Case, sb *sandbox.Sandbox, _ map[string]string) error {
					// Only the invocation's own calls: not the table's creation, not set-up.
					proxy.Reset()
					sb.ClearRecords()
					return nil
				}}
			var wall, chain, perCall, ratio, total, waited []float64
			var last bench.Invocation
			for b.Loop() {
				iv, err := latencyRun(env, c, proxy)
				if err != nil {
					b.Fatal(err)
				}
				wall = append(wall, ms(iv.Wall))
				chain = append(chain, float64(len(iv.Chain())))
				perCall = append(perCall, ms(iv.PerCall()))
				ratio = append(ratio, iv.Ratio())
				total = append(total, float64(len(iv.Calls)))
				waited = append(waited, float64(bench.Depth(iv.Calls)))
				last = iv
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(bench.Median(wall), "wall-ms")
			b.ReportMetric(bench.Median(chain), "chain-calls")
			b.ReportMetric(bench.Median(perCall), "call-ms")
			b.ReportMetric(bench.Median(ratio), "x-chain")
			b.ReportMetric(bench.Median(total), "calls")
			b.ReportMetric(bench.Median(waited), "sequential-calls")
			b.Logf("chain (%d): %s", len(last.Chain()), bench.Ops(last.Chain()))
			last.Case = lc.name
			writeDetail(b, last)
		})
	}
}

// latencyCase takes the first case of function on scenario and turns it into a dry-run
// under latency (event replaced when given).
func latencyCase(all []cases.Case, function, scenario, event string) (cases.Case, error) {
	for _, c := range all {
		if c.Function != function || c.Scenario != scenario {
			continue
		}
		if event != "" {
			c.Event = filepath.Join(filepath.Dir(c.Event), event)
		}
		c.Mode = string(config.ModeDryRun)
		c.Latency = Latency.String()
		c.Then, c.Ledger, c.Faults = nil, nil, nil
		return c, nil
	}
	return cases.Case{}, fmt.Errorf("no case of %s on scenario %s in events/%s/cases.json", function, scenario, function)
}

func latencyRun(env cases.Env, c cases.Case, proxy *bench.DelayProxy) (bench.Invocation, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := cases.Run(ctx, env, c)
	if err != nil {
		return bench.Invocation{}, err
	}
	r := out.Result
	// A timing of an invocation that went wrong would measure the wrong thing.
	switch {
	case r.Error != "":
		return bench.Invocation{}, fmt.Errorf("%s: result error: %s", c.Name, r.Error)
	case r.Mode != string(config.ModeDryRun):
		return bench.Invocation{}, fmt.Errorf("%s: ran in mode %q, want dry-run", c.Name, r.Mode)
	}
	for _, d := range r.Diagnostics {
		if !d.OK {
			return bench.Invocation{}, fmt.Errorf("%s: probe %s failed: %s", c.Name, d.Name, d.Error)
		}
	}
	for _, s := range r.Sinks {
		if !s.OK {
			return bench.Invocation{}, fmt.Errorf("%s: sink %s failed: %s", c.Name, s.Name, s.Error)
		}
	}
	wall, err := bench.InvocationWall(out.Elapsed, out.Output)
	if err != nil {
		return bench.Invocation{}, fmt.Errorf("%s: %w", c.Name, err)
	}
	calls := bench.SandboxCalls(out.Sandbox.Calls(), out.Sandbox.Requests(""), Latency)
	calls = bench.Attribute(append(calls, proxy.Calls()...))
	if len(calls) == 0 {
		return bench.Invocation{}, fmt.Errorf("%s: no call was recorded", c.Name)
	}
	return bench.Invocation{Scenario: c.Scenario, Mode: r.Mode, Finding: r.Finding.Code, Latency: Latency, Wall: wall, Calls: calls}, nil
}

func writeDetail(b *testing.B, d bench.Invocation) {
	dir := os.Getenv("GPR_BENCH_DETAILS")
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		// go test runs the benchmark in its package folder; a relative path means the
		// module root, as for every other path of `make bench`.
		dir = filepath.Join(artifacts.root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	name := "latency-" + strings.ReplaceAll(d.Case, "/", "-") + ".json"
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		b.Fatal(err)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// incidentCases are the cases whose alarm-to-first-report time is measured with and without
// the incident record: one that pages (a CRITICAL alarm in dry-run) and one that does not.
var incidentCases = []struct {
	name, function, scenario, event string
}{
	{"no-tasks-ingestor", "no-tasks", "ingestor-oom", "ingestor-alarm.json"},
	{"queue-depth", "queue-depth", "queue-under-provisioned", ""},
}

// BenchmarkIncidentOverhead measures the time from the alarm's delivery to the first report
// (the SNS publication the sandbox records) with the incident record (GPR_INCIDENTS=true, the
// default) and without it, alternating, with Latency added to every AWS call and every ledger
// call. Target: the incident adds at most 10 %.
func BenchmarkIncidentOverhead(b *testing.B) {
	build(b)
	all, err := cases.Load(filepath.Join(artifacts.root, "events"))
	if err != nil {
		b.Fatal(err)
	}
	ddb, err := dynalitetest.StartProcess()
	if err != nil {
		b.Fatalf("dynalite (scripts/dynalite.sh install): %v", err)
	}
	defer ddb.Stop()
	proxy, err := bench.StartDelayProxy(ddb.Endpoint, Latency)
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	for _, ic := range incidentCases {
		b.Run(ic.name, func(b *testing.B) {
			c, err := latencyCase(all, ic.function, ic.scenario, ic.event)
			if err != nil {
				b.Fatal(err)
			}
			env := cases.Env{RIE: artifacts.rie, Bootstraps: artifacts.dir, DynamoDB: proxy.URL()}
			firstReport := func(incidents bool) float64 {
				run := c
				run.Env = maps.Clone(c.Env)
				if run.Env == nil {
					run.Env = map[string]string{}
				}
				run.Env[config.EnvIncidents] = fmt.Sprint(incidents)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				out, err := cases.Run(ctx, env, run)
				if err != nil {
					b.Fatal(err)
				}
				if len(out.Published) == 0 {
					b.Fatalf("%s: no report was published", c.Name)
				}
				if (out.Result.Incident != "") != incidents {
					b.Fatalf("%s: incident %q with GPR_INCIDENTS=%v", c.Name, out.Result.Incident, incidents)
				}
				return ms(out.Published[0].Time.Sub(out.Started))
			}
			var on, off, ratio []float64
			i := 0
			for b.Loop() {
				var a, z float64
				if i%2 == 0 {
					a, z = firstReport(true), firstReport(false)
				} else {
					z, a = firstReport(false), firstReport(true)
				}
				on, off, ratio = append(on, a), append(off, z), append(ratio, a/z)
				i++
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(bench.Median(on), "report-on-ms")
			b.ReportMetric(bench.Median(off), "report-off-ms")
			b.ReportMetric(bench.Median(ratio), "x-off")
		})
	}
}
