package trust

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
)

// Action kinds as the playbooks name them (pkg/playbook); repeated here so this package
// depends on the incident record only.
const (
	kindForceNewDeployment = "force-new-deployment"
	kindRollback           = "rollback"
	kindRaiseTaskMemory    = "raise-task-memory"
	kindScaleService       = "scale-service"
	kindReplay             = "replay"
	kindPark               = "park"
)

// OwnLag bounds how long before its timeline entry one of our changes can have been made: the
// entry is written after acting and verifying, within one Lambda invocation (15 minutes at
// most).
const OwnLag = 15 * time.Minute

// ownSkew allows for clocks of the function and of AWS that differ by a little.
const ownSkew = 5 * time.Second

// AmbiguityGap is how close to one of our deployments another deployment can be created and
// still be told apart from ours: within it, which one is ours is a guess.
const AmbiguityGap = time.Minute

// History is what was observed of one action target between the incident's open and its
// close. Exactly one of Service and Queue is set when the history was read; Unreadable says
// why it was not.
type History struct {
	Target     string
	Unreadable string
	Service    *ServiceHistory
	Queue      *QueueHistory
}

// ServiceHistory is an ECS service as read at the close.
type ServiceHistory struct {
	// Desired is the desired count at the close.
	Desired int
	// Deployments are the deployments ECS lists now (completed ones are forgotten).
	Deployments []Deployment
	// Events are the service events, as ECS returns them (newest first).
	Events []Event
}

// Event is one service event message, as ECS returns it.
type Event struct {
	At      time.Time
	Message string
}

// Deployment is one ECS deployment.
type Deployment struct {
	ID             string
	TaskDefinition string
	CreatedAt      time.Time
	Desired        int
}

// QueueHistory is what was moved out of a dead-letter queue, by anyone, during the incident.
type QueueHistory struct {
	Moves []Move
}

// Move is messages moved out of a DLQ.
type Move struct {
	At       time.Time
	Messages int
}

// Judged is one action of the incident the close judges: a done or dry-run action entry.
type Judged struct {
	At      time.Time
	Alarm   string
	Kind    string
	Target  string
	Outcome string
}

// Actions returns the incident's done and dry-run actions, oldest first.
func Actions(inc incident.Incident) []Judged {
	var out []Judged
	for _, e := range inc.Timeline {
		if e.Kind != incident.KindAction || e.Action == nil {
			continue
		}
		if o := e.Action.Outcome; o == incident.ActionDone || o == incident.ActionDryRun {
			out = append(out, Judged{At: e.At, Alarm: e.Alarm, Kind: e.Action.Kind, Target: e.Action.Target, Outcome: o})
		}
	}
	return out
}

// Targets returns the targets of the incident's judged actions, in first-seen order.
func Targets(inc incident.Incident) []string {
	var out []string
	for _, a := range Actions(inc) {
		if !slices.Contains(out, a.Target) {
			out = append(out, a.Target)
		}
	}
	return out
}

// Baseline returns the first state of service the incident's diagnoses recorded.
func Baseline(inc incident.Incident, service string) (incident.ServiceState, bool) {
	for _, e := range inc.Timeline {
		if e.Observation == nil {
			continue
		}
		for _, s := range e.Observation.Services {
			if s.Name == service {
				return s, true
			}
		}
	}
	return incident.ServiceState{}, false
}

// Judge gives the verdict on every done and dry-run action of a closed incident, given the
// history of each target (keyed by target). It is pure: the close reads the histories.
func Judge(inc incident.Incident, histories map[string]History) []incident.Agreement {
	actions := Actions(inc)
	recovered := inc.CloseReason == incident.CloseRecovered
	closeAt := inc.ClosedAt
	if closeAt.IsZero() {
		closeAt = inc.UpdatedAt
	}
	type targetView struct {
		changes []incident.Change // by others
		why     string            // set when the history cannot tell
	}
	views := map[string]targetView{}
	for _, target := range Targets(inc) {
		var own []Judged
		for _, a := range actions {
			if a.Target == target && a.Outcome == incident.ActionDone {
				own = append(own, a)
			}
		}
		h, ok := histories[target]
		var v targetView
		switch {
		case !ok:
			v.why = "the history of " + target + " was not read"
		case h.Unreadable != "":
			v.why = h.Unreadable
		case h.Service != nil:
			base, hasBase := Baseline(inc, target)
			if !hasBase {
				v.why = "the incident recorded no state of service " + target + " to compare with"
				break
			}
			v.changes, v.why = serviceChanges(target, base, *h.Service, own, inc.OpenedAt, closeAt)
		case h.Queue != nil:
			v.changes, v.why = queueChanges(target, *h.Queue, own, inc.OpenedAt, closeAt)
		default:
			v.why = "nothing was read of " + target
		}
		views[target] = v
	}
	out := make([]incident.Agreement, 0, len(actions))
	for _, a := range actions {
		v := views[a.Target]
		ag := incident.Agreement{ActionAt: a.At, Kind: a.Kind, Target: a.Target, Outcome: a.Outcome}
		ag.Verdict, ag.Changes, ag.Why = verdict(a, v.changes, v.why, recovered)
		out = append(out, ag)
	}
	return out
}

