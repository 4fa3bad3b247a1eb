package queuedepth

import (
	"fmt"
	"slices"

	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/playbook"
)

// noTasks is the function whose restart of the worker a scale-up waits for.
const noTasks = "no-tasks"

// Coordinate implements playbook.Coordinator.
func (p *Playbook) Coordinate(inc incident.Incident, _ playbook.Target, _ Evidence, d playbook.Decision) playbook.Decision {
	return Coordinate(inc, p.Config.WorkerService, d)
}

// Coordinate holds back a scale-up while a no-tasks restart of the worker in the same
// incident is not verified: the queue backs up because the worker is down, and the restart
// is the fix; more workers of a revision that cannot start would only fail more. The skip
// names the other alarm and its action.
func Coordinate(inc incident.Incident, worker string, d playbook.Decision) playbook.Decision {
	fix, pending := playbook.PendingFix(inc, noTasks, worker)
	if !pending {
		return d
	}
	d.Actions = slices.Clone(d.Actions)
	for i, a := range d.Actions {
		if a.Kind != ScaleService || a.Change.ToCount <= a.Change.FromCount || a.Blocked.Set() {
			continue
		}
		d.Actions[i].Blocked = guard.Rule{Code: guard.RuleIncident, Detail: fmt.Sprintf(
			"%s: %s restarted %s at %s (incident %s) and that is not verified yet; adding workers waits for it",
			fix.Alarm, fix.Function, worker, fix.At.UTC().Format("15:04:05"), inc.ID)}
	}
	return d
}
