package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/report"
)

type listFunc func(ctx context.Context, env string, from, to time.Time) ([]incident.Incident, error)

func (f listFunc) List(ctx context.Context, env string, from, to time.Time) ([]incident.Incident, error) {
	return f(ctx, env, from, to)
}

func TestDigesterHandle(t *testing.T) {
	end := t0.Add(7 * 24 * time.Hour)
	var asked [2]time.Time
	list := listFunc(func(_ context.Context, env string, from, to time.Time) ([]incident.Incident, error) {
		if env != "staging" {
			t.Errorf("listed environment %q", env)
		}
		asked = [2]time.Time{from, to}
		return []incident.Incident{closed(0, "a", incident.CloseRecovered, time.Minute)}, nil
	})
	var posted []report.Report
	var metrics bytes.Buffer
	g := Digester{Environment: "staging", Incidents: list, Metrics: &metrics, Now: func() time.Time { return end.Add(time.Hour) },
		Deliver: func(_ context.Context, r report.Report) []report.Sink {
			posted = append(posted, r)
			return []report.Sink{{Name: "sns", OK: true}}
		}}

	// The schedule's event: its time ends the week.
	scheduled, _ := json.Marshal(map[string]any{"source": "aws.events", "detail-type": "Scheduled Event", "time": end})
	res, err := g.Handle(context.Background(), scheduled)
	if err != nil {
		t.Fatal(err)
	}
	if !asked[0].Equal(t0) || !asked[1].Equal(end) {
		t.Errorf("period %v, want the week before the event's time", asked)
	}
	if len(posted) != 1 || res.Finding.Code != "digest" || len(res.Sinks) != 1 || !strings.Contains(metrics.String(), `"IncidentsRecovered":1`) {
		t.Errorf("posted %d, result %+v, metrics %s", len(posted), res, metrics.String())
	}

	// On demand, with a period; with nothing, the week to now.
	if _, err := g.Handle(context.Background(), json.RawMessage(`{"from":"2026-12-01T00:00:00Z","to":"2026-12-03T00:00:00Z"}`)); err != nil || asked[1].Sub(asked[0]) != 48*time.Hour {
		t.Errorf("on-demand period %v (%v)", asked, err)
	}
	if _, err := g.Handle(context.Background(), nil); err != nil || !asked[1].Equal(end.Add(time.Hour)) {
		t.Errorf("default period %v (%v)", asked, err)
	}

	for name, payload := range map[string]string{"not JSON": `{`, "reversed period": `{"from":"2026-12-03T00:00:00Z","to":"2026-12-01T00:00:00Z"}`} {
		if _, err := g.Handle(context.Background(), json.RawMessage(payload)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	failing := g
	failing.Incidents = listFunc(func(context.Context, string, time.Time, time.Time) ([]incident.Incident, error) {
		return nil, errors.New("AccessDenied")
	})
	posted = nil
	if _, err := failing.Handle(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "AccessDenied") || len(posted) != 0 {
		t.Errorf("a failed listing gave %v and %d posts; want the error and nothing posted", err, len(posted))
	}
}
