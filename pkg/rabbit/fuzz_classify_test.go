package rabbit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzErrorSignatureClassify checks the grouping of dead letters on any error text and death
// reason: ErrorSignature is one bounded line, the same with or without its memo, and Classify
// answers one of the four classes (transient for TTL and length-limit deaths, whatever the
// text), the same with or without its memo.
func FuzzErrorSignatureClassify(f *testing.F) {
	for _, s := range []string{
		"", "upstream timeout after 30s calling discord.com", "dial tcp 10.0.3.4:5432: connect: connection refused",
		"invalid JSON: unexpected end of input", "panic: runtime error: invalid memory address or nil pointer dereference",
		"HTTP 503 Service Unavailable from discord.com", "429 Too Many Requests", "schema validation failed: missing field guild_id",
		"request 3f2b7c1e-9a0d-4c55-8f0e-2b6f5d3e8a11 failed at 0xdeadbeef after 1.5s\n\tat stack frame",
		`unknown interaction type "foo"` + strings.Repeat(" 12345", 40), "\xff\xfe broken \x00 utf-8",
	} {
		f.Add(s, "rejected")
	}
	f.Add("timeout", "expired")
	f.Add("panic", "maxlen")
	f.Add("x", "delivery_limit")
	f.Fuzz(func(t *testing.T, text, reason string) {
		sig := ErrorSignature(text)
		if sig != errorSignature(text) && text != "" {
			t.Fatalf("memoised signature %q differs from %q", sig, errorSignature(text))
		}
		if len(sig) > maxSignature {
			t.Fatalf("signature of %d bytes", len(sig))
		}
		if strings.ContainsAny(sig, "\n\r") {
			t.Fatalf("signature spans lines: %q", sig)
		}
		if utf8.ValidString(text) && !utf8.ValidString(sig) {
			t.Fatalf("signature of valid UTF-8 is not: %q", sig)
		}
		if strings.TrimSpace(text) == "" && sig != "" {
			t.Fatalf("signature %q of blank text", sig)
		}
		if ErrorSignature(text) != sig {
			t.Fatal("signature not deterministic")
		}
		k := GroupKey{Queue: "q", Reason: reason, Error: sig}
		c := Classify(k)
		if c != classify(k) {
			t.Fatalf("memoised class %q differs from %q", c, classify(k))
		}
		switch c {
		case ClassTransient, ClassBadData, ClassBug, ClassUnknown:
		default:
			t.Fatalf("class %q", c)
		}
		if (reason == "expired" || reason == "maxlen") && c != ClassTransient {
			t.Fatalf("%s death classed %q", reason, c)
		}
		if sig == "" && reason != "expired" && reason != "maxlen" && c != ClassUnknown {
			t.Fatalf("no error text, yet class %q", c)
		}
		// Grouping: messages with the same key land in one group, whatever else differs.
		msgs := []Message{
			{First: Death{Queue: "q", Reason: reason}, Error: text, MessageID: "1"},
			{Deaths: []Death{{Queue: "q", Reason: reason}}, Error: text, MessageID: "2", Replays: 2},
		}
		gs := GroupMessages(msgs)
		if len(gs) != 1 || gs[0].Count != 2 || gs[0].Class != c || gs[0].MaxReplays != 2 {
			t.Fatalf("groups %+v", gs)
		}
	})
}

// FuzzRedactPlanted complements FuzzRedact (redact_test.go) with every kind of credential
// Redact claims to remove, planted between fuzzed text: no prefix of the secret survives and
// the result is a fixed point.
func FuzzRedactPlanted(f *testing.F) {
	for _, s := range []string{"", "://", "@", "Bearer", `{"token":`, "webhooks/", "hooks.slack.com/", "a=b&", "\\\"", "é"} {
		f.Add(s, s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, before, after string, which uint8) {
		p := plantedSecrets[int(which)%len(plantedSecrets)]
		in := before + " " + p.text + " " + after
		got := Redact(in)
		if strings.Contains(got, p.core[:minLeak]) {
			t.Fatalf("secret %q survives in %q -> %q", p.core, in, got)
		}
		if Redact(got) != got {
			t.Fatalf("not idempotent on %q", in)
		}
	})
}
