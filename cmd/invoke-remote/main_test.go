package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

const sampleEvent = `{"Records":[{"EventSource":"aws:sns","Sns":{"MessageId":"m1","Message":"{}"}}]}`

// fixture is a repository root with cdk.json and one event.
func fixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"cdk.json": `{"app": "go run ./infra", "context": {"environments": {
			"staging": {"region": "eu-west-1"}, "production": {"region": "us-east-1"}}}}`,
		"events/no-tasks/ingestor-oom.json": sampleEvent,
		"events/no-tasks/worker-bad.json":   sampleEvent,
		"events/dlq/broken.json":            `{"Records": [`,
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// fakeLambda answers the Lambda Invoke REST API the way the service does.
type fakeLambda struct {
	t        *testing.T
	calls    atomic.Int32
	status   int
	headers  map[string]string
	body     string
	wantPath string
	gotBody  []byte
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != f.wantPath {
		f.t.Errorf("%s %s, want POST %s", r.Method, r.URL.Path, f.wantPath)
	}
	if got := r.Header.Get("X-Amz-Invocation-Type"); got != "RequestResponse" {
		f.t.Errorf("invocation type %q", got)
	}
	if got := r.Header.Get("X-Amz-Log-Type"); got != "Tail" {
		f.t.Errorf("log type %q", got)
	}
	f.gotBody, _ = io.ReadAll(r.Body)
	for k, v := range f.headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(f.status)
	io.WriteString(w, f.body)
}

// connectTo returns the program's own newClients, pointed at srv through the SDK's standard
// endpoint setting, recording the region asked for.
func connectTo(t *testing.T, srv *httptest.Server, region *string) func(context.Context, string) (Clients, error) {
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	return func(ctx context.Context, r string) (Clients, error) {
		*region = r
		return newClients(ctx, r)
	}
}

