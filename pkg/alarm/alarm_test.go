package alarm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeLibrarySamples(t *testing.T) {
	// The samples that ship with aws-lambda-go: a single-metric and a metric-math alarm.
	recs, err := Decode(mustRead(t, "testdata/cloudwatch-alarm-sns-payload-single-metric.json"))
	if err != nil || len(recs) != 1 || recs[0].Err != nil {
		t.Fatalf("single metric: %v %+v", err, recs)
	}
	a := recs[0].Alarm
	if a.Name != "EXAMPLE" || a.State != StateAlarm || a.Source != SourceSNS || a.MetricName == "" {
		t.Errorf("single metric decoded as %+v", a)
	}
	want := time.Date(2015, 6, 3, 17, 43, 27, 123e6, time.UTC)
	if !a.ChangedAt.Equal(want) {
		t.Errorf("ChangedAt = %v, want %v", a.ChangedAt, want)
	}

	recs, err = Decode(mustRead(t, "testdata/cloudwatch-alarm-sns-payload-multiple-metrics.json"))
	if err != nil || len(recs) != 1 || recs[0].Err != nil {
		t.Fatalf("metric math: %v %+v", err, recs)
	}
	a = recs[0].Alarm
	if len(a.Metrics) != 2 || a.MetricName != "NetworkOut" || a.Dimension("InstanceId") != "TestInstance" {
		t.Errorf("metric math decoded as %+v", a)
	}
}

