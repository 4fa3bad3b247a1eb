package trust

import (
	"context"
	"errors"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/incident"
)

// ServiceReader reads one ECS service (pkg/ecs Client.Service).
type ServiceReader interface {
	Service(ctx context.Context, name string) (ecs.Service, error)
}

// ECSHistories reads, at an incident's close, the history of each of its actions' targets:
// the ECS service as it stands (deployments, events, desired count) for a service the
// incident recorded a baseline of. Moves out of a dead-letter queue by people leave no record
// the close can read, so a queue target is unreadable, with that reason.
type ECSHistories struct {
	ECS ServiceReader
	// Timeout bounds all the reads together (default DefaultHistoryTimeout): the close runs
	// inside an invocation.
	Timeout time.Duration
}

// DefaultHistoryTimeout bounds the reads of one close.
const DefaultHistoryTimeout = 3 * time.Second

// Agreements judges a closed incident's actions against their targets' histories, read now
// (playbook.Agreements).
func (h ECSHistories) Agreements(ctx context.Context, inc incident.Incident) []incident.Agreement {
	if len(Actions(inc)) == 0 {
		return nil
	}
	return Judge(inc, h.Histories(ctx, inc))
}

// Histories returns the history of each target of inc's judged actions; a read that fails
// or times out gives an unreadable history with the error.
func (h ECSHistories) Histories(ctx context.Context, inc incident.Incident) map[string]History {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHistoryTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := map[string]History{}
	for _, target := range Targets(inc) {
		if _, isService := Baseline(inc, target); !isService || h.ECS == nil {
			out[target] = History{Target: target, Unreadable: "moves out of " + target + " by others leave no record the close can read"}
			continue
		}
		svc, err := h.ECS.Service(ctx, target)
		if err != nil {
			why := err.Error()
			if errors.Is(err, context.DeadlineExceeded) {
				why = "reading service " + target + " took longer than " + timeout.String()
			}
			out[target] = History{Target: target, Unreadable: why}
			continue
		}
		sh := &ServiceHistory{Desired: svc.Desired, Events: svc.Events}
		for _, d := range svc.Deployments {
			sh.Deployments = append(sh.Deployments, Deployment{ID: d.ID, TaskDefinition: d.TaskDefinition, CreatedAt: d.CreatedAt, Desired: d.Desired})
		}
		out[target] = History{Target: target, Service: sh}
	}
	return out
}
