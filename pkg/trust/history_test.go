package trust

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/metrics"
)

type serviceFunc func(ctx context.Context, name string) (ServiceHistory, error)

func (f serviceFunc) ServiceHistory(ctx context.Context, name string) (ServiceHistory, error) {
	return f(ctx, name)
}

func TestECSHistories(t *testing.T) {
	inc := incidentWith(true, action(5, kindForceNewDeployment, svc, incident.ActionDone), action(6, kindReplay, dlq, incident.ActionDryRun))
	read := serviceFunc(func(_ context.Context, name string) (ServiceHistory, error) {
		return ServiceHistory{Desired: 3, Deployments: []Deployment{{ID: "d1", TaskDefinition: td7, CreatedAt: at(4), Desired: 3}},
			Events: []Event{{At: at(6), Message: "(service gp-worker) has reached a steady state."}}}, nil
	})
	got := ECSHistories{ECS: read}.Histories(context.Background(), inc)
	s := got[svc].Service
	if s == nil || s.Desired != 3 || len(s.Deployments) != 1 || s.Deployments[0].ID != "d1" || len(s.Events) != 1 {
		t.Errorf("service history %+v", got[svc])
	}
	if q := got[dlq]; q.Unreadable == "" || q.Queue != nil {
		t.Errorf("queue history %+v, want unreadable with why", q)
	}

	failing := serviceFunc(func(context.Context, string) (ServiceHistory, error) {
		return ServiceHistory{}, errors.New("describe service gp-worker: AccessDenied")
	})
	if h := (ECSHistories{ECS: failing}).Histories(context.Background(), inc)[svc]; !strings.Contains(h.Unreadable, "AccessDenied") {
		t.Errorf("failed read gave %+v, want unreadable with the error", h)
	}

	slow := serviceFunc(func(ctx context.Context, _ string) (ServiceHistory, error) {
		<-ctx.Done()
		return ServiceHistory{}, ctx.Err()
	})
	if h := (ECSHistories{ECS: slow, Timeout: time.Millisecond}).Histories(context.Background(), inc)[svc]; !strings.Contains(h.Unreadable, "longer than") {
		t.Errorf("slow read gave %+v, want unreadable: took too long", h)
	}
}

// TestECSHistoriesAgreements: the judge at close reads the targets and judges; an incident
// without a done or dry-run action reads nothing.
func TestECSHistoriesAgreements(t *testing.T) {
	reads := 0
	read := serviceFunc(func(_ context.Context, name string) (ServiceHistory, error) {
		reads++
		return ServiceHistory{Desired: 2, Deployments: []Deployment{{ID: "p1", TaskDefinition: td7, CreatedAt: at(20), Desired: 2}}}, nil
	})
	h := ECSHistories{ECS: read}
	got := h.Agreements(context.Background(), incidentWith(true, action(5, kindForceNewDeployment, svc, incident.ActionDryRun)))
	if len(got) != 1 || got[0].Verdict != incident.VerdictAgreed || reads != 1 {
		t.Errorf("agreements %+v after %d reads, want one agreed after one read", got, reads)
	}
	if got := h.Agreements(context.Background(), incidentWith(true, action(5, kindForceNewDeployment, svc, incident.ActionSkipped))); got != nil || reads != 1 {
		t.Errorf("an incident with only a skipped action gave %+v and read ECS", got)
	}
}

func TestMovesFromDepths(t *testing.T) {
	nan := math.NaN()
	pts := func(vs ...float64) []metrics.Point {
		out := make([]metrics.Point, len(vs))
		for i, v := range vs {
			out[i] = metrics.Point{T: at(i), V: v}
		}
		return out
	}
	tests := []struct {
		name string
		in   []metrics.Point
		want []Move
	}{
		{"flat", pts(40, 40, 40), nil},
		{"growing only", pts(10, 20, 37), nil},
		{"one drop", pts(37, 37, 12, 12), []Move{{At: at(2), Messages: 25}}},
		{"two drops", pts(37, 20, 20, 0), []Move{{At: at(1), Messages: 17}, {At: at(3), Messages: 20}}},
		{"drop across a gap", pts(37, nan, nan, 7), []Move{{At: at(3), Messages: 30}}},
		{"leading gap", pts(nan, 5, 0), []Move{{At: at(2), Messages: 5}}},
		{"a drop of less than half a message is none", pts(10.4, 10.0), nil},
	}
	for _, tt := range tests {
		got := MovesFromDepths(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if !got[i].At.Equal(tt.want[i].At) || got[i].Messages != tt.want[i].Messages {
				t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
			}
		}
	}
}

type depthsFunc func(ctx context.Context, start, end time.Time, qs ...metrics.Query) (map[string]metrics.Series, error)

func (f depthsFunc) Fetch(ctx context.Context, start, end time.Time, qs ...metrics.Query) (map[string]metrics.Series, error) {
	return f(ctx, start, end, qs...)
}

// The DLQ's history is its depth: the drops are moves, ours and others'.
func TestQueueHistory(t *testing.T) {
	inc := incidentWith(true, action(6, kindReplay, dlq, incident.ActionDryRun))
	var asked metrics.Query
	depths := depthsFunc(func(_ context.Context, _, _ time.Time, qs ...metrics.Query) (map[string]metrics.Series, error) {
		asked = qs[0]
		return map[string]metrics.Series{"depth": {ID: "depth", Period: time.Minute, Points: []metrics.Point{{T: at(5), V: 37}, {T: at(9), V: 37}, {T: at(10), V: 0}}}}, nil
	})
	h := ECSHistories{Depths: depths, Broker: "b", VirtualHost: "/", DLQ: dlq}.Histories(context.Background(), inc)[dlq]
	if h.Queue == nil || len(h.Queue.Moves) != 1 || h.Queue.Moves[0].Messages != 37 {
		t.Fatalf("history %+v", h)
	}
	if asked.Dimensions["Queue"] != dlq || asked.Dimensions["Broker"] != "b" || asked.Namespace != "AWS/AmazonMQ" {
		t.Errorf("asked for %+v", asked)
	}
	// Someone moved the 37 dead letters while we only said we would replay them: a person did
	// the same kind of thing to the same target, so the dry-run replay agrees.
	got := Judge(inc, map[string]History{dlq: h})
	if len(got) != 1 || got[0].Verdict != incident.VerdictAgreed {
		t.Errorf("verdicts %+v", got)
	}

	few := depthsFunc(func(context.Context, time.Time, time.Time, ...metrics.Query) (map[string]metrics.Series, error) {
		return map[string]metrics.Series{"depth": {Points: []metrics.Point{{T: at(5), V: 37}}}}, nil
	})
	if h := (ECSHistories{Depths: few, DLQ: dlq}).Histories(context.Background(), inc)[dlq]; !strings.Contains(h.Unreadable, "too few datapoints") {
		t.Errorf("one datapoint gave %+v", h)
	}
}
