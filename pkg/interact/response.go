package interact

import (
	"encoding/json"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// Response is an immediate HTTP answer to an interaction. Both platforms want it within 3
// seconds; slower work goes to a follow-up through the response_url or interaction token.
type Response struct {
	StatusCode  int
	ContentType string // empty when Body is empty
	Body        []byte
}

// FunctionURL converts the response into a Lambda function URL response.
func (r Response) FunctionURL() events.LambdaFunctionURLResponse {
	out := events.LambdaFunctionURLResponse{StatusCode: r.StatusCode, Body: string(r.Body)}
	if r.ContentType != "" {
		out.Headers = map[string]string{"Content-Type": r.ContentType}
	}
	return out
}

const contentTypeJSON = "application/json"

// Discord interaction callback types
// (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-interaction-callback-type).
const (
	discordCallbackPong                   = 1
	discordCallbackDeferredChannelMessage = 5
	discordCallbackDeferredUpdateMessage  = 6
)

func discordCallback(callbackType int) Response {
	return Response{
		StatusCode:  200,
		ContentType: contentTypeJSON,
		Body:        []byte(`{"type":` + strconv.Itoa(callbackType) + `}`),
	}
}

// DiscordPong answers a Discord PING: {"type":1}. Discord refuses to save the endpoint URL
// until it gets this.
func DiscordPong() Response { return discordCallback(discordCallbackPong) }

// DiscordDeferredUpdate acknowledges a component click, {"type":6}: no "thinking" state is
// shown, and the message may be edited later with the interaction token.
func DiscordDeferredUpdate() Response { return discordCallback(discordCallbackDeferredUpdateMessage) }

// DiscordDeferredMessage acknowledges a command, {"type":5}: the user sees "thinking…" until
// a follow-up edits the original response with the interaction token.
func DiscordDeferredMessage() Response {
	return discordCallback(discordCallbackDeferredChannelMessage)
}

// SlackAck is Slack's acknowledgement, an empty 200: enough for block_actions, ssl_check and a
// slash command that answers later through its response_url.
func SlackAck() Response { return Response{StatusCode: 200} }

// SlackResponseType says who sees a slash command's reply.
type SlackResponseType string

const (
	SlackEphemeral SlackResponseType = "ephemeral"  // only the user who typed the command
	SlackInChannel SlackResponseType = "in_channel" // everyone in the channel
)

// SlackCommandReply answers a slash command with a message:
// {"response_type":"ephemeral"|"in_channel","text":text}. An unknown response type is sent as
// ephemeral, the one that cannot leak into a channel.
func SlackCommandReply(responseType SlackResponseType, text string) Response {
	if responseType != SlackInChannel {
		responseType = SlackEphemeral
	}
	body, err := json.Marshal(struct {
		ResponseType SlackResponseType `json:"response_type"`
		Text         string            `json:"text"`
	}{responseType, text})
	if err != nil {
		// Marshalling two strings cannot fail; json.Marshal replaces invalid UTF-8.
		panic("interact: marshal Slack reply: " + err.Error())
	}
	return Response{StatusCode: 200, ContentType: contentTypeJSON, Body: body}
}

// Acknowledge is the immediate answer that fits an interaction when the work happens
// afterwards: PONG for a Discord PING, a deferred update for a Discord button, a deferred
// message for a Discord command, and Slack's empty 200 for anything from Slack.
func Acknowledge(in Interaction) Response {
	if in.Platform != PlatformDiscord {
		return SlackAck()
	}
	switch in.Kind {
	case KindPing:
		return DiscordPong()
	case KindButton:
		return DiscordDeferredUpdate()
	default:
		return DiscordDeferredMessage()
	}
}
