package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// errParse is the one error Parse gives: a fixed text, never a piece of the value.
const errParse = "the value looks like JSON but does not parse"

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{name: "rabbitmq secret", in: `{"username":"arrakis","password":"p@ss:w/rd","management_url":"https://b-1.mq.us-east-1.amazonaws.com"}`,
			want: map[string]string{"username": "arrakis", "password": "p@ss:w/rd", "management_url": "https://b-1.mq.us-east-1.amazonaws.com"}},
		{name: "numbers and booleans formatted", in: `{"port":5432,"ratio":1.5,"big":12345678901234567890,"tls":true}`,
			want: map[string]string{"port": "5432", "ratio": "1.5", "big": "12345678901234567000", "tls": "true"}},
		{name: "null fields left out", in: `{"password":null,"username":"u"}`, want: map[string]string{"username": "u"}},
		{name: "nested values kept as JSON", in: `{"hosts":["a","b"],"opts":{"x":1}}`, want: map[string]string{"hosts": `["a","b"]`, "opts": `{"x":1}`}},
		{name: "plain string secret", in: "MTA5ODc2.GhJk.token", want: map[string]string{"value": "MTA5ODc2.GhJk.token"}},
		{name: "empty secret", in: "", want: map[string]string{"value": ""}},
		{name: "a JSON number is a plain value", in: "12345", want: map[string]string{"value": "12345"}},
		{name: "JSON null is a plain value", in: "null", want: map[string]string{"value": "null"}},
		{name: "broken JSON object", in: `{"password":"hunter2"`, wantErr: true},
		{name: "broken JSON object after whitespace", in: "\n  {\"password\":\"hunter2\",}", wantErr: true},
		{name: "object with surrounding whitespace", in: " \t{\"token\":\"t\"}\n", want: map[string]string{"token": "t"}},
		{name: "duplicate keys: the last wins", in: `{"password":"old","password":"new"}`, want: map[string]string{"password": "new"}},
		{name: "unicode escapes decoded", in: `{"password":"p\u00e4ss\ud83d\ude00"}`, want: map[string]string{"password": "päss😀"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.wantErr {
				if err == nil || err.Error() != errParse {
					t.Fatalf("err = %v, want %q", err, errParse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

type fakeAPI struct {
	value *string
	err   error
	calls int
}

func (f *fakeAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &secretsmanager.GetSecretValueOutput{Name: in.SecretId, SecretString: f.value}, nil
}

func TestStoreErrorsNeverShowValues(t *testing.T) {
	const pw = "Zq-planted-7731"
	tests := []struct {
		name  string
		api   *fakeAPI
		field string
		is    error
	}{
		{name: "broken JSON", api: &fakeAPI{value: aws.String(`{"password":"` + pw + `"`)}, field: "password"},
		{name: "missing field", api: &fakeAPI{value: aws.String(`{"pass":"` + pw + `"}`)}, field: "password"},
		{name: "empty field", api: &fakeAPI{value: aws.String(`{"password":""}`)}, field: "password"},
		{name: "not found", api: &fakeAPI{err: &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}}, field: "password", is: ErrNotFound},
		{name: "binary secret", api: &fakeAPI{}, field: "password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{API: tc.api}
			v, err := s.Field(context.Background(), "arrakis-staging/rabbitmq", tc.field)
			if err == nil {
				t.Fatalf("no error, value %q", v)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "Zq-planted") {
				t.Errorf("error shows the secret: %v", err)
			}
			if !strings.Contains(err.Error(), "arrakis-staging/rabbitmq") {
				t.Errorf("error does not name the secret: %v", err)
			}
		})
	}
}

func TestStoreCachesUntilTTL(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	api := &fakeAPI{value: aws.String(`{"password":"a"}`)}
	s := &Store{API: api, TTL: time.Minute, Now: func() time.Time { return now }}
	for range 3 {
		if v, err := s.Field(context.Background(), "x", "password"); err != nil || v != "a" {
			t.Fatalf("Field = %q, %v", v, err)
		}
	}
	api.value = aws.String(`{"password":"rotated"}`)
	now = now.Add(2 * time.Minute)
	if v, _ := s.Field(context.Background(), "x", "password"); v != "rotated" || api.calls != 2 {
		t.Fatalf("after the TTL: %q, %d calls", v, api.calls)
	}
}

// FuzzParse: any secret string parses or gives the one fixed error (never a piece of the
// value); a JSON object comes back field by field, anything else as {"value": s}.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "x", "null", "12", `"s"`, "[1]", "{", "{}", " {\"a\":1}", `{"a":null}`, `{"a":{"b":[1,2]}}`,
		`{"username":"arrakis","password":"hunter2","management_url":"https://h","amqp_url":"amqps://arrakis:hunter2@h:5671/"}`,
		`{"a":"\ud800"}`, "{\"a\":1}garbage", "\xff{", "\ufeff{\"a\":1}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if err.Error() != errParse {
				t.Fatalf("error %q is not the fixed text", err)
			}
			if !strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), "{") {
				t.Fatalf("error for %q, which does not look like a JSON object", s)
			}
			return
		}
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal([]byte(s), &obj) == nil && obj != nil
		if !isObject {
			if len(got) != 1 || got["value"] != s {
				t.Fatalf("Parse(%q) = %v, want the plain value", s, got)
			}
			return
		}
		for k, raw := range obj {
			v, ok := got[k]
			switch {
			case bytes.Equal(bytes.TrimSpace(raw), []byte("null")):
				if ok {
					t.Fatalf("null field %q kept as %q", k, v)
				}
			case !ok:
				t.Fatalf("field %q lost", k)
			case len(raw) > 0 && raw[0] == '"':
				var want string
				if err := json.Unmarshal(raw, &want); err != nil || v != want {
					t.Fatalf("field %q = %q, want %q", k, v, want)
				}
			}
		}
		for k := range got {
			if _, ok := obj[k]; !ok {
				t.Fatalf("field %q invented", k)
			}
		}
	})
}
