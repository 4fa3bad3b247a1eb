// Package render turns a report.Report into what people read: Markdown, Slack Block Kit, a
// Discord embed, plain text (the e-mail) and the PagerDuty event, each within its
// destination's size limits by trimming evidence only; the headline is never cut.
package render

import (
	"fmt"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// view is a Report cleaned once for every rendering: valid UTF-8 everywhere, one-line
// fields free of control characters, severity normalised, the headline never empty.
type view struct {
	sev      report.Severity
	headline string
	mode     string
	env, fn  string
	alarm    report.AlarmRef
	code     string
	summary  string
	inputErr string
	incident string // the incident id, "" before incidents are wired

	evidence []string
	actions  []report.Action
	verif    *report.Verification
	escal    *report.Escalation
	recs     []string
	cmds     []report.Command
	links    []report.Link
	series   *report.Series
	picture  *pictureRef
	offers   []report.Offer
	// slackUploads: the Slack rendering is for the bot, which uploads the picture as a file,
	// so no image block links it.
	slackUploads bool
	failedDiags  []report.Diagnostic
	more         []string // other alarms of the same event, "name: code"

	total keep // items each list had before maxListItems
}

// maxMore bounds the "also in this event" list: it points at the other Results, it does not
// repeat them.
const maxMore = 5

func newView(r report.Report) *view {
	res := r.Result
	v := &view{
		sev:      normSeverity(r.Severity),
		headline: oneLine(r.Headline),
		mode:     oneLine(res.Mode),
		env:      oneLine(res.Environment),
		fn:       oneLine(res.Function),
		alarm: report.AlarmRef{
			Name:      oneLine(res.Alarm.Name),
			State:     oneLine(res.Alarm.State),
			ChangedAt: res.Alarm.ChangedAt,
		},
		code:     oneLine(res.Finding.Code),
		summary:  oneLine(res.Finding.Summary),
		inputErr: oneLine(res.Error),
		incident: oneLine(res.Incident),
		series:   r.Series,
		picture:  newPictureRef(r.Picture),
		offers:   r.Offers,
	}
	if v.headline == "" {
		v.headline = defaultHeadline(v)
	}
	for _, e := range capList(res.Finding.Evidence) {
		v.evidence = append(v.evidence, oneLine(e))
	}
	for _, a := range res.Actions {
		v.actions = append(v.actions, report.Action{
			Kind:    oneLine(a.Kind),
			Target:  oneLine(a.Target),
			Outcome: report.Outcome(oneLine(string(a.Outcome))),
			Reason:  oneLine(a.Reason),
			Detail:  oneLine(a.Detail),
		})
	}
	if res.Verification != nil {
		v.verif = &report.Verification{
			Status: oneLine(res.Verification.Status),
			Detail: oneLine(res.Verification.Detail),
			MS:     res.Verification.MS,
		}
	}
	if res.Escalation != nil {
		v.escal = &report.Escalation{
			Paged:    res.Escalation.Paged,
			Reason:   oneLine(res.Escalation.Reason),
			DedupKey: oneLine(res.Escalation.DedupKey),
			Resolved: res.Escalation.Resolved, Resolution: res.Escalation.Resolution,
		}
	}
	for _, s := range capList(res.Recommendations) {
		v.recs = append(v.recs, oneLine(s))
	}
	for _, c := range capList(r.Commands) {
		v.cmds = append(v.cmds, report.Command{Title: oneLine(c.Title), Cmd: multiLine(c.Cmd)})
	}
	for _, l := range capList(r.Links) {
		v.links = append(v.links, report.Link{Title: oneLine(l.Title), URL: oneLine(l.URL)})
	}
	for _, d := range res.Diagnostics {
		if d.OK {
			continue
		}
		v.total[listDiagnostics]++
		if len(v.failedDiags) < maxListItems {
			v.failedDiags = append(v.failedDiags, report.Diagnostic{Name: oneLine(d.Name), Error: oneLine(d.Error), MS: d.MS})
		}
	}
	v.total[listEvidence] = len(res.Finding.Evidence)
	v.total[listRecommendations] = len(res.Recommendations)
	v.total[listCommands] = len(r.Commands)
	v.total[listLinks] = len(r.Links)
	for i, m := range res.More {
		if i == maxMore {
			v.more = append(v.more, fmt.Sprintf("%s %d more", ellipsis, len(res.More)-maxMore))
			break
		}
		s := truncU16(oneLine(m.Alarm.Name), 120)
		if s == "" {
			s = "(unnamed alarm)"
		}
		if c := oneLine(m.Finding.Code); c != "" {
			s += ": " + truncU16(c, 60)
		}
		v.more = append(v.more, s)
	}
	return v
}

// normSeverity maps a Report's severity to one of the three the runbook uses. An
// unrecognised value is shown as WARNING: better a look too many than a missed alarm.
func normSeverity(s report.Severity) report.Severity {
	switch report.Severity(strings.ToUpper(strings.TrimSpace(string(s)))) {
	case report.SeverityCritical:
		return report.SeverityCritical
	case report.SeverityWarning:
		return report.SeverityWarning
	case report.SeverityInfo, "":
		return report.SeverityInfo
	default:
		return report.SeverityWarning
	}
}

// defaultHeadline stands in for a missing Headline so that no rendering ever starts empty.
func defaultHeadline(v *view) string {
	if v.inputErr != "" {
		return "gp-remediation could not use its input: " + v.inputErr
	}
	var who []string
	for _, s := range []string{v.env, v.fn} {
		if s != "" {
			who = append(who, s)
		}
	}
	h := strings.Join(who, " ")
	if v.code != "" {
		if h != "" {
			h += ": "
		}
		h += v.code
	}
	if v.summary != "" {
		if h != "" {
			h += " - "
		}
		h += v.summary
	}
	if h == "" {
		return "gp-remediation report"
	}
	return h
}

// sevEmoji is the colour dot people scan for in chat.
func sevEmoji(s report.Severity) string {
	switch s {
	case report.SeverityCritical:
		return "🔴"
	case report.SeverityWarning:
		return "🟠"
	default:
		return "🔵"
	}
}

// actionWords describes what became of an action: an icon, the outcome word, the prefix
// before the kind ("would" for a dry run) and the label of its Reason (for a skip the
// Reason is the guard rule, for a failure the error).
func actionWords(o report.Outcome) (icon, word, prefix, reasonLabel string) {
	switch o {
	case report.OutcomeDone:
		return "✅", "done", "", "why"
	case report.OutcomeDryRun:
		return "🔸", "dry-run", "would ", "why"
	case report.OutcomeSkipped:
		return "⏭️", "skipped", "", "rule"
	case report.OutcomeFailed:
		return "❌", "FAILED", "", "error"
	default:
		if o == "" {
			o = "unknown"
		}
		return "❔", string(o), "", "reason"
	}
}

// verifIcon marks a verification status.
func verifIcon(status string) string {
	switch status {
	case report.Verified:
		return "✅"
	case report.Pending:
		return "⏳"
	case report.Unverified:
		return "⚠️"
	case report.NotNeeded:
		return "➖"
	default:
		return "❔"
	}
}

// metaParts make the second line of every rendering: severity, mode, where, which alarm.
func (v *view) metaParts() []string {
	parts := []string{string(v.sev)}
	if v.mode != "" {
		m := "mode " + v.mode
		if v.mode == "dry-run" {
			m += " (nothing was changed)"
		}
		parts = append(parts, m)
	}
	if v.env != "" {
		parts = append(parts, "env "+v.env)
	}
	if v.fn != "" {
		parts = append(parts, "function "+v.fn)
	}
	if a := v.alarmText(); a != "" {
		parts = append(parts, a)
	}
	return parts
}

// alarmText is "alarm NAME -> STATE at TIME", with whatever parts are known.
func (v *view) alarmText() string {
	if v.alarm.Name == "" && v.alarm.State == "" {
		return ""
	}
	s := "alarm " + truncU16(v.alarm.Name, 255)
	if v.alarm.State != "" {
		s += " → " + truncU16(v.alarm.State, 40)
	}
	if !v.alarm.ChangedAt.IsZero() {
		s += " at " + timeString(v.alarm.ChangedAt)
	}
	return s
}

// The trimmable lists, in the order they give way to a size limit (the brief's order):
// evidence first, console links last. The headline and the actions are never trimmed.
const (
	listEvidence = iota
	listDiagnostics
	listRecommendations
	listCommands
	listLinks
	numLists
)

// listNouns name a list's items in trim notes, singular and plural.
var listNouns = [numLists][2]string{
	{"evidence line", "evidence lines"},
	{"failed diagnostic", "failed diagnostics"},
	{"recommendation", "recommendations"},
	{"runbook command", "runbook commands"},
	{"console link", "console links"},
}

// maxListItems bounds each list a view holds: more than any rendering could show (256 KiB
// of text at a few dozen bytes a line), and small enough that fitting stays quick when a
// probe returns a flood. Items beyond it are only counted.
const maxListItems = 5000

// keep is how many items of each list a rendering shows.
type keep [numLists]int

func (v *view) all() keep {
	return keep{
		listEvidence:        len(v.evidence),
		listDiagnostics:     len(v.failedDiags),
		listRecommendations: len(v.recs),
		listCommands:        len(v.cmds),
		listLinks:           len(v.links),
	}
}

// note is the line that says how many items of list a rendering left out, or "" when it
// shows them all: "… 12 more evidence lines trimmed".
func (v *view) note(list int, k keep) string {
	if n := v.total[list] - k[list]; n > 0 {
		return trimNote(n, k[list], listNouns[list][0], listNouns[list][1])
	}
	return ""
}

// fit renders with as much as the limits allow. render must always return output within
// the limits (clamping if it has to) and report whether it managed without clamping; fit
// then trims lists in order (evidence first, links last), each as little as possible (a
// binary search for the most items that fit) before touching the next. If even empty
// lists do not fit (absurd headlines, hundreds of actions) the renderer's clamped output
// is the answer.
func fit[T any](v *view, render func(keep) (T, bool)) T {
	k := v.all()
	out, ok := render(k)
	if ok {
		return out
	}
	for list := range numLists {
		n := &k[list]
		full := *n
		if full == 0 {
			continue
		}
		*n = 0
		zero, ok := render(k)
		if !ok {
			out = zero
			continue // not even without this list: trim the next one too
		}
		lo, hi, best := 0, full, zero // lo fits, hi does not
		for hi-lo > 1 {
			*n = lo + (hi-lo)/2
			if o, ok := render(k); ok {
				lo, best = *n, o
			} else {
				hi = *n
			}
		}
		*n = lo
		return best
	}
	return out
}

// style is how one rendering marks up inline text, so that the sentences every rendering
// shares (an action and its outcome, the finding, verification, escalation) are written once.
type style struct {
	esc  func(string) string // escape user text
	code func(string) string // an identifier: kind, target, finding code
	bold func(string) string // wraps text that is already escaped
}

// action is one action and what became of it: icon, outcome, kind ("would" kind for a dry
// run), target, Detail (what changed) and Reason labelled by outcome (why / rule / error).
// Free text is cut to textCap units.
func (st style) action(a report.Action, textCap int) string {
	icon, word, prefix, label := actionWords(a.Outcome)
	s := icon + " " + st.bold(st.esc(truncU16(word, 40))) + ": " + prefix + st.code(truncU16(a.Kind, 100))
	if a.Target != "" {
		s += " on " + st.code(truncU16(a.Target, 200))
	}
	if a.Detail != "" {
		s += " — " + st.esc(truncU16(a.Detail, textCap))
	}
	if a.Reason != "" {
		s += " (" + label + ": " + st.esc(truncU16(a.Reason, textCap)) + ")"
	}
	return s
}

// finding is "`code` — summary".
func (st style) finding(v *view, textCap int) string {
	s := st.code(truncU16(v.code, 100))
	if v.summary != "" {
		if s != "" {
			s += " — "
		}
		s += st.esc(truncU16(v.summary, textCap))
	}
	if s == "" {
		s = st.esc("none recorded")
	}
	return s
}

// verification is "✅ verified — detail (waited 42s)".
func (st style) verification(vf *report.Verification, textCap int) string {
	s := verifIcon(vf.Status) + " " + st.esc(truncU16(vf.Status, 40))
	if vf.Detail != "" {
		s += " — " + st.esc(truncU16(vf.Detail, textCap))
	}
	if vf.MS > 0 {
		s += st.esc(" (waited " + msString(vf.MS) + ")")
	}
	return s
}

// escalation says whether a person was paged, why, and under which dedup key.
func (st style) escalation(e *report.Escalation, textCap int) string {
	var s string
	switch {
	case e.Resolved:
		s = "✅ page resolved"
	case e.Resolution:
		s = "page not resolved"
	case e.Paged:
		s = "📟 paged on-call"
	default:
		s = "not paged"
	}
	if e.Reason != "" {
		s += ": " + truncU16(e.Reason, textCap)
	}
	s = st.esc(s)
	if e.DedupKey != "" {
		s += st.esc(" (dedup key ") + st.code(truncU16(e.DedupKey, 255)) + st.esc(")")
	}
	return s
}

// diagnostic is "`name`: error".
func (st style) diagnostic(d report.Diagnostic, textCap int) string {
	s := st.code(truncU16(d.Name, 100))
	if s == "" {
		s = st.esc("(unnamed)")
	}
	if d.Error != "" {
		s += ": " + st.esc(truncU16(d.Error, textCap))
	} else {
		s += st.esc(": failed")
	}
	return s
}

// series is "label `▁▂▄█` min … · max … · last …".
func (st style) series(s *report.Series) string {
	label, spark, stats := seriesLine(s)
	out := st.esc(label) + " "
	if spark != "" {
		out += st.code(spark) + " "
	}
	return out + st.esc(stats)
}

// capList is the first maxListItems items of list.
func capList[T any](list []T) []T {
	return list[:min(len(list), maxListItems)]
}
