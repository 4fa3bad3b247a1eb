package interact

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// slackBlockActions is the part of a block_actions payload the approve function reads
// (https://api.slack.com/reference/interaction-payloads/block-actions).
type slackBlockActions struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	} `json:"user"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		MessageTS string `json:"message_ts"`
		ChannelID string `json:"channel_id"`
	} `json:"container"`
	Message struct {
		TS string `json:"ts"`
	} `json:"message"`
	ResponseURL string `json:"response_url"`
	TriggerID   string `json:"trigger_id"`
	Actions     []struct {
		Type     string `json:"type"`
		ActionID string `json:"action_id"`
		BlockID  string `json:"block_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// parseSlack reads a verified Slack body. Slack posts interactivity and slash commands to the
// same kind of URL as a form: interactivity puts its JSON in the "payload" field, a slash
// command sends its fields directly, and Slack's periodic certificate check sends ssl_check=1.
func parseSlack(body []byte) (Interaction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Interaction{}, fmt.Errorf("%w: Slack body is not a URL-encoded form: %v", ErrMalformed, err)
	}
	switch {
	case form.Has("payload"):
		return parseSlackPayload(form.Get("payload"))
	case form.Has("command"):
		return parseSlackCommand(form)
	case form.Get("ssl_check") == "1":
		return Interaction{Platform: PlatformSlack, Kind: KindPing}, nil
	default:
		return Interaction{}, fmt.Errorf("%w: Slack form has neither a payload nor a command", ErrMalformed)
	}
}

func parseSlackPayload(payload string) (Interaction, error) {
	var p slackBlockActions
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return Interaction{}, fmt.Errorf("%w: Slack payload is not JSON: %v", ErrMalformed, err)
	}
	if p.Type != "block_actions" {
		return Interaction{}, fmt.Errorf("%w: Slack payload type %q (only block_actions is handled)", ErrUnsupported, truncate(p.Type, 40))
	}
	if p.User.ID == "" {
		return Interaction{}, fmt.Errorf("%w: Slack block_actions payload has no user.id", ErrMalformed)
	}
	if len(p.Actions) == 0 {
		return Interaction{}, fmt.Errorf("%w: Slack block_actions payload has no actions", ErrMalformed)
	}
	// A button click carries exactly one action; other elements (selects, date pickers)
	// put their choice elsewhere and are not approvals.
	action := p.Actions[0]
	if action.ActionID == "" {
		return Interaction{}, fmt.Errorf("%w: Slack block_actions payload's action has no action_id", ErrMalformed)
	}
	if action.Type != "button" {
		return Interaction{}, fmt.Errorf("%w: Slack action type %q (only button is handled)", ErrUnsupported, truncate(action.Type, 40))
	}
	return Interaction{
		Platform:   PlatformSlack,
		Kind:       KindButton,
		User:       User{ID: p.User.ID, Name: firstNonEmpty(p.User.Username, p.User.Name)},
		ChannelID:  firstNonEmpty(p.Channel.ID, p.Container.ChannelID),
		MessageRef: firstNonEmpty(p.Container.MessageTS, p.Message.TS),
		Slack: SlackFields{
			TeamID:      p.Team.ID,
			ActionID:    action.ActionID,
			BlockID:     action.BlockID,
			Value:       action.Value,
			TriggerID:   p.TriggerID,
			ResponseURL: p.ResponseURL,
		},
	}, nil
}

func parseSlackCommand(form url.Values) (Interaction, error) {
	command := form.Get("command")
	if !strings.HasPrefix(command, "/") || len(command) < 2 {
		return Interaction{}, fmt.Errorf("%w: Slack command %q does not start with /", ErrMalformed, truncate(command, 40))
	}
	userID := form.Get("user_id")
	if userID == "" {
		return Interaction{}, fmt.Errorf("%w: Slack command has no user_id", ErrMalformed)
	}
	text := form.Get("text")
	return Interaction{
		Platform:  PlatformSlack,
		Kind:      KindCommand,
		User:      User{ID: userID, Name: form.Get("user_name")},
		ChannelID: form.Get("channel_id"),
		Command:   command,
		Args:      splitArgs(text),
		Slack: SlackFields{
			TeamID:      form.Get("team_id"),
			Text:        text,
			TriggerID:   form.Get("trigger_id"),
			ResponseURL: form.Get("response_url"),
		},
	}, nil
}

// splitArgs splits a command's text on white space; no arguments is nil, as on Discord.
func splitArgs(text string) []string {
	args := strings.Fields(text)
	if len(args) == 0 {
		return nil
	}
	return args
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