// verdict decides one action from the others' changes to its target (or why they are not
// known) and whether the incident recovered.
func verdict(a Judged, others []incident.Change, why string, recovered bool) (incident.Verdict, []incident.Change, string) {
	if why != "" {
		return incident.VerdictUnknown, nil, why
	}
	if a.Outcome == incident.ActionDone {
		switch {
		case len(others) > 0:
			return incident.VerdictOther, others, ""
		case recovered:
			return incident.VerdictAgreed, nil, ""
		}
		return incident.VerdictUnknown, nil, "nobody else acted but the incident closed at its maximum age without recovering"
	}
	want, known := sameKind[a.Kind]
	for _, c := range others {
		if known && c.Kind == want {
			return incident.VerdictAgreed, []incident.Change{c}, ""
		}
	}
	switch {
	case len(others) > 0:
		return incident.VerdictOther, others, ""
	case recovered:
		return incident.VerdictNothingRecovered, nil, ""
	}
	return incident.VerdictUnknown, nil, "nobody acted and the incident closed at its maximum age without recovering"
}

// sameKind is the change a person makes that does what the action would have done.
var sameKind = map[string]incident.ChangeKind{
	kindForceNewDeployment: incident.ChangeRestart,
	kindRollback:           incident.ChangeRollback,
	kindRaiseTaskMemory:    incident.ChangeDeploy,
	kindScaleService:       incident.ChangeScale,
	kindReplay:             incident.ChangeDLQMove,
	kindPark:               incident.ChangeDLQMove,
}

// deploymentEvent finds the deployment an ECS service event names.
var deploymentEvent = regexp.MustCompile(`\(deployment ([^)\s]+)\)`)

// serviceChanges returns the changes others made to a service in (from, to], or why they
// cannot be told from ours.
func serviceChanges(target string, base incident.ServiceState, h ServiceHistory, own []Judged, from, to time.Time) ([]incident.Change, string) {
	in := func(t time.Time) bool { return t.After(from) && !t.After(to) }
	// Deployments created during the incident, oldest first, and those seen only in events.
	var deps []Deployment
	listed := map[string]bool{base.Deployment: true}
	for _, d := range h.Deployments {
		listed[d.ID] = true
		if in(d.CreatedAt) && d.ID != base.Deployment {
			deps = append(deps, d)
		}
	}
	sort.SliceStable(deps, func(i, j int) bool { return deps[i].CreatedAt.Before(deps[j].CreatedAt) })
	var unlisted []string
	for _, e := range h.Events {
		if !in(e.At) {
			continue
		}
		for _, m := range deploymentEvent.FindAllStringSubmatch(e.Message, -1) {
			if id := m[1]; !listed[id] && !slices.Contains(unlisted, id) {
				unlisted = append(unlisted, id)
			}
		}
	}
	var ownDeploys, ownScales []Judged
	for _, a := range own {
		switch a.Kind {
		case kindForceNewDeployment, kindRollback, kindRaiseTaskMemory:
			ownDeploys = append(ownDeploys, a)
		case kindScaleService:
			ownScales = append(ownScales, a)
		}
	}
	if len(unlisted) > 0 {
		// ECS forgot these deployments: what they deployed is not known. When it is the only
		// one and our one restart matches no listed deployment, it is our restart (which kept
		// the task definition, so the later ones still compare with the baseline's).
		if len(unlisted) == 1 && len(ownDeploys) == 1 && ownDeploys[0].Kind == kindForceNewDeployment && !anyWithin(deps, ownDeploys[0]) {
			ownDeploys = nil
		} else {
			return nil, fmt.Sprintf("deployment %s of %s is seen only in service events: what it deployed is not known", unlisted[0], target)
		}
	}
	// Classify each deployment against the task definition it replaced.
	var changes []incident.Change
	prev := base.TaskDefinition
	for _, d := range deps {
		c := incident.Change{Target: target, At: d.CreatedAt, Deployment: d.ID, TaskDefinition: d.TaskDefinition}
		c.Kind = deploymentKind(prev, d.TaskDefinition)
		prev = d.TaskDefinition
		changes = append(changes, c)
	}
	// Claim ours: each done deployment action claims the one deployment of its kind created in
	// the OwnLag before its entry.
	claimed := make([]bool, len(changes))
	for _, a := range ownDeploys {
		match := -1
		for i, c := range changes {
			if claimed[i] || c.At.Before(a.At.Add(-OwnLag)) || c.At.After(a.At.Add(ownSkew)) || c.Kind != sameKind[a.Kind] {
				continue
			}
			if match >= 0 {
				return nil, fmt.Sprintf("deployments %s and %s of %s both fit our %s: which one is ours is not known", changes[match].Deployment, c.Deployment, target, a.Kind)
			}
			match = i
		}
		if match < 0 {
			return nil, fmt.Sprintf("our %s of %s at %s matches no deployment ECS lists", a.Kind, target, a.At.UTC().Format(time.TimeOnly))
		}
		claimed[match] = true
	}
	var others []incident.Change
	for i, c := range changes {
		if claimed[i] {
			continue
		}
		for j, o := range changes {
			if claimed[j] && absDur(c.At.Sub(o.At)) < AmbiguityGap {
				return nil, fmt.Sprintf("deployment %s of %s was created within %s of ours (%s): which one is ours is a guess", c.Deployment, target, AmbiguityGap, o.Deployment)
			}
		}
		others = append(others, c)
	}
	if h.Desired != base.Desired {
		if len(ownScales) > 0 {
			return nil, fmt.Sprintf("the desired count of %s went from %d to %d and we scaled it too: who set %d is not known", target, base.Desired, h.Desired, h.Desired)
		}
		others = append(others, incident.Change{Kind: incident.ChangeScale, Target: target, FromCount: base.Desired, ToCount: h.Desired})
	}
	return others, ""
}

