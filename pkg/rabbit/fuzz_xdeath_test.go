package rabbit

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// fuzzSource turns fuzz bytes into AMQP header values of every type amqp091-go can hand us
// (and a few it cannot: map[string]any, uint64), nested, with wrong types where x-death
// wants others, and huge arrays. When the bytes run out it answers zeros, so every input
// builds something.
type fuzzSource struct{ b []byte }

func (s *fuzzSource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *fuzzSource) take(n int) []byte {
	n = min(n, len(s.b))
	out := s.b[:n]
	s.b = s.b[n:]
	return out
}

func (s *fuzzSource) uint64() uint64 {
	var buf [8]byte
	copy(buf[:], s.take(8))
	return binary.LittleEndian.Uint64(buf[:])
}

func (s *fuzzSource) str() string { return string(s.take(int(s.byte()))) }

// xdeathKeys are the keys of an x-death entry (and the headers around it), so that random
// tables hit the fields the parser reads.
var xdeathKeys = []string{"count", "reason", "queue", "time", "exchange", "routing-keys", "original-expiration",
	"x-death", "x-first-death-queue", "x-first-death-reason", "x-first-death-exchange", ReplayHeader,
	"x-error", "x-exception", "error", "authorization", "x-api-token", "cookie"}

func (s *fuzzSource) key() string {
	if c := s.byte(); c < 200 {
		return xdeathKeys[int(c)%len(xdeathKeys)]
	}
	return s.str()
}

const maxFuzzDepth = 6

func (s *fuzzSource) value(depth int) any {
	kind := s.byte()
	if depth >= maxFuzzDepth && kind%21 >= 16 {
		kind = 1 // no deeper nesting: a string
	}
	switch kind % 21 {
	case 0:
		return nil
	case 1:
		return s.str()
	case 2:
		return s.take(int(s.byte())) // []byte, often not UTF-8
	case 3:
		return int8(s.byte())
	case 4:
		return int16(s.uint64())
	case 5:
		return int32(s.uint64())
	case 6:
		return int64(s.uint64())
	case 7:
		return s.byte()
	case 8:
		return uint16(s.uint64())
	case 9:
		return uint32(s.uint64())
	case 10:
		return s.uint64()
	case 11:
		return math.Float32frombits(uint32(s.uint64()))
	case 12:
		return math.Float64frombits(s.uint64()) // NaN, ±Inf, huge
	case 13:
		return s.byte()&1 == 1
	case 14:
		return time.Unix(int64(s.uint64()), 0) // far past and future included
	case 15:
		return amqp.Decimal{Scale: s.byte(), Value: int32(s.uint64())}
	case 16, 17:
		t := amqp.Table{}
		for n := int(s.byte() % 12); n > 0; n-- {
			t[s.key()] = s.value(depth + 1)
		}
		if kind%21 == 17 {
			return map[string]any(t)
		}
		return t
	case 18:
		arr := make([]any, int(s.byte()%16))
		for i := range arr {
			arr[i] = s.value(depth + 1)
		}
		return arr
	case 19: // a huge array of one flat value (at the top only: nested, it would be huge squared,
		// far past what fits in an AMQP frame, and the fuzzer would spend its time allocating)
		if depth > 0 {
			return s.str()
		}
		n := int(binary.LittleEndian.Uint16(append(s.take(2), 0, 0)))/16 + 1000
		v := s.value(maxFuzzDepth)
		arr := make([]any, n)
		for i := range arr {
			arr[i] = v
		}
		return arr
	default: // a plausible x-death entry with fuzzed values
		t := amqp.Table{}
		for _, k := range []string{"count", "reason", "queue", "time", "exchange", "routing-keys"} {
			if s.byte()%4 != 0 {
				t[k] = s.value(depth + 1)
			}
		}
		return t
	}
}

// FuzzParseXDeath feeds ParseXDeath every shape an x-death header value can take: it never
// panics, keeps one Death per table entry (and only those), and copies what it reads
// faithfully: strings as they are, routing keys only when they are strings, times in UTC.
func FuzzParseXDeath(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{18, 3, 20, 255, 1, 5, 'q', 'u', 'e', 'u', 'e', 20, 0, 6, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{19, 0xff, 0xff, 16, 4, 0, 6, 3})
	f.Add([]byte("\x12\x05\x10\x04\x00\x06\x01\x01\x01\x01\x01\x02\x01\x07rejected\x03\x0e\x11\x06\x12\x02\x01\x01a\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &fuzzSource{b: data}
		v := src.value(0)
		for _, in := range []any{v, []any{v}, []any{v, v}} {
			got := ParseXDeath(in)
			arr, isArr := in.([]any)
			if !isArr {
				if got != nil {
					t.Fatalf("ParseXDeath(%T) = %v, want nil", in, got)
				}
				continue
			}
			var tables []amqp.Table
			for _, e := range arr {
				switch x := e.(type) {
				case amqp.Table:
					tables = append(tables, x)
				case map[string]any:
					tables = append(tables, amqp.Table(x))
				}
			}
			if len(got) != len(tables) {
				t.Fatalf("%d deaths from %d tables", len(got), len(tables))
			}
			for i, d := range got {
				tb := tables[i]
				if q, ok := tb["queue"].(string); ok && d.Queue != q {
					t.Fatalf("death %d: queue %q, want %q", i, d.Queue, q)
				}
				if r, ok := tb["reason"].(string); ok && d.Reason != r {
					t.Fatalf("death %d: reason %q, want %q", i, d.Reason, r)
				}
				if !d.Time.IsZero() && d.Time.Location() != time.UTC {
					t.Fatalf("death %d: time %v not in UTC", i, d.Time)
				}
				keys, _ := tb["routing-keys"].([]any)
				strs := 0
				for _, k := range keys {
					if _, ok := k.(string); ok {
						strs++
					}
				}
				if len(d.RoutingKeys) != strs {
					t.Fatalf("death %d: %d routing keys from %d strings", i, len(d.RoutingKeys), strs)
				}
			}
			// Origin and DeathTime follow the newest entry whatever it holds.
			m := Message{Deaths: got}
			if q, _ := m.Origin(); len(got) > 0 && q != got[0].Queue {
				t.Fatalf("Origin %q, newest death in %q", q, got[0].Queue)
			}
		}
		// The same value as a whole header table: headerText renders any nesting.
		if tb, ok := v.(amqp.Table); ok {
			if s := headerText(tb); !strings.HasPrefix(s, "{") {
				t.Fatalf("headerText(table) = %.80q", s)
			}
		}
	})
}