func TestInvoke(t *testing.T) {
	tail := base64.StdEncoding.EncodeToString([]byte("START RequestId: 1\n{\"level\":\"INFO\",\"msg\":\"done\"}\nEND RequestId: 1"))
	result := `{"function":"no-tasks","environment":"staging","alarm":{"name":"a","state":"ALARM","changedAt":"2026-11-27T01:00:00Z"},` +
		`"finding":{"code":"oom-killed","summary":"s","evidence":[]},"actions":[],"recommendations":[],"diagnostics":[],"sinks":[],"extra":1}`
	for _, tc := range []struct {
		name       string
		status     int
		headers    map[string]string
		body       string
		exit       int
		stdout     []string
		stderr     []string
		noStdout   bool
		maxCalls   int32
		wantRegion string
		args       []string
	}{
		{
			name: "result", status: 200, headers: map[string]string{"X-Amz-Log-Result": tail, "X-Amz-Executed-Version": "$LATEST"}, body: result,
			exit: exitOK, stdout: []string{`"function": "no-tasks"`, `"code": "oom-killed"`, `"extra": 1`},
			stderr:   []string{"invoking arrakis-staging-remediate-no-tasks (eu-west-1)", "ingestor-oom.json", `"msg":"done"`, "END RequestId: 1"},
			maxCalls: 1, wantRegion: "eu-west-1",
		},
		{
			name: "function error", status: 200,
			headers: map[string]string{"X-Amz-Function-Error": "Unhandled", "X-Amz-Log-Result": tail},
			body:    `{"errorMessage":"decode alarm: truncated","errorType":"errorString"}`,
			exit:    exitFailed, noStdout: true, stderr: []string{"the function failed (Unhandled)", "decode alarm: truncated", "START RequestId"},
			maxCalls: 1,
		},
		{
			name: "result says the event was unusable", status: 200, body: `{"function":"no-tasks","environment":"staging","error":"not an alarm"}`,
			exit: exitBadEventRes, stdout: []string{`"error": "not an alarm"`}, stderr: []string{"could not use the event: not an alarm"}, maxCalls: 1,
		},
		{
			name: "not a result", status: 200, body: `"hello"`,
			exit: exitFailed, noStdout: true, stderr: []string{`the answer is not a Result: "hello"`}, maxCalls: 1,
		},
		{
			name: "function missing", status: 404, headers: map[string]string{"X-Amzn-ErrorType": "ResourceNotFoundException", "Content-Type": "application/json"},
			body: `{"Type":"User","Message":"Function not found: arn:aws:lambda:eu-west-1:1:function:arrakis-staging-remediate-no-tasks"}`,
			exit: exitFailed, noStdout: true, stderr: []string{"ResourceNotFoundException", "Function not found"}, maxCalls: 1,
		},
		{
			name: "service error is not retried", status: 500, headers: map[string]string{"X-Amzn-ErrorType": "ServiceException", "Content-Type": "application/json"},
			body: `{"Message":"internal"}`, exit: exitFailed, noStdout: true, stderr: []string{"ServiceException"}, maxCalls: 1,
		},
		{
			name: "explicit region and function", status: 200, body: result, exit: exitOK, maxCalls: 1, wantRegion: "ap-south-1",
			args: []string{"-region", "ap-south-1", "-function", "custom-name"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fixture(t)
			path := "/2015-03-31/functions/arrakis-staging-remediate-no-tasks/invocations"
			if len(tc.args) > 0 {
				path = "/2015-03-31/functions/custom-name/invocations"
			}
			fake := &fakeLambda{t: t, status: tc.status, headers: tc.headers, body: tc.body, wantPath: path}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			var region string
			var stdout, stderr bytes.Buffer
			args := append([]string{"-root", root, "-env", "staging", "-fn", "no-tasks", "-event", "ingestor-oom"}, tc.args...)
			code := run(context.Background(), args, &stdout, &stderr, connectTo(t, srv, &region))
			if code != tc.exit {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.exit, stdout.String(), stderr.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if tc.noStdout && stdout.Len() > 0 {
				t.Errorf("stdout should be empty: %s", stdout.String())
			}
			if n := fake.calls.Load(); n != tc.maxCalls {
				t.Errorf("%d calls, want %d", n, tc.maxCalls)
			}
			if string(fake.gotBody) != sampleEvent {
				t.Errorf("sent %q, want the event file", fake.gotBody)
			}
			if tc.wantRegion != "" && region != tc.wantRegion {
				t.Errorf("region %q, want %q", region, tc.wantRegion)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	root := fixture(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing", nil, "-env, -fn, -event required"},
		{"unknown function", []string{"-env", "staging", "-fn", "cpu", "-event", "x"}, `unknown function "cpu" (known: no-tasks, queue-depth, dlq, memory-high, approve)`},
		{"unknown event", []string{"-env", "staging", "-fn", "no-tasks", "-event", "nope"}, `no event "nope" (events/no-tasks/ has: ingestor-oom, worker-bad)`},
		{"no events", []string{"-env", "staging", "-fn", "memory-high", "-event", "x"}, "events/memory-high/ has no events"},
		{"invalid JSON", []string{"-env", "staging", "-fn", "dlq", "-event", "broken"}, "is not valid JSON"},
		{"unknown environment", []string{"-env", "qa", "-fn", "no-tasks", "-event", "ingestor-oom"}, `unknown environment "qa" (known: production, staging)`},
		{"extra args", []string{"-env", "staging", "-fn", "no-tasks", "-event", "ingestor-oom", "now"}, "unexpected arguments: now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			connect := func(context.Context, string) (Clients, error) {
				t.Error("connected despite bad usage")
				return Clients{}, nil
			}
			code := run(context.Background(), append([]string{"-root", root}, tc.args...), &stdout, &stderr, connect)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitUsage, tc.want)
			}
		})
	}
}

func TestEventByPath(t *testing.T) {
	root := fixture(t)
	p := filepath.Join(root, "events", "no-tasks", "worker-bad.json")
	b, got, err := readEvent(root, "no-tasks", p)
	if err != nil || got != p || string(b) != sampleEvent {
		t.Fatalf("readEvent(path) = %q, %q, %v", b, got, err)
	}
	if _, got, err := readEvent(root, "no-tasks", "worker-bad.json"); err != nil || got != p {
		t.Fatalf("readEvent(name.json) = %q, %v", got, err)
	}
}

func TestNoRegionAnywhere(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	var region string
	connect := connectTo(t, srv, &region)
	if _, err := connect(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Fatalf("err = %v, want a missing-region error", err)
	}
}

func TestRegionWithoutCDKJSON(t *testing.T) {
	r, err := environmentFromCDK(t.TempDir(), "staging")
	if err != nil || r != (cdkEnvironment{}) {
		t.Fatalf("got %q, %v: without cdk.json the SDK's settings decide", r, err)
	}
}
