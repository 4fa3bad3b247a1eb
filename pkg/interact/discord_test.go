package interact

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"strconv"
	"testing"
)

// signedDiscord is a Discord request for body, validly signed with testDiscordKey at testNow.
func signedDiscord(body string) Request {
	ts := strconv.FormatInt(testNow.Unix(), 10)
	return discordRequest(signDiscord(testDiscordKey, ts, []byte(body)), ts, []byte(body))
}

func testDiscordVerifier() Verifier {
	return Verifier{DiscordPublicKey: testDiscordKey.Public().(ed25519.PublicKey)}
}

func TestVerifyAndParseDiscord(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Interaction
	}{
		{
			name: "PING",
			body: `{"id":"1100000000000000001","application_id":"900","type":1,"token":"ping-token","version":1}`,
			want: Interaction{
				Platform: PlatformDiscord, Kind: KindPing, ReplayID: "discord:1100000000000000001",
				Discord: DiscordFields{InteractionID: "1100000000000000001", ApplicationID: "900", Token: "ping-token"},
			},
		},
		{
			name: "guild command with a sub-command",
			body: `{
				"id":"1100000000000000002","application_id":"900","type":2,"token":"cmd-token","guild_id":"700","channel_id":"800",
				"member":{"user":{"id":"42","username":"duncan"},"roles":["r-oncall","r-sre"]},
				"data":{"id":"555","name":"gpr","type":1,"options":[
					{"name":"restart","type":1,"options":[{"name":"service","type":3,"value":"worker"},{"name":"force","type":5,"value":true}]}
				]}
			}`,
			want: Interaction{
				Platform: PlatformDiscord, Kind: KindCommand, ReplayID: "discord:1100000000000000002",
				User:      User{ID: "42", Name: "duncan", Roles: []string{"r-oncall", "r-sre"}},
				ChannelID: "800",
				Command:   "gpr",
				Args:      []string{"restart", "worker", "true"},
				Discord:   DiscordFields{InteractionID: "1100000000000000002", ApplicationID: "900", GuildID: "700", Token: "cmd-token"},
			},
		},
		{
			name: "sub-command group, numbers and a plain option, in order",
			body: `{
				"id":"3","application_id":"900","type":2,"token":"t","guild_id":"700","channel":{"id":"801"},
				"member":{"user":{"id":"42","username":"duncan"},"roles":[]},
				"data":{"name":"gpr","options":[
					{"name":"queue","type":2,"options":[{"name":"drain","type":1,"options":[{"name":"limit","type":4,"value":25},{"name":"ratio","type":10,"value":0.5}]}]}
				]}
			}`,
			want: Interaction{
				Platform: PlatformDiscord, Kind: KindCommand, ReplayID: "discord:3",
				User:      User{ID: "42", Name: "duncan", Roles: []string{}},
				ChannelID: "801",
				Command:   "gpr",
				Args:      []string{"queue", "drain", "25", "0.5"},
				Discord:   DiscordFields{InteractionID: "3", ApplicationID: "900", GuildID: "700", Token: "t"},
			},
		},
		{
			name: "command in a DM: user, no roles",
			body: `{"id":"4","application_id":"900","type":2,"token":"t","channel_id":"802","user":{"id":"43","username":"jessica"},"data":{"name":"status"}}`,
			want: Interaction{
				Platform: PlatformDiscord, Kind: KindCommand, ReplayID: "discord:4",
				User:      User{ID: "43", Name: "jessica"},
				ChannelID: "802",
				Command:   "status",
				Discord:   DiscordFields{InteractionID: "4", ApplicationID: "900", Token: "t"},
			},
		},
		{
			name: "button click in a guild",
			body: `{
				"id":"5","application_id":"900","type":3,"token":"btn-token","guild_id":"700","channel_id":"800",
				"member":{"user":{"id":"42","username":"duncan"},"roles":["r-oncall"]},
				"message":{"id":"990","channel_id":"800","content":"Restart worker?"},
				"data":{"custom_id":"approve:incident-42","component_type":2}
			}`,
			want: Interaction{
				Platform: PlatformDiscord, Kind: KindButton, ReplayID: "discord:5",
				User:       User{ID: "42", Name: "duncan", Roles: []string{"r-oncall"}},
				ChannelID:  "800",
				MessageRef: "990",
				Discord: DiscordFields{
					InteractionID: "5", ApplicationID: "900", GuildID: "700",
					CustomID: "approve:incident-42", Token: "btn-token",
				},
			},
		},
	}
	v := testDiscordVerifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.VerifyAndParseDiscord(signedDiscord(tt.body), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v\n(discord fields: got %+v, want %+v)", got, tt.want, got.Discord, tt.want.Discord)
			}
		})
	}
}

