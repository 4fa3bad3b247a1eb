package interact

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Discord interaction types
// (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-interaction-type).
const (
	discordPing             = 1
	discordApplicationCmd   = 2
	discordMessageComponent = 3
)

// discordComponentButton is the component type of a button
// (https://discord.com/developers/docs/components/reference#component-object-component-types).
const discordComponentButton = 2

// Application command option types that hold further options rather than a value.
const (
	discordOptionSubCommand      = 1
	discordOptionSubCommandGroup = 2
)

// discordOptionDepth bounds the option nesting followed. Discord allows a group holding a
// sub-command holding values (three levels); the bound keeps a hostile but validly signed body
// from recursing deeply.
const discordOptionDepth = 3

type discordUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

type discordOption struct {
	Name    string          `json:"name"`
	Type    int             `json:"type"`
	Value   json.RawMessage `json:"value"`
	Options []discordOption `json:"options"`
}

// discordInteraction is the part of an interaction object the approve function reads.
type discordInteraction struct {
	ID            string `json:"id"`
	ApplicationID string `json:"application_id"`
	Type          int    `json:"type"`
	Token         string `json:"token"`
	GuildID       string `json:"guild_id"`
	ChannelID     string `json:"channel_id"`
	Channel       struct {
		ID string `json:"id"`
	} `json:"channel"`
	Member *struct {
		User  discordUser `json:"user"`
		Roles []string    `json:"roles"`
	} `json:"member"`
	User    *discordUser `json:"user"`
	Message struct {
		ID string `json:"id"`
	} `json:"message"`
	Data struct {
		Name          string          `json:"name"`
		Options       []discordOption `json:"options"`
		CustomID      string          `json:"custom_id"`
		ComponentType int             `json:"component_type"`
	} `json:"data"`
}

// parseDiscord reads a verified Discord interaction.
func parseDiscord(body []byte) (Interaction, error) {
	var d discordInteraction
	if err := json.Unmarshal(body, &d); err != nil {
		return Interaction{}, fmt.Errorf("%w: Discord body is not an interaction object: %v", ErrMalformed, err)
	}
	if d.ID == "" {
		return Interaction{}, fmt.Errorf("%w: Discord interaction has no id", ErrMalformed)
	}
	in := Interaction{
		Platform: PlatformDiscord,
		ReplayID: "discord:" + d.ID,
		Discord: DiscordFields{
			InteractionID: d.ID,
			ApplicationID: d.ApplicationID,
			Token:         d.Token,
		},
	}
	switch d.Type {
	case discordPing:
		in.Kind = KindPing
		return in, nil
	case discordApplicationCmd:
		in.Kind = KindCommand
	case discordMessageComponent:
		in.Kind = KindButton
	default:
		return Interaction{}, fmt.Errorf("%w: Discord interaction type %d (handled: 1 PING, 2 APPLICATION_COMMAND, 3 MESSAGE_COMPONENT)", ErrUnsupported, d.Type)
	}

	// In a guild the user is member.user and the roles are the member's; in a DM there is
	// only user, and no roles.
	switch {
	case d.Member != nil && d.Member.User.ID != "":
		in.User = User{ID: d.Member.User.ID, Name: d.Member.User.Username, Roles: d.Member.Roles}
		if in.User.Roles == nil {
			// Non-nil marks a guild member, so "no roles" is not mistaken for "in a DM".
			in.User.Roles = []string{}
		}
	case d.User != nil && d.User.ID != "":
		in.User = User{ID: d.User.ID, Name: d.User.Username}
	default:
		return Interaction{}, fmt.Errorf("%w: Discord interaction has no member.user.id or user.id", ErrMalformed)
	}
	if d.Token == "" {
		return Interaction{}, fmt.Errorf("%w: Discord interaction has no token", ErrMalformed)
	}
	in.ChannelID = firstNonEmpty(d.ChannelID, d.Channel.ID)
	in.Discord.GuildID = d.GuildID

	switch in.Kind {
	case KindCommand:
		if d.Data.Name == "" {
			return Interaction{}, fmt.Errorf("%w: Discord command has no data.name", ErrMalformed)
		}
		in.Command = d.Data.Name
		args, err := flattenOptions(nil, d.Data.Options, 1)
		if err != nil {
			return Interaction{}, err
		}
		in.Args = args
	case KindButton:
		if d.Data.ComponentType != discordComponentButton {
			return Interaction{}, fmt.Errorf("%w: Discord component type %d (only 2, a button, is handled)", ErrUnsupported, d.Data.ComponentType)
		}
		if d.Data.CustomID == "" {
			return Interaction{}, fmt.Errorf("%w: Discord component interaction has no data.custom_id", ErrMalformed)
		}
		in.MessageRef = d.Message.ID
		in.Discord.CustomID = d.Data.CustomID
	}
	return in, nil
}

// flattenOptions appends the options' arguments depth first: a sub-command or group its name
// then its own options, any other option its value.
func flattenOptions(args []string, options []discordOption, depth int) ([]string, error) {
	if depth > discordOptionDepth && len(options) > 0 {
		return nil, fmt.Errorf("%w: Discord command options nest deeper than %d levels", ErrMalformed, discordOptionDepth)
	}
	for _, opt := range options {
		switch opt.Type {
		case discordOptionSubCommand, discordOptionSubCommandGroup:
			if opt.Name == "" {
				return nil, fmt.Errorf("%w: Discord sub-command option has no name", ErrMalformed)
			}
			args = append(args, opt.Name)
			var err error
			if args, err = flattenOptions(args, opt.Options, depth+1); err != nil {
				return nil, err
			}
		default:
			value, err := optionValue(opt.Value)
			if err != nil {
				return nil, fmt.Errorf("%w: Discord option %q: %v", ErrMalformed, truncate(opt.Name, 40), err)
			}
			args = append(args, value)
		}
	}
	return args, nil
}

// optionValue renders an option's value as text: a string as it is, a number or boolean as
// its JSON spelling (Discord sends integers, doubles and booleans as JSON literals).
func optionValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", fmt.Errorf("no value")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case 't', 'f':
		return string(raw), nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), nil
	default:
		return "", fmt.Errorf("value is neither a string, a number nor a boolean")
	}
}
