package trust

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
)

// closed is an incident of one alarm opened at day d, closed after ttr (0: still open), with
// its timeline's entries stamped in order.
func closed(d int, alarm string, reason incident.CloseReason, ttr time.Duration, entries ...incident.Entry) incident.Incident {
	open := t0.Add(time.Duration(d) * 24 * time.Hour)
	inc := incident.Incident{ID: "staging.d" + string(rune('0'+d)), Environment: "staging", Status: incident.StatusOpen, OpenedAt: open,
		Members: []incident.Member{{Alarm: alarm}}}
	if ttr > 0 {
		inc.Status, inc.ClosedAt, inc.CloseReason = incident.StatusClosed, open.Add(ttr), reason
	}
	for i, e := range entries {
		e.At, e.Alarm = open.Add(time.Duration(i+1)*time.Second), alarm
		inc.Timeline = append(inc.Timeline, e)
	}
	return inc
}

func act(kind, outcome, rule string) incident.Entry {
	return incident.Entry{Kind: incident.KindAction, Action: &incident.Action{Kind: kind, Target: svc, Outcome: outcome, Rule: rule}}
}

func verified(status string) incident.Entry {
	return incident.Entry{Kind: incident.KindVerification, Verification: &incident.Verification{Status: status, Target: svc}}
}

func escalated() incident.Entry {
	return incident.Entry{Kind: incident.KindEscalation, Escalation: &incident.Escalation{Reason: "r", Paged: true}}
}

func agreed(outcome string, v incident.Verdict) incident.Entry {
	return incident.Entry{Kind: incident.KindAgreement, Agreement: &incident.Agreement{Kind: kindForceNewDeployment, Target: svc, Outcome: outcome, Verdict: v}}
}

