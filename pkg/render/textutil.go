package render

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// ellipsis marks text cut to fit a limit. One UTF-16 unit, three UTF-8 bytes.
const ellipsis = "…"

// u16len is the length of s in UTF-16 code units. Slack and Discord count "characters"
// in JavaScript, where a string's length is in UTF-16 units; measuring the same way (which
// is never less than the rune count) keeps a rendering inside the limit whichever of the
// two a service really counts.
func u16len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r) // an invalid byte decodes as U+FFFD: one unit
	}
	return n
}

// truncU16 cuts s to at most max UTF-16 units on a rune boundary, ending in "…" when cut.
// It reads no further than max units into s, so cutting a megabyte string is cheap.
func truncU16(s string, max int) string {
	if max <= 0 {
		return ""
	}
	n, cut := 0, -1
	for i, r := range s {
		w := utf16.RuneLen(r)
		if cut < 0 && n+w > max-1 { // where to cut, leaving room for the ellipsis
			cut = i
		}
		if n += w; n > max {
			return s[:cut] + ellipsis
		}
	}
	return s
}

// truncBytes cuts s to at most max bytes on a rune boundary, ending in "…" when cut, so
// the result stays valid UTF-8 (SNS measures bytes and rejects invalid UTF-8).
func truncBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max < len(ellipsis) {
		return cutBytes(s, max)
	}
	return cutBytes(s, max-len(ellipsis)) + ellipsis
}

// cutBytes returns the longest prefix of s of at most max bytes that ends on a rune boundary.
func cutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// oneLine makes s safe to place on one line of any rendering: valid UTF-8, every control
// character and line or paragraph separator turned into a space, outer space trimmed.
// Inner spacing is kept: evidence lines are often aligned log output.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsFunc(s, breaksLine) {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if breaksLine(r) {
			return ' '
		}
		return r
	}, s))
}

func breaksLine(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u0085'
}

// multiLine keeps the line structure of s (commands may span lines) but normalises line
// ends and removes every other control character except tabs.
func multiLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimRight(strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r' || r == '\u2028' || r == '\u2029':
			return '\n'
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s), " \n\t")
}

// plural picks the singular or plural form of noun for n.
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return singular
	}
	return pluralForm
}

// trimNote says how many items of a list a rendering left out: "… 12 more evidence lines
// trimmed", or "… 3 evidence lines trimmed" when none could be shown.
func trimNote(omitted, shown int, singular, pluralForm string) string {
	more := ""
	if shown > 0 {
		more = "more "
	}
	return fmt.Sprintf("%s %d %s%s trimmed", ellipsis, omitted, more, plural(omitted, singular, pluralForm))
}

// msString renders a duration in milliseconds the way a person reads it: 850ms, 4.2s, 2m5s.
func msString(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return d.String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// timeString is the one timestamp format of every rendering: UTC, to the second.
func timeString(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
