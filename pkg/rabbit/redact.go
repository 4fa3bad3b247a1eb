package rabbit

import (
	"regexp"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/scrub"
)

// redacted is the one marker every scrubber writes in place of a secret.
const redacted = scrub.Marker

// Redact replaces credentials and personal data in s:
//   - passwords in URLs of any scheme (amqp, amqps, http(s), postgres, redis, ...);
//   - Discord and Slack webhook URLs' tokens;
//   - Authorization values, and bare "Bearer …", "Bot …", "Basic …" credentials;
//   - JSON fields (also inside an escaped JSON string) and key=value pairs whose name contains
//     token, password, secret, authorization, api_key (and similar), whatever the value;
//   - JWTs and Discord bot tokens wherever they appear;
//   - e-mail addresses.
//
// It errs on the side of redacting too much, and is idempotent. A value cut off at the end of
// s (a truncated payload) is redacted to the end. Cost is linear in len(s): each rule is a
// scan for a literal ("://", "@", ":", "=", a keyword) followed by an anchored check, never an
// unanchored regexp over the whole text.
func Redact(s string) string {
	if s == "" {
		return s
	}
	if strings.Contains(s, "://") {
		s = redactURLPasswords(s)
	}
	lower := asciiLower(s)
	for _, r := range anchoredRules {
		if strings.Contains(lower, r.keyword) {
			s = r.apply(s)
			lower = asciiLower(s)
		}
	}
	if hasSecretWord(lower) {
		if strings.IndexByte(s, ':') >= 0 && strings.IndexByte(s, '"') >= 0 {
			s = redactJSONFields(s)
		}
		if strings.IndexByte(s, '=') >= 0 {
			s = redactKeyValues(s)
		}
	}
	if strings.IndexByte(s, '.') >= 0 {
		s = redactDiscordTokens(s)
	}
	if strings.IndexByte(s, '@') >= 0 {
		s = redactEmails(s)
	}
	return s
}

// anchoredRule redacts what re matches at an occurrence of keyword (ASCII case-insensitive).
// re is anchored (^) and applied to the text from the keyword on; the text matched by its
// first group (if any) is kept, the rest replaced.
type anchoredRule struct {
	keyword string // lower case
	re      func() *regexp.Regexp
	// wordStart requires the keyword not to continue a word (e.g. "bot" but not "robot").
	wordStart bool
	// sep is put between the kept group and the marker.
	sep string
}

var anchoredRules = []anchoredRule{
	{keyword: "webhooks/", re: lazyRegexp(`^(webhooks/\d+/)[A-Za-z0-9_\-]+`)},
	{keyword: "hooks.slack.com/", re: lazyRegexp(`^(?i)(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/\-]+`)},
	{keyword: "authorization", re: lazyRegexp(`^(?i)(authorization\\?["']?\s*[:=]\s*\\?["']?)(?:bearer\s+|bot\s+|basic\s+)?[^\s"'\\,;}]+`)},
	{keyword: "bearer", wordStart: true, sep: " ", re: lazyRegexp(`^(?i)(bearer)\s+[A-Za-z0-9._~+/=\-]{16,}`)},
	{keyword: "bot", wordStart: true, sep: " ", re: lazyRegexp(`^(?i)(bot)\s+[A-Za-z0-9._~+/=\-]{16,}`)},
	{keyword: "basic", wordStart: true, sep: " ", re: lazyRegexp(`^(?i)(basic)\s+[A-Za-z0-9._~+/=\-]{16,}`)},
	{keyword: "eyj", wordStart: true, re: lazyRegexp(`^eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*`)},
}

