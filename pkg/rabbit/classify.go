package rabbit

import (
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/arrakis/gp-remediation/pkg/deadletter"
)

// Class is what kind of failure put a group of messages in the dead-letter queue; it decides
// what may be done with them. The type lives in pkg/deadletter, a leaf package, so decisions
// and requests hold a class without linking the AMQP client.
type Class = deadletter.Class

const (
	// ClassTransient failures (timeouts, refused or reset connections, 429/503, TTL expiry,
	// queue length limits) are expected to succeed when replayed.
	ClassTransient = deadletter.Transient
	// ClassBadData messages (unparseable, failing validation, unknown type) will fail again
	// whatever happens: park them, never replay them.
	ClassBadData = deadletter.BadData
	// ClassBug failures (panic, nil dereference, index out of range, TypeError) need a code
	// fix first: replay after the fix, when a person says so (replay-dlq).
	ClassBug = deadletter.Bug
	// ClassUnknown is everything else: a human looks.
	ClassUnknown = deadletter.Unknown
)

// GroupKey is how dead letters are grouped: the queue they died in, why the broker
// dead-lettered them, and the application's error reduced to its signature.
type GroupKey struct {
	Queue  string `json:"queue"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// Key is the group a message belongs to.
func (m Message) Key() GroupKey {
	q, r := m.Origin()
	return GroupKey{Queue: q, Reason: r, Error: ErrorSignature(m.Error)}
}

// Class classifies the message's group.
func (m Message) Class() Class { return Classify(m.Key()) }

var (
	reSigUUID   = lazyRegexp(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	reSigHex    = lazyRegexp(`(?i)\b0x[0-9a-f]+\b|\b[0-9a-f]{16,}\b`)
	reSigNumber = lazyRegexp(`\d+(?:\.\d+)*([A-Za-z]*)`)
	reSigQuoted = lazyRegexp(`"[^"]{0,80}"|'[^']{0,80}'`)
	reSigSpace  = lazyRegexp(`\s+`)
)

// maxSignature bounds a group's error signature.
const maxSignature = 120

// ErrorSignature reduces an error text to what identifies the failure, so the same failure
// with different ids, addresses, durations or quoted values groups together: the first line,
// ids and numbers replaced by placeholders, quoted values elided, at most 120 bytes.
func ErrorSignature(text string) string {
	if text == "" {
		return ""
	}
	return signatures.get(text)
}

// Dead letters of one incident mostly carry the same few error texts: both pure functions
// are memoised so a 10,000-message run does not pay the regexps 10,000 times.
var (
	signatures      = newMemo(4096, errorSignature)
	classifications = newMemo(4096, classify)
)

func errorSignature(text string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
	if line == "" {
		return ""
	}
	line = reSigUUID().ReplaceAllString(line, "<id>")
	line = reSigHex().ReplaceAllString(line, "<hex>")
	line = reSigQuoted().ReplaceAllString(line, `"…"`)
	line = reSigNumber().ReplaceAllStringFunc(line, func(n string) string {
		// An HTTP status (4xx/5xx without a unit) is what tells a 429 from a 400: keep it.
		if len(n) == 3 && (n[0] == '4' || n[0] == '5') && n[1] >= '0' && n[1] <= '9' && n[2] >= '0' && n[2] <= '9' {
			return n
		}
		return "<n>" + strings.TrimLeft(n, "0123456789.")
	})
	line = reSigSpace().ReplaceAllString(line, " ")
	return clip(strings.TrimSpace(line), maxSignature)
}