func TestVerifyAndParseDiscordRejects(t *testing.T) {
	user := `"member":{"user":{"id":"42"},"roles":[]}`
	tests := []struct {
		name string
		body string
		want error
	}{
		{"not JSON", `{"id":`, ErrMalformed},
		{"JSON array", `[]`, ErrMalformed},
		{"empty body", ``, ErrMalformed},
		{"no id", `{"type":1,"token":"t"}`, ErrMalformed},
		{"id of the wrong JSON type", `{"id":1,"type":1}`, ErrMalformed},
		{"unknown type", `{"id":"1","type":9,"token":"t",` + user + `}`, ErrUnsupported},
		{"autocomplete", `{"id":"1","type":4,"token":"t",` + user + `,"data":{"name":"gpr"}}`, ErrUnsupported},
		{"modal submit", `{"id":"1","type":5,"token":"t",` + user + `}`, ErrUnsupported},
		{"no type", `{"id":"1","token":"t",` + user + `}`, ErrUnsupported},
		{"command without user", `{"id":"1","type":2,"token":"t","data":{"name":"gpr"}}`, ErrMalformed},
		{"member without user id", `{"id":"1","type":2,"token":"t","member":{"user":{"username":"x"}},"data":{"name":"gpr"}}`, ErrMalformed},
		{"command without token", `{"id":"1","type":2,` + user + `,"data":{"name":"gpr"}}`, ErrMalformed},
		{"command without name", `{"id":"1","type":2,"token":"t",` + user + `,"data":{}}`, ErrMalformed},
		{"option without value", `{"id":"1","type":2,"token":"t",` + user + `,"data":{"name":"gpr","options":[{"name":"x","type":3}]}}`, ErrMalformed},
		{"option value null", `{"id":"1","type":2,"token":"t",` + user + `,"data":{"name":"gpr","options":[{"name":"x","type":3,"value":null}]}}`, ErrMalformed},
		{"option value object", `{"id":"1","type":2,"token":"t",` + user + `,"data":{"name":"gpr","options":[{"name":"x","type":3,"value":{}}]}}`, ErrMalformed},
		{"sub-command without name", `{"id":"1","type":2,"token":"t",` + user + `,"data":{"name":"gpr","options":[{"type":1}]}}`, ErrMalformed},
		{"options nested too deep", `{"id":"1","type":2,"token":"t",` + user + `,"data":{"name":"gpr","options":[{"name":"a","type":2,"options":[{"name":"b","type":1,"options":[{"name":"c","type":1,"options":[{"name":"d","type":3,"value":"x"}]}]}]}]}}`, ErrMalformed},
		{"button without custom_id", `{"id":"1","type":3,"token":"t",` + user + `,"data":{"component_type":2}}`, ErrMalformed},
		{"string select", `{"id":"1","type":3,"token":"t",` + user + `,"data":{"custom_id":"pick","component_type":3,"values":["a"]}}`, ErrUnsupported},
		{"component without component_type", `{"id":"1","type":3,"token":"t",` + user + `,"data":{"custom_id":"approve"}}`, ErrUnsupported},
	}
	v := testDiscordVerifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.VerifyAndParseDiscord(signedDiscord(tt.body), testNow)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v (got %v)", err, tt.want, got)
			}
			if errors.Is(err, ErrUnverified) {
				t.Errorf("a signed request's content error %v must not read as unverified", err)
			}
			if !reflect.DeepEqual(got, Interaction{}) {
				t.Errorf("an error came with a non-zero Interaction %v", got)
			}
		})
	}
}

func TestVerifyAndParseDiscordNeverParsesUnsigned(t *testing.T) {
	body := `{"id":"5","application_id":"900","type":3,"token":"t","user":{"id":"42"},"data":{"custom_id":"approve","component_type":2}}`
	_, otherKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(testNow.Unix(), 10)
	tests := []struct {
		name    string
		request Request
	}{
		{"signed by another key", discordRequest(signDiscord(otherKey, ts, []byte(body)), ts, []byte(body))},
		{"body changed after signing", func() Request {
			r := signedDiscord(body)
			r.Body = []byte(`{"id":"6","application_id":"900","type":3,"token":"t","user":{"id":"42"},"data":{"custom_id":"approve"}}`)
			return r
		}()},
	}
	v := testDiscordVerifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.VerifyAndParseDiscord(tt.request, testNow)
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v, want ErrBadSignature", err)
			}
			if !reflect.DeepEqual(got, Interaction{}) {
				t.Errorf("an unsigned request was parsed into %v", got)
			}
		})
	}
}
