package bench

import (
	"strings"
	"testing"
)

// goTestOutput is `go test -bench` output as the steps write it: configuration lines, results
// with the GOMAXPROCS suffix and custom units, logs, PASS and ok lines.
const goTestOutput = `goos: linux
goarch: amd64
pkg: github.com/arrakis/gp-remediation/internal/bench
cpu: AMD EPYC
BenchmarkColdInit/no-tasks-2         	       5	        20.00 hello-init-ms	        80.00 init-ms	         4.000 x-hello
BenchmarkColdInit/dlq-2              	       5	        20.00 hello-init-ms	        30.00 init-ms	         1.500 x-hello
BenchmarkColdInit/no-tasks-2         	       5	        22.00 hello-init-ms	        82.00 init-ms	         3.800 x-hello
BenchmarkColdInit/no-tasks-2         	       5	        18.00 hello-init-ms	        78.00 init-ms	         4.200 x-hello
--- BENCH: BenchmarkColdInit/no-tasks-2
    functions_bench_test.go:208: chain (9): a → b
BenchmarkPeek10k-2   	       3	 900000000 ns/op	        40.00 peak-heap-MB	        59.00 peak-rss-MB
PASS
ok  	github.com/arrakis/gp-remediation/internal/bench	45.194s
`

const latencyFailure = `BenchmarkDiagnoseLatency/no-tasks-worker-2 	1	101.0 call-ms
--- FAIL: BenchmarkDiagnoseLatency/queue-depth
    functions_bench_test.go:191: probe rabbitmq.management failed: decode answer
--- FAIL: BenchmarkDiagnoseLatency
FAIL
`

// partialFailure: with -count, one run failed and the others reported (go test then says ok).
const partialFailure = `BenchmarkDiagnoseLatency/queue-depth-2 	1	101.0 call-ms	5 chain-calls	600 wall-ms	1.2 x-chain
BenchmarkDiagnoseLatency/queue-depth-2               	--- FAIL: BenchmarkDiagnoseLatency/queue-depth
    functions_bench_test.go:195: probe rabbitmq.management failed: decode answer
--- FAIL: BenchmarkDiagnoseLatency/queue-depth-2
    functions_bench_test.go:195: probe rabbitmq.management failed: decode answer
BenchmarkDiagnoseLatency/queue-depth-2 	1	101.0 call-ms	5 chain-calls	600 wall-ms	1.2 x-chain
PASS
`

func TestReadFailures(t *testing.T) {
	tests := []struct {
		name string
		text string
		want map[string]Failure
	}{
		{"a failed sub-benchmark and its parent", latencyFailure, map[string]Failure{
			"BenchmarkDiagnoseLatency/queue-depth": {1, "probe rabbitmq.management failed: decode answer"}, "BenchmarkDiagnoseLatency": {1, ""}}},
		{"one failed run among others", partialFailure, map[string]Failure{
			"BenchmarkDiagnoseLatency/queue-depth": {1, "probe rabbitmq.management failed: decode answer"}}},
		{"no failure", goTestOutput, map[string]Failure{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ReadFailures(tc.text)
			if len(got) != len(tc.want) {
				t.Fatalf("failures %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("failure of %s = %+v, want %+v", k, got[k], v)
				}
			}
		})
	}
}

func TestReadSamples(t *testing.T) {
	s, err := ReadSamples(strings.NewReader(goTestOutput), "test.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, bench, unit string
		want              float64
		n                 int
	}{
		{"median over runs", "BenchmarkColdInit/no-tasks", "init-ms", 80, 3},
		{"ratio metric", "BenchmarkColdInit/no-tasks", "x-hello", 4, 3},
		{"one run", "BenchmarkColdInit/dlq", "init-ms", 30, 1},
		{"iterations are kept", "BenchmarkColdInit/no-tasks", Iterations, 5, 3},
		{"ns/op stays in ns", "BenchmarkPeek10k", "ns/op", 9e8, 1},
		{"MB units keep the benchmark's own scale", "BenchmarkPeek10k", "peak-rss-MB", 59, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, n, ok := s.Median(tc.bench, tc.unit)
			if !ok || v != tc.want || n != tc.n {
				t.Errorf("Median(%s, %s) = %v, %d, %v; want %v, %d", tc.bench, tc.unit, v, n, ok, tc.want, tc.n)
			}
		})
	}
	if _, _, ok := s.Median("BenchmarkColdInit/no-tasks", "sec/op"); ok {
		t.Error("a unit the benchmark did not report was found")
	}
	if got := s.Names("BenchmarkColdInit/"); strings.Join(got, ",") != "BenchmarkColdInit/dlq,BenchmarkColdInit/no-tasks" {
		t.Errorf("Names = %v", got)
	}
}

