package trend

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// decodePoints turns fuzz bytes into points: per point, a signed 2-byte step in seconds
// (so timestamps repeat, go backwards and jump) and 8 bytes of float64 bits (so NaN, ±Inf,
// subnormals and huge values all occur). The first point can be at the zero time.
func decodePoints(b []byte) []Point {
	var ps []Point
	t := time.Time{}
	if len(b) > 0 && b[0]&1 == 1 {
		t = t0
	}
	for len(b) >= 10 {
		step := int16(binary.LittleEndian.Uint16(b))
		t = t.Add(time.Duration(step) * time.Second)
		ps = append(ps, Point{T: t, V: math.Float64frombits(binary.LittleEndian.Uint64(b[2:]))})
		b = b[10:]
	}
	return ps
}

func encodePoints(ps []Point) []byte {
	b := []byte{1}
	var prev time.Time
	for i, p := range ps {
		step := uint16(0)
		if i > 0 {
			step = uint16(int16(p.T.Sub(prev) / time.Second))
		}
		prev = p.T
		b = binary.LittleEndian.AppendUint16(b, step)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.V))
	}
	return b
}

var knownMemory = map[MemoryKind]bool{MemoryInsufficient: true, MemoryLeak: true, MemorySustainedHigh: true, MemorySpike: true, MemoryRecovering: true, MemoryNormal: true}
var knownQueue = map[QueueDirection]bool{QueueInsufficient: true, QueueGrowing: true, QueueFlat: true, QueueDraining: true}

// FuzzClassify: no input makes any function panic, and what they return stays meaningful.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{}, []byte{}, 85.0)
	f.Add(encodePoints(series(60, time.Minute, 1, 1, lin(60, 40, 82))), []byte{}, 85.0)
	f.Add(encodePoints(series(60, time.Minute, 0, 2, flat(90))), encodePoints(series(12, 5*time.Minute, 0, 3, flat(90))), 85.0)
	f.Add(encodePoints([]Point{{T: t0, V: math.NaN()}, {T: t0, V: math.Inf(1)}, {T: t0, V: 1}}), []byte{1}, math.Inf(1))
	f.Add(encodePoints(series(40, 0, 0, 4, lin(40, 0, 100))), []byte{0, 0, 0}, -1.0)
	f.Add(encodePoints([]Point{{T: t0, V: -math.MaxFloat64}, {T: t0.Add(time.Hour), V: math.MaxFloat64}, {T: t0.Add(2 * time.Hour), V: 5e-324}}), []byte{}, 50.0)
	f.Fuzz(func(t *testing.T, a, b []byte, high float64) {
		s1, s5 := decodePoints(a), decodePoints(b)

		if fit, ok := Linear(s1); ok {
			if !finite(fit.Slope) || !finite(fit.Intercept) || fit.R2 < 0 || fit.R2 > 1 || fit.N < 2 {
				t.Fatalf("Linear ok with %+v", fit)
			}
		}

		c := ClassifyMemory(s1, s5, high)
		if !knownMemory[c.Class] || c.Reason == "" {
			t.Fatalf("ClassifyMemory: class %q reason %q", c.Class, c.Reason)
		}
		if c.TimeToFull < 0 || (c.Class != MemoryLeak && c.TimeToFull != 0) {
			t.Fatalf("TimeToFull %s on %s", c.TimeToFull, c.Class)
		}
		if c.ShareAboveHigh < 0 || c.ShareAboveHigh > 1 {
			t.Fatalf("ShareAboveHigh %v", c.ShareAboveHigh)
		}

		q := ClassifyQueue(s1)
		if !knownQueue[q.Direction] || q.Reason == "" || q.TimeToEmpty < 0 {
			t.Fatalf("ClassifyQueue: %+v", q)
		}
	})
}
