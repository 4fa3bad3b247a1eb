// Package alarm decodes the CloudWatch alarm notifications that trigger the functions: SNS
// events carrying CloudWatch's JSON notification (single-metric, metric-math and composite
// alarms), EventBridge "CloudWatch Alarm State Change" events, the event an alarm's own
// Lambda action sends, and a bare notification for manual invocation. Decoding never panics
// and never guesses: a record that is not an alarm comes back with the reason.
package alarm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// State is a CloudWatch alarm state.
type State string

const (
	StateAlarm            State = "ALARM"
	StateOK               State = "OK"
	StateInsufficientData State = "INSUFFICIENT_DATA"
)

// Known reports whether s is one of CloudWatch's three states.
func (s State) Known() bool {
	return s == StateAlarm || s == StateOK || s == StateInsufficientData
}

// Source says which envelope carried the alarm.
const (
	SourceSNS         = "sns"
	SourceEventBridge = "eventbridge"
	SourceAlarmAction = "alarm-action" // the alarm invoked the function itself (a Lambda alarm action)
	SourceDirect      = "direct"       // a bare notification, e.g. `make invoke` with a hand-written file
)

// Alarm is one alarm state change, whatever envelope carried it.
type Alarm struct {
	Name          string
	Description   string
	ARN           string
	AccountID     string
	Region        string // as sent: SNS sends a long name ("US East (N. Virginia)"), EventBridge a code
	RegionCode    string // from the ARN, e.g. us-east-1 ("" when there is no ARN)
	State         State
	PreviousState State
	Reason        string
	ChangedAt     time.Time

	// The alarm's metric. For metric-math alarms these come from the first metric the
	// expression uses, and Dimensions holds the dimensions its metrics agree on (an
	// expression over two services names neither); Metrics holds every query.
	Namespace  string
	MetricName string
	Dimensions map[string]string
	Metrics    []Metric
	Threshold  float64
	Period     int64
	Composite  bool   // a composite alarm: no metric, a rule over other alarms
	Rule       string // the composite alarm's rule

	Source    string
	MessageID string // SNS MessageId or EventBridge id

	// FollowUp, when set, is the follow-up tick this alarm is read for: the alarm stayed in
	// ALARM and its function runs again (a state read with DescribeAlarms, not a transition).
	FollowUp time.Time
}

// Metric is one query of a metric-math alarm (or the single metric of a plain one).
type Metric struct {
	ID         string
	Expression string
	Namespace  string
	MetricName string
	Dimensions map[string]string
	Stat       string
	Period     int64
}

// Dimension returns the value of a dimension of the alarm's metric ("" when absent).
func (a Alarm) Dimension(name string) string { return a.Dimensions[name] }

// Key identifies this state transition: the same alarm changing state at the same instant is
// the same transition, however many times SNS delivers it.
func (a Alarm) Key() string {
	id := a.ARN
	if id == "" {
		id = a.Name
	}
	key := id + "@" + a.ChangedAt.UTC().Format(time.RFC3339Nano)
	if !a.FollowUp.IsZero() {
		// A follow-up is its own step: keyed by its tick, so each tick acts once however
		// often it is delivered, and the next tick is not a duplicate of the transition.
		key += "#follow-up@" + a.FollowUp.UTC().Format(time.RFC3339)
	}
	return key
}

// Record is one decoded record: an alarm, or why the record is not one.
type Record struct {
	Alarm Alarm
	Err   error
}

// Errors that say why input is not an alarm. Wrapped with detail; test with errors.Is.
var (
	ErrMalformed = errors.New("input is not valid JSON")
	ErrNotAlarm  = errors.New("not a CloudWatch alarm notification")
	ErrEmpty     = errors.New("event has no records")
)

// maxPayload bounds what we parse; SNS caps messages at 256 KiB and Lambda async events at 1 MiB.
const maxPayload = 6 << 20

