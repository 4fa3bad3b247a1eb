package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/internal/bench"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A run where only some steps ran: the document is still written, with the rows of the
// missing steps saying so, and the exit status says a measurement is missing.
func TestRunWritesTheDocument(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "steps.tsv"), "cold-init\t0\t60.5\nlatency\t0\t70\nsynth-1\t0\t80\nsynth-2\t0\t25.25\nrabbit-replay\t1\t3\n")
	write(t, filepath.Join(dir, "cold-init.txt"), "BenchmarkColdInit/no-tasks-2 \t5\t20 hello-init-ms\t80 init-ms\t4 x-hello\n")
	write(t, filepath.Join(dir, "cold-init.stat"), "benchstat says hello\n")
	write(t, filepath.Join(dir, "latency.txt"), "BenchmarkDiagnoseLatency/no-tasks-ingestor-2 \t1\t102 call-ms\t9 chain-calls\t1000 wall-ms\t1.09 x-chain\n")
	write(t, filepath.Join(dir, "top-start.txt"), "%CPU COMMAND\n99.0 go\n")
	t0 := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	iv := bench.Invocation{Case: "no-tasks-ingestor", Scenario: "ingestor-oom", Mode: "dry-run", Finding: "oom-killed",
		Latency: 100 * time.Millisecond, Wall: 210 * time.Millisecond, Calls: bench.Attribute([]bench.Call{
			{Op: "ssm:GetParameter", Start: t0, End: t0.Add(100 * time.Millisecond)},
			{Op: "ecs:DescribeServices", Start: t0.Add(102 * time.Millisecond), End: t0.Add(202 * time.Millisecond)},
		})}
	data, _ := json.Marshal(iv)
	write(t, filepath.Join(dir, "details", "latency-no-tasks-ingestor.json"), string(data))
	write(t, filepath.Join(dir, "zips.tsv"), "no-tasks\t3\nhello\t2\n")
	write(t, filepath.Join(dir, "run.tsv"), "started\t2026-11-27T03:00:00Z\nload-start\t4.53 2.60 3.06 3/300 999\nfinished\t2026-11-27T03:09:30Z\nload-end\t1.00 2.00 3.00 1/2 3\n")
	out := filepath.Join(t.TempDir(), "benchmarks.md")

	code, err := run(dir, out, false)
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 (measurements are missing)", code)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Machine and run", "nproc", "Load average (1, 5, 15 min) at start: 4.53 2.60 3.06; at end: 1.00 2.00 3.00", "**The machine was loaded**",
		"2026-11-27, from 03:00:00 to 03:09:30 UTC (9m30s)", "3 B (0.00 MiB) | hello-world 2 B",
		"99.0 go", "| # | Measure |", "Cold init under the emulator: no-tasks", "**FAIL**",
		"step rabbit-replay failed (exit 1", "step rabbit-peek did not run", "25.2 s", "1 run × 5 cold starts",
		"### no-tasks-ingestor (scenario ingestor-oom, dry-run, finding oom-killed)",
		"Chain: ssm:GetParameter → ecs:DescribeServices", "benchstat says hello", "| synth-2 | 0 | 25.2 s |",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("document lacks %q", want)
		}
	}
}

func TestReadStepsRejectsGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "steps.tsv")
	write(t, p, "cold-init\tnope\t1\n")
	if _, _, err := readSteps(p); err == nil {
		t.Error("a bad exit status was accepted")
	}
	if _, _, err := readSteps(filepath.Join(t.TempDir(), "missing.tsv")); err == nil {
		t.Error("a missing steps file was accepted")
	}
}
