package render

import (
	"strings"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// Slack's limits for an incoming-webhook message with Block Kit blocks.
const (
	SlackMaxBlocks       = 50     // blocks per message
	SlackMaxSectionChars = 3000   // text of one section block
	SlackMaxHeaderChars  = 150    // plain text of a header block
	SlackMaxTextChars    = 40_000 // the top-level fallback text
	// SlackMaxBlocksChars bounds the text of all blocks together. Slack documents no such
	// limit, but rejects messages whose blocks hold about 13,200 characters or more with
	// msg_blocks_too_long (slackapi/bolt-js#2509); 12,000 leaves room for markup.
	SlackMaxBlocksChars = 12_000
)

// Per-item caps of the Slack rendering, in UTF-16 units.
const (
	slackEvidenceCap = 300
	slackTextCap     = 800
	slackItemCap     = 500
	slackCommandCap  = 1500
	slackURLCap      = 2000
)

type slackMessage struct {
	// Channel, ThreadTS and TS address a Web API call (chat.postMessage, chat.update); an
	// incoming webhook posts to its own channel and never carries them.
	Channel     string       `json:"channel,omitempty"`
	ThreadTS    string       `json:"thread_ts,omitempty"`
	TS          string       `json:"ts,omitempty"`
	Text        string       `json:"text"`
	Blocks      []slackBlock `json:"blocks"`
	UnfurlLinks bool         `json:"unfurl_links"`
	UnfurlMedia bool         `json:"unfurl_media"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
	// An actions block: its id and buttons (MarshalJSON writes them as its elements).
	BlockID string        `json:"block_id,omitempty"`
	Buttons []slackButton `json:"-"`
	// An image block: the picture by its presigned URL (an incoming webhook cannot upload).
	ImageURL string     `json:"image_url,omitempty"`
	AltText  string     `json:"alt_text,omitempty"`
	Title    *slackText `json:"title,omitempty"`
}

type slackText struct {
	Type  string `json:"type"` // mrkdwn | plain_text
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Slack renders r as an incoming-webhook payload: Block Kit blocks led by the headline, and
// a fallback text (what notifications show) that starts with the headline too. It meets
// Slack's limits (SlackMax*) by trimming lists (evidence first, links last) and says what
// it trimmed.
func Slack(r report.Report) ([]byte, error) {
	v := newView(r)
	return marshal(fit(v, v.slack))
}

// SlackChat is the Slack rendering of r as a Web API body: for chat.postMessage to channel,
// as a reply in the thread of threadTS when that is set; for chat.update of the message ts
// when ts is set. The message is the same one Slack renders.
func SlackChat(r report.Report, channel, threadTS, ts string) ([]byte, error) {
	v := newView(r)
	v.slackUploads = true // the bot uploads the picture into the thread (files.*UploadExternal)
	m := fit(v, v.slack)
	m.Channel, m.ThreadTS, m.TS = channel, threadTS, ts
	return marshal(m)
}

// slackEscaper applies the three escapes Slack's mrkdwn requires; the same escaping stops
// text from forming <!channel> style mentions or links.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// slackCode is an inline code span. mrkdwn has no escape for a backtick, so one inside the
// text becomes a look-alike (ˋ) rather than ending the span.
func slackCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(slackEscape(s), "`", "ˋ") + "`"
}

var slackStyle = style{esc: slackEscape, code: slackCode, bold: func(s string) string { return "*" + s + "*" }}

func slackSection(text string) slackBlock {
	return slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncU16(text, SlackMaxSectionChars)}}
}

func slackContext(text string) slackBlock {
	return slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: truncU16(text, SlackMaxSectionChars)}}}
}

func sections(items []string, title string) []slackBlock {
	chunks := pack(items, SlackMaxSectionChars, func(first bool) string {
		if first {
			return title + "\n"
		}
		return ""
	}, "")
	out := make([]slackBlock, 0, len(chunks))
	for _, c := range chunks {
		out = append(out, slackSection(c))
	}
	return out
}

func (v *view) slack(k keep) (slackMessage, bool) {
	st := slackStyle
	headline := slackEscape(v.headline)
	var blocks []slackBlock

	// The headline is the header when it fits; otherwise the header is the short form and
	// the headline, whole, is the first section.
	if h := sevEmoji(v.sev) + " " + v.headline; u16len(h) <= SlackMaxHeaderChars {
		blocks = append(blocks, slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: h, Emoji: true}})
	} else {
		short := sevEmoji(v.sev) + " " + v.subject()
		blocks = append(blocks,
			slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: truncU16(short, SlackMaxHeaderChars), Emoji: true}},
			slackSection("*"+headline+"*"))
	}
	blocks = append(blocks, slackContext(slackEscape(strings.Join(v.metaParts(), " · "))))
	if v.inputErr != "" {
		blocks = append(blocks, slackSection("⚠️ *Input error:* "+slackEscape(truncU16(v.inputErr, slackTextCap))))
	}
	blocks = append(blocks, slackSection("*Finding:* "+st.finding(v, slackTextCap)))

	if len(v.evidence) > 0 {
		lines := make([]string, 0, k[listEvidence]+1)
		for _, e := range v.evidence[:k[listEvidence]] {
			lines = append(lines, defang(slackEscape(truncU16(e, slackEvidenceCap))))
		}
		if note := v.note(listEvidence, k); note != "" {
			lines = append(lines, note)
		}
		for _, c := range pack(lines, SlackMaxSectionChars, func(first bool) string {
			if first {
				return "*Evidence*\n```\n"
			}
			return "```\n"
		}, "\n```") {
			blocks = append(blocks, slackSection(c))
		}
	}

	actions := make([]string, 0, len(v.actions))
	for _, a := range v.actions {
		actions = append(actions, "• "+st.action(a, slackTextCap))
	}
	if len(actions) == 0 {
		actions = append(actions, "• none: report only")
	}
	blocks = append(blocks, sections(actions, "*Actions*")...)

	if v.verif != nil {
		blocks = append(blocks, slackSection("*Verification:* "+st.verification(v.verif, slackTextCap)))
	}
	if v.escal != nil {
		blocks = append(blocks, slackSection("*Escalation:* "+st.escalation(v.escal, slackTextCap)))
	}

	if len(v.recs) > 0 {
		items := make([]string, 0, k[listRecommendations]+1)
		for _, s := range v.recs[:k[listRecommendations]] {
			items = append(items, "• "+slackEscape(truncU16(s, slackItemCap)))
		}
		if note := v.note(listRecommendations, k); note != "" {
			items = append(items, "_"+note+"_")
		}
		blocks = append(blocks, sections(items, "*Recommendations*")...)
	}

	if len(v.cmds) > 0 {
		items := make([]string, 0, k[listCommands]+1)
		for _, c := range v.cmds[:k[listCommands]] {
			s := ""
			if c.Title != "" {
				s = "_" + slackEscape(truncU16(c.Title, slackItemCap)) + "_\n"
			}
			items = append(items, s+"```\n"+defang(slackEscape(truncU16(c.Cmd, slackCommandCap)))+"\n```")
		}
		if note := v.note(listCommands, k); note != "" {
			items = append(items, "_"+note+"_")
		}
		blocks = append(blocks, sections(items, "*Runbook commands*")...)
	}

	if len(v.links) > 0 {
		items := make([]string, 0, k[listLinks]+1)
		for _, l := range v.links[:k[listLinks]] {
			items = append(items, "• "+slackLink(l))
		}
		if note := v.note(listLinks, k); note != "" {
			items = append(items, "_"+note+"_")
		}
		blocks = append(blocks, sections(items, "*Console links*")...)
	}

	if v.series != nil {
		blocks = append(blocks, slackSection("*Metric:* "+st.series(v.series)))
	}
	if p := v.picture; p != nil && p.url != "" && !v.slackUploads {
		blocks = append(blocks, slackBlock{Type: "image", ImageURL: p.url, AltText: truncU16(p.title, 2000),
			Title: &slackText{Type: "plain_text", Text: truncU16(p.title, 2000)}})
	}

	if len(v.failedDiags) > 0 {
		items := make([]string, 0, k[listDiagnostics]+1)
		for _, d := range v.failedDiags[:k[listDiagnostics]] {
			items = append(items, "• "+st.diagnostic(d, slackItemCap))
		}
		if note := v.note(listDiagnostics, k); note != "" {
			items = append(items, "_"+note+"_")
		}
		blocks = append(blocks, sections(items, "*Failed diagnostics*")...)
	}

	blocks = append(blocks, slackOfferBlocks(v.offers)...)

	if len(v.more) > 0 {
		blocks = append(blocks, slackContext("Also in this event: "+slackEscape(strings.Join(v.more, "; "))))
	}

	msg := slackMessage{Text: v.slackFallback(headline), UnfurlLinks: false, UnfurlMedia: false}
	ok := len(blocks) <= SlackMaxBlocks && blocksChars(blocks) <= SlackMaxBlocksChars
	msg.Blocks = clampBlocks(blocks)
	return msg, ok
}

