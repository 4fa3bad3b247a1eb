package trend

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// series builds n points step apart from t0, value f(i) plus seeded Gaussian noise of sd.
func series(n int, step time.Duration, sd float64, seed uint64, f func(i int) float64) []Point {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ps := make([]Point, n)
	for i := range ps {
		ps[i] = Point{T: t0.Add(time.Duration(i) * step), V: f(i) + sd*r.NormFloat64()}
	}
	return ps
}

// lin is a straight line from a to b over n points.
func lin(n int, a, b float64) func(int) float64 {
	return func(i int) float64 { return a + (b-a)*float64(i)/float64(n-1) }
}

func flat(v float64) func(int) float64 { return func(int) float64 { return v } }

// nanEvery marks every k-th point (from offset) as missing.
func nanEvery(ps []Point, k, offset int) []Point {
	out := append([]Point(nil), ps...)
	for i := offset; i < len(out); i += k {
		out[i].V = math.NaN()
	}
	return out
}

// drop removes the points with index in [from, to): a hole in the series.
func drop(ps []Point, from, to int) []Point {
	out := append([]Point(nil), ps[:from]...)
	return append(out, ps[to:]...)
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestLinear(t *testing.T) {
	line := func(i int) float64 { return 5 + 2*float64(i)/60 } // 2 per hour on 1-minute points
	tests := []struct {
		name             string
		points           []Point
		wantOK           bool
		slope, intercept float64
		tol              float64
		minR2, maxR2     float64
		wantN            int
	}{
		{name: "exact line", points: series(61, time.Minute, 0, 1, line), wantOK: true, slope: 2, intercept: 5, tol: 1e-9, minR2: 1 - 1e-12, maxR2: 1, wantN: 61},
		{name: "flat line has R2 1", points: series(10, time.Minute, 0, 1, flat(7)), wantOK: true, slope: 0, intercept: 7, tol: 1e-12, minR2: 1, maxR2: 1, wantN: 10},
		{name: "falling line", points: series(13, 5*time.Minute, 0, 1, lin(13, 100, 40)), wantOK: true, slope: -60, intercept: 100, tol: 1e-9, minR2: 1 - 1e-12, maxR2: 1, wantN: 13},
		{name: "gaps skipped", points: nanEvery(series(61, time.Minute, 0, 1, line), 3, 1), wantOK: true, slope: 2, intercept: 5, tol: 1e-9, minR2: 1 - 1e-12, maxR2: 1, wantN: 41},
		{name: "infinities skipped", points: append(series(5, time.Minute, 0, 1, line), Point{T: t0.Add(time.Hour), V: math.Inf(1)}, Point{T: t0.Add(2 * time.Hour), V: math.Inf(-1)}), wantOK: true, slope: 2, intercept: 5, tol: 1e-9, minR2: 1 - 1e-12, maxR2: 1, wantN: 5},
		{name: "noisy line", points: series(61, time.Minute, 0.5, 7, lin(61, 40, 80)), wantOK: true, slope: 40, intercept: 40, tol: 1.5, minR2: 0.99, maxR2: 1, wantN: 61},
		{name: "pure noise has low R2", points: series(61, time.Minute, 3, 11, flat(50)), wantOK: true, slope: 0, intercept: 50, tol: 8, minR2: 0, maxR2: 0.2, wantN: 61},
		{name: "empty", points: nil, wantOK: false},
		{name: "one point", points: series(1, time.Minute, 0, 1, line), wantOK: false, wantN: 1},
		{name: "all NaN", points: nanEvery(series(5, time.Minute, 0, 1, line), 1, 0), wantOK: false},
		{name: "identical timestamps", points: []Point{{T: t0, V: 1}, {T: t0, V: 2}, {T: t0, V: 3}}, wantOK: false, wantN: 3},
		{name: "zero timestamps are gaps", points: []Point{{V: 1}, {V: 2}, {T: t0, V: 3}}, wantOK: false, wantN: 1},
		{name: "huge values do not overflow into a fit", points: []Point{{T: t0, V: -math.MaxFloat64}, {T: t0.Add(time.Minute), V: math.MaxFloat64}}, wantOK: false, wantN: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := Linear(tc.points)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v (fit %+v)", ok, tc.wantOK, f)
			}
			if f.N != tc.wantN {
				t.Errorf("N = %d, want %d", f.N, tc.wantN)
			}
			if !ok {
				return
			}
			if !near(f.Slope, tc.slope, tc.tol) || !near(f.Intercept, tc.intercept, tc.tol) {
				t.Errorf("slope %v intercept %v, want %v and %v (±%v)", f.Slope, f.Intercept, tc.slope, tc.intercept, tc.tol)
			}
			if f.R2 < tc.minR2 || f.R2 > tc.maxR2 {
				t.Errorf("R2 = %v, want %v..%v", f.R2, tc.minR2, tc.maxR2)
			}
		})
	}
}

