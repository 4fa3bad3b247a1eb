// Command benchtable turns one `make bench` run into its table: it reads what
// scripts/bench.sh left in build/bench (Go benchmark outputs, benchstat summaries, step
// times, zip sizes, start and end with the load average, the latency cases' call timelines),
// prints the table and writes docs/benchmarks.md with the machine it ran on. The folder holds
// the whole run, so the document can be written again from it.
//
//	go run ./cmd/benchtable -dir build/bench -out docs/benchmarks.md
//	go run ./cmd/benchtable -hello-zip build/bench/hello.zip   # the zip baseline, built as `make build` builds
//
// It exits 1 when a measurement could not be taken or a benchmark run failed, and with
// -strict also when a target was missed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/internal/bench"
)

// benchSteps are the steps whose output is `go test -bench` text (build/bench/<step>.txt).
var benchSteps = []string{"cold-init", "latency", "incident", "rabbit-replay", "rabbit-replay-split", "rabbit-peek", "ledger", "report"}

func main() {
	dir := flag.String("dir", "build/bench", "the bench run's folder (scripts/bench.sh)")
	out := flag.String("out", "", "write the Markdown report here (e.g. docs/benchmarks.md)")
	strict := flag.Bool("strict", false, "exit 1 when a target is missed, not only when a measurement is missing")
	helloZip := flag.String("hello-zip", "", "only build the hello-world baseline's arm64 zip here, as `make build` builds a function's, and exit")
	flag.Parse()
	if *helloZip != "" {
		if err := buildHelloZip(*helloZip); err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		return
	}
	code, err := run(*dir, *out, *strict)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(dir, out string, strict bool) (int, error) {
	root, err := bench.ModuleRoot(".")
	if err != nil {
		return 0, err
	}
	fns, err := bench.Functions(root)
	if err != nil {
		return 0, err
	}
	steps, order, err := readSteps(filepath.Join(dir, "steps.tsv"))
	if err != nil {
		return 0, err
	}
	in := bench.Inputs{Bench: map[string]bench.Samples{}, Failures: map[string]map[string]bench.Failure{}, Steps: steps, Functions: fns, Zips: map[string]int64{}}
	for _, st := range benchSteps {
		s, failures, err := readBench(filepath.Join(dir, st+".txt"))
		if err != nil {
			return 0, err
		}
		in.Bench[st], in.Failures[st] = s, failures
	}
	zips, err := readTSV(filepath.Join(dir, "zips.tsv"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	for name, size := range zips {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("zips.tsv: size of %s: %w", name, err)
		}
		in.Zips[name] = n
	}
	meta, err := readTSV(filepath.Join(dir, "run.tsv"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	rows := bench.Rows(in)
	table := bench.Markdown(rows)
	summary := bench.Summary(rows)
	fmt.Print("\n" + table + "\n" + summary + "\n")

	if out != "" {
		doc, err := document(dir, in, order, rows, meta)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
			return 0, err
		}
		fmt.Println("written to", out)
	}
	t := bench.Tally(rows)
	if t[bench.Missing] > 0 || bench.Incomplete(rows) > 0 || (strict && t[bench.Fail] > 0) {
		return 1, nil
	}
	return 0, nil
}

// buildHelloZip builds and zips the hello-world function with the Makefile's BUILD_FLAGS.
func buildHelloZip(out string) error {
	root, err := bench.ModuleRoot(".")
	if err != nil {
		return err
	}
	flags, err := bench.MakefileBuildFlags(root)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := bench.HelloZip(ctx, root, flags, abs); err != nil {
		return err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d bytes (built with %q)\n", out, fi.Size(), flags)
	return nil
}

// readTSV reads "key<TAB>value" lines.
func readTSV(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, nil
}

// readSteps reads steps.tsv: name, exit status, seconds per line, in run order.
func readSteps(path string) (map[string]bench.Step, []bench.Step, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read the run's steps: %w (run scripts/bench.sh)", err)
	}
	defer f.Close()
	m := map[string]bench.Step{}
	var order []bench.Step
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			continue
		}
		exit, err1 := strconv.Atoi(fields[1])
		secs, err2 := strconv.ParseFloat(fields[2], 64)
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		st := bench.Step{Name: fields[0], Exit: exit, Seconds: secs}
		m[st.Name] = st
		order = append(order, st)
	}
	return m, order, sc.Err()
}

// readBench reads a step's `go test -bench` output: its results and its failures.
func readBench(path string) (bench.Samples, map[string]bench.Failure, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return bench.Samples{}, nil, nil // the step did not run: its rows say so
	}
	if err != nil {
		return nil, nil, err
	}
	s, err := bench.ReadSamples(bytes.NewReader(data), filepath.Base(path))
	if err != nil {
		return nil, nil, err
	}
	return s, bench.ReadFailures(string(data)), nil
}

