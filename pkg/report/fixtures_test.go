package report

import (
	"math"
	"time"
)

// Fixtures: reports as the playbooks produce them, one per shape a renderer must handle.

var alarmTime = time.Date(2026, 11, 27, 3, 12, 0, 0, time.UTC)

func memorySeries() *Series {
	vals := make([]float64, 60)
	for i := range vals {
		vals[i] = 55 + float64(i)*0.6
	}
	vals[20], vals[21] = math.NaN(), math.NaN() // a gap in the metric
	return &Series{Label: "MemoryUtilization", Unit: "Percent", Values: vals}
}

func fixtureOOM() Report {
	return Report{
		Severity: SeverityCritical,

		Result: Result{
			Function:    "no-tasks",
			Environment: "staging",
			Mode:        "on",
			Alarm:       AlarmRef{Name: "No Ingestor Tasks Running", State: "ALARM", ChangedAt: alarmTime},
			Finding: Finding{
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
			Actions: []Action{
				{Kind: "force-new-deployment", Target: "arrakis-staging-ingestor", Outcome: OutcomeDone,
					Reason: "oom-killed: a fresh task runs until memory fills again", Detail: "deployment ecs-svc/8533 started, desired 1"},
				{Kind: "raise-task-memory", Target: "arrakis-staging-ingestor", Outcome: OutcomeSkipped,
					Reason: "policy: GPR_ALLOW_RAISE_MEMORY is false"},
			},
			Recommendations: []string{
				"Raise the ingestor's task memory (512 -> 768 MiB) or set GPR_ALLOW_RAISE_MEMORY=true.",
				"File a bug: memory grows about 3 MiB/min since task definition :41.",
			},
			Diagnostics: []Diagnostic{
				{Name: "ecs.services", OK: true, MS: 41},
				{Name: "ecs.stopped-tasks", OK: true, MS: 88},
				{Name: "logs.filter", OK: false, MS: 120, Error: "AccessDeniedException: not authorized to perform logs:FilterLogEvents"},
			},
			Verification: &Verification{Status: Verified, Detail: "1/1 tasks running on deployment ecs-svc/8533", MS: 42_300},
			Escalation:   &Escalation{Paged: false, Reason: "fixed and verified"},
			Sinks:        []Sink{},
		},
		Presentation: Presentation{Headline: "staging ingestor OOM-killed (exit 137) 3× in 1 h: restarted, 1/1 running; raise its task memory", Commands: []Command{
			{Title: "Service events", Cmd: "aws ecs describe-services \\\n  --cluster arrakis-staging-cluster \\\n  --services arrakis-staging-ingestor \\\n  --query 'services[0].events[:5]'"},
			{Title: "Crash lines of the last hour", Cmd: "aws logs filter-log-events \\\n  --log-group-name /ecs/arrakis-staging/ingestor \\\n  --start-time $(date -u -d '1 hour ago' +%s)000 \\\n  --filter-pattern '?fatal ?panic ?crash'"},
		}, Links: Links(LinkParams{
			Region: "us-east-1", Cluster: "arrakis-staging-cluster", Service: "arrakis-staging-ingestor",
			LogGroups: []string{"/ecs/arrakis-staging/ingestor"},
			Query:     "fields @timestamp, @message\n| filter @message like /(?i)(fatal|panic|crash)/\n| sort @timestamp desc",
			AlarmName: "No Ingestor Tasks Running", Dashboard: "arrakis-staging-gateway-proxy",
			End: alarmTime,
		}), Series: memorySeries()},
	}
}

func fixtureDryRun() Report {
	return Report{
		Severity: SeverityWarning,

		Result: Result{
			Function:    "queue-depth",
			Environment: "staging",
			Mode:        "dry-run",
			Alarm:       AlarmRef{Name: "Queue Depth High", State: "ALARM", ChangedAt: alarmTime},
			Finding: Finding{
				Code:    "under-provisioned",
				Summary: "Consumers keep up per task but the backlog grows: more workers will drain it.",
				Evidence: []string{
					"queue arrakis.interactions: ready 4210, consumers 1",
					"MessageCount 15 min: 1200 -> 4210 (rising)",
					"worker log: <script>alert(1)</script> & *bold* _it_ | pipe `tick` ``` fence @everyone @here",
					"postgres: 0 statements over 5s; connections 23/100",
				},
			},
			Actions: []Action{
				{Kind: "scale-service", Target: "arrakis-staging-gp-worker", Outcome: OutcomeDryRun,
					Reason: "under-provisioned", Detail: "desired 1 -> 2 (cap 3)"},
			},
			Recommendations: []string{"If the backlog keeps growing at 2 workers, look at the worker's prefetch limit."},
			Diagnostics: []Diagnostic{
				{Name: "rabbit.queue", OK: true, MS: 12},
				{Name: "pg.slow", OK: true, MS: 30},
			},
			Verification: &Verification{Status: NotNeeded, Detail: "dry-run: nothing was changed"},
		},
		Presentation: Presentation{Headline: "staging queue arrakis.interactions at 4,210 and rising with 1 worker: would scale gp-worker 1 -> 2 (dry-run)", Commands: []Command{
			{Title: "Scale the worker up", Cmd: "aws ecs update-service --cluster arrakis-staging-cluster --service arrakis-staging-gp-worker --desired-count 2"},
		}, Links: Links(LinkParams{Region: "eu-west-1", Cluster: "arrakis-staging-cluster", Service: "arrakis-staging-gp-worker",
			LogGroups: []string{"/ecs/arrakis-staging/gp-worker"}, Query: "fields @timestamp, @message\n| filter @message like /slow|timeout/",
			Window: 15 * time.Minute}), Series: &Series{Label: "MessageCount", Unit: "Count", Values: []float64{1200, 1500, math.NaN(), 2100, 2600, 3000, 3500, 3900, 4210}}},
	}
}

func fixturePaged() Report {
	return Report{
		Severity: SeverityCritical,

		Result: Result{
			Function:    "dlq",
			Environment: "production",
			Mode:        "on",
			Alarm:       AlarmRef{Name: "DLQ Messages", State: "ALARM", ChangedAt: alarmTime},
			Finding: Finding{
				Code:     "transient",
				Summary:  "37 messages dead-lettered by timeouts to PostgreSQL between 02:50 and 03:05.",
				Evidence: []string{"group arrakis.interactions/rejected/timeout: 37 messages, first 02:50:11Z, last 03:05:42Z"},
			},
			Actions: []Action{
				{Kind: "replay", Target: "arrakis.interactions", Outcome: OutcomeFailed,
					Reason: "publish: Exception (504) Reason: \"channel/connection is not open\"", Detail: "0 of 37 replayed"},
			},
			Recommendations: []string{},
			Diagnostics:     []Diagnostic{{Name: "rabbit.peek", OK: true, MS: 350}},
			Verification:    &Verification{Status: Unverified, Detail: "DLQ depth still 37", MS: 10_000},
			Escalation:      &Escalation{Paged: true, Reason: "replay failed on a CRITICAL alarm", DedupKey: "gp-remediation/production/DLQ Messages"},
		},
		Presentation: Presentation{Headline: "production worker replay FAILED: 37 transient DLQ messages still in arrakis.dlq; paged on-call"},
	}
}

func fixtureInputError() Report {
	return Report{
		Severity: SeverityInfo,

		Result: Result{
			Function:    "no-tasks",
			Environment: "staging",
			Error:       "not an SNS event: unexpected end of JSON input",
		},
		Presentation: Presentation{Headline: ""},
	}
}

func fixtureScaleBack() Report {
	return Report{
		Severity: SeverityInfo,

		Result: Result{
			Function:    "queue-depth",
			Environment: "staging",
			Mode:        "on",
			Alarm:       AlarmRef{Name: "Queue Depth High", State: "OK", ChangedAt: alarmTime.Add(40 * time.Minute)},
			Finding:     Finding{Code: "draining", Summary: "The alarm returned to OK."},
			Actions: []Action{{Kind: "scale-service", Target: "arrakis-staging-gp-worker", Outcome: OutcomeDone,
				Reason: "return to the count recorded before scaling up", Detail: "desired 3 -> 1"}},
			Verification: &Verification{Status: Verified, Detail: "1/1 running", MS: 5_000},
			Escalation:   &Escalation{Resolved: true, DedupKey: "gp-remediation/staging/Queue Depth High"},
			More:         []Result{{Alarm: AlarmRef{Name: "DLQ Messages"}, Finding: Finding{Code: "unknown"}}},
		},
		Presentation: Presentation{Headline: "staging queue depth back to normal: gp-worker scaled back 3 -> 1"},
	}
}

var fixtures = []struct {
	name   string
	report func() Report
}{
	{"oom-restarted", fixtureOOM},
	{"dry-run", fixtureDryRun},
	{"failed-paged", fixturePaged},
	{"input-error", fixtureInputError},
	{"scale-back", fixtureScaleBack},
}
