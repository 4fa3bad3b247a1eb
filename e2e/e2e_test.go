// Package e2e runs every case in events/*/cases.json: the functions' real bootstraps under the
// Lambda Runtime Interface Emulator, against the sandbox (and the local RabbitMQ/PostgreSQL
// where a case needs them), asserting the Result and the sandbox's state afterwards.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/ledger/dynalitetest"
)

var env cases.Env

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gpr-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: build:", err)
			return 1
		}
		// A real DynamoDB implementation for the ledger, shared by a case's invocations.
		ddb, err := dynalitetest.StartProcess()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: dynalite:", err)
			return 1
		}
		defer ddb.Stop()
		env = cases.Env{RIE: filepath.Join(dir, "aws-lambda-rie"), Bootstraps: dir, TaskStartDelay: 300 * time.Millisecond, DynamoDB: ddb.Endpoint}
		return m.Run()
	}()
	os.Exit(code)
}

// build compiles the emulator and every function for this host, the way `make build-host`
// does, so the tests always run the code under test.
func build(dir string) error {
	fns, _ := filepath.Glob("../functions/*")
	run := func(args ...string) error {
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("build", "-o", filepath.Join(dir, "aws-lambda-rie"), "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"); err != nil {
		return err
	}
	for _, fn := range fns {
		name := filepath.Base(fn)
		if _, err := os.Stat(filepath.Join(fn, "main.go")); err != nil {
			continue
		}
		if err := run("build", "-tags", "lambda.norpc", "-o", filepath.Join(dir, name, "bootstrap"), "./"+filepath.ToSlash(filepath.Join("..", "functions", name))); err != nil {
			return err
		}
	}
	return nil
}

func TestCases(t *testing.T) {
	all, err := cases.Load("../events")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no cases found in events/*/cases.json")
	}
	for _, c := range all {
		t.Run(c.Function+"/"+c.Name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(env.Bootstraps, c.Function, "bootstrap")); err != nil {
				t.Fatalf("function %s was not built: %v", c.Function, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := cases.Run(ctx, env, c)
			if err != nil {
				if out != nil {
					t.Logf("output:\n%s", tail(out.Output, 4000))
				}
				t.Fatal(err)
			}
			if bad := cases.Check(c, out); len(bad) > 0 {
				t.Logf("result: %s", out.Raw)
				for _, b := range bad {
					t.Error(b)
				}
			}
			checkLogs(t, out)
		})
	}
}

// checkLogs holds the functions to their logging contract: JSON lines, one Result line.
func checkLogs(t *testing.T, out *cases.Outcome) {
	t.Helper()
	results := 0
	for _, l := range out.Logs {
		if strings.Contains(l, `"message":"result"`) {
			results++
		}
	}
	if results > 1+len(out.Result.More) {
		t.Errorf("%d result log lines, want at most %d", results, 1+len(out.Result.More))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
