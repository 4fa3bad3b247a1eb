package pg

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

const password = "pw-S3cr3t-!@#-value"

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Secret
		wantErr string
	}{
		{name: "RDS fields, port as number", in: `{"engine":"postgres","host":"db.example","port":5432,"username":"arrakis","password":"` + password + `","dbname":"arrakis","dbInstanceIdentifier":"x"}`,
			want: Secret{Host: "db.example", Port: 5432, Username: "arrakis", Password: password, DBName: "arrakis"}},
		{name: "sandbox fields, empty password", in: `{"host":"127.0.0.1","port":"5432","username":"postgres","password":"","dbname":"arrakis"}`,
			want: Secret{Host: "127.0.0.1", Port: 5432, Username: "postgres", DBName: "arrakis"}},
		{name: "alternative spellings and sslmode", in: `{"host":" h ","user":"u","database":"d","sslmode":"require"}`,
			want: Secret{Host: "h", Username: "u", DBName: "d", SSLMode: "require"}},
		{name: "dsn only", in: `{"dsn":"postgres://u:` + password + `@h/d"}`, want: Secret{DSN: "postgres://u:" + password + "@h/d"}},
		{name: "null port", in: `{"host":"h","port":null}`, want: Secret{Host: "h"}},
		{name: "neither host nor dsn", in: `{"username":"u","password":"` + password + `"}`, wantErr: "neither host nor dsn"},
		{name: "bad port", in: `{"host":"h","port":"` + password + `"}`, wantErr: "port is not a number"},
		{name: "port out of range", in: `{"host":"h","port":70000}`, wantErr: "port is not a number"},
		{name: "not JSON", in: `host=h password=` + password, wantErr: "invalid JSON"},
		{name: "truncated JSON", in: `{"host":"h","password":"` + password, wantErr: "invalid JSON"},
		{name: "wrong type", in: `{"host":"h","password":12}`, wantErr: `field "password" is a JSON number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSecret(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), password) {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSecretConfig(t *testing.T) {
	t.Run("fields with defaults", func(t *testing.T) {
		cfg, err := Secret{Host: "db.example", Username: `o'brien\x`, Password: password}.config(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Host != "db.example" || cfg.Port != 5432 || cfg.User != `o'brien\x` || cfg.Database != DefaultDatabase || cfg.Password != password {
			t.Fatalf("config %s:%d user %q db %q", cfg.Host, cfg.Port, cfg.User, cfg.Database)
		}
		if cfg.ConnectTimeout != 5*time.Second || cfg.RuntimeParams["application_name"] != ApplicationName ||
			cfg.RuntimeParams["statement_timeout"] != "10000" || cfg.RuntimeParams["default_transaction_read_only"] != "on" {
			t.Fatalf("timeout %s params %v", cfg.ConnectTimeout, cfg.RuntimeParams)
		}
		if cfg.TLSConfig == nil || len(cfg.Fallbacks) != 1 || cfg.Fallbacks[0].TLSConfig != nil {
			t.Fatal("sslmode should default to prefer: TLS first, plain text as the fallback")
		}
	})
	t.Run("sslmode disable and options", func(t *testing.T) {
		cfg, err := Secret{Host: "h", Port: 6543, DBName: "d", SSLMode: "disable"}.config(Options{ConnectTimeout: time.Second, StatementTimeout: 2500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Port != 6543 || cfg.Database != "d" || cfg.TLSConfig != nil || cfg.ConnectTimeout != time.Second || cfg.RuntimeParams["statement_timeout"] != "2500" {
			t.Fatalf("config %+v", cfg)
		}
	})
	t.Run("dsn wins and gets our settings", func(t *testing.T) {
		dsn := (&url.URL{Scheme: "postgres", User: url.UserPassword("u", password), Host: "h2:5433", Path: "/d2", RawQuery: "sslmode=disable&application_name=other"}).String()
		cfg, err := Secret{Host: "ignored", DSN: dsn}.config(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Host != "h2" || cfg.Port != 5433 || cfg.Password != password || cfg.RuntimeParams["application_name"] != ApplicationName {
			t.Fatalf("config %s:%d params %v", cfg.Host, cfg.Port, cfg.RuntimeParams)
		}
	})
	for _, dsn := range []string{
		"postgres://u:" + password + "@h:notaport/d",
		"host=h password=" + password + " port=x",
		"postgres://u:" + password + "@[::1/d",
		"host=h password='" + password,
	} {
		t.Run("malformed dsn "+dsn[:12], func(t *testing.T) {
			_, err := Secret{DSN: dsn}.config(Options{})
			if err == nil || strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "S3cr3t") {
				t.Fatalf("err %v", err)
			}
		})
	}
	t.Run("invalid sslmode", func(t *testing.T) {
		_, err := Secret{Host: "h", Password: password, SSLMode: "sometimes"}.config(Options{})
		if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "sslmode") {
			t.Fatalf("err %v", err)
		}
	})
}
