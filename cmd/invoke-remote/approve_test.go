package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/arrakis/gp-remediation/pkg/interact"
	"github.com/arrakis/gp-remediation/sandbox"
)

// The approve function's samples against a deployed function, played by the sandbox's Lambda
// and Secrets Manager through the real SDK: a Slack sample is signed now with the signing
// secret read from the environment's interactions secret, and the function URL's answer is
// printed whatever its status; a Discord sample cannot be signed and nothing is invoked.
func TestApproveSamples(t *testing.T) {
	sb := sandbox.StartTest(t, sandbox.Options{})
	if err := sb.LoadScenario("healthy"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL", sb.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_PROFILE", "")
	// The deployed function: it verifies as approve does, with the sandbox's signing secret.
	var got []interact.Request
	sb.SetLambdaTarget("arrakis-staging-remediate-approve", func(_ context.Context, payload []byte) ([]byte, error) {
		var ev events.LambdaFunctionURLRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		r, err := interact.FromFunctionURL(ev)
		if err != nil {
			return nil, err
		}
		got = append(got, r)
		resp := events.LambdaFunctionURLResponse{StatusCode: 200, Body: "accepted"}
		if _, err := (interact.Verifier{SlackSigningSecret: sandbox.SlackSigningSecret}).VerifyAndParse(r, time.Now()); err != nil {
			resp = events.LambdaFunctionURLResponse{StatusCode: 401, Body: err.Error()}
		}
		return json.Marshal(resp)
	})
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		event, secret string
		exit          int
		stdout        string
		stderr        []string
		invoked       bool
	}{
		{"slack-restart-worker", "", exitOK, `"statusCode": 200`, []string{"signed the Slack sample now with the signing secret of " + sandbox.InteractionsSecretFor("staging"), "would answer HTTP 200"}, true},
		{"unsigned", "", exitOK, `"statusCode": 401`, []string{"should refuse it (401)", "would answer HTTP 401"}, true},
		{"slack-health", "arrakis-staging/no-such-secret", exitUsage, "", []string{"read the signing secret from arrakis-staging/no-such-secret", "ResourceNotFoundException"}, false},
		{"discord-ping", "", exitUsage, "", []string{"only Discord holds"}, false},
	} {
		t.Run(tc.event, func(t *testing.T) {
			got = nil
			args := []string{"-root", root, "-env", "staging", "-region", "us-east-1", "-fn", "approve", "-event", tc.event}
			if tc.secret != "" {
				args = append(args, "-secret", tc.secret)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr, newClients)
			if code != tc.exit || !strings.Contains(stdout.String(), tc.stdout) {
				t.Fatalf("exit %d (want %d), stdout %s\nstderr %s", code, tc.exit, stdout.String(), stderr.String())
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if (len(got) == 1) != tc.invoked {
				t.Errorf("%d invocation(s), want invoked=%v", len(got), tc.invoked)
			}
		})
	}
}
