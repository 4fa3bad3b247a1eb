package trustecs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
)

type servicesFunc func(ctx context.Context, name string) (ecs.Service, error)

func (f servicesFunc) Service(ctx context.Context, name string) (ecs.Service, error) {
	return f(ctx, name)
}

func TestReader(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := Reader{ECS: servicesFunc(func(_ context.Context, name string) (ecs.Service, error) {
		if name != "gp-worker" {
			return ecs.Service{}, errors.New("no such service")
		}
		return ecs.Service{Name: name, Desired: 3, Deployments: []ecs.Deployment{{ID: "d1", TaskDefinition: "td/w:7", CreatedAt: at, Desired: 3}},
			Events: []ecs.Event{{At: at, Message: "(service gp-worker) has reached a steady state."}}}, nil
	})}
	h, err := r.ServiceHistory(context.Background(), "gp-worker")
	if err != nil || h.Desired != 3 || len(h.Deployments) != 1 || h.Deployments[0].TaskDefinition != "td/w:7" || !h.Deployments[0].CreatedAt.Equal(at) ||
		len(h.Events) != 1 || h.Events[0].Message == "" {
		t.Fatalf("history %+v, %v", h, err)
	}
	if _, err := r.ServiceHistory(context.Background(), "other"); err == nil {
		t.Fatal("a failed read gave no error")
	}
}
