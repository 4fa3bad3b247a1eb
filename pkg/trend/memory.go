package trend

import (
	"fmt"
	"time"
)

// MemoryKind names the shape of a memory-utilisation series.
type MemoryKind string

// Memory classes. The precedence, when a series fits more than one, is the order below;
// ClassifyMemory documents why.
const (
	MemoryInsufficient  MemoryKind = "insufficient-data" // too few points to say anything
	MemoryLeak          MemoryKind = "leak"              // a steady rise across the window
	MemorySustainedHigh MemoryKind = "sustained-high"    // above the high line throughout
	MemorySpike         MemoryKind = "spike"             // a recent jump from a flat line
	MemoryRecovering    MemoryKind = "recovering"        // was high, now clearly lower and falling
	MemoryNormal        MemoryKind = "normal"            // none of the above
)

// Thresholds of the memory classification, in percentage points (pp) of utilisation. They
// are constants rather than knobs: the classes are read by people, and one meaning of
// "leak" across environments is worth more than per-environment tuning.
const (
	MemoryMinPoints = 6                // fewer points than this: insufficient-data
	MemoryMinSpan   = 20 * time.Minute // a shorter series: insufficient-data

	LeakMinR2    = 0.8 // the rise must be a good straight-line fit
	LeakMinSlope = 5.0 // pp per hour
	LeakMinRise  = 3.0 // pp across the segment, so a tiny drift is never a leak
	// LeakMaxBurstShare: no 5-minute burst may account for more than this share of the
	// rise; a step function fits a line surprisingly well (R² 0.75 for a step in the middle)
	// but is not a leak.
	LeakMaxBurstShare = 0.5

	SustainedMinShare = 0.9 // share of points at or above the high line

	SpikeRecent  = 10 * time.Minute // how recent a jump must be to be a spike
	SpikeMinJump = 15.0             // pp from the baseline's median to the last point
	SpikeMaxBand = 10.0             // pp between the baseline's 10th and 90th percentile ("flat")

	RecoverMinFall = 10.0 // pp from the peak to the last point

	FallMin    = 15.0            // pp: a fall at least this deep ...
	FallWithin = 5 * time.Minute // ... within this long is a restart, not a trend
)

// MemoryClass is the verdict on a memory series and the numbers behind it.
type MemoryClass struct {
	Class MemoryKind
	// Reason is one sentence quoting the numbers, fit for a report's evidence.
	Reason string
	// Resolution says which series was used: "1m" or "5m" ("" when neither had data).
	Resolution string
	HighPct    float64 // the high line used
	Points     int     // usable points of the series used
	Span       time.Duration

	// The least-squares fit the verdict rests on: the whole window, or for a leak after a
	// restart the points since the restart.
	SlopePctPerHour float64
	R2              float64
	FitSince        time.Time

	Min, Max, First, Last float64
	LastAt                time.Time
	ShareAboveHigh        float64 // 0..1, share of points at or above HighPct

	// TimeToFull is, for a leak, the projected time from the last point until 100 % at the
	// fitted slope (0 when already there).
	TimeToFull time.Duration

	// Spike: the baseline's median and the jump from it to the last point.
	Baseline, Jump float64
	JumpAt         time.Time

	// Recovering: the peak it is recovering from.
	Peak   float64
	PeakAt time.Time

	// Fall is the most recent sudden fall (a restart, usually) seen in the window, if any.
	Fall *Fall
}

// Fall is a sudden drop inside the window: at least FallMin pp within FallWithin.
type Fall struct {
	From, To     float64
	FromAt, ToAt time.Time
	// LeakBefore says the points before the fall rose like a leak; SlopeBefore and R2Before
	// are that fit. A restart that interrupted a leak hides it from the whole-window fit.
	LeakBefore  bool
	SlopeBefore float64
	R2Before    float64
}

