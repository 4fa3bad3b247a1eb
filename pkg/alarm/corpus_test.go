package alarm

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// corpusDir holds odd but real notifications: the shapes CloudWatch, SNS, EventBridge and an
// alarm's Lambda action really send, at their edges (metric math, composites, missing parts,
// a reason near SNS's size limit, unknown states, duplicates, unicode, nulls, stringly numbers).
const corpusDir = "testdata/corpus"

// wantRecord is what Decode must give for one record. Zero fields are checked too, except
// where noted: a decoder that starts inventing values fails here.
type wantRecord struct {
	err        error // errors.Is; when set only the error is checked
	name       string
	state      State
	previous   State
	source     string
	composite  bool
	rule       string // substring of Rule
	namespace  string
	metric     string
	dims       map[string]string
	metrics    int
	period     int64
	threshold  float64
	changedAt  string // RFC 3339 (nano)
	arn        bool   // ARN set
	regionCode string
	reasonLen  int    // when > 0, len(Reason) must equal it
	descHas    string // substring of Description
}

type corpusCase struct {
	eventErr error // the whole event is unusable
	records  []wantRecord
}

var (
	ingestorDims = map[string]string{"ClusterName": "arrakis-staging-cluster", "ServiceName": "arrakis-staging-ingestor"}
	workerDims   = map[string]string{"ClusterName": "arrakis-staging-cluster", "ServiceName": "arrakis-staging-gp-worker"}
	noDims       = map[string]string{}
)

const (
	nIngestor = "arrakis-staging No Ingestor Tasks Running"
	nWorker   = "arrakis-staging No Worker Tasks Running"
	nGateway  = "arrakis-staging Gateway Proxy Degraded"
	ecsInsNS  = "ECS/ContainerInsights"
	at        = "2026-11-27T03:12:41.471Z"
)