func samples(t *testing.T, text string) Samples {
	t.Helper()
	s, err := ReadSamples(strings.NewReader(text), "fixture")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ok(name string) Step { return Step{Name: name} }

// fullInputs is a run where every step worked; tests change one thing each.
func fullInputs(t *testing.T) Inputs {
	return Inputs{
		Functions: []string{"dlq", "no-tasks"},
		Steps: map[string]Step{"cold-init": ok("cold-init"), "latency": ok("latency"), "rabbit-replay": ok("rabbit-replay"),
			"rabbit-replay-split": ok("rabbit-replay-split"), "rabbit-peek": ok("rabbit-peek"), "synth-1": {Name: "synth-1", Seconds: 80}, "synth-2": {Name: "synth-2", Seconds: 25},
			"ledger": ok("ledger"), "report": ok("report"), "incident": ok("incident")},
		Zips: map[string]int64{"hello": 2_400_000, "dlq": 4_900_000, "no-tasks": 5_100_000},
		Bench: map[string]Samples{
			"cold-init": samples(t, goTestOutput),
			"incident": samples(t, `BenchmarkIncidentOverhead/queue-depth-2 	3	636 report-off-ms	656 report-on-ms	1.031 x-off
BenchmarkIncidentOverhead/no-tasks-ingestor-2 	3	800 report-off-ms	960 report-on-ms	1.2 x-off
`),
			"latency": samples(t, `BenchmarkDiagnoseLatency/dlq-2 	1	130 call-ms	5 chain-calls	1000 wall-ms	1.55 x-chain
BenchmarkDiagnoseLatency/no-tasks-ingestor-2 	1	102 call-ms	9 chain-calls	1000 wall-ms	1.09 x-chain
BenchmarkDiagnoseLatency/no-tasks-worker-2 	1	102 call-ms	9 chain-calls	1500 wall-ms	1.6 x-chain
`),
			"rabbit-replay": samples(t, `BenchmarkReplayVsShovel/gomaxprocs=2/window=256-2 	2	4000 replay-msgs/s	5000 shovel-msgs/s	0.8 replay/shovel
BenchmarkReplayVsShovel/gomaxprocs=1/window=512-2 	2	5000 replay-msgs/s	5000 shovel-msgs/s	1.0 replay/shovel
`),
			"rabbit-replay-split": samples(t, `BenchmarkReplayVsShovel/gomaxprocs=1/window=256 	2	4000 replay-msgs/s	5000 shovel-msgs/s	0.8 replay/shovel
BenchmarkReplayVsShovel/gomaxprocs=1/window=512 	2	5000 replay-msgs/s	5000 shovel-msgs/s	1.0 replay/shovel
`),
			"rabbit-peek": samples(t, `BenchmarkPeek10k-2 	3	900000000 ns/op	40 peak-heap-MB	62 peak-rss-MB
BenchmarkConsumeBaseline-2 	3	300000000 ns/op
`),
			"ledger": samples(t, "BenchmarkClaim-2 	1000	2100000 ns/op\nBenchmarkHistory-2 	1000	3000000 ns/op\n"),
			"report": samples(t, "BenchmarkRender/ordinary/markdown-2 	1000	20000 ns/op	5000 B/op	50 allocs/op\n"),
		},
	}
}

func find(rows []Row, item, measure string) (Row, bool) {
	for _, r := range rows {
		if r.Item == item && strings.Contains(r.Measure, measure) {
			return r, true
		}
	}
	return Row{}, false
}

func TestRows(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(in *Inputs)
		item    string
		measure string
		verdict Verdict
		value   string // a substring of Value
	}{
		{"cold init over 3× fails", nil, "1", "Cold init under the emulator: no-tasks", Fail, "80.0 ms"},
		{"an incident within 10 % passes", nil, "3", "incident record vs without, +100 ms per call: queue-depth", Pass, "656 ms"},
		{"an incident adding 20 % fails", nil, "3", "incident record vs without, +100 ms per call: no-tasks-ingestor", Fail, "960 ms"},
		{"the incident step failed", func(in *Inputs) {
			in.Steps["incident"] = Step{Name: "incident", Exit: 1}
			in.Bench["incident"] = Samples{}
		}, "3", "Alarm to first report with the incident record", Missing, "step incident failed (exit 1"},
		{"cold init under 3× passes", nil, "1", "Cold init under the emulator: dlq", Pass, "30.0 ms"},
		{"cold init of a failed step is not measured", func(in *Inputs) {
			in.Steps["cold-init"] = Step{Name: "cold-init", Exit: 1}
			in.Bench["cold-init"] = Samples{}
		}, "1", "no-tasks", Missing, "step cold-init failed (exit 1"},
		{"zip under 5 MB passes", nil, "2", "dlq", Pass, "4.90 MB (4.67 MiB)"},
		{"zip over 5 MB fails", nil, "2", "no-tasks", Fail, "5.10 MB"},
		{"a missing zip is not measured", func(in *Inputs) { delete(in.Zips, "dlq") }, "2", "dlq", Missing, "build/dlq.zip not found"},
		{"no-tasks latency within 1.5× passes", nil, "3", "no-tasks-ingestor", Pass, "1000 ms"},
		{"no-tasks latency over 1.5× fails", nil, "3", "no-tasks-worker", Fail, "1500 ms"},
		{"other functions' latency is reported only", nil, "3", ": dlq", Info, "1000 ms"},
		{"a latency case that failed shows with its reason", func(in *Inputs) {
			in.Steps["latency"] = Step{Name: "latency", Exit: 1}
			in.Failures = map[string]map[string]Failure{"latency": ReadFailures(latencyFailure)}
		}, "3", "queue-depth", Missing, "BenchmarkDiagnoseLatency/queue-depth failed: probe rabbitmq.management failed: decode"},
		{"a case that failed in one run keeps the others' value and says so", func(in *Inputs) {
			in.Bench["latency"] = samples(t, partialFailure)
			in.Failures = map[string]map[string]Failure{"latency": ReadFailures(partialFailure)}
		}, "3", "queue-depth", Info, "600 ms (1 run failed: probe rabbitmq.management failed: decode answer)"},
		{"latency that did not run", func(in *Inputs) {
			delete(in.Steps, "latency")
			in.Bench["latency"] = Samples{}
		}, "3", "no-tasks", Missing, "step latency did not run"},
		{"replay under 0.9× on split cores fails", nil, "4", "CPU 1 (gomaxprocs=1, window=256)", Fail, "replay 4.00k msg/s"},
		{"replay at 1× on split cores passes", nil, "4", "CPU 1 (gomaxprocs=1, window=512)", Pass, "replay 5.00k msg/s"},
		{"replay on shared cores is reported only", nil, "4", "sharing both CPUs (gomaxprocs=2, window=256)", Info, "replay 4.00k msg/s"},
		{"a split run that did not run is not measured", func(in *Inputs) {
			delete(in.Steps, "rabbit-replay-split")
			in.Bench["rabbit-replay-split"] = Samples{}
		}, "4", "CPU 1", Missing, "step rabbit-replay-split did not run"},
		{"peek time", nil, "4", "Peek 10,000 × 1 KiB: time", Pass, "900 ms"},
		{"peak RSS is compared in decimal MB: 62 MiB is 65 MB", nil, "4", "peak RSS", Fail, "65.0 MB (62.0 MiB)"},
		{"synth takes the second run", nil, "5", "make synth", Pass, "25.0 s"},
		{"a failed second synth is not measured", func(in *Inputs) { in.Steps["synth-2"] = Step{Name: "synth-2", Exit: 2, Seconds: 3} }, "5", "make synth", Missing, "exit 2"},
		{"ledger is reported", nil, "6", "Ledger", Info, "claim 2.10 ms; history (10 entries) 3.00 ms"},
		{"report rendering with allocation", nil, "6", "ordinary report", Info, "markdown 20.0 µs (5.0 kB alloc)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := fullInputs(t)
			if tc.edit != nil {
				tc.edit(&in)
			}
			rows := Rows(in)
			r, found := find(rows, tc.item, tc.measure)
			if !found {
				t.Fatalf("no row %s %q in:\n%s", tc.item, tc.measure, Markdown(rows))
			}
			if r.Verdict != tc.verdict || !strings.Contains(r.Value, tc.value) {
				t.Errorf("row %q: %s %q; want %s with %q", r.Measure, r.Verdict, r.Value, tc.verdict, tc.value)
			}
		})
	}
}

