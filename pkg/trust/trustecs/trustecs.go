// Package trustecs reads, with pkg/ecs, what pkg/trust's judge needs of an ECS service at an
// incident's close. It is apart from pkg/trust so that a function reading no service does not
// link the ECS client.
package trustecs

import (
	"context"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/trust"
)

// Services reads one ECS service (pkg/ecs Client.Service).
type Services interface {
	Service(ctx context.Context, name string) (ecs.Service, error)
}

// Reader is trust.ServiceReader over pkg/ecs.
type Reader struct{ ECS Services }

var _ trust.ServiceReader = Reader{}

// ServiceHistory implements trust.ServiceReader: the desired count, the deployments ECS still
// lists and the service events.
func (r Reader) ServiceHistory(ctx context.Context, name string) (trust.ServiceHistory, error) {
	svc, err := r.ECS.Service(ctx, name)
	if err != nil {
		return trust.ServiceHistory{}, err
	}
	sh := trust.ServiceHistory{Desired: svc.Desired}
	for _, d := range svc.Deployments {
		sh.Deployments = append(sh.Deployments, trust.Deployment{ID: d.ID, TaskDefinition: d.TaskDefinition, CreatedAt: d.CreatedAt, Desired: d.Desired})
	}
	for _, e := range svc.Events {
		sh.Events = append(sh.Events, trust.Event{At: e.At, Message: e.Message})
	}
	return sh, nil
}
