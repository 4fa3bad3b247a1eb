package main

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// A typo in FN is answered with the five functions, before any file, sandbox or broker is touched.
func TestRunNamesTheFunctionsOnAnUnknownOne(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no function", []string{"-event", "events/no-tasks/ingestor-alarm.json"}, "usage: invoke -fn <function> -event <file>"},
		{"no event", []string{"-fn", "dlq"}, "usage: invoke -fn <function> -event <file>"},
		{"typo", []string{"-fn", "nope", "-event", "does-not-exist.json"}, `unknown function "nope": the functions are approve, dlq, memory-high, no-tasks, queue-depth`},
		{"case matters", []string{"-fn", "DLQ", "-event", "does-not-exist.json"}, `unknown function "DLQ": the functions are approve, dlq, memory-high, no-tasks, queue-depth`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v; want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}

// Each of the five names passes the check: the next thing run does is read the event file.
func TestRunAcceptsEveryFunction(t *testing.T) {
	for _, fn := range functionNames() {
		err := run(context.Background(), []string{"-fn", fn, "-event", "does-not-exist.json"})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("run(-fn %s) = %v; want the missing event file", fn, err)
		}
	}
	if got := len(functionNames()); got != 5 {
		t.Errorf("%d functions; want 5", got)
	}
}
