package render

import (
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// Discord's limits for one embed.
const (
	DiscordMaxTitle       = 256
	DiscordMaxDescription = 4096
	DiscordMaxFields      = 25
	DiscordMaxFieldName   = 256
	DiscordMaxFieldValue  = 1024
	DiscordMaxFooter      = 2048
	DiscordMaxEmbedChars  = 6000 // title + description + field names and values + footer
)

// Per-item caps of the Discord rendering, in UTF-16 units.
const (
	discordEvidenceCap = 200
	discordTextCap     = 300
	discordCommandCap  = 900
	discordURLCap      = 900
)

// Embed colours: red needs a person now, green was fixed and seen fixed, amber and blue by
// severity otherwise.
const (
	ColourRed   = 0xD92D20
	ColourAmber = 0xF79009
	ColourGreen = 0x12B76A
	ColourBlue  = 0x2E90FA
)

type discordMessage struct {
	Embeds          []discordEmbed  `json:"embeds"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
	// Attachments describe the files sent with the message (multipart files[n]); the embed
	// shows one as its image by "attachment://<filename>".
	Attachments []discordAttachment `json:"attachments,omitempty"`
	// Components are the offers' Approve and Reject buttons.
	Components []discordRow `json:"components,omitempty"`
}

type discordAttachment struct {
	ID          int    `json:"id"`
	Filename    string `json:"filename"`
	Description string `json:"description,omitempty"`
}

// allowedMentions with an empty (not absent) parse list: nothing in a report, not even
// "@everyone" quoted from a log line, can ping anyone.
type allowedMentions struct {
	Parse []string `json:"parse"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields,omitempty"`
	Footer      *discordFooter `json:"footer,omitempty"`
	Image       *discordImage  `json:"image,omitempty"`
	Timestamp   string         `json:"timestamp,omitempty"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

// discordImage is the embed's image: "attachment://graph.png" for a file sent with the
// message (multipart), or a URL.
type discordImage struct {
	URL string `json:"url"`
}

type discordFooter struct {
	Text string `json:"text"`
}

// Discord renders r as a webhook payload with one embed: the headline as its title (or,
// when longer than a title may be, at the top of the description), the rest in fields. It
// meets Discord's embed limits (DiscordMax*) by trimming lists, evidence first, links last.
func Discord(r report.Report) ([]byte, error) {
	v := newView(r)
	return marshal(fit(v, v.discord))
}

// Colour is the embed colour of a report: red when a person is needed (a failed action, a
// page, unusable input, an unverified fix, or a CRITICAL alarm nothing fixed), green when
// something was done and its effect verified (a guard's skip of another action does not
// spoil that), else amber for WARNING and blue for INFO.
func Colour(r report.Report) int {
	return colour(newView(r))
}

func colour(v *view) int {
	failed, done := false, false
	for _, a := range v.actions {
		failed = failed || a.Outcome == report.OutcomeFailed
		done = done || a.Outcome == report.OutcomeDone
	}
	paged := v.escal != nil && v.escal.Paged && !v.escal.Resolved
	verified := v.verif != nil && v.verif.Status == report.Verified
	switch {
	case failed, paged, v.inputErr != "", v.verif != nil && v.verif.Status == report.Unverified:
		return ColourRed
	case done && verified:
		return ColourGreen
	case v.sev == report.SeverityCritical:
		return ColourRed
	case v.sev == report.SeverityWarning:
		return ColourAmber
	default:
		return ColourBlue
	}
}

// discordEscaper backslash-escapes Discord's inline markdown (emphasis, code, spoilers,
// masked links, the angle brackets of mentions and custom emoji). Quotes, headings and
// lists only start a line, and every escaped text follows a prefix on its line.
var discordEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `~`, `\~`, `|`, `\|`,
	`<`, `\<`, `[`, `\[`, `]`, `\]`,
)

func discordEscape(s string) string { return discordEscaper.Replace(s) }

// discordCode is an inline code span; a backtick inside becomes a look-alike (ˋ).
func discordCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "`", "ˋ") + "`"
}

var discordStyle = style{esc: discordEscape, code: discordCode, bold: func(s string) string { return "**" + s + "**" }}

// fields packs items into as many fields as they need, the first named name, the rest
// "name (cont.)".
func discordFields(name string, items []string, open, close string) []discordField {
	chunks := pack(items, DiscordMaxFieldValue, func(bool) string { return open }, close)
	out := make([]discordField, 0, len(chunks))
	for i, c := range chunks {
		n := name
		if i > 0 {
			n += " (cont.)"
		}
		out = append(out, discordField{Name: n, Value: c})
	}
	return out
}

func (v *view) discord(k keep) (discordMessage, bool) {
	st := discordStyle
	e := discordEmbed{Color: colour(v)}
	var desc []string
	if t := sevEmoji(v.sev) + " " + v.headline; u16len(t) <= DiscordMaxTitle {
		e.Title = t
	} else {
		e.Title = truncU16(sevEmoji(v.sev)+" "+v.subject(), DiscordMaxTitle)
		desc = append(desc, "**"+discordEscape(v.headline)+"**")
	}
	desc = append(desc, discordEscape(strings.Join(v.metaParts(), " · ")))
	if v.inputErr != "" {
		desc = append(desc, "⚠️ **Input error:** "+discordEscape(truncU16(v.inputErr, discordTextCap)))
	}
	desc = append(desc, "**Finding:** "+st.finding(v, discordTextCap))
	e.Description = strings.Join(desc, "\n")

	var fields []discordField
	if len(v.evidence) > 0 {
		lines := make([]string, 0, k[listEvidence]+1)
		for _, l := range v.evidence[:k[listEvidence]] {
			lines = append(lines, defang(truncU16(l, discordEvidenceCap)))
		}
		if note := v.note(listEvidence, k); note != "" {
			lines = append(lines, note)
		}
		fields = append(fields, discordFields("Evidence", lines, "```\n", "\n```")...)
	}

	actions := make([]string, 0, len(v.actions))
	for _, a := range v.actions {
		actions = append(actions, "• "+st.action(a, discordTextCap))
	}
	if len(actions) == 0 {
		actions = append(actions, "none: report only")
	}
	fields = append(fields, discordFields("Actions", actions, "", "")...)

	if v.verif != nil {
		fields = append(fields, discordField{Name: "Verification", Value: st.verification(v.verif, discordTextCap)})
	}
	if v.escal != nil {
		fields = append(fields, discordField{Name: "Escalation", Value: st.escalation(v.escal, discordTextCap)})
	}

	if len(v.recs) > 0 {
		items := make([]string, 0, k[listRecommendations]+1)
		for _, s := range v.recs[:k[listRecommendations]] {
			items = append(items, "• "+discordEscape(truncU16(s, discordTextCap)))
		}
		if note := v.note(listRecommendations, k); note != "" {
			items = append(items, "_"+note+"_")
		}
		fields = append(fields, discordFields("Recommendations", items, "", "")...)
	}

	if len(v.cmds) > 0 {
		items := make([]string, 0, k[listCommands]+1)
		for _, c := range v.cmds[:k[listCommands]] {
			s := ""
			if c.Title != "" {
				s = discordEscape(truncU16(c.Title, discordTextCap)) + "\n"
			}
			items = append(items, s+"```sh\n"+defang(truncU16(c.Cmd, discordCommandCap))+"\n```")
		}
		if note := v.note(listCommands, k); note != "" {
			items = append(items, "_"+note+"_")
		}
		fields = append(fields, discordFields("Runbook commands", items, "", "")...)
	}

	if len(v.links) > 0 {
		items := make([]string, 0, k[listLinks]+1)
		for _, l := range v.links[:k[listLinks]] {
			items = append(items, "• "+discordLink(l))
		}
		if note := v.note(listLinks, k); note != "" {
			items = append(items, "_"+note+"_")
		}
		fields = append(fields, discordFields("Console links", items, "", "")...)
	}

	if v.series != nil {
		fields = append(fields, discordField{Name: "Metric", Value: st.series(v.series)})
	}

	if len(v.failedDiags) > 0 {
		items := make([]string, 0, k[listDiagnostics]+1)
		for _, d := range v.failedDiags[:k[listDiagnostics]] {
			items = append(items, "• "+st.diagnostic(d, discordTextCap))
		}
		if note := v.note(listDiagnostics, k); note != "" {
			items = append(items, "_"+note+"_")
		}
		fields = append(fields, discordFields("Failed diagnostics", items, "", "")...)
	}

	if len(v.more) > 0 {
		fields = append(fields, discordField{Name: "Also in this event", Value: discordEscape(truncU16(strings.Join(v.more, "; "), DiscordMaxFieldValue))})
	}

	e.Fields = fields
	if p := v.picture; p != nil {
		// The graph replaces nothing: the sparkline field stays for clients without images.
		if p.attached {
			e.Image = &discordImage{URL: "attachment://" + p.name}
		} else {
			e.Image = &discordImage{URL: p.url}
		}
	}
	footer := []string{"gp-remediation"}
	for _, s := range []string{v.fn, v.env} {
		if s != "" {
			footer = append(footer, s)
		}
	}
	e.Footer = &discordFooter{Text: truncU16(strings.Join(footer, " · "), DiscordMaxFooter)}
	if !v.alarm.ChangedAt.IsZero() {
		e.Timestamp = v.alarm.ChangedAt.UTC().Format(time.RFC3339)
	}

	// The description holds no list, so trimming cannot shorten it: cut it first, then judge
	// what trimming can change.
	e.Description = truncU16(e.Description, DiscordMaxDescription)
	ok := len(e.Fields) <= DiscordMaxFields && embedChars(e) <= DiscordMaxEmbedChars
	clampEmbed(&e)
	msg := discordMessage{Embeds: []discordEmbed{e}, AllowedMentions: allowedMentions{Parse: []string{}}}
	if p := v.picture; p != nil && p.attached {
		msg.Attachments = []discordAttachment{{ID: 0, Filename: p.name, Description: truncU16(p.title, 1024)}}
	}
	msg.Components = discordOfferRows(v.offers)
	return msg, ok
}

// discordLink is a masked link [title](url), the URL made safe by linkURL.
func discordLink(l report.Link) string {
	u := linkURL(truncU16(l.URL, discordURLCap))
	title := l.Title
	if title == "" {
		title = "link"
	}
	return "[" + discordEscape(truncU16(title, 150)) + "](" + u + ")"
}

func embedChars(e discordEmbed) int {
	n := u16len(e.Title) + u16len(e.Description)
	for _, f := range e.Fields {
		n += u16len(f.Name) + u16len(f.Value)
	}
	if e.Footer != nil {
		n += u16len(e.Footer.Text)
	}
	return n
}

// clampEmbed is the last resort when even empty lists do not fit: cut the description,
// then drop fields from the end (noting it in the footer) until the embed is within every
// limit. For any ordinary report it changes nothing.
func clampEmbed(e *discordEmbed) {
	e.Title = truncU16(e.Title, DiscordMaxTitle)
	e.Description = truncU16(e.Description, DiscordMaxDescription)
	for i := range e.Fields {
		e.Fields[i].Name = truncU16(e.Fields[i].Name, DiscordMaxFieldName)
		e.Fields[i].Value = truncU16(e.Fields[i].Value, DiscordMaxFieldValue)
	}
	if len(e.Fields) <= DiscordMaxFields && embedChars(*e) <= DiscordMaxEmbedChars {
		return
	}
	const note = " · the rest did not fit: see the e-mail (SNS) report"
	e.Footer = &discordFooter{Text: truncU16("gp-remediation", DiscordMaxFooter-len(note)) + note}
	if len(e.Fields) > DiscordMaxFields {
		e.Fields = e.Fields[:DiscordMaxFields]
	}
	for len(e.Fields) > 0 && embedChars(*e) > DiscordMaxEmbedChars {
		e.Fields = e.Fields[:len(e.Fields)-1]
	}
	if over := embedChars(*e) - DiscordMaxEmbedChars; over > 0 {
		e.Description = truncU16(e.Description, u16len(e.Description)-over)
	}
}
