package rabbit

import (
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		err    string
		want   Class
	}{
		// transient
		{name: "ttl expiry", reason: "expired", err: "", want: ClassTransient},
		{name: "maxlen overflow", reason: "maxlen", err: "", want: ClassTransient},
		{name: "expiry wins over a bug-looking text", reason: "expired", err: "panic: boom", want: ClassTransient},
		{name: "go dial timeout", reason: "rejected", err: "dial tcp 10.0.3.4:5432: i/o timeout", want: ClassTransient},
		{name: "context deadline", reason: "rejected", err: "query interactions: context deadline exceeded", want: ClassTransient},
		{name: "connection refused", reason: "rejected", err: "dial tcp 127.0.0.1:5432: connect: connection refused", want: ClassTransient},
		{name: "node econnreset", reason: "rejected", err: "Error: read ECONNRESET", want: ClassTransient},
		{name: "connection reset by peer", reason: "rejected", err: "write tcp 10.0.0.1:443: connection reset by peer", want: ClassTransient},
		{name: "discord 429", reason: "rejected", err: "POST /interactions/1234/callback: 429 Too Many Requests", want: ClassTransient},
		{name: "http status 503", reason: "rejected", err: "upstream returned status 503", want: ClassTransient},
		{name: "rate limited", reason: "rejected", err: "You are being rate limited.", want: ClassTransient},
		{name: "quorum delivery limit with timeout", reason: "delivery_limit", err: "timed out waiting for database", want: ClassTransient},
		// bad data
		{name: "go json syntax", reason: "rejected", err: "invalid character 'x' looking for beginning of value", want: ClassBadData},
		{name: "go unmarshal type", reason: "rejected", err: "json: cannot unmarshal string into Go struct field Interaction.type of type int", want: ClassBadData},
		{name: "truncated json", reason: "rejected", err: "unexpected end of JSON input", want: ClassBadData},
		{name: "js json parse", reason: "rejected", err: "SyntaxError: Unexpected token < in JSON at position 0", want: ClassBadData},
		{name: "schema validation", reason: "rejected", err: "payload failed schema validation: data.id is required", want: ClassBadData},
		{name: "unknown interaction type", reason: "rejected", err: "unknown interaction type 99", want: ClassBadData},
		{name: "weak invalid", reason: "rejected", err: "invalid guild id", want: ClassBadData},
		{name: "400 bad request", reason: "rejected", err: "discord said 400 Bad Request: Invalid Form Body", want: ClassBadData},
		// bugs
		{name: "go panic", reason: "rejected", err: "panic: runtime error: invalid memory address or nil pointer dereference", want: ClassBug},
		{name: "go index out of range", reason: "rejected", err: "runtime error: index out of range [3] with length 3", want: ClassBug},
		{name: "js type error", reason: "rejected", err: "TypeError: Cannot read properties of undefined (reading 'id')", want: ClassBug},
		{name: "js not a function", reason: "rejected", err: "TypeError: handler.run is not a function", want: ClassBug},
		{name: "bug wins over timeout", reason: "rejected", err: "panic: timeout handler crashed", want: ClassBug},
		// unknown
		{name: "rejected without error", reason: "rejected", err: "", want: ClassUnknown},
		{name: "unrecognised error", reason: "rejected", err: "the spice must flow", want: ClassUnknown},
		{name: "no reason no error", reason: "", err: "", want: ClassUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := GroupKey{Queue: "arrakis.interactions", Reason: tc.reason, Error: ErrorSignature(tc.err)}
			if got := Classify(k); got != tc.want {
				t.Errorf("Classify(%+v) = %s, want %s", k, got, tc.want)
			}
		})
	}
}

func TestErrorSignature(t *testing.T) {
	tests := []struct {
		name string
		a, b string // both must reduce to the same signature
		want string
	}{
		{name: "addresses and ports", a: "dial tcp 10.0.3.4:5432: i/o timeout", b: "dial tcp 10.0.9.1:5433: i/o timeout", want: "dial tcp <n>:<n>: i/o timeout"},
		{name: "durations keep units", a: "timeout after 5000ms", b: "timeout after 30ms", want: "timeout after <n>ms"},
		{name: "http status kept", a: "status 429 for guild 123456789012345678", b: "status 429 for guild 876543210987654321", want: "status 429 for guild <hex>"},
		{name: "uuids", a: "request 0b7e8f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b failed", b: "request 11111111-2222-3333-4444-555555555555 failed", want: "request <id> failed"},
		{name: "quoted values", a: `unknown interaction type "foo"`, b: `unknown interaction type "barbaz"`, want: `unknown interaction type "…"`},
		{name: "first line only", a: "panic: boom\ngoroutine 1 [running]:\nmain.main()", b: "panic: boom\ngoroutine 7 [running]:", want: "panic: boom"},
		{name: "whitespace folded", a: "  connection   refused  ", b: "connection refused", want: "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sa, sb := ErrorSignature(tc.a), ErrorSignature(tc.b)
			if sa != tc.want || sb != tc.want {
				t.Errorf("signatures %q and %q, want %q", sa, sb, tc.want)
			}
		})
	}
	long := ErrorSignature(strings.Repeat("é", 200))
	if len(long) > maxSignature {
		t.Errorf("signature is %d bytes, want <= %d", len(long), maxSignature)
	}
}

