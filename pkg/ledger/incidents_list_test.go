package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/ledger"
)

// TestIncidentHistoryList: three incidents of one environment, each closed before the next
// opens (so two are archived and one is current), and one of another environment; the
// listing of a period returns the environment's incidents opened in it, oldest first.
func TestIncidentHistoryList(t *testing.T) {
	e := newEnv(t)
	s := e.incidents(t)
	ctx := context.Background()
	base := e.clock.Now()
	var ids []string
	for i := range 3 {
		at := base.Add(time.Duration(i) * 24 * time.Hour)
		inc, _, err := s.OpenOrJoin(ctx, "staging", "staging worker memory high", "memory-high", at)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, inc.ID, incident.Entry{At: at, Kind: incident.KindAction, Action: &incident.Action{Kind: "force-new-deployment", Target: "w", Outcome: "done"}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Close(ctx, inc.ID, incident.CloseRecovered, at.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inc.ID)
	}
	if _, _, err := s.OpenOrJoin(ctx, "prod", "prod worker memory high", "memory-high", base); err != nil {
		t.Fatal(err)
	}
	h, err := ledger.NewIncidentHistory(e.client, e.table)
	if err != nil {
		t.Fatal(err)
	}
	all, err := h.List(ctx, "staging", base.Add(-time.Hour), base.Add(7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("listed %d incidents, want 3", len(all))
	}
	for i, inc := range all {
		if inc.ID != ids[i] || inc.Status != incident.StatusClosed || len(inc.Timeline) != 1 {
			t.Errorf("incident %d = %s %s with %d entries, want %s closed with 1", i, inc.ID, inc.Status, len(inc.Timeline), ids[i])
		}
	}
	later, err := h.List(ctx, "staging", base.Add(time.Hour), base.Add(7*24*time.Hour))
	if err != nil || len(later) != 2 || later[0].ID != ids[1] {
		t.Errorf("period from the second day: %d incidents (%v), want the last 2", len(later), err)
	}
	if _, err := h.List(ctx, "staging", base, base); err == nil || !strings.Contains(err.Error(), "empty period") {
		t.Errorf("empty period: %v, want an error", err)
	}
	if _, err := h.List(ctx, "", base, base.Add(time.Hour)); err == nil {
		t.Error("empty environment listed")
	}
}
