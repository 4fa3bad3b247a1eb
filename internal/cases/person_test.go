package cases

import (
	"context"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/sandbox"
)

func fixtureWith(t *testing.T, scenario string) *Fixture {
	t.Helper()
	sb := sandbox.StartTest(t, sandbox.Options{TaskStartDelay: 50 * time.Millisecond})
	if err := sb.LoadScenario(scenario); err != nil {
		t.Fatal(err)
	}
	return &Fixture{Sandbox: sb}
}

// An OK notification puts its alarm back to OK before it is sent; an ALARM one, a follow-up
// or a sample that is not an alarm change nothing.
func TestAlarmsReturn(t *testing.T) {
	f := fixtureWith(t, "ingestor-oom")
	name := f.Sandbox.AlarmName(sandbox.AlarmNoIngestorTasks)
	for _, event := range []string{"../../events/no-tasks/ingestor-alarm.json", "../../events/no-tasks/follow-up.json", "../../events/no-tasks/malformed.json"} {
		if err := f.alarmsReturn(event); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		if got := f.Sandbox.AlarmState(name); got != "ALARM" {
			t.Fatalf("after %s the alarm is %s", event, got)
		}
	}
	if err := f.alarmsReturn("../../events/no-tasks/ingestor-ok.json"); err != nil {
		t.Fatal(err)
	}
	if got := f.Sandbox.AlarmState(name); got != "OK" {
		t.Fatalf("after the OK notification the alarm is %s", got)
	}
	if got := f.Sandbox.AlarmState(f.Sandbox.AlarmName(sandbox.AlarmNoWorkerTasks)); got != "OK" {
		t.Fatalf("the worker's alarm is %s", got)
	}
}

// A person's restart goes through the ECS API and waits for the new deployment to finish; a
// step naming no known role is refused.
func TestPersonActs(t *testing.T) {
	f := fixtureWith(t, "healthy")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := len(f.Sandbox.ServiceUpdates())
	did, err := f.act(ctx, Person{Restart: "worker"})
	if err != nil || did != "a person restarted arrakis-staging-gp-worker by hand" {
		t.Fatalf("%q %v", did, err)
	}
	u := f.Sandbox.ServiceUpdates()[before:]
	if len(u) != 1 || !u[0].ForceNewDeployment || u[0].Service != "arrakis-staging-gp-worker" {
		t.Fatalf("updates %+v", u)
	}
	if did, err := f.act(ctx, Person{Scale: "ingestor", To: 2}); err != nil || did != "a person scaled arrakis-staging-ingestor to 2 by hand" {
		t.Fatalf("%q %v", did, err)
	}
	for _, p := range []Person{{Restart: "database"}, {}, {Restart: "worker", Scale: "worker"}} {
		if _, err := f.act(ctx, p); err == nil {
			t.Errorf("%+v was done", p)
		}
	}
}