// document is docs/benchmarks.md: the machine, the table, how each row is measured, the
// latency cases' timelines and the benchstat summaries.
func document(dir string, in bench.Inputs, order []bench.Step, rows []bench.Row, meta map[string]string) (string, error) {
	var b strings.Builder
	m := bench.ReadMachine()
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Written by `make bench` (`scripts/bench.sh`, then `cmd/benchtable`) from one run; every ratio's two sides were\n")
	b.WriteString("measured in that same run. Do not edit by hand: run `make bench` again.\n\n")
	b.WriteString("## Machine and run\n\n")
	started, err1 := time.Parse(time.RFC3339, meta["started"])
	finished, err2 := time.Parse(time.RFC3339, meta["finished"])
	switch {
	case err1 == nil && err2 == nil:
		fmt.Fprintf(&b, "- Date: %s, from %s to %s UTC (%s)\n", started.UTC().Format("2006-01-02"), started.UTC().Format("15:04:05"),
			finished.UTC().Format("15:04:05"), finished.Sub(started).Round(time.Second))
	case err1 == nil:
		fmt.Fprintf(&b, "- Date: %s, started %s UTC\n", started.UTC().Format("2006-01-02"), started.UTC().Format("15:04:05"))
	default:
		fmt.Fprintf(&b, "- Date: unknown (no run.tsv)\n")
	}
	fmt.Fprintf(&b, "- CPUs (`nproc`): %d; model: %s\n", m.CPUs, orUnknown(m.Model))
	fmt.Fprintf(&b, "- Memory: %.1f GiB\n", float64(m.MemBytes)/(1<<30))
	fmt.Fprintf(&b, "- Go: %s\n", m.Go)
	if root, err := bench.ModuleRoot("."); err == nil {
		if flags, err := bench.MakefileBuildFlags(root); err == nil {
			fmt.Fprintf(&b, "- Build flags (the Makefile's BUILD_FLAGS, used for the functions and hello-world): `%s`\n", strings.Join(quoteArgs(flags), " "))
		}
	}
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) at start: %s; at end: %s\n", orUnknown(fields3(meta["load-start"])), orUnknown(fields3(meta["load-end"])))
	if l, err := bench.LoadAverage(meta["load-start"]); err == nil && bench.Loaded(l, m.CPUs) {
		fmt.Fprintf(&b, "- **The machine was loaded** (load above its %d CPUs at the start): other work competed for the CPUs, so\n", m.CPUs)
		b.WriteString("  absolute times are inflated and noisier than on a quiet machine. Ratios suffer less (both sides run\n")
		b.WriteString("  interleaved in the same run) but not nothing. Re-run `make bench` on a quiet machine for reference numbers.\n")
	}
	if top, err := os.ReadFile(filepath.Join(dir, "top-start.txt")); err == nil && len(top) > 0 {
		b.WriteString("- Busiest processes at the start (`top`: %CPU over one second, command; beam.smp is the RabbitMQ broker\n  the replay and peek benchmarks use):\n\n```\n" + strings.TrimRight(string(top), "\n") + "\n```\n")
	}
	b.WriteString("\n## Table\n\n")
	b.WriteString(bench.Markdown(rows))
	b.WriteString("\n" + bench.Summary(rows) + ".\n\n")
	b.WriteString(method)
	if err := latencySection(&b, dir); err != nil {
		return "", err
	}
	b.WriteString("\n## Steps of this run\n\n| step | exit | wall time |\n|---|---|---|\n")
	for _, st := range order {
		fmt.Fprintf(&b, "| %s | %d | %.1f s |\n", st.Name, st.Exit, st.Seconds)
	}
	b.WriteString("\n## benchstat summaries\n\n")
	b.WriteString("`go tool benchstat` over each step's raw output (`build/bench/<step>.txt`; the center is the median, ± the 95 %\nconfidence interval across runs).\n")
	for _, st := range benchSteps {
		stat, err := os.ReadFile(filepath.Join(dir, st+".stat"))
		if err != nil || len(strings.TrimSpace(string(stat))) == 0 {
			fmt.Fprintf(&b, "\n### %s\n\n(no summary: the step did not produce results)\n", st)
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n```\n%s\n```\n", st, strings.TrimRight(string(stat), "\n"))
	}
	return b.String(), nil
}

