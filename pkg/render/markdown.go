package render

import (
	"strings"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// MaxMarkdownChars bounds the Markdown rendering: GitHub's limit for an issue or comment
// body (65,536 characters), the largest place the Markdown is pasted into.
const MaxMarkdownChars = 65536

// Per-item caps of the Markdown rendering, in UTF-16 units: one runaway log line or error
// must not push every other item out.
const (
	mdItemCap    = 1000
	mdActionCap  = 2000
	mdCommandCap = 4000
	mdURLCap     = 8000
)

// Markdown renders r as GitHub-flavoured Markdown: the headline as the first line, then the
// finding, evidence, actions, verification, escalation, recommendations, runbook commands,
// console links, the metric's sparkline and the failed diagnostics. It stays within
// MaxMarkdownChars by trimming lists (evidence first, links last) and says what it trimmed.
func Markdown(r report.Report) string {
	v := newView(r)
	return fit(v, v.markdown)
}

func (v *view) markdown(k keep) (string, bool) {
	var b strings.Builder
	b.WriteString("## " + sevEmoji(v.sev) + " " + string(v.sev) + ": " + mdEscape(v.headline) + "\n\n")
	b.WriteString(mdEscape(strings.Join(v.metaParts(), " · ")) + "\n")
	if v.inputErr != "" {
		b.WriteString("\n> ⚠️ **Input error:** " + mdEscape(truncU16(v.inputErr, mdActionCap)) + "\n")
	}

	b.WriteString("\n**Finding:** " + md.finding(v, mdActionCap) + "\n")

	if len(v.evidence) > 0 {
		b.WriteString("\n**Evidence**\n\n")
		lines := make([]string, 0, k[listEvidence])
		for _, e := range v.evidence[:k[listEvidence]] {
			lines = append(lines, truncU16(e, mdItemCap))
		}
		if k[listEvidence] > 0 {
			b.WriteString(mdFence(strings.Join(lines, "\n"), "text"))
		}
		if note := v.note(listEvidence, k); note != "" {
			b.WriteString("_" + note + "_\n")
		}
	}

	b.WriteString("\n**Actions**\n\n")
	if len(v.actions) == 0 {
		b.WriteString("- none: report only\n")
	}
	for _, a := range v.actions {
		b.WriteString("- " + md.action(a, mdActionCap) + "\n")
	}

	if v.verif != nil {
		b.WriteString("\n**Verification:** " + md.verification(v.verif, mdActionCap) + "\n")
	}
	if v.escal != nil {
		b.WriteString("\n**Escalation:** " + md.escalation(v.escal, mdActionCap) + "\n")
	}

	if len(v.recs) > 0 {
		b.WriteString("\n**Recommendations**\n\n")
		for _, s := range v.recs[:k[listRecommendations]] {
			b.WriteString("- " + mdEscape(truncU16(s, mdItemCap)) + "\n")
		}
		if note := v.note(listRecommendations, k); note != "" {
			b.WriteString("- _" + note + "_\n")
		}
	}

	if len(v.cmds) > 0 {
		b.WriteString("\n**Runbook commands**\n")
		for _, c := range v.cmds[:k[listCommands]] {
			b.WriteString("\n")
			if c.Title != "" {
				b.WriteString(mdEscape(truncU16(c.Title, mdItemCap)) + ":\n\n")
			}
			b.WriteString(mdFence(truncU16(c.Cmd, mdCommandCap), "sh"))
		}
		if note := v.note(listCommands, k); note != "" {
			b.WriteString("\n_" + note + "_\n")
		}
	}

	if len(v.links) > 0 {
		b.WriteString("\n**Console links**\n\n")
		for _, l := range v.links[:k[listLinks]] {
			b.WriteString("- " + mdLink(l) + "\n")
		}
		if note := v.note(listLinks, k); note != "" {
			b.WriteString("- _" + note + "_\n")
		}
	}

	if v.series != nil {
		b.WriteString("\n**Metric:** " + md.series(v.series) + "\n")
	}
	for _, l := range offerLines(v.offers) {
		b.WriteString("\n**" + mdEscape(l) + "**\n")
	}
	if p := v.picture; p != nil && p.url != "" {
		b.WriteString("\n" + mdLink(report.Link{Title: "Graph: " + p.title, URL: p.url}) + "\n")
	}

	if len(v.failedDiags) > 0 {
		b.WriteString("\n**Failed diagnostics**\n\n")
		for _, d := range v.failedDiags[:k[listDiagnostics]] {
			b.WriteString("- " + md.diagnostic(d, mdItemCap) + "\n")
		}
		if note := v.note(listDiagnostics, k); note != "" {
			b.WriteString("- _" + note + "_\n")
		}
	}

	if len(v.more) > 0 {
		b.WriteString("\n**Also in this event:** " + mdEscape(strings.Join(v.more, "; ")) + "\n")
	}

	out := b.String()
	if u16len(out) <= MaxMarkdownChars {
		return out, true
	}
	const cut = "\n\n_… report truncated to fit_\n"
	return truncU16(out, MaxMarkdownChars-u16len(cut)) + cut, false
}

// md is the Markdown style.
var md = style{esc: mdEscape, code: mdCode, bold: func(s string) string { return "**" + s + "**" }}

// mdEscaper backslash-escapes the characters that would change the meaning of inline
// Markdown ('#' too: a heading drops a trailing " #"). Every caller puts the text after a
// prefix on a single line, so line-start syntax (-, 1.) cannot trigger and is left alone.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`<`, `\<`, `|`, `\|`, `~`, `\~`, `&`, `\&`, `#`, `\#`,
)

func mdEscape(s string) string { return mdEscaper.Replace(s) }

// mdCode wraps s in a code span long enough not to be closed by backticks inside it.
func mdCode(s string) string {
	if s == "" {
		return ""
	}
	ticks := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return ticks + s + ticks
}

// mdFence wraps s in a fenced code block whose fence is longer than any backtick run in s.
func mdFence(s, lang string) string {
	fence := strings.Repeat("`", max(3, longestRun(s, '`')+1))
	return fence + lang + "\n" + s + "\n" + fence + "\n"
}

// mdLink is [title](url), the URL made safe by linkURL.
func mdLink(l report.Link) string {
	title := truncU16(l.Title, 200)
	if title == "" {
		title = "link"
	}
	u := linkURL(truncU16(l.URL, mdURLCap))
	return "[" + mdEscape(title) + "](" + u + ")"
}

var (
	urlBreakers = strings.NewReplacer(" ", "%20", "<", "%3C", ">", "%3E")
	urlParens   = strings.NewReplacer("(", "%28", ")", "%29")
)

// linkURL makes u safe as a Markdown (GitHub or Discord) link destination: spaces and angle
// brackets percent-encoded, and parentheses too unless they are balanced, as in our console
// URLs, where both parsers take them as they are.
func linkURL(u string) string {
	u = urlBreakers.Replace(u)
	if !balancedParens(u) {
		u = urlParens.Replace(u)
	}
	return u
}

func balancedParens(s string) bool {
	depth := 0
	for _, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}