func TestGroupMessages(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	death := func(q, reason string, at time.Time) []Death {
		return []Death{{Queue: q, Reason: reason, Count: 1, Time: at}}
	}
	in := []Message{
		{MessageID: "a", Deaths: death("work", "rejected", t0.Add(2*time.Minute)), Error: "dial tcp 10.0.0.1:5432: i/o timeout"},
		{MessageID: "b", Deaths: death("work", "rejected", t0), Error: "dial tcp 10.0.0.2:5432: i/o timeout", Replays: 2},
		{MessageID: "c", Deaths: death("work", "rejected", t0.Add(time.Minute)), Error: "panic: nil map"},
		{MessageID: "d", Deaths: death("work", "expired", t0.Add(5*time.Minute))},
		{MessageID: "e", First: Death{Queue: "other", Reason: "rejected"}, Error: "invalid character 'x'"},
		{MessageID: "f", Deaths: death("work", "rejected", t0.Add(3*time.Minute)), Error: "dial tcp 10.0.0.3:5432: i/o timeout"},
	}
	got := GroupMessages(in)
	if len(got) != 4 {
		t.Fatalf("got %d groups, want 4: %+v", len(got), got)
	}
	g := got[0]
	if g.Key != (GroupKey{Queue: "work", Reason: "rejected", Error: "dial tcp <n>:<n>: i/o timeout"}) || g.Count != 3 || g.Class != ClassTransient {
		t.Errorf("largest group = %+v", g)
	}
	if !g.FirstDeath.Equal(t0) || !g.LastDeath.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("death span %v .. %v", g.FirstDeath, g.LastDeath)
	}
	if g.MaxReplays != 2 || g.Sample.MessageID != "a" {
		t.Errorf("max replays %d, sample %q", g.MaxReplays, g.Sample.MessageID)
	}
	classes := map[string]Class{}
	for _, g := range got[1:] {
		classes[g.Key.Queue+"/"+g.Key.Reason] = g.Class
	}
	want := map[string]Class{"work/rejected": ClassBug, "work/expired": ClassTransient, "other/rejected": ClassBadData}
	for k, c := range want {
		if classes[k] != c {
			t.Errorf("group %s class %q, want %q", k, classes[k], c)
		}
	}
}

func TestSelectByClass(t *testing.T) {
	sel := SelectByClass([]Class{ClassTransient}, []Class{ClassBadData}, "parking")
	tests := []struct {
		name   string
		m      Message
		target string
		ok     bool
	}{
		{name: "transient to origin", m: Message{Deaths: []Death{{Queue: "work", Reason: "rejected"}}, Error: "i/o timeout"}, target: "work", ok: true},
		{name: "bad data parked", m: Message{Deaths: []Death{{Queue: "work", Reason: "rejected"}}, Error: "invalid character"}, target: "parking", ok: true},
		{name: "bug stays", m: Message{Deaths: []Death{{Queue: "work", Reason: "rejected"}}, Error: "panic: x"}, ok: false},
		{name: "transient without origin stays", m: Message{Error: "i/o timeout"}, ok: false},
		{name: "first death used without x-death", m: Message{First: Death{Queue: "w2", Reason: "expired"}}, target: "w2", ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target, ok := sel(tc.m)
			if target != tc.target || ok != tc.ok {
				t.Errorf("got (%q, %v), want (%q, %v)", target, ok, tc.target, tc.ok)
			}
		})
	}
	if _, ok := SelectByClass([]Class{ClassTransient}, []Class{ClassBadData}, "")(Message{Deaths: []Death{{Queue: "w"}}, Error: "invalid character"}); ok {
		t.Error("bad data selected with no parking queue")
	}
}
