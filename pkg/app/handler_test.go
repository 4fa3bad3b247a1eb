package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// never is a playbook the bad inputs must never reach.
type never struct{ t *testing.T }

func (n never) Scope(alarm.Alarm) (playbook.Target, error) {
	n.t.Error("a bad input reached the playbook")
	return playbook.Target{}, playbook.ErrNotActionable
}
func (never) Diagnose(context.Context, alarm.Alarm, playbook.Target) (struct{}, []report.Diagnostic) {
	return struct{}{}, nil
}
func (never) Decide(alarm.Alarm, playbook.Target, struct{}, map[string]string) playbook.Decision {
	return playbook.Decision{}
}
func (never) Precheck(context.Context, playbook.Action) error { return nil }
func (never) Act(context.Context, playbook.Action) (playbook.Effect, error) {
	return playbook.Effect{}, nil
}
func (never) Verify(context.Context, playbook.Target, []playbook.Action) report.Verification {
	return report.Verification{}
}
func (never) Present(alarm.Alarm, playbook.Target, struct{}, report.Result) report.Presentation {
	return report.Presentation{}
}

// TestHandlerAnswersAnyPayload: whatever bytes arrive, the function answers with a
// not-actionable Result and no error, so Lambda does not retry them.
func TestHandlerAnswersAnyPayload(t *testing.T) {
	h := Handler[struct{}]{Runner: &playbook.Runner{Function: "no-tasks", Config: config.Config{Environment: "staging"}}, Playbook: never{t}}
	for name, tc := range map[string]struct{ payload, reason string }{
		"random bytes":   {"\x00\xff\x13garbage", "not JSON"},
		"empty":          {"", "empty"},
		"a JSON array":   {`[{"Records":[]}]`, "valid JSON but an array"},
		"a JSON number":  {`42`, "valid JSON but a number"},
		"over the limit": {`{"x":"` + strings.Repeat("a", 7<<20) + `"}`, "larger than any alarm event"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := h.Invoke(context.Background(), []byte(tc.payload))
			if err != nil {
				t.Fatalf("error %v, want a Result", err)
			}
			var res report.Result
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if res.Finding.Code != "not-actionable" || !strings.Contains(res.Error, tc.reason) {
				t.Errorf("finding %q, error %q; want not-actionable saying %q", res.Finding.Code, res.Error, tc.reason)
			}
		})
	}
}
