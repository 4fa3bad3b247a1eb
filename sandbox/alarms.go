package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// CloudWatch DescribeAlarms over smithy-rpcv2-cbor: the environment's five runbook alarms as
// the stack creates them (infra/alarms.go: names "arrakis-<env> <runbook title>", the same
// metrics, dimensions and default thresholds), with states that the scenario sets (its alarms
// in ALARM, the rest OK) and that SetAlarmState or the admin API change, so a test can watch
// an incident close.

// Alarm keys, as infra/alarms.go names them.
const (
	AlarmNoIngestorTasks    = "no-ingestor-tasks"
	AlarmNoWorkerTasks      = "no-worker-tasks"
	AlarmQueueDepthHigh     = "queue-depth-high"
	AlarmDLQMessages        = "dlq-messages"
	AlarmIngestorMemoryHigh = "ingestor-memory-high"
)

var alarmTitles = map[string]string{
	AlarmNoIngestorTasks:    "No Ingestor Tasks Running",
	AlarmNoWorkerTasks:      "No Worker Tasks Running",
	AlarmQueueDepthHigh:     "Queue Depth High",
	AlarmDLQMessages:        "DLQ Messages",
	AlarmIngestorMemoryHigh: "Ingestor Memory High",
}

// scenarioAlarms are the alarms in ALARM when a scenario loads: the ones its story fires.
var scenarioAlarms = map[string][]string{
	"ingestor-oom":                   {AlarmNoIngestorTasks},
	"worker-bad-deployment":          {AlarmNoWorkerTasks, AlarmQueueDepthHigh},
	"ingestor-token-invalid":         {AlarmNoIngestorTasks},
	"scaled-to-zero":                 {AlarmNoIngestorTasks, AlarmNoWorkerTasks},
	"image-pull-network-error":       {AlarmNoWorkerTasks},
	"worker-crash-loop":              {AlarmNoWorkerTasks},
	"worker-crash-loop-relapse":      {AlarmNoWorkerTasks},
	"queue-under-provisioned":        {AlarmQueueDepthHigh},
	"queue-stays-high":               {AlarmQueueDepthHigh},
	"queue-workers-missing":          {AlarmQueueDepthHigh},
	"queue-consumers-missing":        {AlarmQueueDepthHigh},
	"queue-database-bottleneck":      {AlarmQueueDepthHigh},
	"queue-draining":                 {AlarmQueueDepthHigh},
	"memory-leak":                    {AlarmIngestorMemoryHigh},
	"memory-spike":                   {AlarmIngestorMemoryHigh},
	"memory-sustained-high":          {AlarmIngestorMemoryHigh},
	"memory-recovering":              {AlarmIngestorMemoryHigh},
	"memory-leak-discord-budget-low": {AlarmIngestorMemoryHigh},
	"ingestor-leak-oom":              {AlarmNoIngestorTasks, AlarmIngestorMemoryHigh},
	"dlq":                            {AlarmDLQMessages},
}

// cwAlarm is one metric alarm and its current state.
type cwAlarm struct {
	key, name, description string
	ref                    MetricRef
	statistic, comparison  string
	threshold              float64
	period, evaluations    int64
	state, reason          string
	updatedAt              time.Time
}

// AlarmName is the name of the alarm with key in this sandbox's environment.
func (s *Sandbox) AlarmName(key string) string {
	return "arrakis-" + s.opts.Env + " " + alarmTitles[key]
}

// materializeAlarms builds the alarms for scenario at t0. Callers hold s.mu.
func (s *Sandbox) materializeAlarms(scenario string, t0 time.Time) {
	n := s.names
	ecsTasks := func(svc string) MetricRef {
		return MetricRef{Namespace: "ECS/ContainerInsights", Name: "RunningTaskCount", Dimensions: map[string]string{"ClusterName": n.Cluster, "ServiceName": svc}}
	}
	mq := func(q string) MetricRef {
		return MetricRef{Namespace: "AWS/AmazonMQ", Name: "MessageCount", Dimensions: map[string]string{"Broker": n.Broker, "VirtualHost": "/", "Queue": q}}
	}
	list := []*cwAlarm{
		{key: AlarmNoIngestorTasks, ref: ecsTasks(n.IngestorService), statistic: "Maximum", comparison: "LessThanThreshold", threshold: 1, period: 60, evaluations: 2},
		{key: AlarmNoWorkerTasks, ref: ecsTasks(n.WorkerService), statistic: "Maximum", comparison: "LessThanThreshold", threshold: 1, period: 60, evaluations: 2},
		{key: AlarmQueueDepthHigh, ref: mq(n.Queue), statistic: "Maximum", comparison: "GreaterThanThreshold", threshold: 1000, period: 60, evaluations: 5},
		{key: AlarmDLQMessages, ref: mq(n.DLQ), statistic: "Maximum", comparison: "GreaterThanThreshold", threshold: 0, period: 60, evaluations: 1},
		{key: AlarmIngestorMemoryHigh, ref: MetricRef{Namespace: "AWS/ECS", Name: "MemoryUtilization", Dimensions: map[string]string{"ClusterName": n.Cluster, "ServiceName": n.IngestorService}},
			statistic: "Average", comparison: "GreaterThanThreshold", threshold: 85, period: 300, evaluations: 3},
	}
	firing := scenarioAlarms[scenario]
	s.alarms = map[string]*cwAlarm{}
	for _, a := range list {
		a.name = s.AlarmName(a.key)
		a.description = "Runbook: Alarm: " + alarmTitles[a.key] + "."
		a.state, a.reason, a.updatedAt = "OK", "Threshold Crossed: no datapoints were breaching the threshold.", t0.Add(-day)
		if slices.Contains(firing, a.key) {
			a.state, a.reason, a.updatedAt = "ALARM", "Threshold Crossed: the scenario's datapoints breach the threshold.", t0
		}
		s.alarms[a.name] = a
	}
}

