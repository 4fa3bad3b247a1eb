package interact

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestResponses(t *testing.T) {
	tests := []struct {
		name     string
		response Response
		want     Response
	}{
		{"Discord PONG", DiscordPong(), Response{200, "application/json", []byte(`{"type":1}`)}},
		{"Discord deferred update", DiscordDeferredUpdate(), Response{200, "application/json", []byte(`{"type":6}`)}},
		{"Discord deferred message", DiscordDeferredMessage(), Response{200, "application/json", []byte(`{"type":5}`)}},
		{"Slack acknowledgement", SlackAck(), Response{StatusCode: 200}},
		{"Slack ephemeral reply", SlackCommandReply(SlackEphemeral, "Only you can see this"), Response{200, "application/json", []byte(`{"response_type":"ephemeral","text":"Only you can see this"}`)}},
		{"Slack in-channel reply", SlackCommandReply(SlackInChannel, `restart "worker" <ok>`), Response{200, "application/json", []byte(`{"response_type":"in_channel","text":"restart \"worker\" \u003cok\u003e"}`)}},
		{"Slack unknown response type is ephemeral", SlackCommandReply("broadcast", "x"), Response{200, "application/json", []byte(`{"response_type":"ephemeral","text":"x"}`)}},
		{"Acknowledge Discord PING", Acknowledge(Interaction{Platform: PlatformDiscord, Kind: KindPing}), DiscordPong()},
		{"Acknowledge Discord button", Acknowledge(Interaction{Platform: PlatformDiscord, Kind: KindButton}), DiscordDeferredUpdate()},
		{"Acknowledge Discord command", Acknowledge(Interaction{Platform: PlatformDiscord, Kind: KindCommand}), DiscordDeferredMessage()},
		{"Acknowledge Slack button", Acknowledge(Interaction{Platform: PlatformSlack, Kind: KindButton}), SlackAck()},
		{"Acknowledge Slack command", Acknowledge(Interaction{Platform: PlatformSlack, Kind: KindCommand}), SlackAck()},
		{"Acknowledge Slack ssl_check", Acknowledge(Interaction{Platform: PlatformSlack, Kind: KindPing}), SlackAck()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.response, tt.want) {
				t.Errorf("got %d %q %s, want %d %q %s", tt.response.StatusCode, tt.response.ContentType, tt.response.Body, tt.want.StatusCode, tt.want.ContentType, tt.want.Body)
			}
			if len(tt.response.Body) > 0 && !json.Valid(tt.response.Body) {
				t.Errorf("body %s is not JSON", tt.response.Body)
			}
		})
	}
}

func TestResponseFunctionURL(t *testing.T) {
	tests := []struct {
		name     string
		response Response
		want     events.LambdaFunctionURLResponse
	}{
		{"JSON body", DiscordPong(), events.LambdaFunctionURLResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"type":1}`}},
		{"empty body has no content type", SlackAck(), events.LambdaFunctionURLResponse{StatusCode: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.response.FunctionURL(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
