package bench

import (
	"fmt"
	"strings"
)

// Verdict is a row's result against its target.
type Verdict string

const (
	Pass Verdict = "PASS"
	Fail Verdict = "FAIL"
	// Info marks a row reported for reference, without a target.
	Info Verdict = "info"
	// Missing marks a measurement that could not be taken: it counts as a failure.
	Missing Verdict = "NOT MEASURED"
)

// Row is one line of the benchmark table.
type Row struct {
	Item     string // the brief's item number: "1" … "6"
	Measure  string
	Value    string
	Baseline string // what the value is compared with, measured in the same run
	Ratio    string
	Target   string
	Verdict  Verdict
	// Failed counts the runs of the row's benchmark that failed; the value is from the others.
	Failed int
}

// AtMost is Pass when v ≤ limit.
func AtMost(v, limit float64) Verdict {
	if v <= limit {
		return Pass
	}
	return Fail
}

// AtLeast is Pass when v ≥ limit.
func AtLeast(v, limit float64) Verdict {
	if v >= limit {
		return Pass
	}
	return Fail
}

// Markdown renders the rows as one Markdown table.
func Markdown(rows []Row) string {
	var b strings.Builder
	b.WriteString("| # | Measure | Value | Baseline (same run) | Ratio | Target | Result |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		verdict := string(r.Verdict)
		if r.Verdict == Pass || r.Verdict == Fail || r.Verdict == Missing {
			verdict = "**" + verdict + "**"
		}
		if r.Failed > 0 {
			verdict += fmt.Sprintf(" (incomplete: %s failed)", plural(r.Failed, "run"))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", cell(r.Item), cell(r.Measure), cell(r.Value),
			cell(r.Baseline), cell(r.Ratio), cell(r.Target), verdict)
	}
	return b.String()
}

// cell keeps a value inside its table cell.
func cell(s string) string {
	if s == "" {
		return "–"
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// Tally counts rows by verdict.
func Tally(rows []Row) map[Verdict]int {
	m := map[Verdict]int{}
	for _, r := range rows {
		m[r.Verdict]++
	}
	return m
}

// Summary is one line: how many targets were met and missed, and how many measurements could
// not be taken.
func Summary(rows []Row) string {
	t := Tally(rows)
	s := fmt.Sprintf("%d of %d targets met", t[Pass], t[Pass]+t[Fail])
	if t[Fail] > 0 {
		s += fmt.Sprintf(", %d missed", t[Fail])
	}
	if t[Missing] > 0 {
		s += fmt.Sprintf("; %d measurement(s) could not be taken", t[Missing])
	}
	if n := Incomplete(rows); n > 0 {
		s += fmt.Sprintf("; %d row(s) from incomplete runs (a benchmark run failed)", n)
	}
	return s
}

// Incomplete counts the rows whose benchmark failed in some of its runs.
func Incomplete(rows []Row) int {
	n := 0
	for _, r := range rows {
		if r.Failed > 0 {
			n++
		}
	}
	return n
}
