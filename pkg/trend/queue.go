package trend

import (
	"fmt"
	"math"
	"time"
)

// QueueDirection is where a queue's depth is heading.
type QueueDirection string

const (
	QueueInsufficient QueueDirection = "insufficient-data"
	QueueGrowing      QueueDirection = "growing"
	QueueFlat         QueueDirection = "flat"
	QueueDraining     QueueDirection = "draining"
)

// Thresholds of the queue classification.
const (
	QueueMinPoints = 3
	QueueMinSpan   = 3 * time.Minute
	// A change counts when the fitted change across the window is at least QueueMinChange
	// messages and at least QueueMinShare of the mean depth: 10 messages matter on an empty
	// queue, not on one holding 50 000, and seeded noise of ±5 % must not read as a trend.
	QueueMinChange = 10.0
	QueueMinShare  = 0.1
	// QueueRecentR2: the last third of the window overrides the whole when it moves the
	// other way with at least this fit (a queue that grew and now drains is draining).
	QueueRecentR2 = 0.5
)

// QueueTrend is the verdict on a queue-depth series and the numbers behind it.
type QueueTrend struct {
	Direction QueueDirection
	Reason    string
	// SlopePerMin (messages per minute) and R2 are of the fit that decided: the whole
	// window, or its last third when Turned.
	SlopePerMin float64
	R2          float64
	Turned      bool // the last third moves differently from the whole window

	WholeSlopePerMin  float64
	RecentSlopePerMin float64 // NaN when the last third has too few points

	Points                      int
	Span                        time.Duration
	First, Last, Min, Max, Mean float64
	LastAt                      time.Time
	// TimeToEmpty is, when draining, the projected time from the last point to an empty
	// queue at SlopePerMin.
	TimeToEmpty time.Duration
}

// ClassifyQueue says whether a queue's depth (e.g. AmazonMQ MessageCount) is growing, flat
// or draining, by the least-squares slope over the window. When the last third of the
// window moves in another direction with a reasonable fit, the recent movement wins: the
// decision is about now.
func ClassifyQueue(points []Point) QueueTrend {
	ps := clean(points)
	q := QueueTrend{Points: len(ps), Span: span(ps), RecentSlopePerMin: math.NaN()}
	if len(ps) > 0 {
		s := describe(ps)
		q.First, q.Last, q.Min, q.Max, q.LastAt = s.first, s.last, s.min, s.max, ps[len(ps)-1].T
		var sum float64
		for _, p := range ps {
			sum += p.V / float64(len(ps)) // divided first so a sum of huge values cannot overflow
		}
		q.Mean = sum
	}
	whole, ok := linear(ps)
	if len(ps) < QueueMinPoints || q.Span < QueueMinSpan || !ok {
		q.Direction = QueueInsufficient
		q.Reason = fmt.Sprintf("only %d datapoints over %s; need at least %d over %s",
			len(ps), round(q.Span), QueueMinPoints, round(QueueMinSpan))
		return q
	}
	minChange := math.Max(QueueMinChange, QueueMinShare*math.Abs(q.Mean))
	q.WholeSlopePerMin = whole.Slope / 60
	q.Direction, q.SlopePerMin, q.R2 = direction(whole, minChange), q.WholeSlopePerMin, whole.R2

	_, recent := splitAt(ps, q.LastAt.Add(-q.Span/3))
	if rf, ok := linear(recent); ok && len(recent) >= QueueMinPoints {
		q.RecentSlopePerMin = rf.Slope / 60
		if d := direction(rf, minChange); d != QueueFlat && d != q.Direction && rf.R2 >= QueueRecentR2 {
			q.Direction, q.SlopePerMin, q.R2, q.Turned = d, q.RecentSlopePerMin, rf.R2, true
		}
	}

	if q.Direction == QueueDraining && q.SlopePerMin < 0 && q.Last > 0 {
		q.TimeToEmpty = fromHours(q.Last / -q.SlopePerMin / 60)
	}
	switch {
	case q.Turned:
		q.Reason = fmt.Sprintf("%s in the last %s at %+.1f msgs/min (R² %.2f) after %+.1f msgs/min over %s; now %.0f",
			q.Direction, round(q.Span/3), q.SlopePerMin, q.R2, q.WholeSlopePerMin, round(q.Span), q.Last)
	default:
		q.Reason = fmt.Sprintf("%s at %+.1f msgs/min (R² %.2f) over %s: %.0f -> %.0f (min %.0f, max %.0f)",
			q.Direction, q.SlopePerMin, q.R2, round(q.Span), q.First, q.Last, q.Min, q.Max)
	}
	if q.TimeToEmpty > 0 {
		q.Reason += fmt.Sprintf("; empty in about %s at this rate", round(q.TimeToEmpty))
	}
	return q
}

// direction says whether the fitted change across the fit's own span is big enough to count.
func direction(f Fit, minChange float64) QueueDirection {
	switch change := f.Rise(); {
	case change >= minChange:
		return QueueGrowing
	case change <= -minChange:
		return QueueDraining
	default:
		return QueueFlat
	}
}