// slackFallback is the top-level text: what push notifications and screen readers get.
// It leads with the headline and carries the finding and every action.
func (v *view) slackFallback(headline string) string {
	var b strings.Builder
	b.WriteString(sevEmoji(v.sev) + " " + string(v.sev) + ": " + headline + "\n")
	b.WriteString("Finding: " + slackStyle.finding(v, slackTextCap) + "\n")
	for _, a := range v.actions {
		b.WriteString("• " + slackStyle.action(a, slackTextCap) + "\n")
	}
	return truncU16(strings.TrimRight(b.String(), "\n"), SlackMaxTextChars)
}

var slackURLEscaper = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", " ", "%20")

// slackLink is <url|title>. A URL may not hold the delimiters | and > (nor spaces), so those
// are percent-encoded; & < > in the title are escaped as everywhere in mrkdwn.
func slackLink(l report.Link) string {
	u := slackURLEscaper.Replace(truncU16(l.URL, slackURLCap))
	title := l.Title
	if title == "" {
		title = "link"
	}
	return "<" + u + "|" + slackEscape(truncU16(title, 150)) + ">"
}

func blockText(b slackBlock) string {
	if b.Text != nil {
		return b.Text.Text
	}
	var s strings.Builder
	for _, e := range b.Elements {
		s.WriteString(e.Text)
	}
	return s.String()
}

func blocksChars(blocks []slackBlock) int {
	n := 0
	for _, b := range blocks {
		n += u16len(blockText(b))
	}
	return n
}

// clampBlocks is the last resort when even empty lists do not fit (hundreds of actions, a
// headline of many kilobytes): keep blocks while they fit, cut the one that does not, and
// end with a note. For any ordinary report it returns blocks unchanged.
func clampBlocks(blocks []slackBlock) []slackBlock {
	if len(blocks) <= SlackMaxBlocks && blocksChars(blocks) <= SlackMaxBlocksChars {
		return blocks
	}
	const note = "… the rest of this report did not fit in Slack: see the e-mail (SNS) report"
	budget := SlackMaxBlocksChars - u16len(note)
	out := make([]slackBlock, 0, SlackMaxBlocks)
	for _, b := range blocks {
		if len(out) == SlackMaxBlocks-1 || budget <= 0 {
			break
		}
		n := u16len(blockText(b))
		if n > budget {
			if b.Type == "section" {
				out = append(out, slackSection(truncU16(b.Text.Text, budget)))
			}
			break
		}
		out = append(out, b)
		budget -= n
	}
	return append(out, slackContext(note))
}
