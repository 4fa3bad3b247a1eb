package trust

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/incident"
)

type serviceFunc func(ctx context.Context, name string) (ecs.Service, error)

func (f serviceFunc) Service(ctx context.Context, name string) (ecs.Service, error) {
	return f(ctx, name)
}

func TestECSHistories(t *testing.T) {
	inc := incidentWith(true, action(5, kindForceNewDeployment, svc, incident.ActionDone), action(6, kindReplay, dlq, incident.ActionDryRun))
	read := serviceFunc(func(_ context.Context, name string) (ecs.Service, error) {
		return ecs.Service{Name: name, Desired: 3, Deployments: []ecs.Deployment{{ID: "d1", TaskDefinition: td7, CreatedAt: at(4), Desired: 3}},
			Events: []ecs.Event{{At: at(6), Message: "(service gp-worker) has reached a steady state."}}}, nil
	})
	got := ECSHistories{ECS: read}.Histories(context.Background(), inc)
	s := got[svc].Service
	if s == nil || s.Desired != 3 || len(s.Deployments) != 1 || s.Deployments[0].ID != "d1" || len(s.Events) != 1 {
		t.Errorf("service history %+v", got[svc])
	}
	if q := got[dlq]; q.Unreadable == "" || q.Queue != nil {
		t.Errorf("queue history %+v, want unreadable with why", q)
	}

	failing := serviceFunc(func(context.Context, string) (ecs.Service, error) {
		return ecs.Service{}, errors.New("describe service gp-worker: AccessDenied")
	})
	if h := (ECSHistories{ECS: failing}).Histories(context.Background(), inc)[svc]; !strings.Contains(h.Unreadable, "AccessDenied") {
		t.Errorf("failed read gave %+v, want unreadable with the error", h)
	}

	slow := serviceFunc(func(ctx context.Context, _ string) (ecs.Service, error) {
		<-ctx.Done()
		return ecs.Service{}, ctx.Err()
	})
	if h := (ECSHistories{ECS: slow, Timeout: time.Millisecond}).Histories(context.Background(), inc)[svc]; !strings.Contains(h.Unreadable, "longer than") {
		t.Errorf("slow read gave %+v, want unreadable: took too long", h)
	}
}

// TestECSHistoriesAgreements: the judge at close reads the targets and judges; an incident
// without a done or dry-run action reads nothing.
func TestECSHistoriesAgreements(t *testing.T) {
	reads := 0
	read := serviceFunc(func(_ context.Context, name string) (ecs.Service, error) {
		reads++
		return ecs.Service{Name: name, Desired: 2, Deployments: []ecs.Deployment{{ID: "p1", TaskDefinition: td7, CreatedAt: at(20), Desired: 2}}}, nil
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