func (r anchoredRule) apply(s string) string {
	lower := asciiLower(s)
	var b strings.Builder
	last, from := 0, 0
	for {
		i := strings.Index(lower[from:], r.keyword)
		if i < 0 {
			break
		}
		i += from
		from = i + len(r.keyword)
		if r.wordStart && i > 0 && isWordByte(s[i-1]) {
			continue
		}
		loc := r.re().FindStringSubmatchIndex(s[i:])
		if loc == nil {
			continue
		}
		b.WriteString(s[last:i])
		if len(loc) >= 4 && loc[2] >= 0 {
			b.WriteString(s[i+loc[2] : i+loc[3]])
			b.WriteString(r.sep)
		}
		b.WriteString(redacted)
		last = i + loc[1]
		from = last
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// redactURLPasswords replaces the password of scheme://user:password@host.
func redactURLPasswords(s string) string {
	var b strings.Builder
	last, from := 0, 0
	for {
		i := strings.Index(s[from:], "://")
		if i < 0 {
			break
		}
		start := from + i + 3
		from = start
		end := start
		for end < len(s) && !isAuthorityStop(s[end]) {
			end++
		}
		auth := s[start:end]
		at := strings.LastIndexByte(auth, '@')
		if at < 0 {
			continue
		}
		colon := strings.IndexByte(auth[:at], ':')
		if colon < 0 || auth[colon+1:at] == redacted {
			continue
		}
		b.WriteString(s[last : start+colon+1])
		b.WriteString(redacted)
		last = start + at
		from = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isAuthorityStop(c byte) bool {
	switch c {
	case '/', '?', '#', '"', '\'', '<', '>', '\\', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// redactJSONFields replaces the values of JSON fields named like secrets, in plain JSON
// ("token": "…") and in JSON escaped inside a string (\"token\":\"…\").
func redactJSONFields(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ':' || i < last {
			continue
		}
		// The key: a quoted string right before the colon (spaces allowed).
		k := i - 1
		for k >= 0 && isSpace(s[k]) {
			k--
		}
		if k < 0 || s[k] != '"' {
			continue
		}
		escaped := k > 0 && s[k-1] == '\\'
		keyEnd := k
		if escaped {
			keyEnd = k - 1
		}
		open := strings.LastIndexByte(s[:keyEnd], '"')
		if open < 0 {
			continue
		}
		keyStart := open + 1
		if escaped && (open == 0 || s[open-1] != '\\') {
			continue
		}
		if !hasSecretWord(asciiLower(s[keyStart:keyEnd])) {
			continue
		}
		// The value.
		v := i + 1
		for v < len(s) && isSpace(s[v]) {
			v++
		}
		var end int
		quote := `"`
		switch {
		case escaped && strings.HasPrefix(s[v:], `\"`):
			quote = `\"`
			end = closingEscapedQuote(s, v+2)
		case !escaped && v < len(s) && s[v] == '"':
			end = closingQuote(s, v+1)
		default:
			end = v
			for end < len(s) && !isValueStop(s[end]) {
				end++
			}
			if end == v {
				continue // an object or array value: not a credential itself
			}
		}
		if escaped {
			quote = `\"`
		}
		b.WriteString(s[last:v])
		b.WriteString(quote + redacted + quote)
		last = end
		i = end - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// closingQuote returns the index after the closing quote of a JSON string starting at i (just
// after the opening quote), or len(s) when it is cut off.
func closingQuote(s string, i int) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}

// closingEscapedQuote is closingQuote for a string inside an escaped JSON string: it ends at
// the next \" (an escaped backslash \\\\ is skipped).
func closingEscapedQuote(s string, i int) int {
	for ; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			continue
		}
		switch s[i+1] {
		case '"':
			return i + 2
		case '\\':
			i += 3 // \\\" is an escaped quote inside the inner string
		default:
			i++
		}
	}
	return len(s)
}

func isValueStop(c byte) bool {
	switch c {
	case ',', '}', ']', '"', '\\', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// redactKeyValues replaces the value of key=value pairs whose key is named like a secret
// (query strings, logfmt, libpq DSNs).
func redactKeyValues(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '=' || i < last {
			continue
		}
		k := i
		for k > 0 && isKeyByte(s[k-1]) {
			k--
		}
		if k == i || !hasSecretWord(asciiLower(s[k:i])) {
			continue
		}
		end := i + 1
		for end < len(s) && !isKVStop(s[end]) {
			end++
		}
		if end == i+1 || s[i+1:end] == redacted {
			continue
		}
		b.WriteString(s[last : i+1])
		b.WriteString(redacted)
		last = end
		i = end - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isKeyByte(c byte) bool { return isTokenByte(c) || c == '.' }

func isKVStop(c byte) bool {
	switch c {
	case '&', '"', '\'', ',', ';', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// redactDiscordTokens replaces Discord tokens: base64(user id).timestamp.hmac, i.e. 23-28,
// 6-7 and 27+ token characters separated by dots.
func redactDiscordTokens(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '.' || i < last {
			continue
		}
		start := i
		for start > last && isTokenByte(s[start-1]) && i-start < 29 {
			start--
		}
		if n := i - start; n < 23 || n > 28 || (start > 0 && isTokenByte(s[start-1])) {
			continue
		}
		j := i + 1
		for j < len(s) && isTokenByte(s[j]) {
			j++
		}
		if n := j - i - 1; n < 6 || n > 7 || j >= len(s) || s[j] != '.' {
			continue
		}
		k := j + 1
		for k < len(s) && isTokenByte(s[k]) {
			k++
		}
		if k-j-1 < 27 {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(redacted)
		last = k
		i = k - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// redactEmails replaces local@domain.tld addresses.
func redactEmails(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '@' || i < last {
			continue
		}
		start := i
		for start > last && isLocalByte(s[start-1]) {
			start--
		}
		if start == i {
			continue
		}
		end, lastDot := i+1, -1
		for end < len(s) && (isTokenByte(s[end]) && s[end] != '_' || s[end] == '.') {
			if s[end] == '.' {
				lastDot = end
			}
			end++
		}
		for end > i+1 && s[end-1] == '.' { // a sentence's full stop is not part of the domain
			end--
			lastDot = strings.LastIndexByte(s[i+1:end], '.')
			if lastDot >= 0 {
				lastDot += i + 1
			}
		}
		if lastDot <= i+1 || end-lastDot-1 < 2 || !allLetters(s[lastDot+1:end]) {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString("[email]")
		last = end
		i = end - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isLocalByte(c byte) bool {
	return isTokenByte(c) || c == '.' || c == '+' || c == '%'
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// asciiLower lower-cases ASCII letters only, so byte offsets match the original.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// secretWords are the name fragments that make a field or key secret.
var secretWords = []string{"token", "password", "passwd", "pwd", "secret", "authorization", "api_key", "api-key", "apikey", "credential", "private_key", "privatekey"}

// hasSecretWord reports whether a lower-case name (or text) contains a secret word.
func hasSecretWord(lower string) bool {
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// sensitiveName reports whether a header name says its value is a credential.
func sensitiveName(name string) bool {
	n := asciiLower(name)
	return hasSecretWord(n) || strings.Contains(n, "cookie")
}