// Decode reads an event and returns one Record per alarm it carries, in order, without
// duplicates (the same transition twice in one event is kept once). The error is for input
// that as a whole is unusable; per-record problems are in Record.Err.
func Decode(payload []byte) ([]Record, error) {
	if len(payload) > maxPayload {
		return nil, fmt.Errorf("%w: %d bytes is larger than any alarm event (the limit is %d bytes)", ErrNotAlarm, len(payload), maxPayload)
	}
	payload = bytes.TrimSpace(payload)
	switch {
	case len(payload) == 0:
		return nil, fmt.Errorf("%w: the event is empty", ErrMalformed)
	case payload[0] != '{' && json.Valid(payload):
		return nil, fmt.Errorf("%w: the event is valid JSON but %s, not an object", ErrNotAlarm, jsonKind(payload[0]))
	case payload[0] != '{':
		return nil, fmt.Errorf("%w: the event is not JSON", ErrMalformed)
	}
	var probe struct {
		Records    json.RawMessage `json:"Records"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		AlarmData  json.RawMessage `json:"alarmData"`
		AlarmName  *string         `json:"AlarmName"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		var typ *json.UnmarshalTypeError
		if !errors.As(err, &typ) {
			return nil, fmt.Errorf("%w: %s", ErrMalformed, describeJSONError(err))
		}
		// Valid JSON with an envelope field of another type: not an event we know.
		return nil, fmt.Errorf("%w: %s", ErrNotAlarm, describeJSONError(err))
	}
	switch {
	case probe.Records != nil:
		return decodeSNS(payload)
	case probe.AlarmData != nil && probe.DetailType == "":
		return []Record{decodeAlarmAction(payload)}, nil
	case probe.DetailType != "" || probe.Source != "":
		rec := decodeEventBridge(payload)
		return []Record{rec}, nil
	case probe.AlarmName != nil:
		a, err := decodeNotification(payload)
		a.Source = SourceDirect
		return []Record{{Alarm: a, Err: err}}, nil
	default:
		return nil, fmt.Errorf("%w: neither an SNS event, an EventBridge event nor an alarm notification", ErrNotAlarm)
	}
}

// jsonKind names the JSON value that starts with b.
func jsonKind(b byte) string {
	switch {
	case b == '[':
		return "an array"
	case b == '"':
		return "a string"
	case b == 't' || b == 'f':
		return "a boolean"
	case b == 'n':
		return "null"
	}
	return "a number"
}

// snsRecord is the part of events.SNSEventRecord that is used. The library's type also
// decodes each record's Timestamp, MessageAttributes and signature fields: one of them in an
// unexpected form made the whole event unreadable, every alarm in it lost for a field that is
// never read. Records are decoded one by one so a bad record costs only itself.
type snsRecord struct {
	EventSource string `json:"EventSource"`
	SNS         struct {
		MessageID string `json:"MessageId"`
		Message   string `json:"Message"`
	} `json:"Sns"`
}

func decodeSNS(payload []byte) ([]Record, error) {
	var ev struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("%w: SNS event: %s", ErrNotAlarm, describeJSONError(err))
	}
	if len(ev.Records) == 0 {
		return nil, ErrEmpty
	}
	out := make([]Record, 0, len(ev.Records))
	seen := make(map[string]bool, len(ev.Records))
	for i, raw := range ev.Records {
		var r snsRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			out = append(out, Record{Err: fmt.Errorf("%w: record %d: %s", ErrNotAlarm, i, describeJSONError(err))})
			continue
		}
		if r.EventSource != "" && r.EventSource != "aws:sns" {
			out = append(out, Record{Err: fmt.Errorf("%w: record %d comes from %q, not aws:sns", ErrNotAlarm, i, clipText(r.EventSource, 80))})
			continue
		}
		a, err := decodeNotification([]byte(r.SNS.Message))
		if err != nil {
			out = append(out, Record{Err: fmt.Errorf("record %d (SNS message %s): %w", i, clipText(r.SNS.MessageID, 80), err)})
			continue
		}
		a.Source, a.MessageID = SourceSNS, r.SNS.MessageID
		if seen[a.Key()] {
			continue // SNS sometimes delivers the same notification twice; one answer is enough
		}
		seen[a.Key()] = true
		out = append(out, Record{Alarm: a})
	}
	return out, nil
}

