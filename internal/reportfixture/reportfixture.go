// Package reportfixture holds sample reports the rendering and delivery tests share: an
// OOM restart, a dry-run, a failed replay that paged, unusable input and a scale-back.
package reportfixture

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// Fixtures: reports as the playbooks produce them, one per shape a renderer must handle.

// AlarmTime is when the fixtures' alarms changed state.
var AlarmTime = time.Date(2026, 11, 27, 3, 12, 0, 0, time.UTC)

// MemorySeries is a memory utilization series with a gap.
func MemorySeries() *report.Series {
	vals := make([]float64, 60)
	for i := range vals {
		vals[i] = 55 + float64(i)*0.6
	}
	vals[20], vals[21] = math.NaN(), math.NaN() // a gap in the metric
	return &report.Series{Label: "MemoryUtilization", Unit: "Percent", Values: vals}
}

// OOM is a CRITICAL no-tasks report: OOM-killed, restarted, verified.
func OOM() report.Report {
	return report.Report{
		Severity: report.SeverityCritical,

		Result: report.Result{
			Function:    "no-tasks",
			Environment: "staging",
			Mode:        "on",
			Alarm:       report.AlarmRef{Name: "No Ingestor Tasks Running", State: "ALARM", ChangedAt: AlarmTime},
			Finding: report.Finding{
				Code:    "oom-killed",
				Summary: "Ingestor tasks were killed for running out of memory (exit 137) 3 times in the last hour.",
				Evidence: []string{
					"service arrakis-staging-ingestor: desired 1, running 0, pending 0",
					"deployment ecs-svc/8512 PRIMARY task definition arrakis-staging-ingestor:41 rollout IN_PROGRESS (created 02:14:07Z)",
					"task 3f2a…: stopped 03:10:55Z, stopCode EssentialContainerExited, container ingestor exit 137, reason OutOfMemoryError: Container killed due to memory usage",
					"task 9c81…: stopped 02:48:12Z, container ingestor exit 137, OutOfMemoryError",
					"log 03:10:54Z fatal error: runtime: out of memory",
				},
			},
			Actions: []report.Action{
				{Kind: "force-new-deployment", Target: "arrakis-staging-ingestor", Outcome: report.OutcomeDone,
					Reason: "oom-killed: a fresh task runs until memory fills again", Detail: "deployment ecs-svc/8533 started, desired 1"},
				{Kind: "raise-task-memory", Target: "arrakis-staging-ingestor", Outcome: report.OutcomeSkipped,
					Reason: "policy: GPR_ALLOW_RAISE_MEMORY is false"},
			},
			Recommendations: []string{
				"Raise the ingestor's task memory (512 -> 768 MiB) or set GPR_ALLOW_RAISE_MEMORY=true.",
				"File a bug: memory grows about 3 MiB/min since task definition :41.",
			},
			Diagnostics: []report.Diagnostic{
				{Name: "ecs.services", OK: true, MS: 41},
				{Name: "ecs.stopped-tasks", OK: true, MS: 88},
				{Name: "logs.filter", OK: false, MS: 120, Error: "AccessDeniedException: not authorized to perform logs:FilterLogEvents"},
			},
			Verification: &report.Verification{Status: report.Verified, Detail: "1/1 tasks running on deployment ecs-svc/8533", MS: 42_300},
			Escalation:   &report.Escalation{Paged: false, Reason: "fixed and verified"},
			Sinks:        []report.Sink{},
		},
		Presentation: report.Presentation{Headline: "staging ingestor OOM-killed (exit 137) 3× in 1 h: restarted, 1/1 running; raise its task memory", Commands: []report.Command{
			{Title: "Service events", Cmd: "aws ecs describe-services \\\n  --cluster arrakis-staging-cluster \\\n  --services arrakis-staging-ingestor \\\n  --query 'services[0].events[:5]'"},
			{Title: "Crash lines of the last hour", Cmd: "aws logs filter-log-events \\\n  --log-group-name /ecs/arrakis-staging/ingestor \\\n  --start-time $(date -u -d '1 hour ago' +%s)000 \\\n  --filter-pattern '?fatal ?panic ?crash'"},
		}, Links: report.Links(report.LinkParams{
			Region: "us-east-1", Cluster: "arrakis-staging-cluster", Service: "arrakis-staging-ingestor",
			LogGroups: []string{"/ecs/arrakis-staging/ingestor"},
			Query:     "fields @timestamp, @message\n| filter @message like /(?i)(fatal|panic|crash)/\n| sort @timestamp desc",
			AlarmName: "No Ingestor Tasks Running", Dashboard: "arrakis-staging-gateway-proxy",
			End: AlarmTime,
		}), Series: MemorySeries()},
	}
}

