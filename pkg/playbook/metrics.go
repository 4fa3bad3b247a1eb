package playbook

import (
	"encoding/json"
	"fmt"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// Metric names the stack's dashboard and alarms read (CloudWatch Embedded Metric Format).
const (
	MetricNamespace      = "GPRemediation"
	MetricInvocations    = "Invocations"
	MetricActionsDone    = "ActionsDone"
	MetricActionsDryRun  = "ActionsDryRun"
	MetricActionsSkipped = "ActionsSkipped"
	MetricActionsFailed  = "ActionsFailed"
	MetricEscalations    = "Escalations"
)

// emit writes one EMF line for the Result. Lambda turns it into metrics without an API call,
// so counting what the functions did costs no latency and needs no permission.
func (r *Runner) emit(res report.Result) {
	if r.Metrics == nil {
		return
	}
	counts := map[string]float64{MetricInvocations: 1, MetricActionsDone: 0, MetricActionsDryRun: 0,
		MetricActionsSkipped: 0, MetricActionsFailed: 0, MetricEscalations: 0}
	for _, a := range res.Actions {
		switch a.Outcome {
		case report.OutcomeDone:
			counts[MetricActionsDone]++
		case report.OutcomeDryRun:
			counts[MetricActionsDryRun]++
		case report.OutcomeSkipped:
			counts[MetricActionsSkipped]++
		case report.OutcomeFailed:
			counts[MetricActionsFailed]++
		}
	}
	if res.Escalation != nil && !res.Escalation.Resolution {
		counts[MetricEscalations] = 1
	}
	metrics := make([]map[string]string, 0, len(counts))
	line := map[string]any{
		"Environment": res.Environment,
		"Function":    res.Function,
		"finding":     res.Finding.Code,
	}
	for _, name := range []string{MetricInvocations, MetricActionsDone, MetricActionsDryRun, MetricActionsSkipped, MetricActionsFailed, MetricEscalations} {
		metrics = append(metrics, map[string]string{"Name": name, "Unit": "Count"})
		line[name] = counts[name]
	}
	line["_aws"] = map[string]any{
		"Timestamp": r.now().UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  MetricNamespace,
			"Dimensions": [][]string{{"Environment", "Function"}},
			"Metrics":    metrics,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	fmt.Fprintln(r.Metrics, string(b))
}
