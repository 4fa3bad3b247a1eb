package trust

// Coverage says who does a runbook step.
type Coverage string

const (
	// Automated: a function does the step by itself (in mode on; in dry-run it says what it
	// would do).
	Automated Coverage = "automated"
	// Offered: a function or a /gpr operation offers the step and a person approves it by a
	// button (issue 12's offers and manual operations).
	Offered Coverage = "offered"
	// Person: left to a person; the reports give what they need.
	Person Coverage = "person"
)

// Step is one runbook step and who does it.
type Step struct {
	Step     string
	Coverage Coverage
	// By names the function and action, or the /gpr operation, that does or offers it.
	By string
}

// Section is one "###" section of the runbook, titled as the runbook titles it.
type Section struct {
	Title string
	Steps []Step
}

// RunbookCoverage is every section and step of the runbook (docs/runbook.md, a copy of the
// team's runbook) with who does it. A test holds it to the runbook's sections: a new section
// fails it until it is placed here.
var RunbookCoverage = []Section{
	{Title: "Check System Health", Steps: []Step{
		{"View ECS service status", Automated, "no-tasks, queue-depth, memory-high: every diagnosis reads the service"},
		{"Check RabbitMQ queue depths", Automated, "queue-depth and dlq: read the queues over AMQP and the management API"},
		{"Health on demand", Offered, "/gpr health"},
	}},
	{Title: "View Recent Logs", Steps: []Step{
		{"Ingestor logs", Automated, "no-tasks, memory-high: crash and error lines in the report"},
		{"Worker logs", Automated, "no-tasks, queue-depth: crash and slow/timeout lines in the report"},
	}},
	{Title: "Scale Services", Steps: []Step{
		{"Scale Worker up", Automated, "queue-depth: scale-service, up to the worker cap"},
		{"Scale Worker past the cap", Offered, "queue-depth offer: scale past the cap"},
		{"Scale Worker down", Automated, "queue-depth: scale-back once the alarm clears"},
		{"Scale on demand", Offered, "/gpr scale"},
	}},
	{Title: "Force Service Restart", Steps: []Step{
		{"Force new deployment", Automated, "no-tasks, memory-high: force-new-deployment"},
		{"Restart on demand", Offered, "/gpr restart"},
	}},
	{Title: "Alarm: No Ingestor Tasks Running", Steps: []Step{
		{"Check ECS service events", Automated, "no-tasks: ecs.service"},
		{"Check recent logs for crash reason", Automated, "no-tasks: logs.crash-lines"},
		{"Check task failures", Automated, "no-tasks: ecs.stopped-tasks"},
		{"If OOM: increase memory in task definition", Offered, "raise-task-memory offer"},
		{"If crash loop: check Discord token validity", Automated, "no-tasks: discord.session-budget"},
		{"If network error: check VPC/security groups", Person, "no-tasks reports the service's network configuration"},
	}},
	{Title: "Alarm: No Worker Tasks Running", Steps: []Step{
		{"Same investigation as Ingestor, for gp-worker", Automated, "no-tasks"},
		{"Check queue depth (messages are buffering)", Automated, "no-tasks: metrics.queue-depth"},
		{"Fix the issue", Person, ""},
		{"Restart Worker", Automated, "no-tasks: force-new-deployment"},
	}},
	{Title: "Alarm: Queue Depth High", Steps: []Step{
		{"Check Worker task count and CPU", Automated, "queue-depth: ecs.worker, metrics.worker"},
		{"Check Worker logs for slow queries", Automated, "queue-depth: logs.slow-timeout"},
		{"Scale up Workers", Automated, "queue-depth: scale-service"},
		{"If sustained, investigate slow database queries", Automated, "queue-depth: postgres.activity"},
		{"Consider increasing prefetch limit", Person, ""},
	}},
	{Title: "Alarm: DLQ Messages", Steps: []Step{
		{"Access RabbitMQ Management Console", Automated, "dlq: peeks the DLQ over AMQP"},
		{"Get messages and examine payload and headers", Automated, "dlq: amqp.dlq-peek"},
		{"Check x-death and x-first-death-reason headers", Automated, "dlq: reads the death headers"},
		{"If bad data: delete message from DLQ", Automated, "dlq: park (moved to the parking queue, never deleted)"},
		{"If bug: fix code", Person, ""},
		{"If bug: replay the messages once the fix is out", Offered, "dlq: replay-dlq offer, /gpr replay-dlq"},
		{"If transient: republish to original queue", Automated, "dlq: replay"},
	}},
	{Title: "Alarm: Ingestor Memory High", Steps: []Step{
		{"Check memory trend", Automated, "memory-high: metrics.memory"},
		{"Leak vs spike", Automated, "memory-high: the trend's verdict"},
		{"If leak: restart service", Automated, "memory-high: force-new-deployment"},
		{"If leak: file bug", Person, ""},
		{"If spike: may be normal", Automated, "memory-high: no action, reported"},
		{"If sustained > 85%: increase task memory", Offered, "raise-task-memory offer"},
	}},
	{Title: "Access Management Console", Steps: []Step{
		{"Open the management console", Person, ""},
	}},
	{Title: "Purge Queue (Emergency Only)", Steps: []Step{
		{"Purge a queue", Person, "never automated: it destroys messages"},
	}},
	{Title: "Check Consumer Health", Steps: []Step{
		{"Consumers per queue", Automated, "queue-depth: rabbitmq.management"},
	}},
	{Title: "Check Slow Queries", Steps: []Step{
		{"Long-running queries", Automated, "queue-depth: postgres.activity"},
	}},
	{Title: "Check Connection Pool", Steps: []Step{
		{"Connections by state", Automated, "queue-depth: postgres.activity"},
	}},
	{Title: "Deploy New Version", Steps: []Step{
		{"Build, push and deploy", Person, ""},
	}},
	{Title: "Rollback", Steps: []Step{
		{"Roll back to the previous revision", Offered, "rollback offer, /gpr rollback"},
	}},
	{Title: "Complete System Restart", Steps: []Step{
		{"Restart every service in order", Offered, "/gpr complete-restart"},
	}},
	{Title: "Disable Gateway Proxy (Fallback to Monolith)", Steps: []Step{
		{"Scale the proxy to zero and fall back", Offered, "/gpr disable"},
	}},
}

// CoverageCounts counts the steps of the table by coverage.
func CoverageCounts(sections []Section) map[Coverage]int {
	out := map[Coverage]int{}
	for _, s := range sections {
		for _, st := range s.Steps {
			out[st.Coverage]++
		}
	}
	return out
}