// corpusExpectations says, for every file of the corpus, what Decode gives. A file without an
// entry (or an entry without a file) fails TestCorpusIsCovered.
var corpusExpectations = map[string]corpusCase{
	"sns-metric-math-expression.json": {records: []wantRecord{{
		name: "arrakis-staging Ingestor Memory High (metric math)", state: StateAlarm, previous: StateOK, source: SourceSNS,
		namespace: ecsInsNS, metric: "MemoryUtilized", dims: ingestorDims, metrics: 3, period: 60, threshold: 85,
		changedAt: at, arn: true, regionCode: "us-east-1"}}},
	// MIN over the ingestor's and the worker's task counts: about neither service alone.
	"sns-metric-math-two-services.json": {records: []wantRecord{{
		name: "arrakis-staging Gateway Proxy Tasks Missing", state: StateAlarm, previous: StateOK, source: SourceSNS,
		namespace: ecsInsNS, metric: "RunningTaskCount", dims: map[string]string{"ClusterName": "arrakis-staging-cluster"},
		metrics: 3, period: 60, threshold: 1, changedAt: at, arn: true, regionCode: "us-east-1"}}},
	"sns-composite.json": {records: []wantRecord{{
		name: nGateway, state: StateAlarm, previous: StateOK, source: SourceSNS, composite: true,
		rule: `ALARM("arrakis-staging No Ingestor Tasks Running") OR ALARM("arrakis-staging No Worker Tasks Running")`,
		dims: noDims, changedAt: at, arn: true, regionCode: "us-east-1"}}},
	"sns-composite-names-service.json": {records: []wantRecord{{
		name: nIngestor + " (composite)", state: StateAlarm, previous: StateOK, source: SourceSNS, composite: true,
		rule: "AND", dims: noDims, changedAt: at, arn: true, regionCode: "us-east-1"}}},
	"eventbridge-composite.json": {records: []wantRecord{{
		name: nGateway, state: StateAlarm, previous: StateOK, source: SourceEventBridge, composite: true, rule: " OR ",
		dims: noDims, changedAt: "2026-11-27T03:12:41.98Z", arn: true, regionCode: "us-east-1", descHas: "Composite"}}},
	"eventbridge-metric-math.json": {records: []wantRecord{{
		name: "arrakis-staging Queue Depth High (metric math)", state: StateAlarm, previous: StateOK, source: SourceEventBridge,
		namespace: "AWS/AmazonMQ", metric: "MessageCount",
		dims:    map[string]string{"Broker": "arrakis-staging-rabbitmq", "VirtualHost": "/", "Queue": "arrakis.interactions"},
		metrics: 3, period: 60, changedAt: at, arn: true, regionCode: "us-east-1"}}},
	// No state.timestamp: the event's own time is the transition time.
	"eventbridge-no-state-timestamp.json": {records: []wantRecord{{
		name: nWorker, state: StateAlarm, previous: StateOK, source: SourceEventBridge, namespace: ecsInsNS,
		metric: "RunningTaskCount", dims: workerDims, metrics: 1, period: 60, changedAt: "2026-11-27T03:12:41Z",
		arn: true, regionCode: "us-east-1"}}},
	"eventbridge-unknown-state.json": {records: []wantRecord{{
		name: nWorker, state: "PENDING", previous: StateOK, source: SourceEventBridge, namespace: ecsInsNS,
		metric: "RunningTaskCount", dims: workerDims, metrics: 1, period: 60, changedAt: at, arn: true, regionCode: "us-east-1"}}},
	// An alarm's Lambda action: "alarmData" instead of "detail", CloudWatch's own time format.
	"lambda-action-metric.json": {records: []wantRecord{{
		name: nIngestor, state: StateAlarm, previous: StateOK, source: SourceAlarmAction, namespace: ecsInsNS,
		metric: "RunningTaskCount", dims: ingestorDims, metrics: 1, period: 60, changedAt: at, arn: true,
		regionCode: "us-east-1", descHas: "CRITICAL"}}},
	"lambda-action-composite.json": {records: []wantRecord{{
		name: nGateway, state: StateAlarm, previous: StateOK, source: SourceAlarmAction, composite: true, rule: " OR ",
		dims: noDims, changedAt: "2026-11-27T03:12:42.1Z", arn: true, regionCode: "us-east-1"}}},
	"sns-missing-trigger.json": {records: []wantRecord{{
		name: nWorker, state: StateAlarm, previous: StateOK, source: SourceSNS, dims: noDims, changedAt: at,
		arn: true, regionCode: "us-east-1"}}},
	"sns-missing-dimensions.json": {records: []wantRecord{{
		name: "arrakis-staging Tasks Running Low", state: StateAlarm, previous: StateOK, source: SourceSNS,
		namespace: ecsInsNS, metric: "RunningTaskCount", dims: noDims, metrics: 1, period: 60, threshold: 1,
		changedAt: at, arn: true, regionCode: "us-east-1"}}},
	"sns-huge-reason.json": {records: []wantRecord{{
		name: nIngestor, state: StateAlarm, previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
		metric: "RunningTaskCount", dims: ingestorDims, metrics: 1, period: 60, threshold: 1, changedAt: at,
		arn: true, regionCode: "us-east-1", reasonLen: 250_000}}},
	// Kept as sent, never trusted: Known() is false, so nothing acts on it.
	"sns-unknown-state.json": {records: []wantRecord{{
		name: nIngestor, state: "MAYBE", previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
		metric: "RunningTaskCount", dims: ingestorDims, metrics: 1, period: 60, threshold: 1, changedAt: at,
		arn: true, regionCode: "us-east-1"}}},
	"sns-empty-state.json": {records: []wantRecord{{err: ErrNotAlarm}}},
	// The same notification twice and the same transition under another MessageId: one alarm.
	"sns-duplicate-records.json": {records: []wantRecord{{
		name: nIngestor, state: StateAlarm, previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
		metric: "RunningTaskCount", dims: ingestorDims, metrics: 1, period: 60, threshold: 1, changedAt: at,
		arn: true, regionCode: "us-east-1"}}},
	"sns-several-alarms.json": {records: []wantRecord{
		{name: nIngestor, state: StateAlarm, previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
			metric: "RunningTaskCount", dims: ingestorDims, metrics: 1, period: 60, threshold: 1, changedAt: at,
			arn: true, regionCode: "us-east-1"},
		{name: nWorker, state: StateAlarm, previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
			metric: "RunningTaskCount", dims: workerDims, metrics: 1, period: 60, threshold: 1,
			changedAt: "2026-11-27T03:12:43.002Z", arn: true, regionCode: "us-east-1"},
		{name: nIngestor, state: StateOK, previous: StateAlarm, source: SourceSNS, namespace: ecsInsNS,
			metric: "RunningTaskCount", dims: ingestorDims, metrics: 1, period: 60, threshold: 1,
			changedAt: "2026-11-27T03:20:41.118Z", arn: true, regionCode: "us-east-1"},
		{name: nWorker, state: StateInsufficientData, previous: StateAlarm, source: SourceSNS, namespace: ecsInsNS,
			metric: "RunningTaskCount", dims: workerDims, metrics: 1, period: 60, threshold: 1,
			changedAt: "2026-11-27T03:25:41Z", arn: true, regionCode: "us-east-1"},
	}},
	// An escaped emoji decodes; a lone surrogate becomes U+FFFD instead of failing the alarm.
	"sns-unicode.json": {records: []wantRecord{{
		name: nIngestor + " — 取り込み停止 🚨", state: StateAlarm, previous: StateOK, source: SourceSNS,
		namespace: ecsInsNS, metric: "RunningTaskCount", dims: ingestorDims, metrics: 1, period: 60, threshold: 1,
		changedAt: at, arn: true, regionCode: "us-east-1", descHas: "💥 \uFFFD Überwachung"}}},
	// Nulls for description, reason, previous state, ARN, region and most of Trigger.
	"sns-null-fields.json": {records: []wantRecord{{
		name: nIngestor, state: StateAlarm, source: SourceSNS, namespace: ecsInsNS, metric: "RunningTaskCount",
		dims: ingestorDims, metrics: 1, changedAt: at}}},
	"sns-numbers-as-strings.json": {records: []wantRecord{
		{name: nWorker, state: StateAlarm, previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
			metric: "RunningTaskCount", dims: workerDims, metrics: 1, period: 60, threshold: 1, changedAt: at,
			arn: true, regionCode: "us-east-1"},
		{name: "arrakis-staging Ingestor Memory High (metric math)", state: StateAlarm, previous: StateOK,
			source: SourceSNS, namespace: ecsInsNS, metric: "MemoryUtilized", dims: ingestorDims, metrics: 3,
			period: 60, threshold: 85, changedAt: at, arn: true, regionCode: "us-east-1"},
	}},
	"sns-console-test-message.json": {records: []wantRecord{{err: ErrNotAlarm}}},
	// A truncated message, a real alarm, and a record from SQS: the alarm survives its neighbours.
	"sns-mixed-good-and-bad.json": {records: []wantRecord{
		{err: ErrNotAlarm},
		{name: nWorker, state: StateAlarm, previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
			metric: "RunningTaskCount", dims: workerDims, metrics: 1, period: 60, threshold: 1, changedAt: at,
			arn: true, regionCode: "us-east-1"},
		{err: ErrNotAlarm},
	}},
	"sns-timestamp-variants.json": {records: []wantRecord{
		{name: nIngestor, state: StateAlarm, previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
			metric: "RunningTaskCount", dims: ingestorDims, metrics: 1, period: 60, threshold: 1,
			changedAt: "2026-11-27T03:12:41Z", arn: true, regionCode: "us-east-1"},
		{name: nWorker, state: StateAlarm, previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
			metric: "RunningTaskCount", dims: workerDims, metrics: 1, period: 60, threshold: 1,
			changedAt: "2026-11-27T03:12:41.471123Z", arn: true, regionCode: "us-east-1"},
	}},
	// The SNS envelope's own Timestamp in CloudWatch's format: never read, so it costs nothing.
	"sns-envelope-odd-timestamp.json": {records: []wantRecord{{
		name: nIngestor, state: StateAlarm, previous: StateOK, source: SourceSNS, namespace: ecsInsNS,
		metric: "RunningTaskCount", dims: ingestorDims, metrics: 1, period: 60, threshold: 1, changedAt: at,
		arn: true, regionCode: "us-east-1"}}},
}

