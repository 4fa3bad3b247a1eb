package rabbit

import (
	"strings"
	"testing"
)

// Fake credentials shaped like real ones (none of them is valid anywhere).
const (
	fakeDiscordToken = "MTA5ODc2NTQzMjEwOTg3NjU0.GhJkLm.AbCdEfGhIjKlMnOpQrStUvWxYz012345678"
	fakeJWT          = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		// gone must not appear in the output (when want is not given exactly)
		gone []string
	}{
		{name: "empty", in: "", want: ""},
		{name: "clean text unchanged", in: `{"id":"42","type":"interaction","guild_id":"1234"}`, want: `{"id":"42","type":"interaction","guild_id":"1234"}`},
		{name: "discord bot token bare", in: "token " + fakeDiscordToken + " rejected", gone: []string{fakeDiscordToken, "AbCdEfGhIj"}},
		{name: "bot authorization value", in: "Authorization: Bot " + fakeDiscordToken, want: "Authorization: [redacted]"},
		{name: "bearer value", in: "calling API with Bearer abcdefghijklmnop1234567890 failed", want: "calling API with Bearer [redacted] failed"},
		{name: "basic value", in: "Basic dXNlcjpwYXNzd29yZDEyMzQ1Ng== sent", want: "Basic [redacted] sent"},
		{name: "bot word in prose kept", in: "Bot started successfully", want: "Bot started successfully"},
		{name: "json token field", in: `{"token":"abc123","user":"x"}`, want: `{"token":"[redacted]","user":"x"}`},
		{name: "json password field with spaces", in: `{"password" : "hunter2"}`, want: `{"password" : "[redacted]"}`},
		{name: "json secret suffix field", in: `{"client_secret":"s3cr3t","ok":true}`, want: `{"client_secret":"[redacted]","ok":true}`},
		{name: "json api_key numeric value", in: `{"api_key": 123456789, "n": 1}`, want: `{"api_key": "[redacted]", "n": 1}`},
		{name: "json authorization field", in: `{"authorization":"Bearer abcdefghijklmnopqrstu"}`, gone: []string{"abcdefghijklmnopqrstu"}},
		{name: "json field case insensitive", in: `{"AccessToken":"zzz-top"}`, want: `{"AccessToken":"[redacted]"}`},
		{name: "json escaped quotes in value", in: `{"password":"a\"b\"c","x":1}`, want: `{"password":"[redacted]","x":1}`},
		{name: "json value cut off by truncation", in: `{"id":1,"token":"abcdefgh`, want: `{"id":1,"token":"[redacted]"`},
		{name: "escaped json inside a string", in: `{"raw":"{\"token\":\"zz-secret\",\"a\":1}"}`, gone: []string{"zz-secret"}},
		{name: "key=value pairs", in: "GET /cb?code=1&api_key=XYZ987&state=2", want: "GET /cb?code=1&api_key=[redacted]&state=2"},
		{name: "dsn password key", in: "host=db user=app password=pa55 dbname=arrakis", want: "host=db user=app password=[redacted] dbname=arrakis"},
		{name: "amqp url password", in: "dial amqps://arrakis:Sup3rS3cret@b-1.mq.us-east-1.amazonaws.com:5671/", want: "dial amqps://arrakis:[redacted]@b-1.mq.us-east-1.amazonaws.com:5671/"},
		{name: "http url password", in: "GET http://admin:pw123@10.0.0.1:15672/api/queues", want: "GET http://admin:[redacted]@10.0.0.1:15672/api/queues"},
		{name: "postgres url password", in: "postgres://app:p%40ss@db:5432/arrakis", want: "postgres://app:[redacted]@db:5432/arrakis"},
		{name: "url without password kept", in: "https://discord.com/api/v10/gateway/bot", want: "https://discord.com/api/v10/gateway/bot"},
		{name: "discord webhook url", in: "post https://discord.com/api/webhooks/123456789012345678/AbC-dEf_GhI123", want: "post https://discord.com/api/webhooks/123456789012345678/[redacted]"},
		{name: "slack webhook url", in: "https://hooks.slack.com/services/T000/B000/XXXXXXXX", want: "https://hooks.slack.com/services/[redacted]"},
		{name: "email address", in: "user alice.smith+dune@example.co.uk not found", want: "user [email] not found"},
		{name: "email in json", in: `{"email":"bob@arrakis.io"}`, want: `{"email":"[email]"}`},
		{name: "jwt", in: "session " + fakeJWT + " expired", want: "session [redacted] expired"},
		{name: "several kinds at once", in: `{"token":"t1","contact":"a@b.io","url":"amqp://u:p4ss@h/"}`, gone: []string{"t1", "a@b.io", "p4ss"}},
		{name: "non-ascii kept", in: "épée — 東京 ok", want: "épée — 東京 ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.in)
			if tc.gone == nil && got != tc.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			for _, g := range tc.gone {
				if strings.Contains(got, g) {
					t.Errorf("Redact(%q) = %q still contains %q", tc.in, got, g)
				}
			}
			if again := Redact(got); again != got {
				t.Errorf("Redact is not idempotent: %q -> %q", got, again)
			}
		})
	}
}