func TestRowsBaselinesAndRatios(t *testing.T) {
	rows := Rows(fullInputs(t))
	tests := []struct {
		item, measure, baseline, ratio string
	}{
		{"1", "no-tasks", "hello-world 20.0 ms", "4.00×"},
		{"2", "no-tasks", "hello-world 2.40 MB", "2.12×"},
		{"3", "no-tasks-ingestor", "chain 9 calls × 102 ms = 918 ms", "1.09×"},
		{"4", "window=256", "shovel 5.00k msg/s", "0.80×"},
		{"4", "Peek 10,000 × 1 KiB: time", "bare consume of the same 300 ms", "3.00×"},
		{"5", "synth", "first run 80.0 s", ""},
	}
	for _, tc := range tests {
		t.Run(tc.item+" "+tc.measure, func(t *testing.T) {
			r, found := find(rows, tc.item, tc.measure)
			if !found {
				t.Fatal("row not found")
			}
			if r.Baseline != tc.baseline || r.Ratio != tc.ratio {
				t.Errorf("baseline %q ratio %q; want %q %q", r.Baseline, r.Ratio, tc.baseline, tc.ratio)
			}
		})
	}
	// no-tasks rows come first among the latency rows: they carry the target.
	var latency []string
	for _, r := range rows {
		if r.Item == "3" && strings.HasPrefix(r.Measure, "Wall time") {
			latency = append(latency, r.Measure)
		}
	}
	if len(latency) != 3 || !strings.Contains(latency[0], "no-tasks") || !strings.Contains(latency[2], "dlq") {
		t.Errorf("latency rows in order %q", latency)
	}
}

