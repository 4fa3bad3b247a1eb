package rabbit

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ReplayHeader counts how many times this package has replayed a message. It is our own:
// x-death belongs to the broker (RabbitMQ 4.x ignores a client-supplied x-death).
const ReplayHeader = "x-gpr-replays"

// ReplayIDHeader identifies one replay publish (run id and sequence); it lets the replay match a
// basic.return to its publish and lets a consumer recognise a duplicate of the same replay.
const ReplayIDHeader = "x-gpr-replay-id"

// DefaultErrorHeaders are the headers applications commonly put their failure in (ours, Spring
// AMQP's x-exception-*, generic ones). Peek and Replay read the first one present.
var DefaultErrorHeaders = []string{"x-error", "x-error-message", "x-exception", "x-exception-message", "error", "x-exception-stacktrace"}

// Limits on what a Message keeps, so a sample stays small whatever the broker holds.
const (
	maxHeaderValue = 256 // bytes kept of one header value in Message.Headers
	maxHeaders     = 32  // headers kept in Message.Headers
	maxErrorText   = 512 // bytes kept of the application error text
)

// Message is what a peek or a replay keeps of one dead-lettered message: metadata, parsed
// dead-letter history, the application's error, and a redacted preview of the payload. It
// never holds the whole payload.
type Message struct {
	MessageID     string    `json:"messageId"`
	CorrelationID string    `json:"correlationId,omitempty"`
	Type          string    `json:"type,omitempty"`
	AppID         string    `json:"appId,omitempty"`
	ContentType   string    `json:"contentType,omitempty"`
	Exchange      string    `json:"exchange,omitempty"`
	RoutingKey    string    `json:"routingKey,omitempty"`
	Timestamp     time.Time `json:"timestamp,omitzero"`
	Redelivered   bool      `json:"redelivered"`
	// Headers are the other headers as text, redacted and truncated (x-death is in Deaths).
	Headers map[string]string `json:"headers,omitempty"`
	// Deaths is x-death, newest first as the broker keeps it.
	Deaths []Death `json:"deaths,omitempty"`
	// First is x-first-death-queue/-reason/-exchange (Count and Time are not set by the broker).
	First Death `json:"firstDeath,omitzero"`
	// ErrorHeader names the application error header found; Error is its text, redacted.
	ErrorHeader string `json:"errorHeader,omitempty"`
	Error       string `json:"error,omitempty"`
	// Replays is our replay counter (ReplayHeader), 0 when absent.
	Replays int `json:"replays,omitempty"`
	// Size is the payload size in bytes; Preview its first bytes, redacted; Truncated says the
	// preview is shorter than the payload.
	Size      int    `json:"size"`
	Preview   string `json:"preview,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Death is one x-death entry: the broker keeps one per {queue, reason} and counts repeats.
type Death struct {
	Queue       string    `json:"queue,omitempty"`
	Reason      string    `json:"reason,omitempty"` // rejected, expired, maxlen, delivery_limit
	Count       int64     `json:"count,omitempty"`
	Time        time.Time `json:"time,omitzero"`
	Exchange    string    `json:"exchange,omitempty"`
	RoutingKeys []string  `json:"routingKeys,omitempty"`
	// OriginalExpiration is the per-message TTL the message had (set for reason expired).
	OriginalExpiration string `json:"originalExpiration,omitempty"`
}

// Origin is the queue the message died in last and why: the newest x-death entry, or the
// x-first-death-* headers when there is no x-death. That queue is where a replay sends it.
func (m Message) Origin() (queue, reason string) {
	if len(m.Deaths) > 0 {
		return m.Deaths[0].Queue, m.Deaths[0].Reason
	}
	return m.First.Queue, m.First.Reason
}

// DeathTime is when the message was last dead-lettered (zero when unknown).
func (m Message) DeathTime() time.Time {
	if len(m.Deaths) > 0 {
		return m.Deaths[0].Time
	}
	return time.Time{}
}

// messageOptions says what to keep of a delivery.
type messageOptions struct {
	previewBytes int
	errorHeaders []string
}

// newMessage copies what is needed from a delivery; the delivery's body is not retained.
func newMessage(d *amqp.Delivery, opt messageOptions) Message {
	m := Message{
		MessageID:     d.MessageId,
		CorrelationID: d.CorrelationId,
		Type:          d.Type,
		AppID:         d.AppId,
		ContentType:   d.ContentType,
		Exchange:      d.Exchange,
		RoutingKey:    d.RoutingKey,
		Timestamp:     d.Timestamp,
		Redelivered:   d.Redelivered,
		Size:          len(d.Body),
	}
	parseHeaders(&m, d.Headers, opt.errorHeaders)
	if opt.previewBytes > 0 && len(d.Body) > 0 {
		m.Preview, m.Truncated = preview(d.Body, opt.previewBytes)
	}
	return m
}

// parseHeaders fills the header-derived fields of m.
func parseHeaders(m *Message, h amqp.Table, errorHeaders []string) {
	if len(h) == 0 {
		return
	}
	m.Deaths = ParseXDeath(h["x-death"])
	m.First = Death{
		Queue:    str(h["x-first-death-queue"]),
		Reason:   str(h["x-first-death-reason"]),
		Exchange: str(h["x-first-death-exchange"]),
	}
	if n, ok := number(h[ReplayHeader]); ok && n > 0 {
		m.Replays = n
	}
	for _, name := range errorHeaders {
		if v, ok := h[name]; ok && v != nil {
			m.ErrorHeader = name
			m.Error = redactClip(headerText(v), maxErrorText)
			break
		}
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		switch k {
		case "x-death", "x-first-death-queue", "x-first-death-reason", "x-first-death-exchange":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > maxHeaders {
		keys = keys[:maxHeaders]
	}
	m.Headers = make(map[string]string, len(keys))
	for _, k := range keys {
		m.Headers[k] = redactHeader(k, headerText(h[k]), maxHeaderValue)
	}
}

// ParseXDeath reads an x-death header value: an array of tables, newest first. Entries that
// are not tables are skipped; fields of unexpected types are left zero.
func ParseXDeath(v any) []Death {
	arr, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]Death, 0, len(arr))
	for _, e := range arr {
		t, ok := e.(amqp.Table)
		if !ok {
			if mt, isMap := e.(map[string]any); isMap {
				t = amqp.Table(mt)
			} else {
				continue
			}
		}
		d := Death{
			Queue:              str(t["queue"]),
			Reason:             str(t["reason"]),
			Exchange:           str(t["exchange"]),
			OriginalExpiration: str(t["original-expiration"]),
		}
		if n, ok := number(t["count"]); ok {
			d.Count = int64(n)
		}
		switch ts := t["time"].(type) {
		case time.Time:
			d.Time = ts.UTC()
		case int64: // seconds, as some clients write AMQP timestamps
			d.Time = time.Unix(ts, 0).UTC()
		}
		if keys, ok := t["routing-keys"].([]any); ok {
			for _, k := range keys {
				if s, ok := k.(string); ok {
					d.RoutingKeys = append(d.RoutingKeys, s)
				}
			}
		}
		out = append(out, d)
	}
	return out
}

func str(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// headerText renders a header value as text for a report.
func headerText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return fmt.Sprintf("(%d bytes)", len(x))
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case bool:
		return strconv.FormatBool(x)
	case amqp.Table:
		return tableText(x)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, headerText(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return fmt.Sprint(x)
	}
}

func tableText(t amqp.Table) string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(headerText(t[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// redactHeader redacts a header value and cuts it to n bytes; a header whose name says it
// carries a credential is blanked whatever its value looks like.
func redactHeader(name, value string, n int) string {
	if sensitiveName(name) {
		if value == "" {
			return ""
		}
		return redacted
	}
	return redactClip(value, n)
}

// redactClip redacts s and cuts it to at most n bytes. Redaction runs before the cut, on a
// window longer than n (as preview does): cut first, a secret straddling the cut lost the part
// that makes it recognisable ("Bearer " and 15 of its characters, a URL's password without its
// "@host") and its first bytes were kept in clear.
func redactClip(s string, n int) string {
	return clip(Redact(clip(s, n+previewMargin)), n)
}

// preview returns the redacted first bytes of a payload. Redaction runs on a window larger
// than the preview so that a secret straddling the cut is still recognised whole, then the
// result is cut to n bytes on a UTF-8 boundary.
func preview(body []byte, n int) (string, bool) {
	window := min(len(body), n+previewMargin)
	// A rune cut at the window end becomes one U+FFFD, which clip drops or keeps harmlessly.
	s := strings.ToValidUTF8(string(body[:window]), "\uFFFD")
	if !looksText(s) {
		return fmt.Sprintf("(binary, %d bytes)", len(body)), true
	}
	s = Redact(s)
	if len(s) > n {
		return clip(s, n), true
	}
	return s, window < len(body)
}

// previewMargin is how far past the preview redaction looks (longer than any secret pattern).
const previewMargin = 256

// looksText says whether s is mostly printable (a preview of binary data helps nobody).
func looksText(s string) bool {
	bad := 0
	for _, r := range s {
		if r == utf8.RuneError || (r < 0x20 && r != '\n' && r != '\r' && r != '\t') {
			bad++
		}
	}
	return bad*10 <= len(s)
}

// clip cuts s to at most n bytes without splitting a rune.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