// TestDecodeEvents decodes every sample event of every function, as `make invoke` sends them.
func TestDecodeEvents(t *testing.T) {
	files, _ := filepath.Glob("../../events/*/*.json")
	if len(files) == 0 {
		t.Fatal("no sample events found under events/")
	}
	for _, f := range files {
		if filepath.Base(f) == "cases.json" || filepath.Base(f) == "follow-up.json" {
			continue // the end-to-end expectations, and the schedule's input (not an alarm: pkg/playbook)
		}
		t.Run(strings.TrimPrefix(f, "../../events/"), func(t *testing.T) {
			recs, err := Decode(mustRead(t, f))
			// The approve function's samples are function URL requests (internal/sample tests
			// them): an alarm function handed one must refuse it.
			bad := strings.Contains(f, "malformed") || strings.Contains(f, "not-sns") || strings.HasPrefix(f, "../../events/approve/")
			if bad {
				if err == nil && (len(recs) == 0 || recs[0].Err == nil) {
					t.Fatalf("malformed sample decoded without error: %+v", recs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Err != nil {
					t.Fatalf("record error: %v", r.Err)
				}
				if r.Alarm.Name == "" || !r.Alarm.State.Known() || r.Alarm.ChangedAt.IsZero() || r.Alarm.RegionCode == "" {
					t.Errorf("incomplete alarm: %+v", r.Alarm)
				}
			}
		})
	}
}

func TestDecodeShapes(t *testing.T) {
	ingestor := string(mustRead(t, "../../events/no-tasks/ingestor-alarm.json"))
	var ev struct {
		Records []json.RawMessage
	}
	if err := json.Unmarshal([]byte(ingestor), &ev); err != nil {
		t.Fatal(err)
	}
	twoRecords := `{"Records":[` + string(ev.Records[0]) + `,` + string(ev.Records[0]) + `]}`
	worker := string(mustRead(t, "../../events/no-tasks/worker-alarm.json"))
	var wev struct{ Records []json.RawMessage }
	_ = json.Unmarshal([]byte(worker), &wev)
	mixed := `{"Records":[` + string(ev.Records[0]) + `,` + string(wev.Records[0]) + `]}`

	tests := []struct {
		name    string
		in      string
		wantErr error
		check   func(t *testing.T, recs []Record)
	}{
		{name: "sns ingestor alarm", in: ingestor, check: func(t *testing.T, recs []Record) {
			a := recs[0].Alarm
			if a.Dimension("ServiceName") != "arrakis-staging-ingestor" || a.Dimension("ClusterName") != "arrakis-staging-cluster" {
				t.Errorf("dimensions = %v", a.Dimensions)
			}
			if a.Region != "US East (N. Virginia)" || a.RegionCode != "us-east-1" || a.PreviousState != StateOK {
				t.Errorf("region/previous = %q %q %q", a.Region, a.RegionCode, a.PreviousState)
			}
			if a.MessageID == "" || !strings.HasPrefix(a.Key(), a.ARN+"@2026-11-27T03:12:41.471") {
				t.Errorf("key = %q", a.Key())
			}
		}},
		{name: "duplicate records collapse", in: twoRecords, check: func(t *testing.T, recs []Record) {
			if len(recs) != 1 {
				t.Errorf("got %d records, want 1", len(recs))
			}
		}},
		{name: "several records keep their order", in: mixed, check: func(t *testing.T, recs []Record) {
			if len(recs) != 2 || recs[0].Alarm.Dimension("ServiceName") != "arrakis-staging-ingestor" || recs[1].Alarm.Dimension("ServiceName") != "arrakis-staging-gp-worker" {
				t.Errorf("records = %+v", recs)
			}
		}},
		{name: "eventbridge", in: string(mustRead(t, "../../events/no-tasks/ingestor-alarm-eventbridge.json")), check: func(t *testing.T, recs []Record) {
			a := recs[0].Alarm
			if a.Source != SourceEventBridge || a.Dimension("ServiceName") != "arrakis-staging-ingestor" || a.State != StateAlarm || a.ARN == "" {
				t.Errorf("eventbridge alarm = %+v", a)
			}
		}},
		{name: "metric math takes the metric's dimensions", in: string(mustRead(t, "../../events/no-tasks/worker-alarm-metric-math.json")), check: func(t *testing.T, recs []Record) {
			a := recs[0].Alarm
			if a.MetricName != "RunningTaskCount" || a.Dimension("ServiceName") != "arrakis-staging-gp-worker" || len(a.Metrics) != 2 {
				t.Errorf("metric math = %+v", a)
			}
		}},
		{name: "bare notification", in: `{"AlarmName":"x","NewStateValue":"OK","StateChangeTime":"2026-11-27T03:12:41Z"}`, check: func(t *testing.T, recs []Record) {
			if recs[0].Err != nil || recs[0].Alarm.Source != SourceDirect {
				t.Errorf("bare = %+v", recs[0])
			}
		}},
		{name: "composite alarm", in: `{"AlarmName":"c","NewStateValue":"ALARM","StateChangeTime":"2026-11-27T03:12:41.000+0000","AlarmRule":"ALARM(a) OR ALARM(b)","Trigger":{}}`, check: func(t *testing.T, recs []Record) {
			if !recs[0].Alarm.Composite || recs[0].Alarm.Rule == "" || len(recs[0].Alarm.Dimensions) != 0 {
				t.Errorf("composite = %+v", recs[0].Alarm)
			}
		}},
		{name: "unknown state is kept, not trusted", in: `{"AlarmName":"x","NewStateValue":"MAYBE","StateChangeTime":"2026-11-27T03:12:41Z"}`, check: func(t *testing.T, recs []Record) {
			if recs[0].Alarm.State.Known() {
				t.Errorf("state %q reported as known", recs[0].Alarm.State)
			}
		}},
		{name: "empty input", in: ``, wantErr: ErrMalformed},
		{name: "array: valid JSON, not an alarm", in: `[1,2]`, wantErr: ErrNotAlarm},
		{name: "random bytes", in: "\x00\xff\x13garbage", wantErr: ErrMalformed},
		{name: "a JSON string", in: `"hello"`, wantErr: ErrNotAlarm},
		{name: "truncated", in: `{"Records":[{"Sns":{"Message":"{}"`, wantErr: ErrMalformed},
		{name: "unrelated object", in: `{"hello":"world"}`, wantErr: ErrNotAlarm},
		{name: "no records", in: `{"Records":[]}`, wantErr: ErrEmpty},
		{name: "sns message not json", in: `{"Records":[{"EventSource":"aws:sns","Sns":{"Message":"hello"}}]}`, check: func(t *testing.T, recs []Record) {
			if !errors.Is(recs[0].Err, ErrNotAlarm) {
				t.Errorf("err = %v", recs[0].Err)
			}
		}},
		{name: "s3 event", in: string(mustRead(t, "../../events/no-tasks/not-sns.json")), check: func(t *testing.T, recs []Record) {
			if !errors.Is(recs[0].Err, ErrNotAlarm) {
				t.Errorf("err = %v", recs[0].Err)
			}
		}},
		{name: "bad timestamp", in: `{"AlarmName":"x","NewStateValue":"ALARM","StateChangeTime":"yesterday"}`, check: func(t *testing.T, recs []Record) {
			if !errors.Is(recs[0].Err, ErrNotAlarm) {
				t.Errorf("err = %v", recs[0].Err)
			}
		}},
		{name: "eventbridge of another kind", in: `{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{}}`, check: func(t *testing.T, recs []Record) {
			if !errors.Is(recs[0].Err, ErrNotAlarm) {
				t.Errorf("err = %v", recs[0].Err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := Decode([]byte(tc.in))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, recs)
		})
	}
}

func TestErrorsDoNotEchoInput(t *testing.T) {
	secret := "xoxb-SECRET-TOKEN-VALUE"
	inputs := []string{
		`{"Records":[{"EventSource":"aws:sns","Sns":{"Message":"{\"AlarmName\":\"` + secret + `"}}]}`,
		`{"AlarmName":"a","NewStateValue":"ALARM","StateChangeTime":"` + secret + `"}`,
		`{"Records":[{"EventSource":"aws:sns","Sns":{"Message":"` + secret + `"}}]}`,
	}
	for _, in := range inputs {
		recs, err := Decode([]byte(in))
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		for _, r := range recs {
			if r.Err != nil {
				msg += r.Err.Error()
			}
		}
		if strings.Contains(msg, "SECRET-TOKEN") {
			t.Errorf("error echoes input: %s", msg)
		}
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("../../events/*/*.json")
	more, _ := filepath.Glob("testdata/*.json")
	corpus, _ := filepath.Glob("testdata/corpus/*.json")
	for _, p := range append(append(files, more...), corpus...) {
		if filepath.Base(p) == "cases.json" {
			continue
		}
		// The 250 KB reason stays out: the mutator would spend its time copying it.
		if b, err := os.ReadFile(p); err == nil && len(b) <= 32<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"Records":[{"Sns":{"Message":"{\"AlarmName\":\"a\",\"NewStateValue\":\"ALARM\",\"StateChangeTime\":\"2026-11-27T03:12:41Z\",\"Trigger\":{\"Metrics\":[{}]}}"}}]}`))
	f.Add([]byte(`{"detail-type":"CloudWatch Alarm State Change","source":"aws.cloudwatch","detail":{"alarmName":"a","state":{"value":"ALARM"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := Decode(b)
		if err == nil && len(recs) == 0 {
			t.Fatal("no error and no records")
		}
		for _, r := range recs {
			if r.Err == nil && (r.Alarm.Name == "" || r.Alarm.State == "" || r.Alarm.Dimensions == nil) {
				t.Fatalf("record without error lacks name, state or dimensions: %+v", r.Alarm)
			}
			_ = r.Alarm.Key()
		}
	})
}
