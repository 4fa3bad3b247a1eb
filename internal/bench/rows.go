package bench

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Targets, from the brief of `make bench`.
const (
	MaxInitRatio    = 3.0       // cold init ≤ 3× the hello-world function's (current SDK clients)
	MaxZipBytes     = 5_000_000 // 5 MB (decimal: the stricter reading)
	MaxLatencyRatio = 1.5       // no-tasks wall ≤ 1.5 × chain × per-call time
	MaxIncidentCost = 1.10      // alarm to first report with the incident record ≤ 1.10 × without
	MinReplayRatio  = 0.9       // replay throughput ≥ 0.9 × the broker's shovel
	MaxPeekSeconds  = 1.5       // peek 10,000 messages
	MaxPeekRSSBytes = 64e6      // 64 MB (decimal)
	MaxSynthSeconds = 30.0      // make synth ENV=staging, warm caches
)

// ReportOnly is the target of a row measured for reference, without a verdict.
const ReportOnly = "report only"

// Step is one step of a bench run as scripts/bench.sh records it (steps.tsv).
type Step struct {
	Name    string
	Exit    int
	Seconds float64
}

// Inputs are what one `make bench` run produced.
type Inputs struct {
	// Go benchmark results per step name ("cold-init", "latency", "rabbit-replay",
	// "rabbit-peek", "ledger", "report"); a step that failed may still have partial results.
	Bench map[string]Samples
	// Failures per step name: the benchmarks that failed, with their message (ReadFailures).
	Failures map[string]map[string]Failure
	// Steps by name, in the order they ran.
	Steps map[string]Step
	// Functions are the module's functions; Zips their zip sizes in bytes, "hello" included
	// (absent: not found).
	Functions []string
	Zips      map[string]int64
}

// notMeasured explains why a measurement is absent: its benchmark failed, its step failed or
// never ran.
func (in Inputs) notMeasured(step, what string) string {
	if f, failed := in.Failures[step][what]; failed && f.Message != "" {
		return fmt.Sprintf("not measured: %s failed: %s", what, f.Message)
	}
	st, ok := in.Steps[step]
	switch {
	case !ok:
		return fmt.Sprintf("not measured: step %s did not run", step)
	case st.Exit != 0:
		return fmt.Sprintf("not measured: step %s failed (exit %d, see build/bench/%s.txt)", step, st.Exit, step)
	}
	return fmt.Sprintf("not measured: %s missing from step %s's output", what, step)
}

func missing(item, measure, why, target string) Row {
	return Row{Item: item, Measure: measure, Value: why, Target: target, Verdict: Missing}
}

// partial notes, on a row with results, the runs of its benchmark that failed: the value is
// from the runs that worked, and the run as a whole counts as incomplete.
func (in Inputs) partial(step, name string, r *Row) {
	f, failed := in.Failures[step][name]
	if !failed || f.Count == 0 {
		return
	}
	r.Failed = f.Count
	msg := f.Message
	if len(msg) > 160 { // the whole message is in build/bench/<step>.txt
		msg = clip(msg, 160) + "…"
	}
	r.Value += fmt.Sprintf(" (%s failed: %s)", plural(f.Count, "run"), msg)
}

// Rows builds the whole table.
func Rows(in Inputs) []Row {
	var rows []Row
	rows = append(rows, ColdInitRows(in)...)
	rows = append(rows, ZipRows(in)...)
	rows = append(rows, LatencyRows(in)...)
	rows = append(rows, IncidentRows(in)...)
	rows = append(rows, RabbitRows(in)...)
	rows = append(rows, SynthRow(in))
	rows = append(rows, OtherRows(in)...)
	return rows
}

// ColdInitRows: item 1, one row per function.
func ColdInitRows(in Inputs) []Row {
	s := in.Bench["cold-init"]
	target := fmt.Sprintf("≤ %g× hello-world", MaxInitRatio)
	var rows []Row
	for _, fn := range in.Functions {
		name := "BenchmarkColdInit/" + fn
		measure := "Cold init under the emulator: " + fn
		f, runs, ok1 := s.Median(name, "init-ms")
		h, _, ok2 := s.Median(name, "hello-init-ms")
		x, _, ok3 := s.Median(name, "x-hello")
		if !ok1 || !ok2 || !ok3 {
			rows = append(rows, missing("1", measure, in.notMeasured("cold-init", name), target))
			continue
		}
		iters, _, _ := s.Median(name, Iterations)
		r := Row{Item: "1", Measure: fmt.Sprintf("%s (median INIT REPORT, %s × %.0f cold starts)", measure, plural(runs, "run"), iters),
			Value: ms(f), Baseline: "hello-world " + ms(h), Ratio: times(x), Target: target, Verdict: AtMost(x, MaxInitRatio)}
		in.partial("cold-init", name, &r)
		rows = append(rows, r)
	}
	return rows
}

