package render

import "strings"

// pack joins items into as few chunks as possible of at most limit UTF-16 units each. A chunk
// is open(first) + items joined by "\n" + close, where first says whether it is the
// category's first chunk (which carries the title). An item longer than a chunk can hold
// is cut to fit, so no chunk ever exceeds limit.
func pack(items []string, limit int, open func(first bool) string, close string) []string {
	if len(items) == 0 {
		return nil
	}
	head := max(u16len(open(true)), u16len(open(false))) + u16len(close)
	budget := limit - head
	var chunks []string
	var body []string
	used := 0
	flush := func() {
		chunks = append(chunks, open(len(chunks) == 0)+strings.Join(body, "\n")+close)
		body, used = body[:0], 0
	}
	for _, it := range items {
		it = truncU16(it, budget)
		n := u16len(it)
		if len(body) > 0 {
			if used+1+n > budget {
				flush()
			} else {
				n++ // the newline before it
			}
		}
		body = append(body, it)
		used += n
	}
	flush()
	return chunks
}

// defang breaks up runs of three backticks so text cannot close the code block it sits in
// (Slack and Discord have no escape for a fence). A zero-width space keeps it readable.
func defang(s string) string {
	for strings.Contains(s, "```") {
		s = strings.ReplaceAll(s, "```", "`\u200b``")
	}
	return s
}
