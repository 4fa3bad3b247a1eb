package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// Samples are Go benchmark results: name (without the GOMAXPROCS suffix) -> unit -> one
// value per run (go test -count N gives N). Units are the benchmark's own ("ns/op",
// "init-ms", "peak-rss-MB"), not benchfmt's tidied ones; Iterations holds each run's b.N.
type Samples map[string]map[string][]float64

// Iterations is the pseudo-unit under which ReadSamples keeps each run's iteration count.
const Iterations = "(iterations)"

// ReadSamples parses `go test -bench` output (anything else in it is ignored) with the same
// parser benchstat uses.
func ReadSamples(r io.Reader, name string) (Samples, error) {
	s := Samples{}
	br := benchfmt.NewReader(r, name)
	for br.Scan() {
		res, ok := br.Result().(*benchfmt.Result)
		if !ok {
			continue // unit metadata, or a line that is not a result (logs, PASS, ok …)
		}
		// benchfmt drops the "Benchmark" prefix; keep names as go test prints them.
		base, _ := splitProcs("Benchmark" + res.Name.String())
		if s[base] == nil {
			s[base] = map[string][]float64{}
		}
		s[base][Iterations] = append(s[base][Iterations], float64(res.Iters))
		for _, v := range res.Values {
			unit, val := v.Unit, v.Value
			if v.OrigUnit != "" {
				unit, val = v.OrigUnit, v.OrigValue
			}
			s[base][unit] = append(s[base][unit], val)
		}
	}
	if err := br.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return s, nil
}

// splitProcs cuts the "-N" GOMAXPROCS suffix off a benchmark name.
func splitProcs(name string) (string, string) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return name, ""
	}
	for _, c := range name[i+1:] {
		if c < '0' || c > '9' {
			return name, ""
		}
	}
	return name[:i], name[i+1:]
}

// Median is the median of a benchmark's unit over its runs (benchstat's center) and the
// number of runs; ok is false when the benchmark or unit is absent.
func (s Samples) Median(name, unit string) (v float64, n int, ok bool) {
	xs := s[name][unit]
	if len(xs) == 0 {
		return 0, 0, false
	}
	return Median(xs), len(xs), true
}

// Names lists the benchmarks whose name starts with prefix, sorted.
func (s Samples) Names(prefix string) []string {
	var out []string
	for n := range s {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Failure is how often a benchmark failed in one output, and its first message.
type Failure struct {
	Count   int
	Message string
}

// ReadFailures lists the benchmarks that failed in `go test -bench` output ("--- FAIL:
// <name>"), with the first line of the first message (file:line prefix dropped). With
// -count N a benchmark can fail in some runs and report results in the others; a parent that
// failed only because a sub-benchmark did is listed too, with an empty message.
func ReadFailures(text string) map[string]Failure {
	out := map[string]Failure{}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		name, ok := strings.CutPrefix(strings.TrimSpace(l), "--- FAIL: ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ") // "--- FAIL: BenchmarkX (0.00s)" in some outputs
		name, _ = splitProcs(name)
		f := out[name]
		f.Count++
		if f.Message == "" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    ") {
			msg := strings.TrimSpace(lines[i+1])
			// "functions_bench_test.go:191: the message"
			if file, rest, ok := strings.Cut(msg, ": "); ok && strings.Contains(file, ".go:") {
				msg = rest
			}
			if len(msg) > 300 {
				msg = clip(msg, 300) + "…"
			}
			f.Message = msg
		}
		out[name] = f
	}
	return out
}