// ZipRows: item 2, one row per function, the hello-world zip as baseline.
func ZipRows(in Inputs) []Row {
	target := "≤ 5 MB (5,000,000 B)"
	hello, okHello := in.Zips["hello"]
	base := "hello-world: not found"
	if okHello {
		base = "hello-world " + mb(hello)
	}
	var rows []Row
	for _, fn := range in.Functions {
		measure := "Zip of the arm64 bootstrap: " + fn
		z, ok := in.Zips[fn]
		if !ok {
			rows = append(rows, missing("2", measure, "not measured: build/"+fn+".zip not found (make build)", target))
			continue
		}
		// MiB too: Lambda's own size limits are binary; the target is read the stricter way.
		r := Row{Item: "2", Measure: measure, Value: fmt.Sprintf("%s (%.2f MiB)", mb(z), float64(z)/(1<<20)), Baseline: base,
			Target: target, Verdict: AtMost(float64(z), MaxZipBytes)}
		if okHello && hello > 0 {
			r.Ratio = times(float64(z) / float64(hello))
		}
		rows = append(rows, r)
	}
	return rows
}

// LatencyRows: item 3, one row per latency case, no-tasks first; the target applies to
// no-tasks, the others are reported.
func LatencyRows(in Inputs) []Row {
	s := in.Bench["latency"]
	names := s.Names("BenchmarkDiagnoseLatency/")
	// A case that failed has no result line: list it anyway, so the table shows the hole.
	for name := range in.Failures["latency"] {
		if strings.HasPrefix(name, "BenchmarkDiagnoseLatency/") && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	sort.SliceStable(names, func(i, j int) bool {
		return strings.Contains(names[i], "/no-tasks") && !strings.Contains(names[j], "/no-tasks")
	})
	target := fmt.Sprintf("≤ %g× (no-tasks)", MaxLatencyRatio)
	if len(names) == 0 {
		return []Row{missing("3", "Wall time with +100 ms per call vs the dependent-call chain: no-tasks", in.notMeasured("latency", "BenchmarkDiagnoseLatency"), target)}
	}
	var rows []Row
	for _, name := range names {
		c := strings.TrimPrefix(name, "BenchmarkDiagnoseLatency/")
		measure := "Wall time with +100 ms per call (dry-run) vs the dependent-call chain: " + c
		wall, runs, ok1 := s.Median(name, "wall-ms")
		chain, _, ok2 := s.Median(name, "chain-calls")
		call, _, ok3 := s.Median(name, "call-ms")
		x, _, ok4 := s.Median(name, "x-chain")
		caseTarget := target
		if !strings.HasPrefix(c, "no-tasks") {
			caseTarget = ReportOnly
		}
		if !ok1 || !ok2 || !ok3 || !ok4 {
			rows = append(rows, missing("3", measure, in.notMeasured("latency", name), caseTarget))
			continue
		}
		r := Row{Item: "3", Measure: fmt.Sprintf("%s (median of %s)", measure, plural(runs, "invocation")), Value: ms(wall),
			Baseline: fmt.Sprintf("chain %g calls × %s = %s", chain, ms(call), ms(chain*call)), Ratio: times(x), Target: target}
		if caseTarget == target {
			r.Verdict = AtMost(x, MaxLatencyRatio)
		} else {
			r.Target, r.Verdict = caseTarget, Info
		}
		in.partial("latency", name, &r)
		rows = append(rows, r)
	}
	return rows
}

// IncidentRows: item 3 too, alarm to first report with and without the incident record.
func IncidentRows(in Inputs) []Row {
	s := in.Bench["incident"]
	names := s.Names("BenchmarkIncidentOverhead/")
	sort.Strings(names)
	target := fmt.Sprintf("≤ %.2f× without", MaxIncidentCost)
	if len(names) == 0 {
		return []Row{missing("3", "Alarm to first report with the incident record vs without", in.notMeasured("incident", "BenchmarkIncidentOverhead"), target)}
	}
	var rows []Row
	for _, name := range names {
		c := strings.TrimPrefix(name, "BenchmarkIncidentOverhead/")
		measure := "Alarm to first report with the incident record vs without, +100 ms per call: " + c
		on, runs, ok1 := s.Median(name, "report-on-ms")
		off, _, ok2 := s.Median(name, "report-off-ms")
		x, _, ok3 := s.Median(name, "x-off")
		if !ok1 || !ok2 || !ok3 {
			rows = append(rows, missing("3", measure, in.notMeasured("incident", name), target))
			continue
		}
		r := Row{Item: "3", Measure: fmt.Sprintf("%s (median of %s)", measure, plural(runs, "pair")), Value: ms(on),
			Baseline: "without " + ms(off), Ratio: times(x), Target: target, Verdict: AtMost(x, MaxIncidentCost)}
		in.partial("incident", name, &r)
		rows = append(rows, r)
	}
	return rows
}

// RabbitRows: item 4, replay vs shovel per configuration the benchmark ran (split cores, the
// target's rows, then shared cores, reported), then the peek's time and peak RSS.
func RabbitRows(in Inputs) []Row {
	var rows []Row
	replayTarget := fmt.Sprintf("≥ %g× shovel", MinReplayRatio)
	for _, run := range []struct{ step, label, target string }{
		{"rabbit-replay-split", "broker on CPU 0, replay on CPU 1", replayTarget},
		{"rabbit-replay", "broker and replay sharing both CPUs", ReportOnly},
	} {
		rows = append(rows, in.replayRows(run.step, run.label, run.target)...)
	}

	p := in.Bench["rabbit-peek"]
	timeTarget := fmt.Sprintf("≤ %g s", MaxPeekSeconds)
	if ns, runs, ok := p.Median("BenchmarkPeek10k", "ns/op"); ok {
		r := Row{Item: "4", Measure: fmt.Sprintf("Peek 10,000 × 1 KiB: time (median of %s)", plural(runs, "run")), Value: secs(ns / 1e9),
			Target: timeTarget, Verdict: AtMost(ns/1e9, MaxPeekSeconds)}
		if base, _, ok := p.Median("BenchmarkConsumeBaseline", "ns/op"); ok && base > 0 {
			r.Baseline, r.Ratio = "bare consume of the same "+secs(base/1e9), times(ns/base)
		}
		in.partial("rabbit-peek", "BenchmarkPeek10k", &r)
		rows = append(rows, r)
	} else {
		rows = append(rows, missing("4", "Peek 10,000 × 1 KiB: time", in.notMeasured("rabbit-peek", "BenchmarkPeek10k"), timeTarget))
	}
	rssTarget := "≤ 64 MB"
	if mib, runs, ok := p.Median("BenchmarkPeek10k", "peak-rss-MB"); ok {
		// The benchmark reports VmHWM in KiB / 1024 (MiB); the target is read in MB.
		bytes := mib * (1 << 20)
		rows = append(rows, Row{Item: "4", Measure: fmt.Sprintf("Peek 10,000 × 1 KiB: peak RSS of a process doing one peek (median of %s)", plural(runs, "run")),
			Value: fmt.Sprintf("%.1f MB (%.1f MiB)", bytes/1e6, mib), Target: rssTarget, Verdict: AtMost(bytes, MaxPeekRSSBytes)})
	} else {
		rows = append(rows, missing("4", "Peek 10,000 × 1 KiB: peak RSS", in.notMeasured("rabbit-peek", "BenchmarkPeek10k peak-rss-MB"), rssTarget))
	}
	return rows
}

// SynthRow: item 5, the second of two `make synth ENV=staging` runs.
func SynthRow(in Inputs) Row {
	target := fmt.Sprintf("≤ %g s", MaxSynthSeconds)
	measure := "make synth ENV=staging, warm caches (second of two runs)"
	second, ok := in.Steps["synth-2"]
	if !ok || second.Exit != 0 {
		return missing("5", measure, in.notMeasured("synth-2", "synth"), target)
	}
	r := Row{Item: "5", Measure: measure, Value: secs(second.Seconds), Target: target, Verdict: AtMost(second.Seconds, MaxSynthSeconds)}
	if first, ok := in.Steps["synth-1"]; ok && first.Exit == 0 {
		r.Baseline = "first run " + secs(first.Seconds)
	}
	return r
}

// OtherRows: item 6, what the packages' own benchmarks measure, for reference.
func OtherRows(in Inputs) []Row {
	var rows []Row
	l := in.Bench["ledger"]
	var parts []string
	for _, b := range []struct{ name, label string }{
		{"BenchmarkClaim", "claim"}, {"BenchmarkClaimDuplicate", "duplicate claim"}, {"BenchmarkLockUnlock", "lock+unlock"},
		{"BenchmarkRecord", "record"}, {"BenchmarkHistory", "history (10 entries)"},
	} {
		if ns, _, ok := l.Median(b.name, "ns/op"); ok {
			parts = append(parts, b.label+" "+secs(ns/1e9))
		}
	}
	if len(parts) > 0 {
		_, runs, _ := l.Median("BenchmarkClaim", "ns/op")
		rows = append(rows, Row{Item: "6", Measure: fmt.Sprintf("Ledger operation latency: real SDK client → dynalite on loopback (median of %s)", plural(runs, "run")),
			Value: strings.Join(parts, "; "), Target: ReportOnly, Verdict: Info})
	} else {
		rows = append(rows, Row{Item: "6", Measure: "Ledger operation latency", Value: in.notMeasured("ledger", "ledger benchmarks"), Target: ReportOnly, Verdict: Info})
	}
	r := in.Bench["report"]
	for _, size := range []string{"ordinary", "huge"} {
		var parts []string
		runs := 0
		for _, form := range []string{"markdown", "slack", "discord", "text"} {
			name := "BenchmarkRender/" + size + "/" + form
			if ns, n, ok := r.Median(name, "ns/op"); ok {
				runs = n
				p := form + " " + secs(ns/1e9)
				if b, _, ok := r.Median(name, "B/op"); ok {
					p += " (" + mb(int64(b)) + " alloc)"
				}
				parts = append(parts, p)
			}
		}
		measure := "Report rendering, " + size + " report"
		if size == "huge" {
			measure += " (10,000 evidence lines, megabyte strings)"
		}
		if len(parts) == 0 {
			rows = append(rows, Row{Item: "6", Measure: measure, Value: in.notMeasured("report", "BenchmarkRender"), Target: ReportOnly, Verdict: Info})
			continue
		}
		rows = append(rows, Row{Item: "6", Measure: fmt.Sprintf("%s (median of %s)", measure, plural(runs, "run")), Value: strings.Join(parts, "; "), Target: ReportOnly, Verdict: Info})
	}
	return rows
}

// Formatting: three significant digits, units a reader expects.

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func ms(v float64) string { return sig(v) + " ms" }

func times(v float64) string { return fmt.Sprintf("%.2f×", v) }

func secs(s float64) string {
	switch {
	case s >= 1:
		return sig(s) + " s"
	case s >= 1e-3:
		return sig(s*1e3) + " ms"
	case s >= 1e-6:
		return sig(s*1e6) + " µs"
	}
	return sig(s*1e9) + " ns"
}

func mb(b int64) string {
	switch {
	case b >= 1e6:
		return fmt.Sprintf("%.2f MB", float64(b)/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(b)/1e3)
	}
	return fmt.Sprintf("%d B", b)
}

func rate(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fk msg/s", v/1000)
	}
	return fmt.Sprintf("%.0f msg/s", v)
}

