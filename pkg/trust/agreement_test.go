package trust

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

const (
	svc = "gp-worker"
	td7 = "arn:aws:ecs:eu-west-1:1:task-definition/gp-worker:7"
	td6 = "arn:aws:ecs:eu-west-1:1:task-definition/gp-worker:6"
	td8 = "arn:aws:ecs:eu-west-1:1:task-definition/gp-worker:8"
	dlq = "gp-dlq"
)

// incidentWith is an incident opened at t0 that closed at minute 60 (recovered or at max
// age), whose first observation recorded the worker at td7, desired 2, deployment "d0".
func incidentWith(recovered bool, actions ...incident.Entry) incident.Incident {
	inc := incident.Incident{ID: "staging.x.1", Environment: "staging", Status: incident.StatusClosed,
		OpenedAt: t0, ClosedAt: at(60), CloseReason: incident.CloseMaxAge}
	if recovered {
		inc.CloseReason = incident.CloseRecovered
	}
	inc.Timeline = append(inc.Timeline, incident.Entry{At: at(1), Kind: incident.KindObservation, Alarm: "worker-alarm",
		Observation: &incident.Observation{State: "ALARM", Services: []incident.ServiceState{{Name: svc, TaskDefinition: td7, Desired: 2, Deployment: "d0"}}}})
	inc.Timeline = append(inc.Timeline, actions...)
	return inc
}

func action(min int, kind, target, outcome string) incident.Entry {
	return incident.Entry{At: at(min), Kind: incident.KindAction, Alarm: "worker-alarm",
		Action: &incident.Action{Kind: kind, Target: target, Outcome: outcome}}
}

func service(desired int, deps ...Deployment) map[string]History {
	return map[string]History{svc: {Target: svc, Service: &ServiceHistory{Desired: desired, Deployments: deps}}}
}

func dep(id, td string, min int) Deployment {
	return Deployment{ID: id, TaskDefinition: td, CreatedAt: at(min), Desired: 2}
}

