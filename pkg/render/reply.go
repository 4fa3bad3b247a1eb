package render

import (
	"strings"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// Reply is an answer to a person's click or command in the message they acted on: a line of
// text, the report of what ran (rendered in full), and the offers still open (their buttons).
type Reply struct {
	Text   string
	Report *report.Report
	Offers []report.Offer
	// Replace edits the message that holds the buttons (or the command's placeholder) instead
	// of posting a new one; Ephemeral shows the answer only to the person who acted.
	Replace, Ephemeral bool
}

// SlackReply renders a reply for a Slack response_url: Block Kit like a report, with
// replace_original or response_type saying where it goes.
func SlackReply(r Reply) ([]byte, error) {
	var m slackMessage
	if r.Report != nil {
		v := newView(*r.Report)
		m = fit(v, v.slack)
	}
	var lead []slackBlock
	if r.Text != "" {
		lead = append(lead, slackSection(slackEscape(truncU16(r.Text, SlackMaxSectionChars))))
		// The notification text leads with the answer (who approved, what happened).
		m.Text = truncU16(strings.TrimSpace(r.Text+"\n"+m.Text), SlackMaxTextChars)
	}
	m.Blocks = clampBlocks(append(append(lead, m.Blocks...), slackOfferBlocks(r.Offers)...))
	if m.Blocks == nil {
		m.Blocks = []slackBlock{}
	}
	out := struct {
		slackMessage
		ReplaceOriginal bool   `json:"replace_original"`
		ResponseType    string `json:"response_type,omitempty"`
	}{slackMessage: m, ReplaceOriginal: r.Replace}
	switch {
	case r.Replace:
	case r.Ephemeral:
		out.ResponseType = "ephemeral"
	default:
		out.ResponseType = "in_channel"
	}
	return marshal(out)
}

// discordEphemeral is the message flag that shows a follow-up only to the person who acted.
const discordEphemeral = 1 << 6

// DiscordReply renders a reply for Discord's interaction webhook (the edit of the original
// message, or a follow-up): the report as its embed, the text as content, open offers as buttons.
// An edit without offers clears the buttons of the message it replaces.
func DiscordReply(r Reply) ([]byte, error) {
	var m discordMessage
	if r.Report != nil {
		v := newView(*r.Report)
		m = fit(v, v.discord)
		m.Attachments = nil // a reply does not upload the picture
	}
	out := struct {
		Content         string          `json:"content"`
		Embeds          []discordEmbed  `json:"embeds"`
		AllowedMentions allowedMentions `json:"allowed_mentions"`
		Components      []discordRow    `json:"components"`
		Flags           int             `json:"flags,omitempty"`
	}{
		Content:         truncU16(discordEscape(r.Text), 2000),
		Embeds:          m.Embeds,
		AllowedMentions: allowedMentions{Parse: []string{}},
		Components:      discordOfferRows(r.Offers),
	}
	if out.Embeds == nil {
		out.Embeds = []discordEmbed{}
	}
	if out.Components == nil {
		out.Components = []discordRow{}
	}
	if r.Ephemeral && !r.Replace {
		out.Flags = discordEphemeral
	}
	return marshal(out)
}
