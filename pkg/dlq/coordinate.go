package dlq

import (
	"fmt"
	"slices"

	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/playbook"
)

// Coordinate implements playbook.Coordinator.
func (p *Playbook) Coordinate(inc incident.Incident, _ playbook.Target, ev Evidence, d playbook.Decision) playbook.Decision {
	return Coordinate(inc, ev, d)
}

// Coordinate holds back a replay, in an incident, while the worker is down: its No Worker
// Tasks Running alarm is still firing, or (when other alarms share the incident) the work
// queue has no consumer. Replayed messages
// would only wait in a queue nobody consumes, and a worker that comes back crash-looping would
// dead-letter them again. The stack's follow-up runs dlq again, and the replay goes ahead once
// the worker consumes. Parking bad data does not wait: it does not depend on the worker.
func Coordinate(inc incident.Incident, ev Evidence, d playbook.Decision) playbook.Decision {
	why := ""
	if alarm, firing := playbook.StillFiring(inc, "no-tasks", "worker"); firing {
		why = fmt.Sprintf("%s is in ALARM in incident %s: the worker has no running task", alarm, inc.ID)
	} else if ev.WorkRead && ev.Work.Consumers == 0 && othersInIncident(inc) {
		why = fmt.Sprintf("%s has no consumer (incident %s", ev.Work.Name, inc.ID)
		if m, ok := memberOf(inc, "queue-depth"); ok {
			why += ", with " + m
		}
		why += ")"
	}
	if why == "" {
		return d
	}
	d.Actions = slices.Clone(d.Actions)
	for i, a := range d.Actions {
		if a.Kind != Replay || a.Blocked.Set() {
			continue
		}
		d.Actions[i].Blocked = guard.Rule{Code: guard.RuleIncident, Detail: why + ", so the replay waits for the worker (the next follow-up replays)"}
	}
	return d
}

// othersInIncident says whether an alarm of another function shares the incident: the
// outage is wider than the DLQ. (A DLQ alarm alone replays into the work queue, where the
// messages wait for the consumers to return, as before incidents.)
func othersInIncident(inc incident.Incident) bool {
	for _, m := range inc.Members {
		if m.Function != "dlq" {
			return true
		}
	}
	return false
}

// memberOf names the incident's alarm handled by function, if any.
func memberOf(inc incident.Incident, function string) (string, bool) {
	for _, m := range inc.Members {
		if m.Function == function {
			return m.Alarm, true
		}
	}
	return "", false
}
