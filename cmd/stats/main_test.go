package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
)

func TestRunSandbox(t *testing.T) {
	open := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	incs := []incident.Incident{{ID: "staging.1", Environment: "staging", Status: incident.StatusClosed, OpenedAt: open,
		ClosedAt: open.Add(5 * time.Minute), CloseReason: incident.CloseRecovered, Members: []incident.Member{{Alarm: "a"}},
		Timeline: []incident.Entry{{At: open, Kind: incident.KindAgreement, Agreement: &incident.Agreement{Kind: "force-new-deployment", Target: "w", Outcome: "dry-run", Verdict: incident.VerdictAgreed}}}}}
	b, _ := json.Marshal(incs)
	file := filepath.Join(t.TempDir(), "incidents.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), &out, Sandbox, "", file, 7, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 incident(s), 1 recovered", "dry-run agreement 100 % (1 of 1)", `"AgreementRate":100`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(context.Background(), &out, Sandbox, "", filepath.Join(t.TempDir(), "none.json"), 7, false); err == nil || !strings.Contains(err.Error(), "make demo") {
		t.Errorf("missing file: %v", err)
	}
	if err := run(context.Background(), &out, "", "", file, 7, false); err == nil {
		t.Error("no -env accepted")
	}
}