func TestMarkdownAndSummary(t *testing.T) {
	rows := []Row{
		{Item: "1", Measure: "a | b", Value: "1 ms", Target: "≤ 2×", Verdict: Pass},
		{Item: "2", Measure: "c", Value: "2 ms", Target: "≤ 1×", Verdict: Fail},
		{Item: "3", Measure: "d", Value: "not measured", Verdict: Missing},
		{Item: "6", Measure: "e", Value: "x\ny", Verdict: Info},
		{Item: "3", Measure: "f", Value: "1 ms", Verdict: Info, Failed: 1},
	}
	md := Markdown(rows)
	lines := strings.Split(strings.TrimSpace(md), "\n")
	if len(lines) != 2+len(rows) {
		t.Fatalf("%d lines:\n%s", len(lines), md)
	}
	for _, want := range []string{`a \| b`, "**PASS**", "**FAIL**", "**NOT MEASURED**", "| info |", "x y", "| – |", "info (incomplete: 1 run failed)"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if got, want := Summary(rows), "1 of 2 targets met, 1 missed; 1 measurement(s) could not be taken; 1 row(s) from incomplete runs (a benchmark run failed)"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

func TestSig(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{{0.000123, "0.000123"}, {1.5, "1.50"}, {14.44, "14.4"}, {118.2, "118"}, {1013, "1013"}, {0, "0"}}
	for _, tc := range tests {
		if got := sig(tc.v); got != tc.want {
			t.Errorf("sig(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
