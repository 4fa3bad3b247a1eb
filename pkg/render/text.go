package render

import (
	"strings"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// SNS limits for the plain-text rendering.
const (
	// MaxSubjectChars: SNS wants a subject "less than 100 characters" of printable text.
	MaxSubjectChars = 99
	// MaxTextBodyBytes: SNS checks the message body and its attributes together against
	// 256 KiB (262,144 bytes); 2 KiB is left for the SNS sink's attributes.
	MaxTextBodyBytes = 256*1024 - 2048
)

// Per-item caps of the text rendering, in UTF-16 units.
const (
	textEvidenceCap = 2000
	textItemCap     = 4000
	textCommandCap  = 8000
)

// plain is the style of the text rendering: no markup, nothing to escape.
var plain = style{
	esc:  func(s string) string { return s },
	code: func(s string) string { return s },
	bold: func(s string) string { return s },
}

// Text renders r for SNS and e-mail. The subject is a short printable-ASCII form under 100
// characters, e.g. "[CRITICAL] staging no-tasks: oom-killed, restarted". The body starts
// with the whole headline and stays within MaxTextBodyBytes, cut on a rune boundary, by
// trimming lists, evidence first, links last.
func Text(r report.Report) (subject, body string) {
	v := newView(r)
	return v.subject(), fit(v, v.text)
}

func (v *view) text(k keep) (string, bool) {
	var b strings.Builder
	b.WriteString(v.headline + "\n")
	b.WriteString(strings.Join(v.metaParts(), " · ") + "\n")
	if v.inputErr != "" {
		b.WriteString("\nInput error: " + truncU16(v.inputErr, textItemCap) + "\n")
	}
	b.WriteString("\nFinding: " + plain.finding(v, textItemCap) + "\n")

	if len(v.evidence) > 0 {
		b.WriteString("\nEvidence:\n")
		for _, e := range v.evidence[:k[listEvidence]] {
			b.WriteString("  " + truncU16(e, textEvidenceCap) + "\n")
		}
		if note := v.note(listEvidence, k); note != "" {
			b.WriteString("  " + note + "\n")
		}
	}

	b.WriteString("\nActions:\n")
	if len(v.actions) == 0 {
		b.WriteString("  - none: report only\n")
	}
	for _, a := range v.actions {
		b.WriteString("  - " + plain.action(a, textItemCap) + "\n")
	}
	if v.verif != nil {
		b.WriteString("\nVerification: " + plain.verification(v.verif, textItemCap) + "\n")
	}
	if v.escal != nil {
		b.WriteString("\nEscalation: " + plain.escalation(v.escal, textItemCap) + "\n")
	}

	if len(v.recs) > 0 {
		b.WriteString("\nRecommendations:\n")
		for _, s := range v.recs[:k[listRecommendations]] {
			b.WriteString("  - " + truncU16(s, textItemCap) + "\n")
		}
		if note := v.note(listRecommendations, k); note != "" {
			b.WriteString("  " + note + "\n")
		}
	}

	if len(v.cmds) > 0 {
		b.WriteString("\nRunbook commands:\n")
		for _, c := range v.cmds[:k[listCommands]] {
			if c.Title != "" {
				b.WriteString("  # " + truncU16(c.Title, textItemCap) + "\n")
			}
			for _, line := range strings.Split(truncU16(c.Cmd, textCommandCap), "\n") {
				b.WriteString("    " + line + "\n")
			}
		}
		if note := v.note(listCommands, k); note != "" {
			b.WriteString("  " + note + "\n")
		}
	}

	if len(v.links) > 0 {
		b.WriteString("\nConsole links:\n")
		for _, l := range v.links[:k[listLinks]] {
			title := truncU16(l.Title, 200)
			if title == "" {
				title = "link"
			}
			b.WriteString("  - " + title + ": " + truncU16(l.URL, textCommandCap) + "\n")
		}
		if note := v.note(listLinks, k); note != "" {
			b.WriteString("  " + note + "\n")
		}
	}

	if v.series != nil {
		b.WriteString("\nMetric: " + plain.series(v.series) + "\n")
	}
	for _, l := range offerLines(v.offers) {
		b.WriteString("\n" + l + " (approve with the buttons in Slack or Discord)\n")
	}
	if p := v.picture; p != nil && p.url != "" {
		b.WriteString("Graph (" + truncU16(p.title, 200) + "): " + p.url + "\n")
	}

	if len(v.failedDiags) > 0 {
		b.WriteString("\nFailed diagnostics:\n")
		for _, d := range v.failedDiags[:k[listDiagnostics]] {
			b.WriteString("  - " + plain.diagnostic(d, textItemCap) + "\n")
		}
		if note := v.note(listDiagnostics, k); note != "" {
			b.WriteString("  " + note + "\n")
		}
	}

	if len(v.more) > 0 {
		b.WriteString("\nAlso in this event: " + strings.Join(v.more, "; ") + "\n")
	}

	out := b.String()
	if len(out) <= MaxTextBodyBytes {
		return out, true
	}
	const cut = "\n… report truncated to fit SNS\n"
	return cutBytes(out, MaxTextBodyBytes-len(cut)) + cut, false
}

// verbs name an action kind in the subject: the base form after "would", the past tense
// once done. Kinds not listed are shown as they are.
var verbs = map[string][2]string{
	"force-new-deployment": {"restart", "restarted"},
	"rollback":             {"roll back", "rolled back"},
	"scale-service":        {"scale", "scaled"},
	"raise-task-memory":    {"raise memory", "raised memory"},
	"replay":               {"replay", "replayed"},
	"park":                 {"park", "parked"},
}

func verb(kind string, past bool) string {
	if v, ok := verbs[kind]; ok {
		if past {
			return v[1]
		}
		return v[0]
	}
	return kind
}

// subject is the short form of a report: "[SEVERITY] env function: finding, outcome", led
// by "[INC-…] " when the report belongs to an incident (so a mail client threads an
// incident's reports by their subject and the id survives the cut), in
// printable ASCII (SNS rejects control characters; many mail clients mangle the rest) and
// shorter than MaxSubjectChars + 1.
func (v *view) subject() string {
	who := strings.TrimSpace(v.env + " " + v.fn)
	if who == "" {
		who = "gp-remediation"
	}
	var what []string
	if v.inputErr != "" {
		what = append(what, "unusable input")
	} else if v.code != "" {
		what = append(what, v.code)
	}
	what = append(what, v.outcomes()...)
	s := "[" + string(v.sev) + "] " + who
	if v.incident != "" {
		s = "[" + v.incident + "] " + s
	}
	if len(what) > 0 {
		s += ": " + strings.Join(what, ", ")
	}
	return asciiSubject(s)
}

// outcomes sums up the actions in a few words, most urgent first: failures, what was done,
// what a dry run would do, skips; then whether a person was paged.
func (v *view) outcomes() []string {
	var failed, done, would []string
	skipped := 0
	seen := map[string]bool{}
	add := func(list *[]string, s string) {
		if !seen[s] {
			seen[s] = true
			*list = append(*list, s)
		}
	}
	for _, a := range v.actions {
		switch a.Outcome {
		case report.OutcomeFailed:
			add(&failed, verb(a.Kind, false)+" failed")
		case report.OutcomeDone:
			add(&done, verb(a.Kind, true))
		case report.OutcomeDryRun:
			add(&would, "would "+verb(a.Kind, false))
		case report.OutcomeSkipped:
			skipped++
		}
	}
	out := append(append(failed, done...), would...)
	if skipped > 0 && len(out) == 0 {
		out = append(out, "skipped by guard")
	}
	if len(v.actions) == 0 && v.inputErr == "" {
		out = append(out, "report only")
	}
	switch {
	case v.escal != nil && v.escal.Resolved:
		out = append(out, "page resolved")
	case v.escal != nil && v.escal.Paged:
		out = append(out, "paged")
	}
	if v.verif != nil && v.verif.Status == report.Unverified {
		out = append(out, "not verified")
	}
	return out
}

// asciiSubject keeps printable ASCII (anything else becomes '?', runs of space one space)
// and cuts to MaxSubjectChars with "...".
func asciiSubject(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			space = true
			continue
		case r < 0x20 || r > 0x7e:
			r = '?'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > MaxSubjectChars {
		out = strings.TrimRight(out[:MaxSubjectChars-3], " ") + "..."
	}
	return out
}

// Attributes are the report's filterable facts (severity, function, environment, finding),
// each at most max bytes; empty ones are left out (SNS rejects empty message attributes).
func Attributes(r report.Report, max int) map[string]string {
	v := newView(r)
	out := map[string]string{}
	for name, value := range map[string]string{
		"severity":    string(v.sev),
		"function":    v.fn,
		"environment": v.env,
		"finding":     v.code,
	} {
		if value = truncBytes(value, max); value != "" {
			out[name] = value
		}
	}
	return out
}