func TestCompute(t *testing.T) {
	const mem, depth = "staging ingestor memory high", "staging queue depth high"
	cases := []struct {
		name string
		incs []incident.Incident
		want func(d *Digest) // sets the expected figures on a digest of zero figures
	}{
		{name: "no incident", want: func(*Digest) {}},
		{name: "a restart fixed and verified, agreed",
			incs: []incident.Incident{closed(0, mem, incident.CloseRecovered, 10*time.Minute,
				act(kindForceNewDeployment, incident.ActionDone, ""), verified(incident.VerificationPassed), agreed(incident.ActionDone, incident.VerdictAgreed))},
			want: func(d *Digest) {
				d.Incidents, d.Recovered = 1, 1
				d.Alarms = []AlarmStats{{Alarm: mem, Incidents: 1, Verified: 1}}
				d.Actions = []ActionStats{{Kind: kindForceNewDeployment, Done: 1, Verified: 1}}
				d.Agreement = AgreementStats{Judged: 1, Agreed: 1}
				d.RecoverWithAction = Median{N: 1, Median: 10 * time.Minute}
			}},
		{name: "dry-runs: a person agreed, a person did else, nobody acted, unknown",
			incs: []incident.Incident{
				closed(0, mem, incident.CloseRecovered, 20*time.Minute, act(kindForceNewDeployment, incident.ActionDryRun, ""), agreed(incident.ActionDryRun, incident.VerdictAgreed)),
				closed(1, mem, incident.CloseRecovered, 40*time.Minute, act(kindForceNewDeployment, incident.ActionDryRun, ""), agreed(incident.ActionDryRun, incident.VerdictOther)),
				closed(2, mem, incident.CloseRecovered, 60*time.Minute, act(kindForceNewDeployment, incident.ActionDryRun, ""), agreed(incident.ActionDryRun, incident.VerdictNothingRecovered)),
				closed(3, mem, incident.CloseMaxAge, 24*time.Hour, act(kindForceNewDeployment, incident.ActionDryRun, ""), escalated(), agreed(incident.ActionDryRun, incident.VerdictUnknown)),
			},
			want: func(d *Digest) {
				d.Incidents, d.Recovered, d.MaxAge = 4, 3, 1
				d.Alarms = []AlarmStats{{Alarm: mem, Incidents: 4, Escalations: 1}}
				d.Actions = []ActionStats{{Kind: kindForceNewDeployment, DryRun: 4}}
				d.Agreement = AgreementStats{Judged: 4, Agreed: 1, Other: 1, NothingRecovered: 1, Unknown: 1, DryRunJudged: 4, DryRunAgreed: 1, DryRunDecided: 3}
				d.RecoverWithout = Median{N: 3, Median: 40 * time.Minute}
			}},
		{name: "skips by rule, a failure, an open incident, medians of two",
			incs: []incident.Incident{
				closed(0, depth, incident.CloseRecovered, 10*time.Minute, act(kindScaleService, incident.ActionSkipped, "cap"), escalated()),
				closed(1, depth, incident.CloseRecovered, 30*time.Minute, act(kindScaleService, incident.ActionSkipped, "cooldown"), act(kindScaleService, incident.ActionSkipped, "cap")),
				closed(2, mem, incident.CloseRecovered, 5*time.Minute, act(kindForceNewDeployment, incident.ActionDone, ""), verified(incident.VerificationFailed)),
				closed(3, mem, incident.CloseRecovered, 15*time.Minute, act(kindForceNewDeployment, incident.ActionFailed, "")),
				closed(4, mem, "", 0, act(kindForceNewDeployment, incident.ActionDone, "")),
			},
			want: func(d *Digest) {
				d.Incidents, d.Recovered, d.Open = 5, 4, 1
				byRule := []RuleCount{{Rule: "cap", Count: 2}, {Rule: "cooldown", Count: 1}}
				d.Alarms = []AlarmStats{{Alarm: mem, Incidents: 3, Failed: 1}, {Alarm: depth, Incidents: 2, Escalations: 1, Skipped: 3, SkippedBy: byRule}}
				d.Actions = []ActionStats{{Kind: kindForceNewDeployment, Done: 2, Failed: 1}, {Kind: kindScaleService, Skipped: 3, SkippedBy: byRule}}
				d.Rules = []RuleCount{{Rule: "cap", Count: 2}, {Rule: "cooldown", Count: 1}}
				d.RecoverWithAction = Median{N: 1, Median: 5 * time.Minute}
				d.RecoverWithout = Median{N: 3, Median: 15 * time.Minute}
			}},
		{name: "even count: the median is the mean of the middle two",
			incs: []incident.Incident{
				closed(0, mem, incident.CloseRecovered, 10*time.Minute),
				closed(1, mem, incident.CloseRecovered, 20*time.Minute),
			},
			want: func(d *Digest) {
				d.Incidents, d.Recovered = 2, 2
				d.Alarms = []AlarmStats{{Alarm: mem, Incidents: 2}}
				d.RecoverWithout = Median{N: 2, Median: 15 * time.Minute}
			}},
	}
	from, to := t0, t0.Add(7*24*time.Hour)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Compute("staging", from, to, tc.incs)
			want := Digest{Environment: "staging", From: from, To: to, Coverage: CoverageCounts(RunbookCoverage)}
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("digest\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDigestReportAndMetrics(t *testing.T) {
	incs := []incident.Incident{
		closed(0, "a", incident.CloseRecovered, 10*time.Minute, act(kindForceNewDeployment, incident.ActionDryRun, ""), agreed(incident.ActionDryRun, incident.VerdictAgreed)),
		closed(1, "a", incident.CloseRecovered, 30*time.Minute, act(kindForceNewDeployment, incident.ActionDryRun, ""), agreed(incident.ActionDryRun, incident.VerdictNothingRecovered)),
		closed(2, "a", incident.CloseRecovered, 20*time.Minute, act(kindScaleService, incident.ActionSkipped, "budget")),
	}
	d := Compute("staging", t0, t0.Add(7*24*time.Hour), incs)
	rep := d.Report()
	if rep.Result.Function != Function || !strings.Contains(rep.Headline, "dry-run agreement 50 % (1 of 2)") {
		t.Errorf("headline %q", rep.Headline)
	}
	ev := strings.Join(rep.Result.Finding.Evidence, "\n")
	for _, want := range []string{"Alarm a: 3 incident(s), 0 fixed and verified, 0 escalated, 0 failed, 1 skipped (budget 1)", "Action scale-service: 0 done (0 verified), 0 dry-run, 0 failed, 1 skipped (budget 1)", "Skipped by rule budget: 1", "Time to recover without one: median 20m0s over 3 incident(s)", "Time to recover with an action: no incident", "Runbook coverage:"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}

	var buf bytes.Buffer
	if err := d.EmitMetrics(&buf); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("EMF line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d EMF lines, want the digest's and one for the rule", len(lines))
	}
	m := lines[0]
	if m[MetricIncidents] != 3.0 || m[MetricAgreementRate] != 50.0 || m[MetricMedianTimeToRecoverOff] != 1200.0 || m["Environment"] != "staging" {
		t.Errorf("EMF line %v", m)
	}
	if _, ok := m[MetricMedianTimeToRecover]; ok {
		t.Errorf("a median with no incident was written: %v", m)
	}
	if lines[1]["Rule"] != "budget" || lines[1][MetricActionsSkippedByRule] != 1.0 {
		t.Errorf("rule line %v", lines[1])
	}
}
