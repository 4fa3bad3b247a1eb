package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/ledger/dynalitetest"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/trust"
)

// TestAWeekOfIncidents: a week of the ingestor leaking memory, compressed: four incidents in
// one environment and one ledger, each opened by the alarm, closed by its return to OK, with
// the sandbox reloaded in between so each starts from the same leak.
//
//  1. dry-run, and nobody acts: the close says nothing-recovered.
//  2. dry-run, and a person restarts the ingestor (UpdateService through the SDK): agreed.
//  3. dry-run, and a person scales the ingestor to 2 instead: other, scaled from 1 to 2.
//  4. on: memory-high restarts it, verifies, and nobody else acts: agreed.
//
// Then the digest function (its real bootstrap, under the emulator) reads the ledger and
// posts the digest with the numbers these cases imply.
func TestAWeekOfIncidents(t *testing.T) {
	const alarmName = "arrakis-staging Ingestor Memory High"
	f := setup(t, cases.Case{Name: "a week", Function: "memory-high", Scenario: "memory-leak", Mode: "dry-run"})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cfg, err := f.Sandbox.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	person := awsecs.NewFromConfig(cfg)
	names := f.Sandbox.Names()
	ingestor := names.IngestorService

	invoke := func(fn, event string) report.Result {
		t.Helper()
		out, err := f.InvokeFunction(ctx, fn, event)
		if err != nil {
			t.Fatalf("%s %s: %v", fn, event, err)
		}
		return out.Result
	}
	// steady waits until the ingestor has converged (one deployment, its tasks running), so a
	// person's change is complete before the incident closes.
	steady := func() {
		t.Helper()
		for {
			out, err := person.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(names.Cluster), Services: []string{ingestor}})
			if err != nil {
				t.Fatal(err)
			}
			s := out.Services[0]
			if len(s.Deployments) == 1 && s.RunningCount == s.DesiredCount && s.PendingCount == 0 {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the ingestor did not converge: %+v", s.Deployments)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// runIncident runs one incident: the alarm in mode, what the person does, the return to OK.
	runIncident := func(mode string, meanwhile func()) (alarm, closing report.Result) {
		t.Helper()
		if err := f.Sandbox.LoadScenario("memory-leak"); err != nil {
			t.Fatal(err)
		}
		f.Env[config.EnvMode] = mode
		// The alarm fires now, after the scenario's own history.
		f.Shift = time.Now().UTC().Sub(cases.SampleTime)
		alarm = invoke("memory-high", "../events/memory-high/ingestor-alarm.json")
		if meanwhile != nil {
			meanwhile()
		}
		steady()
		if err := f.Sandbox.SetAlarmState(alarmName, "OK", "memory back under the threshold"); err != nil {
			t.Fatal(err)
		}
		ok := invoke("memory-high", "../events/memory-high/ingestor-ok.json")
		if len(ok.More) != 1 || ok.More[0].Finding.Code != "incident-closed" {
			t.Fatalf("the OK did not close the incident: %+v", ok)
		}
		return alarm, ok.More[0]
	}
	agreementLine := func(closing report.Result) string {
		t.Helper()
		var lines []string
		for _, l := range closing.Finding.Evidence {
			if strings.HasPrefix(l, "Agreement: ") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("closing report agreement lines %q, want one", lines)
		}
		return lines[0]
	}
	wantAction := func(res report.Result, outcome report.Outcome) {
		t.Helper()
		if len(res.Actions) != 1 || res.Actions[0].Kind != "force-new-deployment" || res.Actions[0].Outcome != outcome {
			t.Fatalf("actions %+v, want one force-new-deployment %s", res.Actions, outcome)
		}
	}

	alarm, closing := runIncident("dry-run", nil)
	wantAction(alarm, report.OutcomeDryRun)
	if l := agreementLine(closing); !strings.Contains(l, "nothing-recovered") {
		t.Errorf("nobody acted: %q", l)
	}

	alarm, closing = runIncident("dry-run", func() {
		if _, err := person.UpdateService(ctx, &awsecs.UpdateServiceInput{Cluster: aws.String(names.Cluster), Service: aws.String(ingestor), ForceNewDeployment: true}); err != nil {
			t.Fatal(err)
		}
	})
	wantAction(alarm, report.OutcomeDryRun)
	if l := agreementLine(closing); !strings.Contains(l, ": agreed: a person restarted "+ingestor) {
		t.Errorf("a person restarted: %q", l)
	}

	alarm, closing = runIncident("dry-run", func() {
		if _, err := person.UpdateService(ctx, &awsecs.UpdateServiceInput{Cluster: aws.String(names.Cluster), Service: aws.String(ingestor), DesiredCount: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
	})
	wantAction(alarm, report.OutcomeDryRun)
	if l := agreementLine(closing); !strings.Contains(l, ": other: a person scaled "+ingestor+" from 1 to 2") {
		t.Errorf("a person scaled: %q", l)
	}

	alarm, closing = runIncident("on", nil)
	wantAction(alarm, report.OutcomeDone)
	if alarm.Verification == nil || alarm.Verification.Status != report.Verified {
		t.Fatalf("the restart's verification %+v, want verified", alarm.Verification)
	}
	if l := agreementLine(closing); !strings.Contains(l, ": agreed: nobody else acted and it recovered") {
		t.Errorf("our restart: %q", l)
	}

	// The ledger holds the four incidents, each with its verdict.
	hist, err := ledger.NewIncidentHistory(dynalitetest.NewClient(env.DynamoDB), f.Env[config.EnvLedgerTable])
	if err != nil {
		t.Fatal(err)
	}
	incs, err := hist.List(ctx, "staging", time.Now().Add(-trust.DefaultPeriod), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var verdicts []incident.Verdict
	for _, inc := range incs {
		for _, e := range inc.Timeline {
			if e.Agreement != nil {
				verdicts = append(verdicts, e.Agreement.Verdict)
			}
		}
	}
	want := []incident.Verdict{incident.VerdictNothingRecovered, incident.VerdictAgreed, incident.VerdictOther, incident.VerdictAgreed}
	if len(incs) != 4 || strings.Join(verdictStrings(verdicts), ",") != strings.Join(verdictStrings(want), ",") {
		t.Fatalf("%d incidents with verdicts %v, want 4 with %v", len(incs), verdicts, want)
	}

	// The digest, on demand: the week up to now.
	event := filepath.Join(t.TempDir(), "digest.json")
	if err := os.WriteFile(event, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f.Sandbox.ClearRecords()
	digest := invoke("digest", event)
	if digest.Function != trust.Function || digest.Finding.Code != "digest" {
		t.Fatalf("digest result %+v", digest)
	}
	if got, want := digest.Finding.Summary, "4 incident(s), 4 recovered, 0 at max age, 0 open; dry-run agreement 33 % (1 of 3)"; got != want {
		t.Errorf("digest summary\n got %q\nwant %q", got, want)
	}
	evidence := strings.Join(digest.Finding.Evidence, "\n")
	t.Logf("digest: %s\n%s", digest.Finding.Summary, evidence)
	for _, line := range []string{
		"Alarm " + alarmName + ": 4 incident(s), 1 fixed and verified, 0 escalated, 0 failed, 0 skipped",
		"Action force-new-deployment: 1 done (1 verified), 3 dry-run, 0 failed, 0 skipped",
		"Agreement: 4 judged: 2 agreed, 1 a person did something else, 1 nobody acted and it recovered, 0 unknown",
		"Time to recover with an action: median",
		"over 1 incident(s)",
		"Time to recover without one: median",
		"over 3 incident(s)",
	} {
		if !strings.Contains(evidence, line) {
			t.Errorf("digest lacks %q:\n%s", line, evidence)
		}
	}
	posted := false
	for _, p := range f.Sandbox.Published() {
		if strings.Contains(p.Message, "dry-run agreement 33 % (1 of 3)") {
			posted = true
		}
	}
	if !posted || len(digest.Sinks) == 0 || !digest.Sinks[0].OK {
		t.Errorf("the digest was not posted to the report topic: sinks %+v", digest.Sinks)
	}
}

func verdictStrings(vs []incident.Verdict) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}