func TestPreviewRedactsAcrossTheCut(t *testing.T) {
	// The token starts inside the preview and ends after it: the preview must not keep its head.
	body := []byte(strings.Repeat("a", 90) + `,"token":"` + fakeDiscordToken + `"}`)
	got, truncated := preview(body, 100)
	if !truncated {
		t.Error("preview of a longer body not marked truncated")
	}
	if len(got) > 100 {
		t.Errorf("preview is %d bytes, want <= 100", len(got))
	}
	if strings.Contains(got, fakeDiscordToken[:5]) {
		t.Errorf("preview %q keeps the start of the token", got)
	}
}

func TestPreviewBounds(t *testing.T) {
	tests := []struct {
		name      string
		body      []byte
		n         int
		wantLen   int
		truncated bool
		contains  string
	}{
		{name: "short body whole", body: []byte(`{"a":1}`), n: 512, wantLen: 7, truncated: false, contains: `{"a":1}`},
		{name: "long body cut", body: []byte(strings.Repeat("x", 4096)), n: 512, wantLen: 512, truncated: true},
		{name: "multibyte not split", body: []byte(strings.Repeat("é", 300)), n: 101, wantLen: 100, truncated: true},
		{name: "binary summarised", body: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff, 0xfe}, n: 512, wantLen: -1, truncated: true, contains: "(binary, 12 bytes)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, tr := preview(tc.body, tc.n)
			if tc.wantLen >= 0 && len(got) != tc.wantLen {
				t.Errorf("len = %d, want %d (%q)", len(got), tc.wantLen, got)
			}
			if tr != tc.truncated {
				t.Errorf("truncated = %v, want %v", tr, tc.truncated)
			}
			if tc.contains != "" && !strings.Contains(got, tc.contains) {
				t.Errorf("preview %q does not contain %q", got, tc.contains)
			}
		})
	}
}

func TestScrubber(t *testing.T) {
	scrub := scrubber("p@ss/w:rd")
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain", in: "auth failed for p@ss/w:rd", want: "auth failed for [redacted]"},
		{name: "query escaped", in: "url ?password=p%40ss%2Fw%3Ard", want: "url ?password=[redacted]"},
		{name: "path escaped", in: "amqp://u:p@ss%2Fw:rd@host", want: "amqp://u:[redacted]@host"},
		{name: "no secret", in: "connection refused", want: "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := scrub(errString(tc.in))
			if err.Error() != tc.want {
				t.Errorf("got %q, want %q", err.Error(), tc.want)
			}
		})
	}
	if scrub(nil) != nil {
		t.Error("scrub(nil) != nil")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func BenchmarkRedact(b *testing.B) {
	clean := []byte(`{"id":"1098765432109876543","type":2,"guild_id":"876543210987654321","channel_id":"765432109876543210","data":{"name":"ping","options":[{"name":"target","value":"everyone"}]},"member":{"user":{"id":"123","username":"paul"}},"pad":"` + strings.Repeat("x", 300) + `"}`)
	dirty := []byte(`{"token":"` + fakeDiscordToken + `","email":"a@b.io","url":"amqp://u:p@h/","pad":"` + strings.Repeat("x", 400) + `"}`)
	for _, c := range []struct {
		name string
		body []byte
	}{{"clean", clean}, {"secrets", dirty}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				preview(c.body, 512)
			}
		})
	}
}

// FuzzRedact checks that Redact never panics, is idempotent, and never lets a planted
// credential through whatever surrounds it. `go test` runs the seeds; `go test -fuzz` explores.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"", `{"token":"`, "amqp://u:p@", "a@b.co", "Bot ", "x.y.z", `\"password\":\"`, "=&=", "::\"\"::"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, before, after string) {
		for _, planted := range []string{
			`{"token":"` + fakeDiscordToken + `"}`,
			" " + fakeDiscordToken + " ",
			" amqps://arrakis:Zx9-planted-pw@broker:5671/ ",
		} {
			in := before + planted + after
			got := Redact(in)
			if Redact(got) != got {
				t.Fatalf("not idempotent on %q", in)
			}
			if strings.Contains(got, "Zx9-planted-pw") || strings.Contains(got, fakeDiscordToken) {
				t.Fatalf("secret survived in %q -> %q", in, got)
			}
		}
	})
}
