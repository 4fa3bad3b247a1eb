package rabbit

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"
)

// plantedSecret is a credential of a shape Redact knows, and the part of it that must never
// be seen, whole or in part.
type plantedSecret struct {
	text string // as planted (with its context: "Bearer ", a URL)
	core string // what must not leak; no prefix of it of minLeak bytes may appear
}

// minLeak is the shortest piece of a secret that counts as a leak: a clip that cuts a secret
// before it is recognised leaves a prefix of it in clear.
const minLeak = 6

var plantedSecrets = []plantedSecret{
	{text: "MTE5OTg4Nzc2NjU1NDQzMzIy.GxYzAb.Qw3rTy8uIoP4aSdFgHjKlZxCvBnM12345", core: "MTE5OTg4Nzc2NjU1NDQzMzIy.GxYzAb.Qw3rTy8uIoP4aSdFgHjKlZxCvBnM12345"},
	{text: "Bearer s3cr3tBearerTokenValue0123456789abcdef", core: "s3cr3tBearerTokenValue0123456789abcdef"},
	{text: "amqps://arrakis:Pw-Fz-7781-planted@b-1234.mq.us-east-1.amazonaws.com:5671/", core: "Pw-Fz-7781-planted"},
	{text: "ops.oncall+fz@arrakis-example.io", core: "ops.oncall+fz@arrakis-example.io"},
	{text: "https://hooks.slack.com/services/T0FZ/B0FZ/fzSlackSecretToken000111", core: "T0FZ/B0FZ/fzSlackSecretToken000111"},
	{text: "https://discord.com/api/webhooks/1300000000000000001/fzDiscordHookToken-abc_DEF-123", core: "fzDiscordHookToken-abc_DEF-123"},
	{text: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmdXp6In0.c2lnbmF0dXJlLWZ1enotMTIz", core: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmdXp6In0.c2lnbmF0dXJlLWZ1enotMTIz"},
	{text: `{"password":"fz-json-pw-99812"}`, core: "fz-json-pw-99812"},
}

// leaked returns the first planted secret a prefix of which (minLeak bytes or more) is in s.
func leaked(s string) (plantedSecret, bool) {
	for _, p := range plantedSecrets {
		if strings.Contains(s, p.core[:minLeak]) {
			return p, true
		}
	}
	return plantedSecret{}, false
}

// FuzzNewMessage builds the Message a peek keeps from a delivery with fuzzed headers of every
// type (x-death included), a fuzzed binary or text body, a fuzzed preview size, and the
// planted secrets in the body, the error header and an ordinary header, at fuzzed offsets.
// The Message must stay bounded, marshal to JSON, and show no secret, not even a prefix.
func FuzzNewMessage(f *testing.F) {
	f.Add([]byte{}, []byte("{}"), "", uint16(512), uint8(0))
	f.Add([]byte{16, 3, 0, 1, 5, 'q', 'u', 'e', 'u', 'e', 12, 1, 2, 3, 4, 5, 6, 7, 8}, []byte(`{"type":2,"id":"1","token":"`), strings.Repeat("x", 240), uint16(64), uint8(3))
	f.Add([]byte{18, 2, 20, 1, 1, 1}, []byte{0xff, 0xfe, 0x00, 0x01, 0x80}, "panic: ", uint16(16), uint8(7))
	f.Add([]byte{}, []byte(strings.Repeat("é", 300)), strings.Repeat("a", 500), uint16(255), uint8(1))
	f.Fuzz(func(t *testing.T, headerBytes, body []byte, filler string, previewSize uint16, which uint8) {
		src := &fuzzSource{b: headerBytes}
		headers := amqp.Table{}
		for n := int(src.byte() % 10); n > 0; n-- {
			headers[src.key()] = src.value(0)
		}
		secret := plantedSecrets[int(which)%len(plantedSecrets)]
		// The secret at a fuzzed offset in each place: where a clip at 256 or 512 bytes cuts
		// it is up to the fuzzer.
		cut := len(filler) / 2
		planted := filler[:cut] + " " + secret.text + " " + filler[cut:]
		headers["x-error"] = planted
		headers["x-debug"] = planted
		headers["authorization"] = "Bot " + secret.text
		at := 0
		if len(body) > 0 {
			at = int(previewSize) % (len(body) + 1)
		}
		fullBody := append(append(append([]byte{}, body[:at]...), " "+secret.text+" "...), body[at:]...)

		n := int(previewSize % 2048)
		d := &amqp.Delivery{MessageId: "m", Headers: headers, Body: fullBody}
		m := newMessage(d, messageOptions{previewBytes: n, errorHeaders: DefaultErrorHeaders})

		if m.Size != len(fullBody) {
			t.Fatalf("Size %d, body %d", m.Size, len(fullBody))
		}
		if len(m.Headers) > maxHeaders {
			t.Fatalf("%d headers kept", len(m.Headers))
		}
		if _, ok := m.Headers["x-death"]; ok {
			t.Fatal("x-death kept as a plain header")
		}
		// Redaction may lengthen a value a little ("a@b.co" -> "[email]"), never much.
		for k, v := range m.Headers {
			if len(v) > 2*maxHeaderValue {
				t.Fatalf("header %q kept %d bytes", k, len(v))
			}
		}
		if len(m.Error) > 2*maxErrorText || m.ErrorHeader != "x-error" && m.ErrorHeader != "x-exception" && m.ErrorHeader != "error" && m.ErrorHeader != "x-error-message" && m.ErrorHeader != "x-exception-message" {
			t.Fatalf("error header %q, %d bytes", m.ErrorHeader, len(m.Error))
		}
		switch {
		case n == 0 && m.Preview != "":
			t.Fatalf("preview %q with preview size 0", m.Preview)
		case n >= utf8.UTFMax && m.Preview == "": // under 4 bytes, a first rune may not fit
			t.Fatal("no preview")
		case len(m.Preview) > max(n, len("(binary, 4294967295 bytes)")):
			t.Fatalf("preview of %d bytes for a limit of %d", len(m.Preview), n)
		case !utf8.ValidString(m.Preview):
			t.Fatalf("preview is not UTF-8: %q", m.Preview)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Message does not marshal: %v", err)
		}
		var back Message
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Message JSON does not read back: %v", err)
		}
		if p, ok := leaked(string(b)); ok {
			t.Fatalf("secret %q (or a prefix of it) is in the Message:\n%s", p.core, b)
		}
	})
}