func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus under %s: %v", corpusDir, err)
	}
	return files
}

func TestCorpusIsCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range corpusFiles(t) {
		seen[filepath.Base(f)] = true
		if _, ok := corpusExpectations[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expectation in corpusExpectations", f)
		}
	}
	for name := range corpusExpectations {
		if !seen[name] {
			t.Errorf("expectation for %s, but no such file in %s", name, corpusDir)
		}
	}
}

func TestDecodeCorpus(t *testing.T) {
	names := slices.Sorted(maps.Keys(corpusExpectations))
	for _, name := range names {
		tc := corpusExpectations[name]
		t.Run(name, func(t *testing.T) {
			recs, err := Decode(mustRead(t, filepath.Join(corpusDir, name)))
			if tc.eventErr != nil {
				if !errors.Is(err, tc.eventErr) {
					t.Fatalf("err = %v, want %v", err, tc.eventErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(recs) != len(tc.records) {
				t.Fatalf("%d records, want %d: %+v", len(recs), len(tc.records), recs)
			}
			for i, w := range tc.records {
				checkRecord(t, i, recs[i], w)
			}
		})
	}
}

func checkRecord(t *testing.T, i int, r Record, w wantRecord) {
	t.Helper()
	if w.err != nil {
		if !errors.Is(r.Err, w.err) {
			t.Errorf("record %d: err = %v, want %v", i, r.Err, w.err)
		}
		return
	}
	if r.Err != nil {
		t.Fatalf("record %d: unexpected error %v", i, r.Err)
	}
	a := r.Alarm
	type field struct {
		name      string
		got, want any
	}
	wantAt, err := time.Parse(time.RFC3339Nano, w.changedAt)
	if err != nil {
		t.Fatalf("bad expectation %q: %v", w.changedAt, err)
	}
	for _, f := range []field{
		{"Name", a.Name, w.name}, {"State", a.State, w.state}, {"PreviousState", a.PreviousState, w.previous},
		{"Source", a.Source, w.source}, {"Composite", a.Composite, w.composite}, {"Namespace", a.Namespace, w.namespace},
		{"MetricName", a.MetricName, w.metric}, {"len(Metrics)", len(a.Metrics), w.metrics}, {"Period", a.Period, w.period},
		{"Threshold", a.Threshold, w.threshold}, {"ARN set", a.ARN != "", w.arn}, {"RegionCode", a.RegionCode, w.regionCode},
		{"ChangedAt", a.ChangedAt.Equal(wantAt), true},
	} {
		if f.got != f.want {
			t.Errorf("record %d: %s = %v, want %v", i, f.name, f.got, f.want)
		}
	}
	if !maps.Equal(a.Dimensions, w.dims) || a.Dimensions == nil {
		t.Errorf("record %d: Dimensions = %v, want %v", i, a.Dimensions, w.dims)
	}
	if !strings.Contains(a.Rule, w.rule) || (w.rule == "") != (a.Rule == "") {
		t.Errorf("record %d: Rule = %q, want it to contain %q", i, a.Rule, w.rule)
	}
	if w.reasonLen > 0 && len(a.Reason) != w.reasonLen {
		t.Errorf("record %d: len(Reason) = %d, want %d", i, len(a.Reason), w.reasonLen)
	}
	if !strings.Contains(a.Description, w.descHas) {
		t.Errorf("record %d: Description = %q, want it to contain %q", i, a.Description, w.descHas)
	}
	if !strings.HasSuffix(a.Key(), "@"+a.ChangedAt.UTC().Format(time.RFC3339Nano)) {
		t.Errorf("record %d: Key = %q", i, a.Key())
	}
}

// TestDecodeOddShapes covers hand-built variations of the corpus's shapes that are too small
// to deserve a file.
func TestDecodeOddShapes(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, recs []Record, err error)
	}{
		{name: "garbage numeric strings are unknown, not fatal",
			in: `{"AlarmName":"x","NewStateValue":"ALARM","StateChangeTime":"2026-11-27T03:12:41Z","Trigger":{"Period":"sixty","Threshold":"NaN","Metrics":[{"Id":"m1","Period":{},"MetricStat":{"Period":[1],"Metric":{"MetricName":"M"}}}]}}`,
			check: func(t *testing.T, recs []Record, err error) {
				if err != nil || recs[0].Err != nil || recs[0].Alarm.Period != 0 || recs[0].Alarm.Threshold != 0 || recs[0].Alarm.MetricName != "M" {
					t.Errorf("got %v %+v", err, recs)
				}
			}},
		{name: "huge numbers do not overflow",
			in: `{"AlarmName":"x","NewStateValue":"ALARM","StateChangeTime":"2026-11-27T03:12:41Z","Trigger":{"Period":1e300,"Threshold":-1e308}}`,
			check: func(t *testing.T, recs []Record, err error) {
				if err != nil || recs[0].Err != nil || recs[0].Alarm.Period != 0 || recs[0].Alarm.Threshold != -1e308 {
					t.Errorf("got %v %+v", err, recs[0])
				}
			}},
		{name: "a record that is not an object costs only itself",
			in: `{"Records":[42,{"EventSource":"aws:sns","Sns":{"MessageId":"m","Message":"{\"AlarmName\":\"x\",\"NewStateValue\":\"ALARM\",\"StateChangeTime\":\"2026-11-27T03:12:41Z\"}"}}]}`,
			check: func(t *testing.T, recs []Record, err error) {
				if err != nil || len(recs) != 2 || !errors.Is(recs[0].Err, ErrNotAlarm) || recs[1].Err != nil {
					t.Errorf("got %v %+v", err, recs)
				}
			}},
		{name: "an SNS message that is an object, not a string",
			in: `{"Records":[{"EventSource":"aws:sns","Sns":{"Message":{"AlarmName":"x"}}}]}`,
			check: func(t *testing.T, recs []Record, err error) {
				if err != nil || len(recs) != 1 || !errors.Is(recs[0].Err, ErrNotAlarm) {
					t.Errorf("got %v %+v", err, recs)
				}
			}},
		{name: "Records of the wrong type is not an alarm, and valid JSON is not called malformed",
			in: `{"Records":"all of them"}`,
			check: func(t *testing.T, recs []Record, err error) {
				if !errors.Is(err, ErrNotAlarm) || errors.Is(err, ErrMalformed) {
					t.Errorf("err = %v", err)
				}
			}},
		{name: "EventBridge time in CloudWatch's format stands in for a missing state timestamp",
			in: `{"detail-type":"CloudWatch Alarm State Change","source":"aws.cloudwatch","time":"2026-11-27T03:12:41.471+0000","detail":{"alarmName":"a","state":{"value":"ALARM"}}}`,
			check: func(t *testing.T, recs []Record, err error) {
				if err != nil || recs[0].Err != nil || recs[0].Alarm.ChangedAt.IsZero() {
					t.Errorf("got %v %+v", err, recs)
				}
			}},
		{name: "EventBridge without any time is not usable",
			in: `{"detail-type":"CloudWatch Alarm State Change","source":"aws.cloudwatch","detail":{"alarmName":"a","state":{"value":"ALARM"}}}`,
			check: func(t *testing.T, recs []Record, err error) {
				if err != nil || !errors.Is(recs[0].Err, ErrNotAlarm) {
					t.Errorf("got %v %+v", err, recs)
				}
			}},
		{name: "an alarm action from another source",
			in: `{"source":"aws.events","alarmData":{"alarmName":"a","state":{"value":"ALARM","timestamp":"2026-11-27T03:12:41Z"}}}`,
			check: func(t *testing.T, recs []Record, err error) {
				if err != nil || !errors.Is(recs[0].Err, ErrNotAlarm) {
					t.Errorf("got %v %+v", err, recs)
				}
			}},
		{name: "an alarm action without alarm data fields",
			in: `{"source":"aws.cloudwatch","alarmData":null}`,
			check: func(t *testing.T, recs []Record, err error) {
				if err != nil || !errors.Is(recs[0].Err, ErrNotAlarm) {
					t.Errorf("got %v %+v", err, recs)
				}
			}},
		{name: "metric math over one service keeps the service (union of dimensions)",
			in: `{"AlarmName":"x","NewStateValue":"ALARM","StateChangeTime":"2026-11-27T03:12:41Z","Trigger":{"Metrics":[{"Id":"e1","Expression":"m1+m2"},{"Id":"m1","MetricStat":{"Metric":{"MetricName":"A","Dimensions":[{"name":"ServiceName","value":"s"}]}}},{"Id":"m2","MetricStat":{"Metric":{"MetricName":"B","Dimensions":[{"name":"ServiceName","value":"s"},{"name":"ClusterName","value":"c"}]}}}]}}`,
			check: func(t *testing.T, recs []Record, err error) {
				if a := recs[0].Alarm; err != nil || a.Dimension("ServiceName") != "s" || a.Dimension("ClusterName") != "c" || a.MetricName != "A" {
					t.Errorf("got %v %+v", err, recs[0])
				}
			}},
		{name: "error text never carries a long input value",
			in: `{"detail-type":"` + strings.Repeat("D", 5000) + `","source":"aws.ec2"}`,
			check: func(t *testing.T, recs []Record, err error) {
				if err != nil || len(recs[0].Err.Error()) > 400 {
					t.Errorf("error of %d bytes", len(recs[0].Err.Error()))
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := Decode([]byte(tc.in))
			if err == nil && len(recs) == 0 {
				t.Fatal("no error and no records")
			}
			tc.check(t, recs, err)
		})
	}
}

// TestCorpusFilesAreRealSize keeps the huge-reason sample near SNS's 256 KiB message limit,
// where it proves something.
func TestCorpusFilesAreRealSize(t *testing.T) {
	st, err := os.Stat(filepath.Join(corpusDir, "sns-huge-reason.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 250_000 || st.Size() > 6<<20 {
		t.Errorf("sns-huge-reason.json is %d bytes", st.Size())
	}
}