// ClassifyMemory classifies memory utilisation (percent) over a window, typically the last
// hour at 1-minute and 5-minute resolution. The 1-minute series is used when it has at
// least MemoryMinPoints points over MemoryMinSpan and covers at least half of what the
// 5-minute series covers; otherwise the 5-minute series. highPct is the runbook's
// "sustained > 85 %" line; a value outside (0, 100] means 85.
//
// Precedence, first match wins:
//
//  1. insufficient-data: too few points or too short a span; nothing else is claimed.
//  2. leak: a steady rise (R² ≥ 0.8, ≥ 5 pp/h, no single 5-minute burst carrying half of
//     it) across the window, or across the points since the last restart-like fall when
//     there is one (the sawtooth of a leaking process restarted by OOM or a deployment).
//     Leak wins over sustained-high because a steady rise means the level is not a stable
//     need: more memory only postpones the out-of-memory kill, while a restart relieves it
//     now. ShareAboveHigh still tells the report when it was also high throughout.
//  3. sustained-high: at least 90 % of the points at or above highPct, the last one
//     included, and no gap longer than three typical steps (isolated gaps are allowed;
//     a longer hole makes it insufficient-data, since the hole could hide a dip).
//     It wins over spike (a jump on top of a high plateau is still a plateau that needs
//     memory) and over recovering (a fall that never leaves the high band does not cancel
//     the runbook's "sustained > 85 %").
//  4. spike: a flat baseline (10th..90th percentile within 10 pp) before the last 10
//     minutes, and the last point at least 15 pp above the baseline's median.
//  5. recovering: the peak was at or above highPct, the last point is at least 10 pp below
//     it, and the points since the peak fall (negative slope), e.g. after a restart.
//  6. normal.
func ClassifyMemory(series1m, series5m []Point, highPct float64) MemoryClass {
	if !(highPct > 0 && highPct <= 100) {
		highPct = 85
	}
	ps, res, enough := pickSeries(clean(series1m), clean(series5m))
	c := MemoryClass{Resolution: res, HighPct: highPct, Points: len(ps), Span: span(ps)}
	if len(ps) > 0 {
		s := describe(ps)
		c.Min, c.Max, c.First, c.Last, c.LastAt = s.min, s.max, s.first, s.last, ps[len(ps)-1].T
		above := 0
		for _, p := range ps {
			if p.V >= highPct {
				above++
			}
		}
		c.ShareAboveHigh = float64(above) / float64(len(ps))
	}
	if !enough {
		c.Class = MemoryInsufficient
		c.Reason = fmt.Sprintf("only %d datapoints over %s (1-minute: %d, 5-minute: %d usable); need at least %d over %s",
			len(ps), round(c.Span), len(clean(series1m)), len(clean(series5m)), MemoryMinPoints, round(MemoryMinSpan))
		return c
	}
	whole, ok := linear(ps)
	if !ok {
		// Enough points over a positive span always fit unless the values overflow.
		c.Class = MemoryInsufficient
		c.Reason = "the datapoints could not be fitted (values out of range)"
		return c
	}
	c.SlopePctPerHour, c.R2, c.FitSince = whole.Slope, whole.R2, whole.Start

	// A restart splits the window: what matters for a leak is the current process.
	seg := ps
	if f, found := lastFall(ps, FallWithin, FallMin); found {
		fl := &Fall{From: ps[f.from].V, To: ps[f.to].V, FromAt: ps[f.from].T, ToAt: ps[f.to].T}
		if before, isLeak := leakFit(ps[:f.from+1]); isLeak {
			fl.LeakBefore, fl.SlopeBefore, fl.R2Before = true, before.Slope, before.R2
		}
		c.Fall = fl
		seg = ps[f.to:]
	}

	if fit, isLeak := leakFit(seg); isLeak {
		c.Class = MemoryLeak
		c.SlopePctPerHour, c.R2, c.FitSince = fit.Slope, fit.R2, fit.Start
		atLast := fit.At(c.LastAt)
		if atLast < 100 {
			c.TimeToFull = fromHours((100 - atLast) / fit.Slope)
		}
		since := "across the window"
		if c.Fall != nil {
			since = fmt.Sprintf("since a fall from %.0f %% to %.0f %% at %s (restart?)",
				c.Fall.From, c.Fall.To, c.Fall.ToAt.UTC().Format("15:04"))
		}
		c.Reason = fmt.Sprintf("memory rose steadily %s: %+.1f %%/h (R² %.2f), %.1f %% -> %.1f %%; at this rate 100 %% in %s",
			since, fit.Slope, fit.R2, seg[0].V, c.Last, round(c.TimeToFull))
		if c.ShareAboveHigh >= SustainedMinShare {
			c.Reason += fmt.Sprintf("; also at or above %.0f %% for %.0f %% of the window", highPct, 100*c.ShareAboveHigh)
		}
		return c
	}

	if c.ShareAboveHigh >= SustainedMinShare && c.Last >= highPct {
		// "Throughout" needs the points to cover the window: a long hole could hide a dip.
		if maxGap, step := gaps(ps); maxGap > 3*step {
			c.Class = MemoryInsufficient
			c.Reason = fmt.Sprintf("memory at or above %.0f %% for %.0f %% of the datapoints, but %s without data: cannot say it stayed high throughout",
				highPct, 100*c.ShareAboveHigh, round(maxGap))
			return c
		}
		c.Class = MemorySustainedHigh
		c.Reason = fmt.Sprintf("memory at or above %.0f %% for %.0f %% of %s (min %.1f %%, max %.1f %%, last %.1f %%; slope %+.1f %%/h)",
			highPct, 100*c.ShareAboveHigh, round(c.Span), c.Min, c.Max, c.Last, c.SlopePctPerHour)
		return c
	}

	if base, recent := splitAt(ps, c.LastAt.Add(-SpikeRecent)); len(base) >= 4 && span(base) >= MemoryMinSpan-SpikeRecent && len(recent) > 0 {
		med, band := quantile(base, 0.5), quantile(base, 0.9)-quantile(base, 0.1)
		if band <= SpikeMaxBand && c.Last-med >= SpikeMinJump {
			c.Class, c.Baseline, c.Jump = MemorySpike, med, c.Last-med
			for _, p := range recent {
				if p.V-med >= c.Jump/2 {
					c.JumpAt = p.T
					break
				}
			}
			c.Reason = fmt.Sprintf("memory jumped from a flat %.1f %% to %.1f %% (%+.1f pp) at %s, within the last %s",
				med, c.Last, c.Jump, c.JumpAt.UTC().Format("15:04"), round(SpikeRecent))
			return c
		}
	}

	s := describe(ps)
	if s.max >= highPct && s.max-c.Last >= RecoverMinFall && len(ps)-s.argmax >= 3 {
		if post, ok := linear(ps[s.argmax:]); ok && post.Slope < 0 {
			c.Class, c.Peak, c.PeakAt = MemoryRecovering, s.max, ps[s.argmax].T
			c.Reason = fmt.Sprintf("memory peaked at %.1f %% at %s and is now %.1f %% (falling %.1f %%/h since the peak)",
				c.Peak, c.PeakAt.UTC().Format("15:04"), c.Last, post.Slope)
			if c.Fall != nil && c.Fall.LeakBefore {
				c.Reason += fmt.Sprintf("; before the fall it rose like a leak (%+.1f %%/h, R² %.2f): file a bug", c.Fall.SlopeBefore, c.Fall.R2Before)
			}
			return c
		}
	}

	c.Class = MemoryNormal
	c.Reason = fmt.Sprintf("no leak, spike or sustained high: min %.1f %%, max %.1f %%, last %.1f %%, slope %+.1f %%/h (R² %.2f) over %s",
		c.Min, c.Max, c.Last, c.SlopePctPerHour, c.R2, round(c.Span))
	if c.Fall != nil {
		c.Reason += fmt.Sprintf("; fell from %.0f %% to %.0f %% at %s", c.Fall.From, c.Fall.To, c.Fall.ToAt.UTC().Format("15:04"))
		if c.Fall.LeakBefore {
			c.Reason += fmt.Sprintf(" after rising like a leak (%+.1f %%/h, R² %.2f)", c.Fall.SlopeBefore, c.Fall.R2Before)
		}
	}
	return c
}