// Classification rules, checked in this order: a bug signature wins over everything (a panic
// while timing out is a bug); clear bad-data signatures next; then transient ones; the weak
// bad-data hint ("invalid") last, because "invalid" also appears in transient errors.
var (
	reBug           = lazyRegexp(`(?i)\bpanic\b|panic:|nil pointer|nil map|invalid memory address|index out of range|slice bounds out of range|segmentation fault|sigsegv|\btypeerror\b|\breferenceerror\b|is not a function|cannot read propert|of undefined|undefined is not|is undefined|\bundefined\b|nullpointerexception|null reference|assertion failed|unreachable`)
	reBadDataStrong = lazyRegexp(`(?i)\bjson\b.*\b(?:parse|syntax|unmarshal|decode)|(?:parse|syntax|unmarshal|decode)\w*\s+(?:error\s+)?(?:in\s+)?json|cannot unmarshal|unexpected end of json|unexpected token|syntaxerror|invalid character|malformed|schema|validation|failed to validate|validate:|unknown interaction type|unknown (?:message|event|command) type|unsupported (?:message|event|interaction) type|missing (?:required )?field|required field|bad request|\b400\b|unprocessable|\b422\b`)
	reTransient     = lazyRegexp(`(?i)time[d]?\s*out|timeout|deadline exceeded|connection refused|econnrefused|connection reset|econnreset|broken pipe|epipe|etimedout|ehostunreach|enetunreach|eai_again|no route to host|network is unreachable|temporar(?:y|ily)|try again|too many requests|rate.?limit|\b429\b|service unavailable|\b503\b|bad gateway|\b502\b|gateway timeout|\b504\b|connection closed|unexpected eof|server closed|socket hang up|throttl|unavailable|too many connections|lock timeout|deadlock detected|could not serialize`)
	reBadDataWeak   = lazyRegexp(`(?i)\binvalid\b|\bparse\b|cannot parse|not a valid`)
)

// Classify decides what kind of failure a group is. Pure: the death reason and the error
// signature decide. Expired (TTL) and maxlen deaths are transient whatever the text: the
// message was never processed, only kept waiting. delivery_limit (quorum queues) and
// rejected deaths are judged by the application's error; without one, unknown.
func Classify(k GroupKey) Class { return classifications.get(k) }

func classify(k GroupKey) Class {
	switch k.Reason {
	case "expired", "maxlen":
		return ClassTransient
	}
	text := k.Error
	switch {
	case text == "":
		return ClassUnknown
	case reBug().MatchString(text):
		return ClassBug
	case reBadDataStrong().MatchString(text):
		return ClassBadData
	case reTransient().MatchString(text):
		return ClassTransient
	case reBadDataWeak().MatchString(text):
		return ClassBadData
	}
	return ClassUnknown
}

// Group is one group of dead letters and what to know about it.
type Group struct {
	Key   GroupKey `json:"key"`
	Class Class    `json:"class"`
	Count int      `json:"count"`
	// FirstDeath and LastDeath span the groups' messages' latest death times.
	FirstDeath time.Time `json:"firstDeath"`
	LastDeath  time.Time `json:"lastDeath"`
	// MaxReplays is the highest replay counter seen in the group.
	MaxReplays int `json:"maxReplays"`
	// Sample is one message of the group (already redacted).
	Sample Message `json:"sample"`
}

// GroupMessages groups messages by GroupKey, classifies each group, and orders the groups by
// size (largest first), then key.
func GroupMessages(msgs []Message) []Group {
	idx := map[GroupKey]int{}
	var groups []Group
	for _, m := range msgs {
		k := m.Key()
		i, ok := idx[k]
		if !ok {
			i = len(groups)
			idx[k] = i
			groups = append(groups, Group{Key: k, Class: Classify(k), Sample: m})
		}
		g := &groups[i]
		g.Count++
		if t := m.DeathTime(); !t.IsZero() {
			if g.FirstDeath.IsZero() || t.Before(g.FirstDeath) {
				g.FirstDeath = t
			}
			if t.After(g.LastDeath) {
				g.LastDeath = t
			}
		}
		if m.Replays > g.MaxReplays {
			g.MaxReplays = m.Replays
		}
	}
	sort.SliceStable(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Key.Queue != b.Key.Queue {
			return a.Key.Queue < b.Key.Queue
		}
		if a.Key.Reason != b.Key.Reason {
			return a.Key.Reason < b.Key.Reason
		}
		return a.Key.Error < b.Key.Error
	})
	return groups
}

// memo is a bounded, concurrency-safe cache of a pure function; when full it starts over.
type memo[K comparable, V any] struct {
	mu  sync.Mutex
	m   map[K]V
	max int
	f   func(K) V
}

func newMemo[K comparable, V any](max int, f func(K) V) *memo[K, V] {
	return &memo[K, V]{m: make(map[K]V), max: max, f: f}
}

func (c *memo[K, V]) get(k K) V {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return v
	}
	v = c.f(k)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = v
	c.mu.Unlock()
	return v
}

// lazyRegexp compiles pattern on first use: compiling the classification and redaction
// patterns at package initialization cost ~2.7 ms of every cold start, also of invocations
// that never classify or redact a message.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