// SetAlarmState sets the state of the named alarm now, as CloudWatch would on a transition.
func (s *Sandbox) SetAlarmState(name, state, reason string) error {
	switch state {
	case "OK", "ALARM", "INSUFFICIENT_DATA":
	default:
		return fmt.Errorf("state %q is not OK, ALARM or INSUFFICIENT_DATA", state)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.alarms[name]
	if !ok {
		return fmt.Errorf("no alarm named %q", name)
	}
	if reason == "" {
		reason = "Set by the sandbox admin API."
	}
	a.state, a.reason, a.updatedAt = state, reason, s.now()
	return nil
}

// AlarmState is the named alarm's state ("" when there is no such alarm).
func (s *Sandbox) AlarmState(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.alarms[name]; ok {
		return a.state
	}
	return ""
}

func (s *Sandbox) cwDescribeAlarms(c *awsCall) (any, *apiError) {
	if c.r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		return nil, errClient(http.StatusBadRequest, "SerializationException", "missing Smithy-Protocol: rpc-v2-cbor header")
	}
	in := cbor.Map{}
	if len(c.body) > 0 {
		v, err := cbor.Decode(c.body)
		if err != nil {
			return nil, errClient(http.StatusBadRequest, "SerializationException", "could not decode the CBOR request: "+err.Error())
		}
		m, ok := v.(cbor.Map)
		if !ok {
			return nil, errClient(http.StatusBadRequest, "SerializationException", "the request is not a CBOR map")
		}
		in = m
	}
	var names []string
	if list, ok := in["AlarmNames"].(cbor.List); ok {
		if len(list) > 100 {
			return nil, cwInvalid("The collection AlarmNames must not have a size greater than 100.")
		}
		for _, v := range list {
			if n, ok := v.(cbor.String); ok {
				names = append(names, string(n))
			}
		}
	}
	maxRecords := int64(50)
	if m, ok := cborInt(in, "MaxRecords"); ok {
		if m < 1 || m > 100 {
			return nil, cwInvalid("The parameter MaxRecords must be between 1 and 100.")
		}
		maxRecords = m
	}
	start := 0
	if tok, ok := cborStr(in, "NextToken"); ok && tok != "" {
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 {
			return nil, cwInvalid("The parameter NextToken is not valid.")
		}
		start = i
	}
	var match []*cwAlarm
	for _, a := range s.alarms {
		if names == nil || slices.Contains(names, a.name) {
			match = append(match, a)
		}
	}
	// CloudWatch lists alarms by name.
	slices.SortFunc(match, func(a, b *cwAlarm) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	if start > len(match) {
		start = len(match)
	}
	end := min(start+int(maxRecords), len(match))
	out := cbor.List{}
	for _, a := range match[start:end] {
		dims := cbor.List{}
		keys := make([]string, 0, len(a.ref.Dimensions))
		for k := range a.ref.Dimensions {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			dims = append(dims, cbor.Map{"Name": cbor.String(k), "Value": cbor.String(a.ref.Dimensions[k])})
		}
		out = append(out, cbor.Map{
			"AlarmName":             cbor.String(a.name),
			"AlarmArn":              cbor.String(fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", Region, AccountID, a.name)),
			"AlarmDescription":      cbor.String(a.description),
			"StateValue":            cbor.String(a.state),
			"StateReason":           cbor.String(a.reason),
			"StateUpdatedTimestamp": &cbor.Tag{ID: 1, Value: cbor.Float64(float64(a.updatedAt.UnixNano()) / 1e9)},
			"Namespace":             cbor.String(a.ref.Namespace),
			"MetricName":            cbor.String(a.ref.Name),
			"Dimensions":            dims,
			"Statistic":             cbor.String(a.statistic),
			"ComparisonOperator":    cbor.String(a.comparison),
			"Threshold":             cbor.Float64(a.threshold),
			"Period":                cbor.Uint(a.period),
			"EvaluationPeriods":     cbor.Uint(a.evaluations),
			"ActionsEnabled":        cbor.Bool(true),
		})
	}
	res := cbor.Map{"MetricAlarms": out, "CompositeAlarms": cbor.List{}}
	if end < len(match) {
		res["NextToken"] = cbor.String(strconv.Itoa(end))
	}
	return res, nil
}

// AlarmInfo is an alarm's state for the admin API.
type AlarmInfo struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Reason    string    `json:"reason"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (s *Sandbox) alarmStates() []AlarmInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AlarmInfo, 0, len(s.alarms))
	for _, a := range s.alarms {
		out = append(out, AlarmInfo{Name: a.name, State: a.state, Reason: a.reason, UpdatedAt: a.updatedAt})
	}
	slices.SortFunc(out, func(a, b AlarmInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}