// latencySection shows, per latency case, the chain that was counted and the whole timeline
// of the last timed invocation.
func latencySection(b *strings.Builder, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "details", "latency-*.json"))
	if err != nil {
		return err
	}
	sort.SliceStable(files, func(i, j int) bool {
		return strings.Contains(files[i], "no-tasks") && !strings.Contains(files[j], "no-tasks")
	})
	if len(files) == 0 {
		return nil
	}
	b.WriteString("\n## Item 3: the calls of one invocation per case\n\n")
	b.WriteString("The last timed invocation of each case: every call that carried the added latency, its start and end in ms\n")
	b.WriteString("from the first call, and its probe family (`(pipeline)`: a step of the pipeline, dependent on whatever ran\n")
	b.WriteString("before it). The chain is the longest path through these calls under the rules above.\n")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var iv bench.Invocation
		if err := json.Unmarshal(data, &iv); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		chain := iv.Chain()
		fmt.Fprintf(b, "\n### %s (scenario %s, %s, finding %s)\n\n", iv.Case, iv.Scenario, iv.Mode, iv.Finding)
		fmt.Fprintf(b, "Wall %d ms; %d calls, of which %d ran one after the other; chain %d × %d ms (median call) = %d ms; ratio %.2f×.\n\n",
			iv.Wall.Milliseconds(), len(iv.Calls), bench.Depth(iv.Calls), len(chain), iv.PerCall().Milliseconds(),
			(time.Duration(len(chain)) * iv.PerCall()).Milliseconds(), iv.Ratio())
		fmt.Fprintf(b, "Chain: %s\n\n```\n%s```\n", bench.Ops(chain), bench.Timeline(iv.Calls))
	}
	return nil
}

// quoteArgs quotes the arguments that hold spaces, for display.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return out
}

func fields3(s string) string {
	f := strings.Fields(s)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}

func orUnknown(s string) string {
	if strings.TrimSpace(s) == "" {
		return "unknown"
	}
	return s
}

