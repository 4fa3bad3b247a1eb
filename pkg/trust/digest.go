package trust

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Digest is the effectiveness of the functions over a period: what the incidents of the
// period record, counted. Every number is read from typed timeline entries.
type Digest struct {
	Environment string
	From, To    time.Time
	// Incidents opened in the period; Recovered closed with every alarm OK, MaxAge closed at
	// their maximum age, Open not closed yet.
	Incidents, Recovered, MaxAge, Open int
	Alarms                             []AlarmStats  // by alarm name
	Actions                            []ActionStats // by action kind
	// Rules counts the skipped actions by the rule that skipped them (budgets, caps,
	// cooldowns, policies, the kill switch…), most hit first.
	Rules     []RuleCount
	Agreement AgreementStats
	// RecoverWithAction is the time to recover of recovered incidents with at least one done
	// action; RecoverWithout of those with none (dry-run or nothing to do).
	RecoverWithAction, RecoverWithout Median
	Coverage                          map[Coverage]int
}

// AlarmStats is what became of one alarm's incidents.
type AlarmStats struct {
	Alarm string
	// Incidents the alarm was a member of.
	Incidents int
	// Verified are done actions a later verification of the alarm saw work; Escalations the
	// hand-overs to a person; Failed and Skipped the actions that failed or were skipped.
	Verified, Escalations, Failed, Skipped int
	// SkippedBy counts Skipped by rule, most hit first.
	SkippedBy []RuleCount
}

// ActionStats counts one action kind by outcome.
type ActionStats struct {
	Kind                                    string
	Done, Verified, DryRun, Failed, Skipped int
	// SkippedBy counts Skipped by rule, most hit first.
	SkippedBy []RuleCount
}

// RuleCount is how many actions one rule skipped.
type RuleCount struct {
	Rule  string
	Count int
}

// AgreementStats counts the agreement verdicts of the period.
type AgreementStats struct {
	Judged, Agreed, Other, NothingRecovered, Unknown int
	// DryRun* count the dry-run actions only: the rate that tells whether turning a function
	// on would have matched what people did.
	DryRunJudged, DryRunAgreed, DryRunDecided int
}

// DryRunRate is the share of dry-run actions a person agreed with, among those the evidence
// could decide (unknown verdicts excluded); false when none could be decided.
func (a AgreementStats) DryRunRate() (float64, bool) {
	if a.DryRunDecided == 0 {
		return 0, false
	}
	return float64(a.DryRunAgreed) / float64(a.DryRunDecided), true
}

// Median is the median of some durations and how many there were.
type Median struct {
	N      int
	Median time.Duration
}

