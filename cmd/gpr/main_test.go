package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ledger/dynalitetest"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/sandbox"
)

func TestRunRefusesBadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no operation given"},
		{[]string{"reboot", "worker"}, `unknown operation "reboot"`},
		{[]string{"scale", "worker"}, "usage: scale <ingestor|worker> <count>"},
		{[]string{"-nope", "health"}, "flag provided but not defined: -nope"},
		{[]string{"replay-dlq", "bad-data", "5"}, `class "bad-data": want bug, unknown or transient`},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, func(string) string { return "" }, &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), tc.want) || out.Len() != 0 {
			t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tc.args, code, errOut.String(), exitUsage, tc.want)
		}
	}
}

// sdkEnv points the SDK at sb the SDK's own way (AWS_ENDPOINT_URL and keys in the process's
// environment, no shared files) and returns the sandbox's variables for gpr's getenv.
func sdkEnv(t *testing.T, sb *sandbox.Sandbox) map[string]string {
	t.Helper()
	vars := sb.Env()
	for k, v := range vars {
		if strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	return vars
}

// gpr runs against an AWS endpoint given the SDK's way (AWS_ENDPOINT_URL and keys in the
// environment): here a sandbox.
func TestRunAgainstTheSandbox(t *testing.T) {
	sb := sandbox.StartTest(t, sandbox.Options{TaskStartDelay: 50 * time.Millisecond})
	vars := sdkEnv(t, sb)
	vars[config.EnvVerifyInterval] = "20ms"
	vars["USER"] = "alice"
	getenv := func(k string) string { return vars[k] }
	gpr := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, getenv, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := gpr("restart", "worker")
	if code != exitOK || !strings.HasPrefix(out, "DRY-RUN restart worker: would force-new-deployment worker") || !strings.Contains(errOut, "dry run: nothing will be changed") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, errOut)
	}
	if u := sb.ServiceUpdates(); len(u) != 0 {
		t.Fatalf("a dry run updated %+v", u)
	}

	code, out, _ = gpr("-apply", "restart", "worker")
	if code != exitOK || !strings.HasPrefix(out, "restart worker done: new deployment") || !strings.Contains(out, "verified") {
		t.Fatalf("-apply: %d\n%s", code, out)
	}
	if u := sb.ServiceUpdates(); len(u) != 1 || !u[0].ForceNewDeployment || u[0].Service != "arrakis-staging-gp-worker" {
		t.Fatalf("updates %+v; want one restart of the worker", u)
	}

	code, out, _ = gpr("-apply", "-json", "scale", "ingestor", "2")
	var res report.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-json printed %q: %v", out, err)
	}
	if code != exitOK || res.Function != "gpr" || len(res.Actions) != 1 || res.Actions[0].Outcome != report.OutcomeDone ||
		!strings.Contains(res.Finding.Evidence[0], "alice via cli") {
		t.Fatalf("-json: %d %+v", code, res)
	}

	sb.SetParameter(sb.Names().KillSwitchParam, "on")
	code, out, _ = gpr("-apply", "restart", "ingestor")
	if code != exitRefused || !strings.HasPrefix(out, "NOT DONE restart ingestor: kill-switch") {
		t.Fatalf("kill switch: %d\n%s", code, out)
	}
	sb.SetParameter(sb.Names().KillSwitchParam, "off")

	fail := sandbox.TaskFailure{StopCode: "EssentialContainerExited", ExitCode: sandbox.Int(1), Ran: time.Second}
	sb.SetTaskOutcome("arrakis-staging-gp-worker", 0, sandbox.TaskOutcome{Failure: &fail})
	code, out, _ = gpr("-apply", "-wait", "20s", "complete-restart")
	if code != exitFailed || !strings.HasPrefix(out, "SYSTEM DOWN") {
		t.Fatalf("failing complete restart: %d\n%s", code, out)
	}
}

// replay-dlq from the command line: a dry run moves nothing, -apply moves the bug messages back
// to the queue they died in (the real RabbitMQ, a virtual host of the test's own).
func TestReplayDLQ(t *testing.T) {
	b := &cases.Broker{DeadLetters: []cases.DeadLetters{
		{Count: 3, Header: "x-error", Error: "panic: runtime error: invalid memory address or nil pointer dereference"},
		{Count: 2, Header: "x-error", Error: "upstream timeout after 30s"},
	}}
	cleanup, err := b.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	sb := sandbox.StartTest(t, sandbox.Options{Rabbit: sandbox.RabbitOptions{AMQPURL: "amqp://127.0.0.1:5672/" + b.VirtualHost()}})
	vars := sdkEnv(t, sb)
	vars["USER"] = "alice"
	gpr := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, func(k string) string { return vars[k] }, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	depth := func(q string) int {
		n, err := b.Depth(q)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	code, out := gpr("replay-dlq", "bug", "10")
	if code != exitOK || !strings.HasPrefix(out, "DRY-RUN replay-dlq bug 10: would replay arrakis.dlq up to 10 bug message(s)") || depth("arrakis.dlq") != 5 {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	code, out = gpr("-apply", "replay-dlq", "bug", "10")
	if code != exitOK || !strings.HasPrefix(out, "replay-dlq bug 10 done: replayed 3 message(s)") || !strings.Contains(out, "verified") {
		t.Fatalf("-apply: %d\n%s", code, out)
	}
	if dlq, work := depth("arrakis.dlq"), depth("arrakis.interactions"); dlq != 2 || work != 3 {
		t.Errorf("DLQ %d, work queue %d; want the 2 transient left and the 3 bugs back", dlq, work)
	}
}

// make gpr's way: an in-process sandbox, nothing from the caller's environment but USER.
func TestRunInItsOwnSandbox(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-sandbox", "-scenario", "scaled-to-zero", "health"}, func(string) string { return "" }, &out, &errOut)
	if code != exitOK || !strings.HasPrefix(out.String(), "Health of staging: ingestor 0/0 running, worker 0/0 running") {
		t.Fatalf("%d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "against the sandbox (scenario scaled-to-zero)") {
		t.Errorf("stderr %q", errOut.String())
	}
}

// With GPR_LEDGER_TABLE the guard's memory is the functions' DynamoDB ledger: a second run of
// gpr meets the cooldown the first one started (a process of its own would forget it).
func TestRunWithTheLedgerTable(t *testing.T) {
	endpoint := dynalitetest.Start(t)
	table := dynalitetest.NewTable(t, endpoint)
	sb := sandbox.StartTest(t, sandbox.Options{TaskStartDelay: 50 * time.Millisecond})
	vars := sb.Env()
	for k, v := range vars {
		if strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	vars[config.EnvVerifyInterval] = "20ms"
	vars[config.EnvLedgerTable] = table
	getenv := func(k string) string { return vars[k] }
	gpr := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, getenv, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := gpr("-apply", "scale", "worker", "2"); code != exitOK || strings.Contains(errOut, "GPR_LEDGER_TABLE is not set") {
		t.Fatalf("first scale: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ := gpr("-apply", "scale", "worker", "3")
	if code != exitRefused || !strings.HasPrefix(out, "NOT DONE scale worker 3: cooldown: last scale-service on arrakis-staging-gp-worker was") {
		t.Fatalf("second scale: %d\n%s", code, out)
	}
}
