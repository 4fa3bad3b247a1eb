package picture

import (
	"maps"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
)

// Related is the metric that explains function's alarm, drawn beside it:
//
//   - no-tasks: the ingestor's memory (tasks killed for memory) or, for the worker, the work
//     queue (it fills while no worker runs);
//   - queue-depth: the worker's running tasks (scaling shows as a step);
//   - dlq: the work queue (replayed messages land there);
//   - memory-high: the ingestor's running tasks (a restart shows as a dip and return).
func Related(function string, c config.Config, a alarm.Alarm) []Metric {
	switch function {
	case "no-tasks":
		if a.Dimension("ServiceName") == c.WorkerService {
			return []Metric{queueDepth(c, a, c.Queue, "work queue")}
		}
		return []Metric{ecsMetric(c, c.IngestorService, "AWS/ECS", "MemoryUtilization", "Average", "ingestor memory %")}
	case "queue-depth":
		return []Metric{runningTasks(c, c.WorkerService, "worker tasks")}
	case "dlq":
		return []Metric{queueDepth(c, a, c.Queue, "work queue")}
	case "memory-high":
		return []Metric{runningTasks(c, c.IngestorService, "ingestor tasks")}
	}
	return nil
}

func runningTasks(c config.Config, service, label string) Metric {
	return ecsMetric(c, service, "ECS/ContainerInsights", "RunningTaskCount", "Maximum", label)
}

func ecsMetric(c config.Config, service, namespace, name, stat, label string) Metric {
	return Metric{Namespace: namespace, Name: name, Stat: stat, Label: label,
		Dimensions: map[string]string{"ClusterName": c.Cluster, "ServiceName": service}}
}

// queueDepth is the Amazon MQ MessageCount of queue with the alarm's own broker dimensions
// when the alarm is on a queue (so VirtualHost is there exactly when the alarm has it), else
// the configured broker and virtual host.
func queueDepth(c config.Config, a alarm.Alarm, queue, label string) Metric {
	dims := map[string]string{"Broker": c.Broker, "VirtualHost": c.VirtualHost}
	if a.Namespace == "AWS/AmazonMQ" && a.Dimension("Broker") != "" {
		dims = maps.Clone(a.Dimensions)
	}
	dims["Queue"] = queue
	return Metric{Namespace: "AWS/AmazonMQ", Name: "MessageCount", Stat: "Maximum", Label: label, Dimensions: dims}
}