// DryRun is a WARNING queue-depth report in dry-run.
func DryRun() report.Report {
	return report.Report{
		Severity: report.SeverityWarning,

		Result: report.Result{
			Function:    "queue-depth",
			Environment: "staging",
			Mode:        "dry-run",
			Alarm:       report.AlarmRef{Name: "Queue Depth High", State: "ALARM", ChangedAt: AlarmTime},
			Finding: report.Finding{
				Code:    "under-provisioned",
				Summary: "Consumers keep up per task but the backlog grows: more workers will drain it.",
				Evidence: []string{
					"queue arrakis.interactions: ready 4210, consumers 1",
					"MessageCount 15 min: 1200 -> 4210 (rising)",
					"worker log: <script>alert(1)</script> & *bold* _it_ | pipe `tick` ``` fence @everyone @here",
					"postgres: 0 statements over 5s; connections 23/100",
				},
			},
			Actions: []report.Action{
				{Kind: "scale-service", Target: "arrakis-staging-gp-worker", Outcome: report.OutcomeDryRun,
					Reason: "under-provisioned", Detail: "desired 1 -> 2 (cap 3)"},
			},
			Recommendations: []string{"If the backlog keeps growing at 2 workers, look at the worker's prefetch limit."},
			Diagnostics: []report.Diagnostic{
				{Name: "rabbit.queue", OK: true, MS: 12},
				{Name: "pg.slow", OK: true, MS: 30},
			},
			Verification: &report.Verification{Status: report.NotNeeded, Detail: "dry-run: nothing was changed"},
		},
		Presentation: report.Presentation{Headline: "staging queue arrakis.interactions at 4,210 and rising with 1 worker: would scale gp-worker 1 -> 2 (dry-run)", Commands: []report.Command{
			{Title: "Scale the worker up", Cmd: "aws ecs update-service --cluster arrakis-staging-cluster --service arrakis-staging-gp-worker --desired-count 2"},
		}, Links: report.Links(report.LinkParams{Region: "eu-west-1", Cluster: "arrakis-staging-cluster", Service: "arrakis-staging-gp-worker",
			LogGroups: []string{"/ecs/arrakis-staging/gp-worker"}, Query: "fields @timestamp, @message\n| filter @message like /slow|timeout/",
			Window: 15 * time.Minute}), Series: &report.Series{Label: "MessageCount", Unit: "Count", Values: []float64{1200, 1500, math.NaN(), 2100, 2600, 3000, 3500, 3900, 4210}}},
	}
}

// Paged is a failed DLQ replay that paged on-call.
func Paged() report.Report {
	return report.Report{
		Severity: report.SeverityCritical,

		Result: report.Result{
			Function:    "dlq",
			Environment: "production",
			Mode:        "on",
			Alarm:       report.AlarmRef{Name: "DLQ Messages", State: "ALARM", ChangedAt: AlarmTime},
			Finding: report.Finding{
				Code:     "transient",
				Summary:  "37 messages dead-lettered by timeouts to PostgreSQL between 02:50 and 03:05.",
				Evidence: []string{"group arrakis.interactions/rejected/timeout: 37 messages, first 02:50:11Z, last 03:05:42Z"},
			},
			Actions: []report.Action{
				{Kind: "replay", Target: "arrakis.interactions", Outcome: report.OutcomeFailed,
					Reason: "publish: Exception (504) Reason: \"channel/connection is not open\"", Detail: "0 of 37 replayed"},
			},
			Recommendations: []string{},
			Diagnostics:     []report.Diagnostic{{Name: "rabbit.peek", OK: true, MS: 350}},
			Verification:    &report.Verification{Status: report.Unverified, Detail: "DLQ depth still 37", MS: 10_000},
			Escalation:      &report.Escalation{Paged: true, Reason: "replay failed on a CRITICAL alarm", DedupKey: "gp-remediation/production/DLQ Messages"},
		},
		Presentation: report.Presentation{Headline: "production worker replay FAILED: 37 transient DLQ messages still in arrakis.dlq; paged on-call"},
	}
}