// notification is CloudWatch's SNS message: the library's payload plus the fields composite
// alarms add. Its Trigger shadows the library's (encoding/json takes the shallower field) so
// that numbers written as strings ("Period": "60", as some forwarders and hand-edited events
// have them) do not cost the whole alarm: they are informational, the alarm is still the alarm.
type notification struct {
	events.CloudWatchAlarmSNSPayload
	AlarmRule *string `json:"AlarmRule"`
	Trigger   trigger `json:"Trigger"`
}

type trigger struct {
	MetricName string                       `json:"MetricName"`
	Namespace  string                       `json:"Namespace"`
	Statistic  string                       `json:"Statistic"`
	Dimensions []events.CloudWatchDimension `json:"Dimensions"`
	Period     number                       `json:"Period"`
	Threshold  number                       `json:"Threshold"`
	Metrics    []struct {
		ID         string `json:"Id"`
		Expression string `json:"Expression"`
		Period     number `json:"Period"`
		MetricStat struct {
			Metric events.CloudWatchMetric `json:"Metric"`
			Period number                  `json:"Period"`
			Stat   string                  `json:"Stat"`
		} `json:"MetricStat"`
	} `json:"Metrics"`
}

// number is a JSON number that also accepts a numeric string and null. Anything else is left
// zero (unknown) rather than failing the notification.
type number float64

func (n *number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 1 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil
		}
		b = []byte(strings.TrimSpace(s))
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		*n = 0
		return nil
	}
	*n = number(f)
	return nil
}

// int64 returns n as a whole number (0 when out of range).
func (n number) int64() int64 {
	if f := float64(n); f >= math.MinInt64 && f < math.MaxInt64 {
		return int64(f)
	}
	return 0
}

func decodeNotification(msg []byte) (Alarm, error) {
	msg = bytes.TrimSpace(msg)
	if len(msg) == 0 || msg[0] != '{' {
		return Alarm{}, fmt.Errorf("%w: the message is not a JSON object", ErrNotAlarm)
	}
	var n notification
	if err := json.Unmarshal(msg, &n); err != nil {
		return Alarm{}, fmt.Errorf("%w: %s", ErrNotAlarm, describeJSONError(err))
	}
	p := n.CloudWatchAlarmSNSPayload
	if p.AlarmName == "" || p.NewStateValue == "" {
		return Alarm{}, fmt.Errorf("%w: AlarmName and NewStateValue are required", ErrNotAlarm)
	}
	changed, err := parseTime(p.StateChangeTime)
	if err != nil {
		return Alarm{}, fmt.Errorf("%w: StateChangeTime: %v", ErrNotAlarm, err)
	}
	a := Alarm{
		Name:          p.AlarmName,
		Description:   p.AlarmDescription,
		ARN:           p.AlarmARN,
		AccountID:     p.AWSAccountID,
		Region:        p.Region,
		RegionCode:    regionFromARN(p.AlarmARN),
		State:         State(p.NewStateValue),
		PreviousState: State(p.OldStateValue),
		Reason:        p.NewStateReason,
		ChangedAt:     changed,
		Threshold:     float64(n.Trigger.Threshold),
		Period:        n.Trigger.Period.int64(),
	}
	if n.AlarmRule != nil {
		a.Composite, a.Rule = true, *n.AlarmRule
	}
	t := n.Trigger
	if t.MetricName != "" || t.Namespace != "" {
		m := Metric{ID: "m1", Namespace: t.Namespace, MetricName: t.MetricName, Stat: t.Statistic, Period: a.Period, Dimensions: dims(t.Dimensions)}
		a.Metrics = []Metric{m}
	}
	for _, q := range t.Metrics {
		a.Metrics = append(a.Metrics, Metric{
			ID: q.ID, Expression: q.Expression, Namespace: q.MetricStat.Metric.Namespace,
			MetricName: q.MetricStat.Metric.MetricName, Dimensions: dims(q.MetricStat.Metric.Dimensions),
			Stat: q.MetricStat.Stat, Period: firstPositive(q.MetricStat.Period.int64(), q.Period.int64()),
		})
	}
	a.setPrimaryMetric()
	return a, nil
}

