package brokerdb

import (
	"strings"
	"testing"

	"github.com/arrakis/gp-remediation/pkg/dlq"
	"github.com/arrakis/gp-remediation/pkg/queuedepth"
)

// The two playbooks define the interfaces they need; this is what satisfies both.
var (
	_ queuedepth.Connections = Connections{}
	_ dlq.Connections        = Connections{}
)

func TestAMQPURL(t *testing.T) {
	tests := []struct {
		name, amqp, mgmt, vhost, want, err string
	}{
		{name: "amqp_url wins", amqp: "amqps://b-1.mq.us-east-1.amazonaws.com:5671/", mgmt: "https://other", vhost: "/", want: "amqps://b-1.mq.us-east-1.amazonaws.com:5671/"},
		{name: "derived from the management URL (Amazon MQ)", mgmt: "https://b-1234.mq.us-east-1.amazonaws.com", vhost: "/", want: "amqps://b-1234.mq.us-east-1.amazonaws.com:5671/"},
		{name: "vhost added when the URL has none", amqp: "amqp://127.0.0.1:5672/", vhost: "gpr case", want: "amqp://127.0.0.1:5672/gpr%20case"},
		{name: "vhost in the URL kept", amqp: "amqp://127.0.0.1:5672/prod", vhost: "other", want: "amqp://127.0.0.1:5672/prod"},
		{name: "neither", err: "neither amqp_url nor"},
		{name: "not amqp", amqp: "http://x", err: "not an amqp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AMQPURL(tc.amqp, tc.mgmt, tc.vhost)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestAMQPURLErrorsNeverQuoteTheURL(t *testing.T) {
	_, err := AMQPURL("ftp://user:s3cr3t-pass@host/", "", "/")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v", err)
	}
}

func TestVirtualHostOf(t *testing.T) {
	for in, want := range map[string]string{
		"amqps://b-1.mq.eu-west-1.amazonaws.com:5671":         "/",
		"amqps://b-1.mq.eu-west-1.amazonaws.com:5671/":        "/",
		"amqp://127.0.0.1:5672/gpr-case-1a2b":                 "gpr-case-1a2b",
		"amqp://guest:guest@127.0.0.1:5672/%2Farrakis%20prod": "/arrakis prod",
		"amqp://127.0.0.1:5672/arrakis":                       "arrakis",
	} {
		if got := VirtualHostOf(in); got != want {
			t.Errorf("VirtualHostOf(%q) = %q, want %q", in, got, want)
		}
	}
}
