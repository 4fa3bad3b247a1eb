package pg

import "unicode/utf8"

// MaxQueryRunes bounds a query's text in a SlowQuery: enough to recognise the statement,
// short enough for a chat message.
const MaxQueryRunes = 200

// MaskQuery makes a statement's text fit to quote in a report: string, dollar-quoted and
// numeric literals become ?, whitespace runs become one space, line comments are dropped,
// and the result is cut to MaxQueryRunes runes (ending in …). Parameters ($1), identifiers
// (also quoted ones) and block comments are kept. A literal cut off by track_activity_query_size is masked to the end.
func MaskQuery(q string) string {
	out := make([]byte, 0, min(len(q), 4*MaxQueryRunes))
	n := len(q)
	space := false // the last byte written is a collapsed space
	emit := func(s string) {
		out = append(out, s...)
		space = false
	}
	for i := 0; i < n; {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			if !space && len(out) > 0 {
				out = append(out, ' ')
				space = true
			}
			i++
		case c == '-' && i+1 < n && q[i+1] == '-':
			// Dropped: once newlines collapse, the rest of the statement would read as
			// part of the comment. Block comments (sqlcommenter tags) are kept.
			for i < n && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && q[i+1] == '*':
			j := endBlockComment(q, i)
			emit(q[i:j])
			i = j
		case c == '\'':
			// E'...' strings take backslash escapes; the prefix goes with the literal.
			escapes := i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i < 2 || !identByte(q[i-2]))
			if escapes && len(out) > 0 {
				out = out[:len(out)-1]
			}
			i = endQuoted(q, i+1, '\'', escapes)
			emit("?")
		case c == '"':
			j := endQuoted(q, i+1, '"', false)
			emit(q[i:j])
			i = j
		case c == '$' && i+1 < n && isDigit(q[i+1]):
			j := i + 1
			for j < n && isDigit(q[j]) {
				j++
			}
			emit(q[i:j])
			i = j
		case c == '$':
			if end, ok := endDollarQuoted(q, i); ok {
				emit("?")
				i = end
			} else {
				emit("$")
				i++
			}
		case isDigit(c) || (c == '.' && i+1 < n && isDigit(q[i+1])):
			j := i
			for j < n && (identByte(q[j]) || q[j] == '.') {
				// an exponent's sign belongs to the number: 1e-5
				if (q[j] == 'e' || q[j] == 'E') && j+1 < n && (q[j+1] == '+' || q[j+1] == '-') {
					j++
				}
				j++
			}
			emit("?")
			i = j
		case identByte(c):
			j := i
			for j < n && identByte(q[j]) {
				j++
			}
			emit(q[i:j])
			i = j
		default:
			emit(q[i : i+1])
			i++
		}
	}
	for len(out) > 0 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1]
	}
	return cut(string(out), MaxQueryRunes)
}

// cut shortens s to at most max runes, marking the cut with … (counted in max).
func cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// identByte: letters, digits, _, $ and any byte of a multi-byte UTF-8 character.
func identByte(c byte) bool {
	return c == '_' || c == '$' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80
}

// endQuoted returns the index after the closing quote of a literal or identifier that
// starts at i (just after the opening quote); a doubled quote is an escaped one. n when
// unterminated.
func endQuoted(q string, i int, quote byte, backslash bool) int {
	for i < len(q) {
		switch {
		case backslash && q[i] == '\\':
			i += 2
		case q[i] == quote && i+1 < len(q) && q[i+1] == quote:
			i += 2
		case q[i] == quote:
			return i + 1
		default:
			i++
		}
	}
	return len(q)
}

// endBlockComment returns the index after a /* */ comment starting at i; they nest in SQL.
func endBlockComment(q string, i int) int {
	depth := 0
	for i < len(q) {
		switch {
		case q[i] == '/' && i+1 < len(q) && q[i+1] == '*':
			depth++
			i += 2
		case q[i] == '*' && i+1 < len(q) && q[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(q)
}

// endDollarQuoted recognises $tag$...$tag$ starting at i (the tag may be empty) and returns
// the index after the closing tag, or len(q) when unterminated. ok is false when the $ does
// not open a dollar quote (e.g. it is part of an identifier like a$b).
func endDollarQuoted(q string, i int) (end int, ok bool) {
	if i > 0 && identByte(q[i-1]) {
		return 0, false
	}
	j := i + 1
	if j < len(q) && isDigit(q[j]) {
		return 0, false // $1 is a parameter
	}
	for j < len(q) && q[j] != '$' {
		if !identByte(q[j]) {
			return 0, false
		}
		j++
	}
	if j >= len(q) {
		return 0, false
	}
	tag := q[i : j+1] // $tag$
	for k := j + 1; k+len(tag) <= len(q); k++ {
		if q[k:k+len(tag)] == tag {
			return k + len(tag), true
		}
	}
	return len(q), true
}