// setPrimaryMetric copies the first real metric (not an expression) to the alarm's top level,
// with the dimensions of all its metrics. Metric math over one service: the union is that
// service. Over two services (MIN of the ingestor's and the worker's task counts) the alarm is
// about neither alone: a dimension the metrics disagree on is left out rather than taken from
// whichever metric came first, so that no function acts on one service for the other's alarm.
func (a *Alarm) setPrimaryMetric() {
	a.Dimensions = map[string]string{}
	conflict := map[string]bool{}
	for _, m := range a.Metrics {
		if m.MetricName == "" {
			continue
		}
		if a.MetricName == "" {
			a.Namespace, a.MetricName = m.Namespace, m.MetricName
		}
		for k, v := range m.Dimensions {
			if old, ok := a.Dimensions[k]; ok && old != v {
				conflict[k] = true
			} else if !ok {
				a.Dimensions[k] = v
			}
		}
	}
	for k := range conflict {
		delete(a.Dimensions, k)
	}
	if a.Period == 0 {
		for _, m := range a.Metrics {
			if m.Period > 0 {
				a.Period = m.Period
				break
			}
		}
	}
}

// eventBridgeDetail is the detail of a "CloudWatch Alarm State Change" event.
type eventBridgeDetail struct {
	AlarmName string `json:"alarmName"`
	State     struct {
		Value     string `json:"value"`
		Reason    string `json:"reason"`
		Timestamp string `json:"timestamp"`
	} `json:"state"`
	PreviousState struct {
		Value string `json:"value"`
	} `json:"previousState"`
	Configuration struct {
		Description string  `json:"description"`
		AlarmRule   *string `json:"alarmRule"`
		Metrics     []struct {
			ID         string `json:"id"`
			Expression string `json:"expression"`
			MetricStat struct {
				Metric struct {
					Namespace  string            `json:"namespace"`
					Name       string            `json:"name"`
					Dimensions map[string]string `json:"dimensions"`
				} `json:"metric"`
				Period number `json:"period"`
				Stat   string `json:"stat"`
			} `json:"metricStat"`
		} `json:"metrics"`
	} `json:"configuration"`
}

// eventBridgeEvent is events.CloudWatchEvent with its time as text: the library's type
// decodes "time" as RFC 3339 only, and an event stamped the way CloudWatch stamps its own
// (2026-11-27T03:12:41.471+0000) was then reported as invalid JSON.
type eventBridgeEvent struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	AccountID  string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

func decodeEventBridge(payload []byte) Record {
	var ev eventBridgeEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Record{Err: fmt.Errorf("%w: EventBridge event: %s", ErrNotAlarm, describeJSONError(err))}
	}
	if ev.DetailType != "CloudWatch Alarm State Change" || ev.Source != "aws.cloudwatch" {
		return Record{Err: fmt.Errorf("%w: EventBridge event %q from %q", ErrNotAlarm, clipText(ev.DetailType, 80), clipText(ev.Source, 80))}
	}
	var arn string
	for _, r := range ev.Resources {
		if strings.Contains(r, ":alarm:") {
			arn = r
			break
		}
	}
	a, err := fromDetail(ev.Detail, "detail", ev.Time, arn, ev.AccountID, ev.Region)
	if err != nil {
		return Record{Err: err}
	}
	a.Source, a.MessageID = SourceEventBridge, ev.ID
	return Record{Alarm: a}
}

// alarmActionEvent is what an alarm's Lambda action sends: the same alarm data as an
// EventBridge event's detail, under "alarmData", with the alarm's ARN beside it.
type alarmActionEvent struct {
	Source    string          `json:"source"`
	AlarmARN  string          `json:"alarmArn"`
	AccountID string          `json:"accountId"`
	Time      string          `json:"time"`
	Region    string          `json:"region"`
	AlarmData json.RawMessage `json:"alarmData"`
}