func median(ds []time.Duration) Median {
	if len(ds) == 0 {
		return Median{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Median{N: len(s), Median: m}
}

// Compute gathers the digest of env's incidents (those of the period: the caller lists them).
func Compute(env string, from, to time.Time, incs []incident.Incident) Digest {
	d := Digest{Environment: env, From: from, To: to, Coverage: CoverageCounts(RunbookCoverage)}
	alarms := map[string]*AlarmStats{}
	kinds := map[string]*ActionStats{}
	rules := map[string]int{}
	alarmRules := map[string]map[string]int{}
	kindRules := map[string]map[string]int{}
	count := func(m map[string]map[string]int, key, rule string) {
		if m[key] == nil {
			m[key] = map[string]int{}
		}
		m[key][rule]++
	}
	alarm := func(name string) *AlarmStats {
		if alarms[name] == nil {
			alarms[name] = &AlarmStats{Alarm: name}
		}
		return alarms[name]
	}
	kind := func(name string) *ActionStats {
		if kinds[name] == nil {
			kinds[name] = &ActionStats{Kind: name}
		}
		return kinds[name]
	}
	var with, without []time.Duration
	for _, inc := range incs {
		d.Incidents++
		switch {
		case inc.Status != incident.StatusClosed:
			d.Open++
		case inc.CloseReason == incident.CloseRecovered:
			d.Recovered++
		case inc.CloseReason == incident.CloseMaxAge:
			d.MaxAge++
		}
		for _, m := range inc.Members {
			alarm(m.Alarm).Incidents++
		}
		sum := incident.Summarize(inc)
		for _, e := range sum.Verified {
			alarm(e.Alarm).Verified++
			kind(e.Action.Kind).Verified++
		}
		acted := false
		for _, e := range inc.Timeline {
			switch {
			case e.Action != nil:
				k := kind(e.Action.Kind)
				switch e.Action.Outcome {
				case incident.ActionDone:
					k.Done++
					acted = true
				case incident.ActionDryRun:
					k.DryRun++
				case incident.ActionFailed:
					k.Failed++
					alarm(e.Alarm).Failed++
				case incident.ActionSkipped:
					k.Skipped++
					alarm(e.Alarm).Skipped++
					rule := e.Action.Rule
					if rule == "" {
						rule = "unrecorded"
					}
					rules[rule]++
					count(alarmRules, e.Alarm, rule)
					count(kindRules, e.Action.Kind, rule)
				}
			case e.Escalation != nil:
				alarm(e.Alarm).Escalations++
			case e.Agreement != nil:
				countVerdict(&d.Agreement, *e.Agreement)
			}
		}
		if ttr, ok := incident.TimeToRecover(inc); ok {
			if acted {
				with = append(with, ttr)
			} else {
				without = append(without, ttr)
			}
		}
	}
	d.RecoverWithAction, d.RecoverWithout = median(with), median(without)
	for _, a := range alarms {
		a.SkippedBy = ruleCounts(alarmRules[a.Alarm])
		d.Alarms = append(d.Alarms, *a)
	}
	sort.Slice(d.Alarms, func(i, j int) bool { return d.Alarms[i].Alarm < d.Alarms[j].Alarm })
	for _, k := range kinds {
		k.SkippedBy = ruleCounts(kindRules[k.Kind])
		d.Actions = append(d.Actions, *k)
	}
	sort.Slice(d.Actions, func(i, j int) bool { return d.Actions[i].Kind < d.Actions[j].Kind })
	d.Rules = ruleCounts(rules)
	return d
}

// ruleCounts lists counts by rule, most hit first (nil for none).
func ruleCounts(m map[string]int) []RuleCount {
	var out []RuleCount
	for r, n := range m {
		out = append(out, RuleCount{Rule: r, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// rulesText renders counts by rule: " (cap 2, cooldown 1)", or "" for none.
func rulesText(rs []RuleCount) string {
	if len(rs) == 0 {
		return ""
	}
	s := " ("
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", r.Rule, r.Count)
	}
	return s + ")"
}

func countVerdict(s *AgreementStats, a incident.Agreement) {
	s.Judged++
	switch a.Verdict {
	case incident.VerdictAgreed:
		s.Agreed++
	case incident.VerdictOther:
		s.Other++
	case incident.VerdictNothingRecovered:
		s.NothingRecovered++
	default:
		s.Unknown++
	}
	if a.Outcome != incident.ActionDryRun {
		return
	}
	s.DryRunJudged++
	if a.Verdict == incident.VerdictAgreed {
		s.DryRunAgreed++
	}
	if a.Verdict != incident.VerdictUnknown {
		s.DryRunDecided++
	}
}

// Function is the name digests are reported under.
const Function = "digest"

// Report renders the digest as a report the sinks post like any other (pkg/render,
// pkg/deliver).
func (d Digest) Report() report.Report {
	res := report.Result{
		Function: Function, Environment: d.Environment,
		Alarm:   report.AlarmRef{Name: "weekly digest", State: "OK", ChangedAt: d.To},
		Actions: []report.Action{}, Recommendations: []string{}, Diagnostics: []report.Diagnostic{}, Sinks: []report.Sink{},
		Finding: report.Finding{Code: "digest", Summary: d.summary(), Evidence: d.Lines()},
	}
	return report.Report{Result: res, Severity: report.SeverityInfo, Presentation: report.Presentation{
		Headline: fmt.Sprintf("Digest %s, %s to %s: %s", d.Environment, d.From.UTC().Format(time.DateOnly), d.To.UTC().Format(time.DateOnly), d.summary()),
	}}
}

func (d Digest) summary() string {
	s := fmt.Sprintf("%d incident(s), %d recovered, %d at max age, %d open", d.Incidents, d.Recovered, d.MaxAge, d.Open)
	if r, ok := d.Agreement.DryRunRate(); ok {
		s += fmt.Sprintf("; dry-run agreement %.0f %% (%d of %d)", 100*r, d.Agreement.DryRunAgreed, d.Agreement.DryRunDecided)
	} else {
		s += "; dry-run agreement: none decided"
	}
	return s
}

// Lines are the digest's sections, one line per figure.
func (d Digest) Lines() []string {
	out := []string{}
	for _, a := range d.Alarms {
		out = append(out, fmt.Sprintf("Alarm %s: %d incident(s), %d fixed and verified, %d escalated, %d failed, %d skipped%s",
			a.Alarm, a.Incidents, a.Verified, a.Escalations, a.Failed, a.Skipped, rulesText(a.SkippedBy)))
	}
	for _, k := range d.Actions {
		out = append(out, fmt.Sprintf("Action %s: %d done (%d verified), %d dry-run, %d failed, %d skipped%s",
			k.Kind, k.Done, k.Verified, k.DryRun, k.Failed, k.Skipped, rulesText(k.SkippedBy)))
	}
	for _, r := range d.Rules {
		out = append(out, fmt.Sprintf("Skipped by rule %s: %d", r.Rule, r.Count))
	}
	a := d.Agreement
	out = append(out, fmt.Sprintf("Agreement: %d judged: %d agreed, %d a person did something else, %d nobody acted and it recovered, %d unknown",
		a.Judged, a.Agreed, a.Other, a.NothingRecovered, a.Unknown))
	out = append(out, "Time to recover with an action: "+d.RecoverWithAction.String())
	out = append(out, "Time to recover without one: "+d.RecoverWithout.String())
	out = append(out, fmt.Sprintf("Runbook coverage: %d step(s) automated, %d offered for approval, %d left to a person",
		d.Coverage[Automated], d.Coverage[Offered], d.Coverage[Person]))
	return out
}

func (m Median) String() string {
	if m.N == 0 {
		return "no incident"
	}
	return fmt.Sprintf("median %s over %d incident(s)", m.Median.Round(time.Second), m.N)
}

// Metric names of the digest (namespace GPRemediation, dimension Environment).
const (
	MetricNamespace              = "GPRemediation"
	MetricIncidents              = "Incidents"
	MetricIncidentsRecovered     = "IncidentsRecovered"
	MetricAgreementRate          = "AgreementRate"
	MetricMedianTimeToRecover    = "MedianTimeToRecover"
	MetricMedianTimeToRecoverOff = "MedianTimeToRecoverWithoutAction"
	MetricActionsVerified        = "ActionsVerified"
	MetricActionsSkippedByRule   = "ActionsSkippedByRule"
)

// EmitMetrics writes the digest as CloudWatch Embedded Metric Format lines to w (stdout in
// Lambda), at the period's end. A figure with no data (no rate decided, no recovery) is
// left out rather than written as zero.
func (d Digest) EmitMetrics(w io.Writer) error {
	values := map[string]float64{MetricIncidents: float64(d.Incidents), MetricIncidentsRecovered: float64(d.Recovered)}
	units := map[string]string{MetricIncidents: "Count", MetricIncidentsRecovered: "Count", MetricActionsVerified: "Count"}
	verified := 0
	for _, k := range d.Actions {
		verified += k.Verified
	}
	values[MetricActionsVerified] = float64(verified)
	if r, ok := d.Agreement.DryRunRate(); ok {
		values[MetricAgreementRate], units[MetricAgreementRate] = 100*r, "Percent"
	}
	if d.RecoverWithAction.N > 0 {
		values[MetricMedianTimeToRecover], units[MetricMedianTimeToRecover] = d.RecoverWithAction.Median.Seconds(), "Seconds"
	}
	if d.RecoverWithout.N > 0 {
		values[MetricMedianTimeToRecoverOff], units[MetricMedianTimeToRecoverOff] = d.RecoverWithout.Median.Seconds(), "Seconds"
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	line := map[string]any{"Environment": d.Environment}
	var metrics []map[string]string
	for _, n := range names {
		line[n] = values[n]
		metrics = append(metrics, map[string]string{"Name": n, "Unit": units[n]})
	}
	line["_aws"] = emf(d.To, [][]string{{"Environment"}}, metrics)
	if err := writeLine(w, line); err != nil {
		return err
	}
	for _, r := range d.Rules {
		rl := map[string]any{"Environment": d.Environment, "Rule": r.Rule, MetricActionsSkippedByRule: float64(r.Count),
			"_aws": emf(d.To, [][]string{{"Environment", "Rule"}}, []map[string]string{{"Name": MetricActionsSkippedByRule, "Unit": "Count"}})}
		if err := writeLine(w, rl); err != nil {
			return err
		}
	}
	return nil
}

func emf(at time.Time, dims [][]string, metrics []map[string]string) map[string]any {
	return map[string]any{
		"Timestamp":         at.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{"Namespace": MetricNamespace, "Dimensions": dims, "Metrics": metrics}},
	}
}

func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode digest metrics: %w", err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