// sig formats v with three significant digits (no exponent for the ranges used here).
func sig(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	digits := 3 - int(math.Floor(math.Log10(math.Abs(v)))) - 1
	if digits < 0 {
		digits = 0
	}
	return fmt.Sprintf("%.*f", digits, v)
}

// replayRows: one row per configuration of BenchmarkReplayVsShovel in step; target is the
// replay target, or ReportOnly for a run whose ratio is reported without a verdict.
func (in Inputs) replayRows(step, label, target string) []Row {
	s := in.Bench[step]
	names := s.Names("BenchmarkReplayVsShovel")
	for name := range in.Failures[step] {
		if strings.HasPrefix(name, "BenchmarkReplayVsShovel/") && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	base := "Replay vs RabbitMQ's shovel, 10,000 × 1 KiB, throughput, " + label
	if len(names) == 0 {
		return []Row{missing("4", base, in.notMeasured(step, "BenchmarkReplayVsShovel"), target)}
	}
	var rows []Row
	for _, name := range names {
		measure := base
		if cfg := strings.TrimPrefix(strings.TrimPrefix(name, "BenchmarkReplayVsShovel"), "/"); cfg != "" {
			measure += " (" + strings.ReplaceAll(cfg, "/", ", ") + ")"
		}
		rep, runs, ok1 := s.Median(name, "replay-msgs/s")
		sh, _, ok2 := s.Median(name, "shovel-msgs/s")
		x, _, ok3 := s.Median(name, "replay/shovel")
		if !ok1 || !ok2 || !ok3 {
			rows = append(rows, missing("4", measure, in.notMeasured(step, name), target))
			continue
		}
		iters, _, _ := s.Median(name, Iterations)
		verdict := Info
		if target != ReportOnly {
			verdict = AtLeast(x, MinReplayRatio)
		}
		r := Row{Item: "4", Measure: fmt.Sprintf("%s, %s × %.0f moves each", measure, plural(runs, "run"), iters),
			Value: "replay " + rate(rep), Baseline: "shovel " + rate(sh), Ratio: times(x), Target: target, Verdict: verdict}
		in.partial(step, name, &r)
		rows = append(rows, r)
	}
	return rows
}
