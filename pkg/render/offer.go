package render

import (
	"encoding/json"
	"fmt"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// maxOffers bounds the offers one message carries: Discord takes five rows of components,
// and more than a few choices is not a decision a person makes at 3 a.m.
const maxOffers = 5

// Button ids. The approve function reads them back (pkg/approve): Slack sends the action_id and
// the value (the offer id); Discord sends the custom_id "gpr:<verb>:<offer id>".
const (
	SlackActionApprove    = "gpr-approve"
	SlackActionReject     = "gpr-reject"
	DiscordCustomIDPrefix = "gpr:"
)

// DiscordCustomID is the custom_id of an offer's button: verb is "approve" or "reject".
func DiscordCustomID(verb, offerID string) string {
	return DiscordCustomIDPrefix + verb + ":" + offerID
}

// offerLine says what an offer is and how to approve it, for every rendering.
func offerLine(o report.Offer) string {
	who := "one approver"
	if o.Required > 1 {
		who = fmt.Sprintf("%d different approvers", o.Required)
	}
	line := fmt.Sprintf("Needs approval: %s (%s, until %s)", o.Title, who, o.ExpiresAt.UTC().Format("15:04Z"))
	if o.Reason != "" {
		line += ": held back by " + o.Reason
	}
	return line
}

// slackButton is a Block Kit button element.
type slackButton struct {
	Type     string    `json:"type"` // button
	Text     slackText `json:"text"`
	ActionID string    `json:"action_id"`
	Value    string    `json:"value"`
	Style    string    `json:"style,omitempty"` // primary | danger
}

// slackActions is the wire form of an actions block (its elements are buttons, not text).
type slackActions struct {
	Type     string        `json:"type"`
	BlockID  string        `json:"block_id,omitempty"`
	Elements []slackButton `json:"elements"`
}

// MarshalJSON writes an actions block with its buttons, any other block as it is.
func (b slackBlock) MarshalJSON() ([]byte, error) {
	if b.Type == "actions" {
		return marshal(slackActions{Type: b.Type, BlockID: b.BlockID, Elements: b.Buttons})
	}
	type plain slackBlock
	return marshal(plain(b)) // as the message itself: no HTML escaping
}

// UnmarshalJSON reads what MarshalJSON writes (the tests read the renderings back).
func (b *slackBlock) UnmarshalJSON(raw []byte) error {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return err
	}
	if head.Type == "actions" {
		var a slackActions
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		*b = slackBlock{Type: a.Type, BlockID: a.BlockID, Buttons: a.Elements}
		return nil
	}
	type plain slackBlock
	return json.Unmarshal(raw, (*plain)(b))
}

// slackOfferBlocks are a section saying what each offer is and an actions block with its
// Approve and Reject buttons.
func slackOfferBlocks(offers []report.Offer) []slackBlock {
	var out []slackBlock
	for _, o := range offers[:min(len(offers), maxOffers)] {
		out = append(out, slackSection("*"+slackEscape(truncU16(offerLine(o), slackTextCap))+"*"),
			slackBlock{Type: "actions", BlockID: "offer-" + o.ID, Buttons: []slackButton{
				{Type: "button", Text: slackText{Type: "plain_text", Text: "Approve"}, ActionID: SlackActionApprove, Value: o.ID, Style: "primary"},
				{Type: "button", Text: slackText{Type: "plain_text", Text: "Reject"}, ActionID: SlackActionReject, Value: o.ID, Style: "danger"},
			}})
	}
	return out
}

// discordRow is an action row of buttons (component types 1 and 2).
type discordRow struct {
	Type       int             `json:"type"` // 1
	Components []discordButton `json:"components"`
}

type discordButton struct {
	Type     int    `json:"type"`  // 2
	Style    int    `json:"style"` // 3 success, 4 danger
	Label    string `json:"label"`
	CustomID string `json:"custom_id"`
}

func discordOfferRows(offers []report.Offer) []discordRow {
	var out []discordRow
	for _, o := range offers[:min(len(offers), maxOffers)] {
		label := truncU16("Approve: "+o.Title, 80)
		out = append(out, discordRow{Type: 1, Components: []discordButton{
			{Type: 2, Style: 3, Label: label, CustomID: DiscordCustomID("approve", o.ID)},
			{Type: 2, Style: 4, Label: "Reject", CustomID: DiscordCustomID("reject", o.ID)},
		}})
	}
	return out
}

// offerLines are the offers as lines of text (e-mail, Markdown, the embed's field).
func offerLines(offers []report.Offer) []string {
	lines := make([]string, 0, len(offers))
	for _, o := range offers[:min(len(offers), maxOffers)] {
		lines = append(lines, offerLine(o))
	}
	return lines
}