func decodeAlarmAction(payload []byte) Record {
	var ev alarmActionEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Record{Err: fmt.Errorf("%w: alarm action event: %s", ErrNotAlarm, describeJSONError(err))}
	}
	if ev.Source != "aws.cloudwatch" {
		return Record{Err: fmt.Errorf("%w: alarm action event from %q", ErrNotAlarm, clipText(ev.Source, 80))}
	}
	a, err := fromDetail(ev.AlarmData, "alarmData", ev.Time, ev.AlarmARN, ev.AccountID, ev.Region)
	if err != nil {
		return Record{Err: err}
	}
	a.Source = SourceAlarmAction
	return Record{Alarm: a}
}

// fromDetail builds an alarm from EventBridge's detail (or an alarm action's alarmData). The
// state's own timestamp is the transition time; the event's time stands in when it is absent.
func fromDetail(raw json.RawMessage, field, eventTime, arn, account, region string) (Alarm, error) {
	var d eventBridgeDetail
	if err := json.Unmarshal(raw, &d); err != nil {
		return Alarm{}, fmt.Errorf("%w: %s: %s", ErrNotAlarm, field, describeJSONError(err))
	}
	if d.AlarmName == "" || d.State.Value == "" {
		return Alarm{}, fmt.Errorf("%w: %s.alarmName and %s.state.value are required", ErrNotAlarm, field, field)
	}
	changed, err := parseTime(d.State.Timestamp)
	if err != nil {
		var terr error
		if changed, terr = parseTime(eventTime); terr != nil {
			return Alarm{}, fmt.Errorf("%w: %s.state.timestamp: %v", ErrNotAlarm, field, err)
		}
	}
	a := Alarm{
		Name: d.AlarmName, Description: d.Configuration.Description, AccountID: account,
		Region: region, RegionCode: firstNonEmpty(regionFromARN(arn), region), State: State(d.State.Value),
		PreviousState: State(d.PreviousState.Value), Reason: d.State.Reason, ChangedAt: changed, ARN: arn,
	}
	if d.Configuration.AlarmRule != nil {
		a.Composite, a.Rule = true, *d.Configuration.AlarmRule
	}
	for _, m := range d.Configuration.Metrics {
		ms := m.MetricStat
		a.Metrics = append(a.Metrics, Metric{ID: m.ID, Expression: m.Expression, Namespace: ms.Metric.Namespace,
			MetricName: ms.Metric.Name, Dimensions: ms.Metric.Dimensions, Stat: ms.Stat, Period: ms.Period.int64()})
	}
	a.setPrimaryMetric()
	return a, nil
}

// CloudWatch writes "2015-06-03T17:43:27.123+0000" in notifications; EventBridge the same;
// people writing test events use RFC 3339.
var timeLayouts = []string{
	"2006-01-02T15:04:05.000-0700",
	"2006-01-02T15:04:05-0700",
	time.RFC3339Nano,
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a timestamp (%d bytes; want e.g. 2026-11-27T03:12:41.471+0000)", len(s))
}

func regionFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

func dims(ds []events.CloudWatchDimension) map[string]string {
	m := make(map[string]string, len(ds))
	for _, d := range ds {
		m[d.Name] = d.Value
	}
	return m
}

// describeJSONError says what was wrong without echoing input, which may hold anything.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		if syn.Offset > 0 && strings.Contains(syn.Error(), "unexpected end") {
			return fmt.Sprintf("truncated after %d bytes", syn.Offset)
		}
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type (%s)", typ.Field, typ.Value)
	default:
		return "unreadable"
	}
}

// clipText shortens s for an error message (input is not echoed at length).
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstPositive(ns ...int64) int64 {
	for _, n := range ns {
		if n > 0 {
			return n
		}
	}
	return 0
}

// DimensionNames lists the alarm's dimension names, sorted (for messages).
func (a Alarm) DimensionNames() []string {
	out := make([]string, 0, len(a.Dimensions))
	for k := range a.Dimensions {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
