package main

import (
	"slices"
	"testing"
)

func TestRunbookAlarms(t *testing.T) {
	s, err := parseSettings("qa", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	alarms := s.runbookAlarms()
	byKey := map[string]alarmSpec{}
	for _, a := range alarms {
		byKey[a.Key] = a
	}
	for _, tc := range []struct {
		key, name, fn, ns, metric, stat, cmp string
		dims                                 map[string]string
		threshold                            float64
		breaching, ok                        bool
	}{
		{alarmNoIngestorTasks, "arrakis-qa No Ingestor Tasks Running", fnNoTasks, "ECS/ContainerInsights", "RunningTaskCount", "Maximum", "<",
			map[string]string{"ClusterName": "arrakis-qa-cluster", "ServiceName": "arrakis-qa-ingestor"}, 1, true, true},
		{alarmNoWorkerTasks, "arrakis-qa No Worker Tasks Running", fnNoTasks, "ECS/ContainerInsights", "RunningTaskCount", "Maximum", "<",
			map[string]string{"ClusterName": "arrakis-qa-cluster", "ServiceName": "arrakis-qa-gp-worker"}, 1, true, true},
		{alarmQueueDepthHigh, "arrakis-qa Queue Depth High", fnQueueDepth, "AWS/AmazonMQ", "MessageCount", "Maximum", ">",
			map[string]string{"Broker": "arrakis-qa-rabbitmq", "VirtualHost": "/", "Queue": "arrakis.interactions"}, 1000, false, true},
		{alarmDLQMessages, "arrakis-qa DLQ Messages", fnDLQ, "AWS/AmazonMQ", "MessageCount", "Maximum", ">",
			map[string]string{"Broker": "arrakis-qa-rabbitmq", "VirtualHost": "/", "Queue": "arrakis.dlq"}, 0, false, false},
		{alarmIngestorMemoryHigh, "arrakis-qa Ingestor Memory High", fnMemoryHigh, "AWS/ECS", "MemoryUtilization", "Average", ">",
			map[string]string{"ClusterName": "arrakis-qa-cluster", "ServiceName": "arrakis-qa-ingestor"}, 85, false, false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			a, found := byKey[tc.key]
			if !found {
				t.Fatal("missing")
			}
			if a.Name != tc.name || a.Function != tc.fn || a.Namespace != tc.ns || a.Metric != tc.metric || a.Statistic != tc.stat || a.Comparison != tc.cmp {
				t.Errorf("got %+v", a)
			}
			if len(a.Dimensions) != len(tc.dims) {
				t.Errorf("dimensions %v, want %v", a.Dimensions, tc.dims)
			}
			for k, v := range tc.dims {
				if a.Dimensions[k] != v {
					t.Errorf("dimension %s = %q, want %q", k, a.Dimensions[k], v)
				}
			}
			if a.Threshold.Threshold != tc.threshold || a.MissingBreaching != tc.breaching || a.OKAction != tc.ok {
				t.Errorf("threshold %g breaching %v ok %v", a.Threshold.Threshold, a.MissingBreaching, a.OKAction)
			}
			if a.Description == "" || a.EvaluationPeriods < 1 {
				t.Errorf("description %q, evaluation periods %d", a.Description, a.EvaluationPeriods)
			}
		})
	}
	if len(alarms) != len(alarmKeys) {
		t.Errorf("%d alarms, want %d", len(alarms), len(alarmKeys))
	}
	// The functions' specs and the alarms agree on who handles what, and only queue-depth
	// handles OK.
	for _, fn := range functionNames {
		var keys []string
		for _, a := range alarmsOf(alarms, fn) {
			keys = append(keys, a.Key)
			if a.OKAction != slices.Contains(functionSpecs[fn].States, "OK") {
				t.Errorf("%s: OK action %v but %s handles %v", a.Key, a.OKAction, fn, functionSpecs[fn].States)
			}
		}
		if !slices.Equal(keys, functionSpecs[fn].Alarms) {
			t.Errorf("%s: alarms %v, spec says %v", fn, keys, functionSpecs[fn].Alarms)
		}
	}
}

func TestConstructID(t *testing.T) {
	for in, want := range map[string]string{"no-tasks": "NoTasks", "dlq": "Dlq", "ingestor-memory-high": "IngestorMemoryHigh"} {
		if got := constructID(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