// method says how each row is measured, in the document every run rewrites.
const method = `## How each row is measured

1. **Cold init.** ` + "`BenchmarkColdInit`" + ` (internal/bench) builds every function and the hello-world function
   (` + "`internal/bench/hello`" + `: ` + "`lambda.Start`" + ` of a handler returning "hello") for this machine (linux) with the
   Makefile's ` + "`BUILD_FLAGS`" + ` (read from the Makefile; above), then starts each under the Lambda Runtime Interface
   Emulator, one fresh emulator process per start, and reads the emulator's ` + "`INIT REPORT(durationMs: …)`" + `. Each
   iteration starts hello-world and the function back to back, alternating which goes first; one unmeasured start of
   each comes first so both binaries are in the page cache. The functions get the stack's configuration (ledger table
   set, so init builds every client it builds in AWS) and an event that is not an alarm, so the invocation ends at once.
   Value and baseline are the medians over all runs; the ratio is the median of each run's ratio of medians.
2. **Zip size.** The size of ` + "`build/<fn>.zip`" + ` as ` + "`make build`" + ` last wrote it in this run (linux/arm64, same flags,
   ` + "`cmd/zipfn`" + `; ` + "`make synth`" + ` runs ` + "`make build`" + ` again); the hello-world baseline is built and zipped the same way
   (` + "`build/bench/hello.zip`" + `). MB = 10^6 bytes, the stricter reading of "5 MB"; MiB shown too.
3. **Wall time under latency.** ` + "`BenchmarkDiagnoseLatency`" + ` runs one invocation per iteration of a function under the
   emulator, in dry-run (nothing is changed, so no verification polling), on the scenario of its end-to-end cases,
   with 100 ms added to every call the sandbox answers (` + "`SetLatency`" + `: the AWS APIs and the Slack, Discord,
   PagerDuty and Discord-API stand-ins) and to every DynamoDB (ledger) call, by a delaying proxy in front of dynalite.
   RabbitMQ and PostgreSQL round trips get no added latency and are not counted.
   - *Wall*: the time the caller waited for the response less the emulator's INIT REPORT (a cold emulator per
     invocation): the handler's run plus about a millisecond of hand-over.
   - *Chain*: from the calls recorded in that invocation (the sandbox's ` + "`Calls()`" + ` with time and duration, its
     stand-in requests, the proxy's DynamoDB calls), the longest path where a call follows another when it started
     after the other ended. Every such pair counts as dependent except two calls of different diagnostic probes, which
     the design runs concurrently: probes are told apart by operation (ECS service and task definitions; ECS tasks;
     logs; metrics; the Discord API with the token read just before it; the other secret reads that overlap the
     diagnosis: broker and database credentials, report-sink secrets read ahead). So the guard's ledger claim and kill-switch read, the budget check, paging and the report
     count as steps, as the code runs them, and a probe that waits for another probe shows as a ratio above 1.
   - *Per-call time*: the median recorded duration of the invocation's calls (100 ms plus the sandbox's answer).
   - *Ratio* = wall ÷ (chain × per-call time), median over the runs. The target (≤ 1.5×) applies to no-tasks; the other
     functions are reported. Their excess over 1 is work that carries no added latency (broker, database, CPU).
4. **Replay vs shovel, peek.** pkg/rabbit's ` + "`BenchmarkReplayVsShovel`" + ` (each iteration moves the same 10,000 × 1 KiB
   messages with Replay and with the broker's own dynamic shovel, alternating, on the local broker; the ratio is shovel
   time ÷ replay time, i.e. replay's throughput relative to the shovel's) for each configuration it runs. It runs
   twice. *Split cores* (the rows with the target): the broker's threads pinned to CPU 0 and the benchmark to CPU 1
   (` + "`taskset`" + `), as deployed, where the broker (Amazon MQ) and the function (Lambda) do not share CPUs; the shovel
   runs inside the broker, so it keeps the broker's CPU either way. *Shared cores* (reported, no target): both on
   both CPUs, where the replay's own client CPU (the client-cpu-us/msg metric, ~25 µs a message) is taken from the
   broker's, so the ratio there tracks each mover's total CPU per message rather than its throughput. Then
   ` + "`BenchmarkPeek10k`" + ` (time per peek of 10,000 messages; peak RSS (VmHWM) of a fresh process doing one peek) with
   ` + "`BenchmarkConsumeBaseline`" + ` (a bare consume of the same messages) as the floor.
5. **Synth.** ` + "`make synth ENV=staging`" + ` run twice in a row; the second, with warm Go, jsii and CDK caches, is the value.
6. **Others.** pkg/ledger's benchmarks (each operation through the real SDK client to dynalite on loopback: no network
   latency) and pkg/report's ` + "`BenchmarkRender`" + ` (time and allocation per rendering), for reference.
`
