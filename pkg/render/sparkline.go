package render

import (
	"math"
	"strconv"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// sparkBars are the eight heights of a sparkline, lowest first.
var sparkBars = []rune("▁▂▃▄▅▆▇█")

// SparkWidth is the most columns a sparkline takes; longer series are averaged into buckets
// so a sparkline always fits one chat line.
const SparkWidth = 48

// Sparkline draws values (oldest first) as at most width bars of ▁▂▃▄▅▆▇█. A missing
// datapoint (NaN or ±Inf) is a space, so gaps in a metric stay visible. A flat series is a
// row of middle bars. Series longer than width are averaged into width buckets; a bucket
// with no datapoint is a gap.
func Sparkline(values []float64, width int) string {
	if width <= 0 {
		width = SparkWidth
	}
	cols := bucket(values, width)
	lo, hi, ok := minMax(cols)
	if !ok {
		return strings.Repeat(" ", len(cols))
	}
	var b strings.Builder
	for _, x := range cols {
		if !finite(x) {
			b.WriteByte(' ')
			continue
		}
		i := (len(sparkBars) - 1) / 2 // flat line: the lower middle height, ▄
		if hi > lo {
			// Halves keep hi-lo finite for values near ±MaxFloat64.
			f := (x/2 - lo/2) / (hi/2 - lo/2)
			i = min(max(int(math.Round(f*float64(len(sparkBars)-1))), 0), len(sparkBars)-1)
		}
		b.WriteRune(sparkBars[i])
	}
	return b.String()
}

// bucket averages values into at most width columns, ignoring missing datapoints.
func bucket(values []float64, width int) []float64 {
	if len(values) <= width {
		return values
	}
	cols := make([]float64, width)
	for c := range cols {
		from, to := c*len(values)/width, (c+1)*len(values)/width
		n := 0
		for _, x := range values[from:to] {
			if finite(x) {
				n++
			}
		}
		cols[c] = math.NaN()
		if n == 0 {
			continue
		}
		mean := 0.0
		for _, x := range values[from:to] {
			if finite(x) {
				mean += x / float64(n) // divided first: a sum near MaxFloat64 would overflow
			}
		}
		cols[c] = mean
	}
	return cols
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func minMax(values []float64) (lo, hi float64, ok bool) {
	for _, x := range values {
		if !finite(x) {
			continue
		}
		if !ok || x < lo {
			lo = x
		}
		if !ok || x > hi {
			hi = x
		}
		ok = true
	}
	return lo, hi, ok
}

// seriesLine is the sparkline with its label and numbers, e.g.
// "MemoryUtilization ▁▂▄▆█ min 41 % · max 92.5 % · last 91 %". The numbers are taken over
// the raw values (not the buckets); "last" is the newest datapoint that exists. Without a
// single datapoint there is no sparkline, and stats says so.
func seriesLine(s *report.Series) (label, spark, stats string) {
	label = truncU16(oneLine(s.Label), 100)
	if label == "" {
		label = "metric"
	}
	lo, hi, ok := minMax(s.Values)
	if !ok {
		return label, "", "no datapoints"
	}
	spark = Sparkline(s.Values, SparkWidth)
	last := math.NaN()
	for i := len(s.Values) - 1; i >= 0; i-- {
		if finite(s.Values[i]) {
			last = s.Values[i]
			break
		}
	}
	unit := unitSuffix(s.Unit)
	return label, spark, "min " + num(lo) + unit + " · max " + num(hi) + unit + " · last " + num(last) + unit
}

// unitSuffix turns a CloudWatch unit into what follows a number: "Percent" is " %",
// "Count" and "None" nothing (a count needs no unit), the common time and size units their
// symbols, anything else its own name.
func unitSuffix(unit string) string {
	switch u := truncU16(oneLine(unit), 30); u {
	case "", "None", "Count":
		return ""
	case "Percent", "%":
		return " %"
	case "Seconds":
		return " s"
	case "Milliseconds":
		return " ms"
	case "Bytes":
		return " B"
	case "Kilobytes":
		return " kB"
	case "Megabytes":
		return " MB"
	case "Count/Second":
		return "/s"
	default:
		return " " + u
	}
}

// num formats a metric value briefly: at most two decimals, no exponent for everyday sizes.
func num(x float64) string {
	if math.Abs(x) >= 1e15 || (x != 0 && math.Abs(x) < 0.01) {
		return strconv.FormatFloat(x, 'g', 3, 64)
	}
	return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64)
}