// pickSeries prefers the finer series when it is long enough and covers at least half of
// the coarser one's span; enough says whether the chosen one can be classified at all.
func pickSeries(s1, s5 []Point) (ps []Point, res string, enough bool) {
	ok1, ok5 := enoughMemory(s1), enoughMemory(s5)
	switch {
	case ok1 && (!ok5 || span(s1) >= span(s5)/2):
		return s1, "1m", true
	case ok5:
		return s5, "5m", true
	case len(s1) == 0 && len(s5) == 0:
		return nil, "", false
	case len(s1) >= len(s5):
		return s1, "1m", false
	default:
		return s5, "5m", false
	}
}

func enoughMemory(ps []Point) bool {
	return len(ps) >= MemoryMinPoints && span(ps) >= MemoryMinSpan
}

// leakFit fits the segment and says whether it is a leak's steady rise.
func leakFit(seg []Point) (Fit, bool) {
	if !enoughMemory(seg) {
		return Fit{}, false
	}
	f, ok := linear(seg)
	if !ok || f.Slope < LeakMinSlope || f.R2 < LeakMinR2 {
		return f, false
	}
	rise := f.Rise()
	if rise < LeakMinRise || maxRiseWithin(seg, FallWithin) > LeakMaxBurstShare*rise {
		return f, false
	}
	return f, true
}

// splitAt returns the points strictly before t and those at or after it.
func splitAt(ps []Point, t time.Time) (before, after []Point) {
	for i, p := range ps {
		if !p.T.Before(t) {
			return ps[:i], ps[i:]
		}
	}
	return ps, nil
}

// round shortens a duration for people.
func round(d time.Duration) time.Duration {
	if d >= 10*time.Minute {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// fromHours converts hours to a Duration, clamped to [0, maxProjection]: a projection
// beyond that says nothing, and an out-of-range float conversion is undefined.
func fromHours(h float64) time.Duration {
	const maxProjection = 10 * 365 * 24 * time.Hour
	switch {
	case !(h > 0):
		return 0
	case h >= maxProjection.Hours():
		return maxProjection
	default:
		return time.Duration(h * float64(time.Hour))
	}
}