func TestJudge(t *testing.T) {
	restartDone := action(5, kindForceNewDeployment, svc, incident.ActionDone)
	restartDry := action(5, kindForceNewDeployment, svc, incident.ActionDryRun)
	personRestart := incident.Change{Kind: incident.ChangeRestart, Target: svc, At: at(20), Deployment: "p1", TaskDefinition: td7}
	cases := []struct {
		name    string
		inc     incident.Incident
		hist    map[string]History
		verdict incident.Verdict
		changes []incident.Change
		why     string // a part of the reason, for unknown
	}{
		{name: "done restart, nobody else, recovered: agreed",
			inc: incidentWith(true, restartDone), hist: service(2, dep("d1", td7, 4)), verdict: incident.VerdictAgreed},
		{name: "done restart, a person restarted again: other",
			inc: incidentWith(true, restartDone), hist: service(2, dep("d1", td7, 4), dep("p1", td7, 20)),
			verdict: incident.VerdictOther, changes: []incident.Change{personRestart}},
		{name: "done restart, nobody else, closed at max age: unknown",
			inc: incidentWith(false, restartDone), hist: service(2, dep("d1", td7, 4)), verdict: incident.VerdictUnknown, why: "maximum age"},
		{name: "dry-run restart, a person restarted: agreed",
			inc: incidentWith(true, restartDry), hist: service(2, dep("p1", td7, 20)),
			verdict: incident.VerdictAgreed, changes: []incident.Change{personRestart}},
		{name: "dry-run restart, a person scaled to 4: other",
			inc: incidentWith(true, restartDry), hist: service(4, dep("d0", td7, -30)),
			verdict: incident.VerdictOther, changes: []incident.Change{{Kind: incident.ChangeScale, Target: svc, FromCount: 2, ToCount: 4}}},
		{name: "dry-run restart, a person rolled back to 6: other",
			inc: incidentWith(true, restartDry), hist: service(2, dep("p1", td6, 20)),
			verdict: incident.VerdictOther, changes: []incident.Change{{Kind: incident.ChangeRollback, Target: svc, At: at(20), Deployment: "p1", TaskDefinition: td6}}},
		{name: "dry-run rollback, a person rolled back: agreed",
			inc: incidentWith(true, action(5, kindRollback, svc, incident.ActionDryRun)), hist: service(2, dep("p1", td6, 20)),
			verdict: incident.VerdictAgreed, changes: []incident.Change{{Kind: incident.ChangeRollback, Target: svc, At: at(20), Deployment: "p1", TaskDefinition: td6}}},
		{name: "dry-run raise memory, a person deployed a newer revision: agreed",
			inc: incidentWith(true, action(5, kindRaiseTaskMemory, svc, incident.ActionDryRun)), hist: service(2, dep("p1", td8, 20)),
			verdict: incident.VerdictAgreed, changes: []incident.Change{{Kind: incident.ChangeDeploy, Target: svc, At: at(20), Deployment: "p1", TaskDefinition: td8}}},
		{name: "dry-run scale, a person scaled: agreed",
			inc: incidentWith(true, action(5, kindScaleService, svc, incident.ActionDryRun)), hist: service(3),
			verdict: incident.VerdictAgreed, changes: []incident.Change{{Kind: incident.ChangeScale, Target: svc, FromCount: 2, ToCount: 3}}},
		{name: "dry-run restart, nobody acted, recovered: nothing-recovered",
			inc: incidentWith(true, restartDry), hist: service(2, dep("d0", td7, -30)), verdict: incident.VerdictNothingRecovered},
		{name: "dry-run restart, nobody acted, max age: unknown",
			inc: incidentWith(false, restartDry), hist: service(2), verdict: incident.VerdictUnknown, why: "maximum age"},
		{name: "history unreadable: unknown",
			inc:  incidentWith(true, restartDone),
			hist: map[string]History{svc: {Target: svc, Unreadable: "describe service gp-worker: timeout"}}, verdict: incident.VerdictUnknown, why: "timeout"},
		{name: "history not read: unknown",
			inc: incidentWith(true, restartDone), hist: nil, verdict: incident.VerdictUnknown, why: "not read"},
		{name: "no baseline of the service: unknown",
			inc: func() incident.Incident {
				inc := incidentWith(true, restartDry)
				inc.Timeline[0].Observation.Services = nil
				return inc
			}(), hist: service(2, dep("p1", td7, 20)), verdict: incident.VerdictUnknown, why: "no state"},
		{name: "a person's deployment seconds after ours: unknown, never agreed",
			inc: incidentWith(true, restartDone), hist: service(2, dep("d1", td7, 4), Deployment{ID: "p1", TaskDefinition: td7, CreatedAt: at(4).Add(20 * time.Second)}),
			verdict: incident.VerdictUnknown, why: "which one is ours"},
		{name: "our done restart matches no deployment: unknown",
			inc: incidentWith(true, restartDone), hist: service(2), verdict: incident.VerdictUnknown, why: "matches no deployment"},
		{name: "our restart is the one deployment seen only in events: agreed",
			inc: incidentWith(true, restartDone),
			hist: map[string]History{svc: {Target: svc, Service: &ServiceHistory{Desired: 2, Deployments: []Deployment{dep("d0", td7, -30)},
				Events: []Event{{At: at(6), Message: "(service gp-worker) (deployment d1) deployment completed."}}}}},
			verdict: incident.VerdictAgreed},
		{name: "a deployment seen only in events, with no action of ours: unknown",
			inc: incidentWith(true, restartDry),
			hist: map[string]History{svc: {Target: svc, Service: &ServiceHistory{Desired: 2,
				Events: []Event{{At: at(30), Message: "(service gp-worker) (deployment p9) deployment completed."}}}}},
			verdict: incident.VerdictUnknown, why: "seen only in service events"},
		{name: "events before the incident are history, not changes",
			inc: incidentWith(true, restartDry),
			hist: map[string]History{svc: {Target: svc, Service: &ServiceHistory{Desired: 2,
				Events: []Event{{At: at(-30), Message: "(service gp-worker) (deployment old) deployment completed."}}}}},
			verdict: incident.VerdictNothingRecovered},
		{name: "two deployments fit our one restart: unknown",
			inc: incidentWith(true, restartDone), hist: service(2, dep("d1", td7, 2), dep("d2", td7, 4)), verdict: incident.VerdictUnknown, why: "both fit"},
		{name: "done scale and the desired count changed: unknown",
			inc: incidentWith(true, action(5, kindScaleService, svc, incident.ActionDone)), hist: service(4), verdict: incident.VerdictUnknown, why: "we scaled it too"},
		{name: "done scale back to where it was: agreed",
			inc: incidentWith(true, action(5, kindScaleService, svc, incident.ActionDone)), hist: service(2), verdict: incident.VerdictAgreed},
		{name: "dry-run replay, a person moved 5 messages: agreed",
			inc:     incidentWith(true, action(5, kindReplay, dlq, incident.ActionDryRun)),
			hist:    map[string]History{dlq: {Target: dlq, Queue: &QueueHistory{Moves: []Move{{At: at(15), Messages: 5}}}}},
			verdict: incident.VerdictAgreed, changes: []incident.Change{{Kind: incident.ChangeDLQMove, Target: dlq, At: at(15), Messages: 5}}},
		{name: "done replay, our move and a person's: other",
			inc:     incidentWith(true, action(5, kindReplay, dlq, incident.ActionDone)),
			hist:    map[string]History{dlq: {Target: dlq, Queue: &QueueHistory{Moves: []Move{{At: at(4), Messages: 10}, {At: at(30), Messages: 3}}}}},
			verdict: incident.VerdictOther, changes: []incident.Change{{Kind: incident.ChangeDLQMove, Target: dlq, At: at(30), Messages: 3}}},
		{name: "done park with its own move only: agreed",
			inc:     incidentWith(true, action(5, kindPark, dlq, incident.ActionDone)),
			hist:    map[string]History{dlq: {Target: dlq, Queue: &QueueHistory{Moves: []Move{{At: at(4), Messages: 10}}}}},
			verdict: incident.VerdictAgreed},
		{name: "done replay with no move seen: unknown",
			inc:  incidentWith(true, action(5, kindReplay, dlq, incident.ActionDone)),
			hist: map[string]History{dlq: {Target: dlq, Queue: &QueueHistory{}}}, verdict: incident.VerdictUnknown, why: "matches no move"},
		{name: "history with neither service nor queue: unknown",
			inc:  incidentWith(true, action(5, kindReplay, dlq, incident.ActionDryRun)),
			hist: map[string]History{dlq: {Target: dlq}}, verdict: incident.VerdictUnknown, why: "nothing was read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Judge(tc.inc, tc.hist)
			if len(got) != 1 {
				t.Fatalf("got %d verdicts, want 1: %+v", len(got), got)
			}
			g := got[0]
			if g.Verdict != tc.verdict {
				t.Fatalf("verdict %q (%s), want %q", g.Verdict, g.Why, tc.verdict)
			}
			if !reflect.DeepEqual(g.Changes, tc.changes) {
				t.Errorf("changes %+v, want %+v", g.Changes, tc.changes)
			}
			if tc.verdict == incident.VerdictUnknown && (tc.why == "" || !strings.Contains(g.Why, tc.why)) {
				t.Errorf("why %q, want it to mention %q", g.Why, tc.why)
			}
			if tc.verdict != incident.VerdictUnknown && g.Why != "" {
				t.Errorf("why %q on a %s verdict", g.Why, g.Verdict)
			}
			if line := g.Line(); !strings.Contains(line, string(tc.verdict)) {
				t.Errorf("line %q does not say %s", line, tc.verdict)
			}
		})
	}
}

func TestJudgeSkipsFailedAndSkippedActions(t *testing.T) {
	inc := incidentWith(true,
		action(5, kindForceNewDeployment, svc, incident.ActionFailed),
		action(6, kindForceNewDeployment, svc, incident.ActionSkipped),
		action(7, kindForceNewDeployment, svc, incident.ActionDryRun))
	got := Judge(inc, service(2))
	if len(got) != 1 || got[0].Outcome != incident.ActionDryRun {
		t.Fatalf("judged %+v, want only the dry-run", got)
	}
}

func TestDeploymentKind(t *testing.T) {
	for _, tc := range []struct {
		prev, next string
		want       incident.ChangeKind
	}{
		{td7, td7, incident.ChangeRestart},
		{td7, "gp-worker:7", incident.ChangeRestart},
		{td7, td6, incident.ChangeRollback},
		{td7, td8, incident.ChangeDeploy},
		{td7, "arn:aws:ecs:eu-west-1:1:task-definition/other:3", incident.ChangeDeploy},
	} {
		if got := deploymentKind(tc.prev, tc.next); got != tc.want {
			t.Errorf("deploymentKind(%s, %s) = %s, want %s", tc.prev, tc.next, got, tc.want)
		}
	}
}
