// Package trend classifies metric series the way an on-call engineer reads a graph: a
// least-squares line through the points, then a few named shapes (a memory leak, a spike, a
// queue that grows or drains). It is pure: no I/O, no clock; every function takes the points
// and returns the class together with the numbers it used, so a report can quote them.
//
// A series is timestamps and values, oldest first, possibly with gaps. A gap is either a
// missing point or a NaN value (the report package's Series uses NaN for "no datapoint");
// infinite values and zero timestamps are treated as gaps too. Every function copies and
// sorts its input, so the caller's order does not matter and the caller's slice is not changed.
package trend

import (
	"math"
	"sort"
	"time"
)

// Point is one datapoint. A NaN V marks a missing datapoint.
type Point struct {
	T time.Time
	V float64
}

// FromSeries pairs timestamps and values into points, oldest first. CloudWatch's
// GetMetricData returns them newest first by default; the extra elements of the longer
// slice, if the lengths differ, are dropped.
func FromSeries(ts []time.Time, vs []float64) []Point {
	n := min(len(ts), len(vs))
	ps := make([]Point, n)
	for i := range n {
		ps[i] = Point{T: ts[i], V: vs[i]}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].T.Before(ps[j].T) })
	return ps
}

// Fit is a least-squares line through a series.
type Fit struct {
	N         int     // points used (gaps skipped)
	Slope     float64 // value units per hour
	Intercept float64 // the fitted value at Start
	// R2 is the coefficient of determination, 0..1. A perfectly flat series has R2 1: a flat
	// line explains it exactly.
	R2         float64
	Start, End time.Time // first and last point used
}

// At returns the fitted value at t.
func (f Fit) At(t time.Time) float64 {
	return f.Intercept + f.Slope*hours(t.Sub(f.Start))
}

// Rise is the fitted change from Start to End.
func (f Fit) Rise() float64 {
	return f.Slope * hours(f.End.Sub(f.Start))
}

// Linear fits a least-squares line through the points, skipping gaps. ok is false when
// fewer than two usable points remain, when they all share one timestamp, or when the
// values are too large to fit without overflow.
func Linear(points []Point) (fit Fit, ok bool) {
	return linear(clean(points))
}

// linear expects clean points (finite, sorted).
func linear(ps []Point) (Fit, bool) {
	n := len(ps)
	if n < 2 {
		return Fit{N: n}, false
	}
	t0 := ps[0].T
	// Centre on the means before summing squares: timestamps as hours since the first point
	// and values around their mean keep the sums small and the result stable.
	var sx, sy float64
	for _, p := range ps {
		sx += hours(p.T.Sub(t0))
		sy += p.V
	}
	mx, my := sx/float64(n), sy/float64(n)
	var sxx, sxy, syy float64
	for _, p := range ps {
		dx, dy := hours(p.T.Sub(t0))-mx, p.V-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 || !finite(sxx) || !finite(sxy) || !finite(my) {
		return Fit{N: n, Start: t0, End: ps[n-1].T}, false
	}
	slope := sxy / sxx
	r2 := 1.0
	if syy != 0 {
		r2 = sxy / sxx * sxy / syy // ordered to postpone overflow
	}
	if math.IsInf(syy, 1) {
		r2 = 0
	}
	r2 = math.Max(0, math.Min(1, r2))
	f := Fit{N: n, Slope: slope, Intercept: my - slope*mx, R2: r2, Start: t0, End: ps[n-1].T}
	if !finite(f.Slope) || !finite(f.Intercept) || !finite(f.R2) {
		return Fit{N: n, Start: t0, End: ps[n-1].T}, false
	}
	return f, true
}

// clean returns the usable points (finite value, non-zero time), oldest first, in a new slice.
func clean(points []Point) []Point {
	out := make([]Point, 0, len(points))
	for _, p := range points {
		if finite(p.V) && !p.T.IsZero() {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func hours(d time.Duration) float64 { return d.Hours() }

func span(ps []Point) time.Duration {
	if len(ps) < 2 {
		return 0
	}
	return ps[len(ps)-1].T.Sub(ps[0].T)
}

type stats struct {
	min, max, first, last float64
	argmax                int // first index of the maximum
}

func describe(ps []Point) stats {
	if len(ps) == 0 {
		return stats{}
	}
	s := stats{min: ps[0].V, max: ps[0].V, first: ps[0].V, last: ps[len(ps)-1].V}
	for i, p := range ps {
		if p.V < s.min {
			s.min = p.V
		}
		if p.V > s.max {
			s.max, s.argmax = p.V, i
		}
	}
	return s
}

// quantile returns the q-quantile (0..1) of the values, by linear interpolation between
// order statistics. The values must not be empty.
func quantile(ps []Point, q float64) float64 {
	vs := make([]float64, len(ps))
	for i, p := range ps {
		vs[i] = p.V
	}
	sort.Float64s(vs)
	pos := q * float64(len(vs)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(vs)-1)
	return vs[lo] + (vs[hi]-vs[lo])*(pos-float64(lo))
}

// maxRiseWithin is the largest increase from an earlier point to a later one at most w
// apart: how much of a series' change happened in one short burst. Sliding-window minimum,
// O(n).
func maxRiseWithin(ps []Point, w time.Duration) float64 {
	best := 0.0
	var dq []int // indexes of earlier points, values increasing
	for j := range ps {
		for len(dq) > 0 && ps[j].T.Sub(ps[dq[0]].T) > w {
			dq = dq[1:]
		}
		if len(dq) > 0 {
			best = math.Max(best, ps[j].V-ps[dq[0]].V)
		}
		for len(dq) > 0 && ps[dq[len(dq)-1]].V >= ps[j].V {
			dq = dq[:len(dq)-1]
		}
		dq = append(dq, j)
	}
	return best
}

// fall is a sudden decrease: from ps[from] (the high point) to ps[to] (the lowest point of
// the fall).
type fall struct{ from, to int }

// lastFall finds the most recent fall of at least by within w. A restart (or a task
// replaced by ECS) shows as such a fall; the points after it belong to a new process.
// Sliding-window maximum; the fall ends at the lowest point of the run of points that are
// each at least by below the window's maximum.
func lastFall(ps []Point, w time.Duration, by float64) (fall, bool) {
	var dq []int // indexes of earlier points, values decreasing
	var last fall
	found, inRun := false, false
	for j := range ps {
		for len(dq) > 0 && ps[j].T.Sub(ps[dq[0]].T) > w {
			dq = dq[1:]
		}
		switch {
		case len(dq) > 0 && ps[dq[0]].V-ps[j].V >= by && !inRun:
			last, found, inRun = fall{from: dq[0], to: j}, true, true
		case len(dq) > 0 && ps[dq[0]].V-ps[j].V >= by:
			if ps[j].V < ps[last.to].V {
				last.to = j
			}
		default:
			inRun = false
		}
		for len(dq) > 0 && ps[dq[len(dq)-1]].V <= ps[j].V {
			dq = dq[:len(dq)-1]
		}
		dq = append(dq, j)
	}
	return last, found
}

// maxGap is the longest interval between consecutive points; medianStep the typical one.
func gaps(ps []Point) (maxGap, medianStep time.Duration) {
	if len(ps) < 2 {
		return 0, 0
	}
	steps := make([]time.Duration, 0, len(ps)-1)
	for i := 1; i < len(ps); i++ {
		d := ps[i].T.Sub(ps[i-1].T)
		maxGap = max(maxGap, d)
		steps = append(steps, d)
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
	return maxGap, steps[len(steps)/2]
}
