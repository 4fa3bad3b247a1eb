package main

import "fmt"

// The runbook's five alarms, by key.
const (
	alarmNoIngestorTasks    = "no-ingestor-tasks"
	alarmNoWorkerTasks      = "no-worker-tasks"
	alarmQueueDepthHigh     = "queue-depth-high"
	alarmDLQMessages        = "dlq-messages"
	alarmIngestorMemoryHigh = "ingestor-memory-high"
)

var alarmKeys = []string{alarmNoIngestorTasks, alarmNoWorkerTasks, alarmQueueDepthHigh, alarmDLQMessages, alarmIngestorMemoryHigh}

// alarmTitles are the runbook's section titles; the default alarm names carry them verbatim so
// on-call finds the section from the page.
var alarmTitles = map[string]string{
	alarmNoIngestorTasks:    "No Ingestor Tasks Running",
	alarmNoWorkerTasks:      "No Worker Tasks Running",
	alarmQueueDepthHigh:     "Queue Depth High",
	alarmDLQMessages:        "DLQ Messages",
	alarmIngestorMemoryHigh: "Ingestor Memory High",
}

// alarmSpec is one CloudWatch metric alarm, as plain data.
type alarmSpec struct {
	Key         string
	Name        string
	Description string
	Function    string // the function its topic invokes
	Namespace   string
	Metric      string
	Dimensions  map[string]string
	Statistic   string
	// Comparison is "<" or ">".
	Comparison string
	Threshold
	// MissingBreaching: a service with no tasks publishes nothing, so silence is the outage.
	MissingBreaching bool
	OKAction         bool
}

// alarmName is the alarm's name in this environment.
func (s Settings) alarmName(key string) string {
	if n := s.Alarms.Names[key]; n != "" {
		return n
	}
	return "arrakis-" + s.Env + " " + alarmTitles[key]
}

// alarmNamesOf are the names of the alarms fn handles, which it reads on a follow-up.
func (s Settings) alarmNamesOf(fn string) []string {
	var out []string
	for _, a := range s.runbookAlarms() {
		if a.Function == fn {
			out = append(out, a.Name)
		}
	}
	return out
}

// runbookAlarms are the five alarms of the runbook with this environment's names and
// thresholds.
func (s Settings) runbookAlarms() []alarmSpec {
	n := s.Names
	noTasks := func(key, service, severity string) alarmSpec {
		return alarmSpec{
			Key: key, Function: fnNoTasks,
			Namespace: "ECS/ContainerInsights", Metric: "RunningTaskCount",
			Dimensions: map[string]string{"ClusterName": n.Cluster, "ServiceName": service},
			// Maximum: one minute with any task running is not an outage.
			Statistic: "Maximum", Comparison: "<", Threshold: s.Alarms.NoTasks, MissingBreaching: true,
			// OK too: the return to OK resolves the PagerDuty incident the ALARM opened.
			OKAction:    true,
			Description: s.describe(key, severity, fnNoTasks),
		}
	}
	queue := func(key, q string, t Threshold, okAction bool) alarmSpec {
		fn := fnQueueDepth
		if key == alarmDLQMessages {
			fn = fnDLQ
		}
		return alarmSpec{
			Key: key, Function: fn,
			Namespace: "AWS/AmazonMQ", Metric: "MessageCount",
			Dimensions: map[string]string{"Broker": n.Broker, "VirtualHost": "/", "Queue": q},
			Statistic:  "Maximum", Comparison: ">", Threshold: t, OKAction: okAction,
			Description: s.describe(key, "WARNING", fn),
		}
	}
	out := []alarmSpec{
		noTasks(alarmNoIngestorTasks, n.IngestorService, "CRITICAL"),
		noTasks(alarmNoWorkerTasks, n.WorkerService, "CRITICAL"),
		// OK too: queue-depth scales the workers back when the backlog is gone.
		queue(alarmQueueDepthHigh, n.Queue, s.Alarms.QueueDepth, true),
		queue(alarmDLQMessages, n.DLQ, s.Alarms.DLQ, false),
		{
			Key: alarmIngestorMemoryHigh, Function: fnMemoryHigh,
			Namespace: "AWS/ECS", Metric: "MemoryUtilization",
			Dimensions: map[string]string{"ClusterName": n.Cluster, "ServiceName": n.IngestorService},
			Statistic:  "Average", Comparison: ">", Threshold: s.Alarms.MemoryHigh,
			Description: s.describe(alarmIngestorMemoryHigh, "WARNING", fnMemoryHigh),
		},
	}
	for i := range out {
		out[i].Name = s.alarmName(out[i].Key)
	}
	return out
}

func (s Settings) describe(key, severity, fn string) string {
	return fmt.Sprintf("Runbook: Alarm: %s (%s). Remediated by %s.", alarmTitles[key], severity, s.FunctionName(fn))
}

// alarmsOf lists the alarm specs that invoke fn.
func alarmsOf(all []alarmSpec, fn string) []alarmSpec {
	var out []alarmSpec
	for _, a := range all {
		if a.Function == fn {
			out = append(out, a)
		}
	}
	return out
}