// Offered is a rollback the environment's policy keeps from the functions, offered to a person
// as Approve and Reject buttons (two approvers in production).
func Offered() report.Report {
	expires := AlarmTime.Add(32 * time.Minute)
	return report.Report{
		Severity: report.SeverityCritical,

		Result: report.Result{
			Function:    "no-tasks",
			Environment: "production",
			Mode:        "on",
			Incident:    "production.20261127T031200Z.5eed1e55",
			Alarm:       report.AlarmRef{Name: "No Worker Tasks Running", State: "ALARM", ChangedAt: AlarmTime},
			Finding: report.Finding{
				Code:     "bad-deployment",
				Summary:  "Every task of gp-worker:42 (deployed 02:58) exits with code 1; :41 ran for 9 days.",
				Evidence: []string{"deployment ecs-svc/42 PRIMARY of gp-worker:42: FAILED, 3 tasks failed"},
			},
			Actions: []report.Action{
				{Kind: "rollback", Target: "arrakis-production-gp-worker", Outcome: report.OutcomeSkipped, Rule: "policy",
					Reason: "policy: rollback is off in this environment (GPR_ALLOW_ROLLBACK=false)", Detail: "gp-worker:42 -> gp-worker:41",
					Offer: &report.OfferRef{ID: "5eed1e55c0ffee00", ExpiresAt: expires, Required: 2}},
			},
			Recommendations: []string{},
			Diagnostics:     []report.Diagnostic{{Name: "ecs.service", OK: true, MS: 120}},
			Verification:    &report.Verification{Status: report.NotNeeded, Detail: "no action was taken"},
			Escalation:      &report.Escalation{Paged: true, Reason: "no action was taken (skipped: policy)", DedupKey: "gp-remediation/production/production.20261127T031200Z.5eed1e55"},
		},
		Presentation: report.Presentation{
			Headline: "production worker down since gp-worker:42: rollback to :41 needs approval (2 approvers)",
			Offers: []report.Offer{{ID: "5eed1e55c0ffee00", Title: "rollback worker gp-worker:41",
				Reason: "policy: rollback is off in this environment (GPR_ALLOW_ROLLBACK=false)", ExpiresAt: expires, Required: 2}},
		},
	}
}

// InputError answers input that was not an alarm.
func InputError() report.Report {
	return report.Report{
		Severity: report.SeverityInfo,

		Result: report.Result{
			Function:    "no-tasks",
			Environment: "staging",
			Error:       "not an SNS event: unexpected end of JSON input",
		},
		Presentation: report.Presentation{Headline: ""},
	}
}

// ScaleBack is the scale-back after the queue recovered.
func ScaleBack() report.Report {
	return report.Report{
		Severity: report.SeverityInfo,

		Result: report.Result{
			Function:    "queue-depth",
			Environment: "staging",
			Mode:        "on",
			Alarm:       report.AlarmRef{Name: "Queue Depth High", State: "OK", ChangedAt: AlarmTime.Add(40 * time.Minute)},
			Finding:     report.Finding{Code: "draining", Summary: "The alarm returned to OK."},
			Actions: []report.Action{{Kind: "scale-service", Target: "arrakis-staging-gp-worker", Outcome: report.OutcomeDone,
				Reason: "return to the count recorded before scaling up", Detail: "desired 3 -> 1"}},
			Verification: &report.Verification{Status: report.Verified, Detail: "1/1 running", MS: 5_000},
			Escalation:   &report.Escalation{Resolved: true, DedupKey: "gp-remediation/staging/Queue Depth High"},
			More:         []report.Result{{Alarm: report.AlarmRef{Name: "DLQ Messages"}, Finding: report.Finding{Code: "unknown"}}},
		},
		Presentation: report.Presentation{Headline: "staging queue depth back to normal: gp-worker scaled back 3 -> 1"},
	}
}

// Huge is the OOM fixture buried in evidence: 10,000 multi-byte lines, 1 MB strings
// in evidence, recommendations, commands and diagnostics, and many links.
func Huge() report.Report {
	r := OOM()
	r.Headline = "staging ingestor OOM-killed 3× — restarted; «日本語» ünïcødé 🚀 headline stays whole"
	mb := strings.Repeat("日本語🚀é", 1<<20/16) // ~1 MB of 2-, 3- and 4-byte runes
	ev := make([]string, 0, 10_002)
	ev = append(ev, mb)
	for i := range 10_000 {
		ev = append(ev, fmt.Sprintf("line %05d: task stopped — OutOfMemoryError 🚀 exit 137 «%s»", i, strings.Repeat("ß", i%50)))
	}
	ev = append(ev, mb)
	r.Result.Finding.Evidence = ev
	r.Result.Recommendations = append(r.Result.Recommendations, mb)
	for i := range 1000 {
		r.Result.Diagnostics = append(r.Result.Diagnostics, report.Diagnostic{Name: fmt.Sprintf("probe-%d", i), Error: mb[:1000+i]})
	}
	r.Commands = append(r.Commands, report.Command{Title: "huge", Cmd: mb})
	for i := range 200 {
		r.Links = append(r.Links, report.Link{Title: fmt.Sprintf("link %d", i), URL: fmt.Sprintf("https://example.com/%d", i)})
	}
	r.Result.Actions = append(r.Result.Actions,
		report.Action{Kind: "rollback", Target: "arrakis-staging-ingestor", Outcome: report.OutcomeFailed, Reason: "ClientException: revision :40 is INACTIVE", Detail: "task definition :41 -> :40"},
		report.Action{Kind: "scale-service", Target: "arrakis-staging-gp-worker", Outcome: report.OutcomeDryRun, Reason: "worker before ingestor", Detail: "desired 0 -> 1"},
	)
	return r
}
