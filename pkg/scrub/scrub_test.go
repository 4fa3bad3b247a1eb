package scrub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"plain", "auth failed for p@ss/w:rd", []string{"p@ss/w:rd"}, "auth failed for [redacted]"},
		{"query escaped", "url ?password=p%40ss%2Fw%3Ard", []string{"p@ss/w:rd"}, "url ?password=[redacted]"},
		{"userinfo", "amqp://u:p@ss%2Fw:rd@host", []string{"p@ss/w:rd"}, "amqp://u:[redacted]@host"},
		{"encodeURIComponent", "link a%2Fb%20c%3Dd", []string{"a/b c=d"}, "link [redacted]"},
		{"several secrets", "token t0k3n and password hunter2", []string{"t0k3n", "hunter2"}, "token [redacted] and password [redacted]"},
		{"short or empty values are not searched", "x y", []string{"x", "", "ab"}, "x y"},
		{"no secret", "connection refused", []string{"hunter2"}, "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.in, tc.secrets...); got != tc.want {
				t.Errorf("Text = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	if Error(nil, "hunter2") != nil {
		t.Error("Error(nil) != nil")
	}
	plain := errors.New("connection refused")
	if Error(plain, "hunter2") != plain {
		t.Error("an error without a secret must come back as it is")
	}

	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("password hunter2 rejected")}
	inner := fmt.Errorf("connect: %w: %w", context.DeadlineExceeded, opErr)
	err := Error(inner, "hunter2")
	wrapped := fmt.Errorf("probe: %w", err)
	for _, text := range []string{err.Error(), wrapped.Error(), fmt.Sprintf("%+v", wrapped), fmt.Sprintf("%#v", errors.Unwrap(wrapped).Error())} {
		if strings.Contains(text, "hunter2") {
			t.Errorf("secret in %q", text)
		}
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("no marker in %q", err)
	}
	if !errors.Is(wrapped, context.DeadlineExceeded) {
		t.Error("errors.Is lost through the scrubbed error")
	}
	var oe *net.OpError
	if !errors.As(wrapped, &oe) || oe.Op != "dial" {
		t.Error("errors.As lost through the scrubbed error")
	}
	if errors.Unwrap(err) != nil {
		t.Error("a scrubbed error must not unwrap to the text holding the secret")
	}
}

func TestJSONErrorNeverQuotesTheInput(t *testing.T) {
	var v struct{ N int }
	for _, in := range []string{`{"N": "hunter2"}`, `{"N": hunter2}`} {
		err := JSONError(json.Unmarshal([]byte(in), &v))
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", in, err)
		}
	}
	if got := JSONError(errors.New("eof")).Error(); got != "invalid JSON" {
		t.Errorf("other error: %q", got)
	}
}