// anyWithin reports whether a listed deployment could be a's (its window).
func anyWithin(deps []Deployment, a Judged) bool {
	for _, d := range deps {
		if !d.CreatedAt.Before(a.At.Add(-OwnLag)) && !d.CreatedAt.After(a.At.Add(ownSkew)) {
			return true
		}
	}
	return false
}

// deploymentKind says what a deployment of next did to a service that ran prev.
func deploymentKind(prev, next string) incident.ChangeKind {
	pf, pr, pok := revisionOf(prev)
	nf, nr, nok := revisionOf(next)
	switch {
	case prev == next, pok && nok && pf == nf && pr == nr: // an ARN and family:revision alike
		return incident.ChangeRestart
	case pok && nok && pf == nf && nr < pr:
		return incident.ChangeRollback
	}
	return incident.ChangeDeploy
}

// revisionOf reads family and revision from a task definition ARN or family:revision.
func revisionOf(ref string) (family string, revision int, ok bool) {
	short := ref[strings.LastIndex(ref, "/")+1:]
	family, rev, found := strings.Cut(short, ":")
	n, err := strconv.Atoi(rev)
	return family, n, found && family != "" && err == nil
}

// queueChanges returns the moves others made out of a DLQ in (from, to].
func queueChanges(target string, h QueueHistory, own []Judged, from, to time.Time) ([]incident.Change, string) {
	var moves []Move
	for _, m := range h.Moves {
		if m.At.After(from) && !m.At.After(to) {
			moves = append(moves, m)
		}
	}
	sort.SliceStable(moves, func(i, j int) bool { return moves[i].At.Before(moves[j].At) })
	claimed := make([]bool, len(moves))
	for _, a := range own {
		if a.Kind != kindReplay && a.Kind != kindPark {
			continue
		}
		match := -1
		for i, m := range moves {
			if claimed[i] || m.At.Before(a.At.Add(-OwnLag)) || m.At.After(a.At.Add(ownSkew)) {
				continue
			}
			if match >= 0 {
				return nil, fmt.Sprintf("two moves out of %s fit our %s: which one is ours is not known", target, a.Kind)
			}
			match = i
		}
		if match < 0 {
			return nil, fmt.Sprintf("our %s of %s at %s matches no move seen", a.Kind, target, a.At.UTC().Format(time.TimeOnly))
		}
		claimed[match] = true
	}
	var others []incident.Change
	for i, m := range moves {
		if !claimed[i] {
			others = append(others, incident.Change{Kind: incident.ChangeDLQMove, Target: target, At: m.At, Messages: m.Messages})
		}
	}
	return others, ""
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
