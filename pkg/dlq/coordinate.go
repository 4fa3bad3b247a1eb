package dlq

import (
	"fmt"
	"slices"

	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/playbook"
)

// Coordinate implements playbook.Coordinator.
func (p *Playbook) Coordinate(inc incident.Incident, _ playbook.Target, _ Evidence, d playbook.Decision) playbook.Decision {
	return Coordinate(inc, d)
}

// Coordinate holds back a replay while the incident's No Worker Tasks Running alarm is still
// firing: replayed messages would only wait in a queue nobody consumes, and a worker that
// comes back crash-looping would dead-letter them again. The stack's follow-up runs dlq again,
// and the replay goes ahead once the worker runs. Parking bad data does not wait: it does not
// depend on the worker.
func Coordinate(inc incident.Incident, d playbook.Decision) playbook.Decision {
	alarm, firing := playbook.StillFiring(inc, "no-tasks", "worker")
	if !firing {
		return d
	}
	d.Actions = slices.Clone(d.Actions)
	for i, a := range d.Actions {
		if a.Kind != Replay || a.Blocked.Set() {
			continue
		}
		d.Actions[i].Blocked = guard.Rule{Code: guard.RuleIncident, Detail: fmt.Sprintf(
			"%s is in ALARM in incident %s: the worker has no running task, so the replay waits for it (the next follow-up replays)", alarm, inc.ID)}
	}
	return d
}