func TestLinearIgnoresOrderAndKeepsInput(t *testing.T) {
	ps := series(30, time.Minute, 0, 1, lin(30, 10, 39))
	rev := make([]Point, len(ps))
	for i := range ps {
		rev[len(ps)-1-i] = ps[i]
	}
	a, okA := Linear(ps)
	b, okB := Linear(rev)
	if !okA || !okB || !near(a.Slope, b.Slope, 1e-9) || !near(a.Intercept, b.Intercept, 1e-9) {
		t.Fatalf("order changed the fit: %+v vs %+v", a, b)
	}
	if rev[0].V != ps[len(ps)-1].V {
		t.Fatal("Linear reordered the caller's slice")
	}
	if got := a.At(t0.Add(30 * time.Minute)); !near(got, 40, 1e-9) {
		t.Errorf("At(+30m) = %v, want 40", got)
	}
}

func TestFromSeries(t *testing.T) {
	ts := []time.Time{t0.Add(2 * time.Minute), t0.Add(time.Minute), t0, t0.Add(time.Hour)}
	vs := []float64{3, 2, 1}
	got := FromSeries(ts, vs)
	if len(got) != 3 {
		t.Fatalf("len %d, want 3 (extra timestamp dropped)", len(got))
	}
	for i, want := range []float64{1, 2, 3} {
		if got[i].V != want || !got[i].T.Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("point %d = %+v, want value %v oldest first", i, got[i], want)
		}
	}
}

func TestMaxRiseWithinAndLastFall(t *testing.T) {
	ps := []Point{{t0, 10}, {t0.Add(time.Minute), 30}, {t0.Add(10 * time.Minute), 31}, {t0.Add(11 * time.Minute), 5}, {t0.Add(12 * time.Minute), 3}, {t0.Add(13 * time.Minute), 6}, {t0.Add(30 * time.Minute), 7}}
	if got := maxRiseWithin(ps, 5*time.Minute); got != 20 {
		t.Errorf("maxRiseWithin = %v, want 20 (10 -> 30 in one minute)", got)
	}
	f, ok := lastFall(ps, 5*time.Minute, 15)
	if !ok || f.from != 2 || f.to != 4 {
		t.Errorf("lastFall = %+v %v, want from index 2 (31) to index 4 (3, the lowest)", f, ok)
	}
	if _, ok := lastFall(ps[:3], 5*time.Minute, 15); ok {
		t.Error("a rising series has no fall")
	}
}

