// Package service holds the ECS service operations the playbooks share: which of the
// environment's two services an alarm is about, the re-read before restarting, the actions
// on a service (restart, rollback, raise memory, scale), the wait for running tasks, and the
// Discord session budget that guards every ingestor rollout. Playbook packages import this
// one, never each other.
package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Roles of the environment's services.
const (
	RoleIngestor = "ingestor"
	RoleWorker   = "worker"
)

// Scope maps an alarm to one of this environment's two services: the alarm's ServiceName
// dimension, else a service (or role) in its name. An alarm about another cluster or
// environment is not ours.
func Scope(c config.Config, a alarm.Alarm, sev report.Severity) (playbook.Target, error) {
	if cl := a.Dimension("ClusterName"); cl != "" && cl != c.Cluster {
		return playbook.Target{}, fmt.Errorf("%w: alarm %q is about cluster %q, this environment's is %q", playbook.ErrNotActionable, a.Name, cl, c.Cluster)
	}
	roles := map[string]string{c.IngestorService: RoleIngestor, c.WorkerService: RoleWorker}
	if svc := a.Dimension("ServiceName"); svc != "" {
		if role, ok := roles[svc]; ok {
			return playbook.Target{Service: svc, Role: role, Severity: sev}, nil
		}
		return playbook.Target{}, fmt.Errorf("%w: alarm %q is about service %q, which environment %s does not own", playbook.ErrNotActionable, a.Name, svc, c.Environment)
	}
	name := strings.ToLower(a.Name)
	for svc, role := range roles {
		if strings.Contains(name, svc) {
			return playbook.Target{Service: svc, Role: role, Severity: sev}, nil
		}
	}
	if strings.Contains(name, c.Environment) {
		switch {
		case strings.Contains(name, RoleIngestor):
			return playbook.Target{Service: c.IngestorService, Role: RoleIngestor, Severity: sev}, nil
		case strings.Contains(name, RoleWorker):
			return playbook.Target{Service: c.WorkerService, Role: RoleWorker, Severity: sev}, nil
		}
	}
	return playbook.Target{}, fmt.Errorf("%w: alarm %q names no service of environment %s (no ServiceName dimension, no service in its name)", playbook.ErrNotActionable, a.Name, c.Environment)
}

// StillDown says why restarting svc is no longer right, or nil: someone scaled it to zero,
// tasks came back, or another deployment started since the diagnosis.
func StillDown(svc ecs.Service, expectPrimary string) error {
	prim, _ := svc.Primary()
	switch {
	case svc.Desired == 0:
		return errors.New("desired count is now 0 (scaled down on purpose)")
	case svc.Running > 0:
		return fmt.Errorf("%d task(s) are running now", svc.Running)
	case expectPrimary != "" && prim.ID != expectPrimary:
		return fmt.Errorf("a new deployment (%s) started since the diagnosis", prim.ID)
	}
	return nil
}

// Operator performs the actions on a service.
type Operator struct {
	ECS ecs.Client
	// MaxCount is the most tasks a scale may ask for (the worker cap); 0 refuses every scale.
	MaxCount int
}