func TestClassifyMemory(t *testing.T) {
	m := time.Minute
	// leakWithRestart rises 40 -> 82 over 36 minutes, falls to 35 within two, then rises again.
	leakWithRestart := func(i int) float64 {
		switch {
		case i <= 35:
			return 40 + 1.2*float64(i)
		case i == 36:
			return 60
		default:
			return 35 + 0.8*float64(i-37)
		}
	}
	// restartedJustNow rises to 90 over 52 minutes, then falls to 35 and has barely restarted.
	restartedJustNow := func(i int) float64 {
		switch {
		case i <= 52:
			return 40 + 50*float64(i)/52
		case i == 53:
			return 62
		default:
			return 35 + 0.5*float64(i-54)
		}
	}
	step := func(at int, a, b float64) func(int) float64 {
		return func(i int) float64 {
			if i < at {
				return a
			}
			return b
		}
	}
	uniform := func(lo, hi float64, seed uint64) func(int) float64 {
		r := rand.New(rand.NewPCG(seed, 1))
		return func(int) float64 { return lo + (hi-lo)*r.Float64() }
	}
	tests := []struct {
		name   string
		s1, s5 []Point
		high   float64
		want   MemoryKind
		res    string
		check  func(t *testing.T, c MemoryClass)
	}{
		{name: "clean leak", s1: series(60, m, 0, 1, lin(60, 40, 82)), want: MemoryLeak, res: "1m", check: func(t *testing.T, c MemoryClass) {
			if !near(c.SlopePctPerHour, 42.7, 0.1) || c.R2 < 0.999 {
				t.Errorf("slope %.2f R2 %.3f, want 42.7 %%/h and ~1", c.SlopePctPerHour, c.R2)
			}
			// 18 pp left at 42.7 pp/h: about 25 minutes.
			if c.TimeToFull < 24*time.Minute || c.TimeToFull > 27*time.Minute {
				t.Errorf("TimeToFull %s, want ~25m", c.TimeToFull)
			}
			if c.Fall != nil {
				t.Errorf("unexpected fall %+v", c.Fall)
			}
		}},
		{name: "noisy leak (seeded)", s1: series(60, m, 1.5, 42, lin(60, 40, 82)), want: MemoryLeak, res: "1m", check: func(t *testing.T, c MemoryClass) {
			if c.R2 < 0.9 || !near(c.SlopePctPerHour, 42.7, 3) {
				t.Errorf("slope %.2f R2 %.3f", c.SlopePctPerHour, c.R2)
			}
		}},
		{name: "leak with gaps", s1: drop(nanEvery(series(60, m, 1, 3, lin(60, 40, 82)), 7, 2), 20, 24), want: MemoryLeak, res: "1m"},
		{name: "leak seen only at 5 minutes", s5: series(12, 5*m, 0.5, 4, lin(12, 40, 82)), want: MemoryLeak, res: "5m"},
		{name: "1m too sparse falls back to 5m", s1: series(4, m, 0, 1, flat(50)), s5: series(12, 5*m, 0, 4, lin(12, 40, 82)), want: MemoryLeak, res: "5m"},
		{name: "leak since a restart inside the window", s1: series(60, m, 0.5, 5, leakWithRestart), want: MemoryLeak, res: "1m", check: func(t *testing.T, c MemoryClass) {
			if c.Fall == nil || !c.Fall.LeakBefore || c.Fall.From < 80 || c.Fall.To > 37 {
				t.Fatalf("fall %+v, want ~82 -> ~35 with a leak before it", c.Fall)
			}
			if !c.FitSince.Equal(c.Fall.ToAt) || !near(c.SlopePctPerHour, 48, 4) {
				t.Errorf("fit since %s slope %.1f, want since the fall at ~48 %%/h", c.FitSince, c.SlopePctPerHour)
			}
		}},
		{name: "whole-window fit alone would miss the sawtooth", s1: series(60, m, 0, 5, leakWithRestart), want: MemoryLeak, res: "1m", check: func(t *testing.T, c MemoryClass) {
			if whole, _ := Linear(series(60, m, 0, 5, leakWithRestart)); whole.R2 >= LeakMinR2 {
				t.Errorf("test premise: whole-window R2 %.2f should be poor", whole.R2)
			}
		}},
		{name: "restart just now after a leak is recovering", s1: series(60, m, 0.3, 6, restartedJustNow), want: MemoryRecovering, res: "1m", check: func(t *testing.T, c MemoryClass) {
			if c.Fall == nil || !c.Fall.LeakBefore || c.Peak < 88 {
				t.Errorf("fall %+v peak %.1f: want the leak before the fall reported", c.Fall, c.Peak)
			}
		}},
		{name: "spike from a flat line", s1: series(60, m, 1, 7, step(55, 45, 88)), want: MemorySpike, res: "1m", check: func(t *testing.T, c MemoryClass) {
			if !near(c.Baseline, 45, 1) || !near(c.Jump, 43, 3) || !c.JumpAt.Equal(t0.Add(55*m)) {
				t.Errorf("baseline %.1f jump %.1f at %s", c.Baseline, c.Jump, c.JumpAt)
			}
		}},
		{name: "spike seen only at 5 minutes", s5: series(12, 5*m, 0.5, 8, step(11, 45, 88)), want: MemorySpike, res: "5m"},
		{name: "sustained high 87-93", s1: series(60, m, 0, 0, uniform(87, 93, 9)), want: MemorySustainedHigh, res: "1m"},
		{name: "sustained high with isolated gaps", s1: nanEvery(series(60, m, 0, 0, uniform(87, 93, 10)), 5, 3), want: MemorySustainedHigh, res: "1m"},
		{name: "sustained high with one dip", s1: func() []Point {
			ps := series(60, m, 0, 0, uniform(87, 93, 11))
			ps[30].V = 70
			return ps
		}(), want: MemorySustainedHigh, res: "1m"},
		{name: "high but a long hole cannot be throughout", s1: drop(series(60, m, 0, 0, uniform(87, 93, 12)), 15, 40), want: MemoryInsufficient, res: "1m"},
		{name: "spike on a high plateau is sustained high", s1: series(60, m, 0.5, 13, step(56, 88, 99)), want: MemorySustainedHigh, res: "1m"},
		{name: "leak that is also high throughout is a leak", s1: series(60, m, 0.3, 14, lin(60, 86, 99)), want: MemoryLeak, res: "1m", check: func(t *testing.T, c MemoryClass) {
			if c.ShareAboveHigh != 1 {
				t.Errorf("ShareAboveHigh %.2f, want 1", c.ShareAboveHigh)
			}
		}},
		{name: "recovering from 90 to 60", s1: series(60, m, 0.5, 15, func(i int) float64 {
			if i < 30 {
				return 90
			}
			return 90 - float64(i-29)
		}), want: MemoryRecovering, res: "1m"},
		{name: "falling 90 to 60 across the hour", s1: series(60, m, 0.5, 25, lin(60, 90, 60)), want: MemoryRecovering, res: "1m"},
		{name: "step down from 90 is recovering", s1: series(60, m, 0, 16, step(30, 90, 40)), want: MemoryRecovering, res: "1m"},
		{name: "flat noisy is normal", s1: series(60, m, 1.5, 17, flat(45)), want: MemoryNormal, res: "1m"},
		{name: "step up in the middle is not a leak", s1: series(60, m, 0.5, 18, step(30, 40, 80)), want: MemoryNormal, res: "1m"},
		{name: "late step up is not a leak", s1: series(60, m, 0, 19, step(40, 40, 80)), want: MemoryNormal, res: "1m"},
		{name: "staircase rise counts as a leak", s1: series(60, m, 0.3, 20, func(i int) float64 { return 40 + 10*float64(i/15) }), want: MemoryLeak, res: "1m"},
		{name: "slow drift is not a leak", s1: series(60, m, 0.2, 21, lin(60, 50, 52)), want: MemoryNormal, res: "1m"},
		{name: "step down below high is normal", s1: series(60, m, 0, 22, step(30, 80, 40)), want: MemoryNormal, res: "1m", check: func(t *testing.T, c MemoryClass) {
			if c.Fall == nil {
				t.Error("the fall should be reported")
			}
		}},
		{name: "too few points", s1: series(5, m, 0, 1, lin(5, 40, 90)), want: MemoryInsufficient, res: "1m"},
		{name: "too short a span", s1: series(30, 30*time.Second, 0, 1, lin(30, 40, 90)), want: MemoryInsufficient, res: "1m"},
		{name: "nothing at all", want: MemoryInsufficient, res: ""},
		{name: "all gaps", s1: nanEvery(series(60, m, 0, 1, flat(50)), 1, 0), want: MemoryInsufficient, res: ""},
		{name: "identical timestamps", s1: series(60, 0, 0, 1, lin(60, 40, 90)), want: MemoryInsufficient, res: "1m"},
		{name: "custom high line", s1: series(60, m, 0, 0, uniform(72, 78, 23)), high: 70, want: MemorySustainedHigh, res: "1m"},
		{name: "invalid high line means 85", s1: series(60, m, 0, 0, uniform(87, 93, 24)), high: math.NaN(), want: MemorySustainedHigh, res: "1m", check: func(t *testing.T, c MemoryClass) {
			if c.HighPct != 85 {
				t.Errorf("HighPct %v, want 85", c.HighPct)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			high := tc.high
			if high == 0 {
				high = 85
			}
			c := ClassifyMemory(tc.s1, tc.s5, high)
			if c.Class != tc.want || c.Resolution != tc.res {
				t.Fatalf("got %s (%q), want %s (%q): %s", c.Class, c.Resolution, tc.want, tc.res, c.Reason)
			}
			if c.Reason == "" {
				t.Error("empty reason")
			}
			if c.Class != MemoryLeak && c.TimeToFull != 0 {
				t.Errorf("TimeToFull %s on a %s", c.TimeToFull, c.Class)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
			t.Log(c.Reason)
		})
	}
}

func TestClassifyMemoryReversedInputIsTheSame(t *testing.T) {
	ps := series(60, time.Minute, 1, 31, lin(60, 40, 82))
	rev := make([]Point, len(ps))
	for i := range ps {
		rev[len(ps)-1-i] = ps[i]
	}
	a, b := ClassifyMemory(ps, nil, 85), ClassifyMemory(rev, nil, 85)
	if a.Class != b.Class || a.SlopePctPerHour != b.SlopePctPerHour || a.Reason != b.Reason {
		t.Fatalf("order matters: %+v vs %+v", a, b)
	}
}

func TestClassifyQueue(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name  string
		ps    []Point
		want  QueueDirection
		check func(t *testing.T, q QueueTrend)
	}{
		{name: "growing 200 to 2400", ps: series(16, m, 0, 1, lin(16, 200, 2400)), want: QueueGrowing, check: func(t *testing.T, q QueueTrend) {
			if !near(q.SlopePerMin, 146.7, 0.1) || q.Turned {
				t.Errorf("slope %.1f turned %v, want 146.7 msgs/min", q.SlopePerMin, q.Turned)
			}
		}},
		{name: "growing noisy", ps: series(16, m, 60, 2, lin(16, 200, 2400)), want: QueueGrowing},
		{name: "draining 3000 to 400", ps: series(16, m, 0, 3, lin(16, 3000, 400)), want: QueueDraining, check: func(t *testing.T, q QueueTrend) {
			// 400 left at 173.3 msgs/min: about 2.3 minutes.
			if !near(q.SlopePerMin, -173.3, 0.1) || q.TimeToEmpty < 2*m || q.TimeToEmpty > 3*m {
				t.Errorf("slope %.1f time to empty %s", q.SlopePerMin, q.TimeToEmpty)
			}
		}},
		{name: "flat with seeded noise", ps: series(16, m, 30, 4, flat(1000)), want: QueueFlat},
		{name: "empty queue", ps: series(16, m, 0, 5, flat(0)), want: QueueFlat, check: func(t *testing.T, q QueueTrend) {
			if q.SlopePerMin != 0 || q.R2 != 1 {
				t.Errorf("slope %v R2 %v", q.SlopePerMin, q.R2)
			}
		}},
		{name: "small wiggle on an empty queue", ps: series(16, m, 0, 6, func(i int) float64 { return float64(i % 3) }), want: QueueFlat},
		{name: "grew then turned to draining", ps: series(16, m, 0, 7, func(i int) float64 {
			if i <= 10 {
				return 300 * float64(i)
			}
			return 3000 - 100*float64(i-10)
		}), want: QueueDraining, check: func(t *testing.T, q QueueTrend) {
			if !q.Turned || q.WholeSlopePerMin <= 0 || !near(q.SlopePerMin, -100, 1) {
				t.Errorf("turned %v whole %.1f recent %.1f", q.Turned, q.WholeSlopePerMin, q.SlopePerMin)
			}
		}},
		{name: "flat then started growing", ps: series(16, m, 0, 8, func(i int) float64 {
			if i < 10 {
				return 500
			}
			return 500 + 200*float64(i-9)
		}), want: QueueGrowing},
		{name: "step up", ps: series(16, m, 0, 9, func(i int) float64 {
			if i < 7 {
				return 100
			}
			return 2000
		}), want: QueueGrowing},
		{name: "with gaps", ps: nanEvery(series(16, m, 0, 10, lin(16, 200, 2400)), 4, 1), want: QueueGrowing},
		{name: "two points", ps: series(2, 5*m, 0, 11, lin(2, 0, 1000)), want: QueueInsufficient},
		{name: "three points over two minutes", ps: series(3, m, 0, 12, lin(3, 0, 1000)), want: QueueInsufficient},
		{name: "nothing", want: QueueInsufficient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := ClassifyQueue(tc.ps)
			if q.Direction != tc.want {
				t.Fatalf("got %s, want %s: %s", q.Direction, tc.want, q.Reason)
			}
			if q.Reason == "" {
				t.Error("empty reason")
			}
			if q.Direction != QueueDraining && q.TimeToEmpty != 0 {
				t.Errorf("TimeToEmpty %s when %s", q.TimeToEmpty, q.Direction)
			}
			if tc.check != nil {
				tc.check(t, q)
			}
			t.Log(q.Reason)
		})
	}
}

// BenchmarkClassifyMemory: an hour of 1-minute and 5-minute points, as memory-high reads them.
func BenchmarkClassifyMemory(b *testing.B) {
	s1 := series(60, time.Minute, 1.5, 1, lin(60, 40, 82))
	s5 := series(12, 5*time.Minute, 1, 2, lin(12, 40, 82))
	for b.Loop() {
		ClassifyMemory(s1, s5, 85)
	}
}

// BenchmarkClassifyMemoryLarge: a day of 1-minute points with noise, to show the work stays
// linear-ish in the number of points (no quadratic scan).
func BenchmarkClassifyMemoryLarge(b *testing.B) {
	s1 := series(24*60, time.Minute, 5, 3, flat(50))
	for b.Loop() {
		ClassifyMemory(s1, nil, 85)
	}
}

func BenchmarkClassifyQueue(b *testing.B) {
	ps := series(16, time.Minute, 60, 4, lin(16, 200, 2400))
	for b.Loop() {
		ClassifyQueue(ps)
	}
}