// Act performs a restart, a rollback, a memory raise or a scale, and says what changed.
func (o Operator) Act(ctx context.Context, act playbook.Action) (playbook.Effect, error) {
	switch act.Kind {
	case playbook.KindForceNewDeployment:
		svc, err := o.ECS.ForceNewDeployment(ctx, act.Target)
		if err != nil {
			return playbook.Effect{}, err
		}
		return playbook.Effect{Changed: true, Detail: "new " + deploymentOf(svc)}, nil
	case playbook.KindRollback:
		svc, err := o.ECS.SetTaskDefinition(ctx, act.Target, act.Change.ToTaskDefinition)
		if err != nil {
			return playbook.Effect{}, err
		}
		prim, _ := svc.Primary()
		return playbook.Effect{Changed: true, Detail: fmt.Sprintf("%s -> %s (deployment %s)",
			ecs.Short(act.Change.FromTaskDefinition), ecs.Short(act.Change.ToTaskDefinition), prim.ID)}, nil
	case playbook.KindRaiseTaskMemory:
		td, err := o.ECS.TaskDefinition(ctx, act.Change.FromTaskDefinition)
		if err != nil {
			return playbook.Effect{}, err
		}
		mib := act.Change.ToMiB
		if mib <= 0 {
			return playbook.Effect{}, fmt.Errorf("raise memory: no target size for %s", act.Target)
		}
		next, err := o.ECS.RegisterWithMemory(ctx, td, mib)
		if err != nil {
			return playbook.Effect{}, err
		}
		svc, err := o.ECS.SetTaskDefinition(ctx, act.Target, next.ARN)
		if err != nil {
			// A registered revision changes nothing that runs: the service is as it was.
			return playbook.Effect{Detail: fmt.Sprintf("registered %s with %d MiB but could not deploy it", ecs.Short(next.ARN), mib)}, err
		}
		prim, _ := svc.Primary()
		return playbook.Effect{Changed: true, Detail: fmt.Sprintf("registered %s with %d MiB (was %d MiB), deployment %s", ecs.Short(next.ARN), mib, td.MemoryMiB, prim.ID)}, nil
	case playbook.KindScaleService:
		n := act.Change.ToCount
		if n < 0 || n > o.MaxCount {
			return playbook.Effect{}, fmt.Errorf("refusing to scale %s to %d (cap %d)", act.Target, n, o.MaxCount)
		}
		if _, err := o.ECS.SetDesiredCount(ctx, act.Target, n); err != nil {
			return playbook.Effect{}, err
		}
		return playbook.Effect{Changed: true, Detail: fmt.Sprintf("desired %d -> %d", act.Change.FromCount, n)}, nil
	}
	return playbook.Effect{}, fmt.Errorf("unknown action %q", act.Kind)
}

// deploymentOf names the service's primary deployment and its revision. DescribeServices may
// return no deployments at all (some emulators, a service being created): then the service's
// own task definition is named, and the deployment id is said to be unknown.
func deploymentOf(svc ecs.Service) string {
	prim, ok := svc.Primary()
	switch {
	case ok && prim.ID != "":
		return fmt.Sprintf("deployment %s of %s", prim.ID, ecs.Short(nonEmpty(prim.TaskDefinition, svc.TaskDefinition)))
	case svc.TaskDefinition != "":
		return fmt.Sprintf("deployment of %s (deployment id not returned)", ecs.Short(svc.TaskDefinition))
	}
	return "deployment (neither deployment nor task definition returned)"
}

// WaitForRunning is the verification of a restart: a task of the PRIMARY deployment must be
// seen running on two consecutive polls (a crash-looping task can run for a few seconds).
func WaitForRunning(ctx context.Context, c ecs.Client, service string, interval time.Duration) report.Verification {
	start := time.Now()
	seen := 0
	var last ecs.Service
	var lastErr error
	for {
		svc, err := c.Service(ctx, service)
		if err == nil {
			last, lastErr = svc, nil
			prim, _ := svc.Primary()
			switch {
			case prim.Running >= 1 || (prim.ID == "" && svc.Running >= 1):
				seen++
				if seen >= 2 || prim.RolloutState == "COMPLETED" {
					detail := fmt.Sprintf("%d task(s) of %s running", max(prim.Running, svc.Running), deploymentOf(svc))
					if prim.ID != "" {
						detail = fmt.Sprintf("%d task(s) of deployment %s running (%s)", max(prim.Running, svc.Running), prim.ID, ecs.Short(prim.TaskDefinition))
					}
					return report.Verification{Status: report.Verified, MS: time.Since(start).Milliseconds(), Detail: detail}
				}
			case prim.RolloutState == "FAILED" || prim.Failed > 0:
				return report.Verification{Status: report.VerifyFailed, MS: time.Since(start).Milliseconds(),
					Detail: fmt.Sprintf("deployment %s: %d task(s) failed to start (%s)", prim.ID, prim.Failed, nonEmpty(prim.RolloutReason, "rollout "+prim.RolloutState))}
			default:
				seen = 0
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return report.Verification{Status: report.Unverified, MS: time.Since(start).Milliseconds(), Detail: "could not read the service: " + lastErr.Error()}
			}
			return report.Verification{Status: report.Pending, MS: time.Since(start).Milliseconds(),
				Detail: fmt.Sprintf("still starting after %s: running %d, pending %d", time.Since(start).Round(time.Second), last.Running, last.Pending)}
		case <-time.After(interval):
		}
	}
}

func nonEmpty(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
