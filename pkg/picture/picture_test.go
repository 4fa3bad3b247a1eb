package picture_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/internal/golden"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/picture"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/sandbox"
)

var t0 = time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)

func cfg() config.Config {
	c, err := config.Load(func(k string) string {
		return map[string]string{config.EnvEnvironment: "staging", config.EnvReportTopicARN: "arn:aws:sns:us-east-1:123456789012:t"}[k]
	})
	if err != nil {
		panic(err)
	}
	return c
}

func ecsAlarm(name, ns, metric, service string, threshold float64, stat string) alarm.Alarm {
	dims := map[string]string{"ClusterName": "arrakis-staging-cluster", "ServiceName": service}
	return alarm.Alarm{Name: name, State: alarm.StateAlarm, ChangedAt: t0, Namespace: ns, MetricName: metric, Dimensions: dims,
		Threshold: threshold, Period: 60, Metrics: []alarm.Metric{{ID: "m1", Namespace: ns, MetricName: metric, Dimensions: dims, Stat: stat, Period: 60}}}
}

func mqAlarm(name, queue string, threshold float64) alarm.Alarm {
	dims := map[string]string{"Broker": "arrakis-staging-rabbitmq", "VirtualHost": "/", "Queue": queue}
	return alarm.Alarm{Name: name, State: alarm.StateAlarm, ChangedAt: t0, Namespace: "AWS/AmazonMQ", MetricName: "MessageCount", Dimensions: dims,
		Threshold: threshold, Period: 60, Metrics: []alarm.Metric{{ID: "m1", Namespace: "AWS/AmazonMQ", MetricName: "MessageCount", Dimensions: dims, Stat: "Maximum", Period: 60}}}
}

func actionAt(at time.Time, kind, target, outcome string) incident.Entry {
	return incident.Entry{At: at, Kind: incident.KindAction, Action: &incident.Action{Kind: kind, Target: target, Outcome: outcome}}
}

// The widget JSON each function asks CloudWatch for, per kind of report: golden files in
// testdata/ (go test -run Golden -update rewrites them).
func TestWidgetGolden(t *testing.T) {
	c := cfg()
	inc := &incident.Incident{ID: "inc-1", OpenedAt: t0.Add(-2 * time.Minute), Timeline: []incident.Entry{
		actionAt(t0.Add(time.Minute), "force-new-deployment", "arrakis-staging-gp-worker", "done"),
		actionAt(t0.Add(2*time.Minute), "scale-service", "arrakis-staging-gp-worker", "skipped"),
	}}
	cases := []struct {
		name     string
		function string
		subject  picture.Subject
	}{
		{"no-tasks-ingestor-restart", "no-tasks", picture.Subject{
			Alarm:   ecsAlarm("arrakis-staging-no-ingestor-tasks", "ECS/ContainerInsights", "RunningTaskCount", "arrakis-staging-ingestor", 1, "Maximum"),
			Actions: []report.Action{{Kind: "force-new-deployment", Target: "arrakis-staging-ingestor", Outcome: report.OutcomeDone}},
			Now:     t0.Add(3 * time.Minute)}},
		{"no-tasks-worker-dry-run", "no-tasks", picture.Subject{
			Alarm:   ecsAlarm("arrakis-staging-no-worker-tasks", "ECS/ContainerInsights", "RunningTaskCount", "arrakis-staging-gp-worker", 1, "Maximum"),
			Actions: []report.Action{{Kind: "force-new-deployment", Target: "arrakis-staging-gp-worker", Outcome: report.OutcomeDryRun}},
			Now:     t0.Add(time.Minute)}},
		{"queue-depth-follow-up-in-incident", "queue-depth", picture.Subject{
			Alarm: mqAlarm("arrakis-staging-queue-depth-high", "arrakis.interactions", 1000), Incident: inc,
			Actions: []report.Action{{Kind: "scale-service", Target: "arrakis-staging-gp-worker", Outcome: report.OutcomeDone}},
			Now:     t0.Add(10 * time.Minute)}},
		{"dlq-replay-and-park", "dlq", picture.Subject{
			Alarm: mqAlarm("arrakis-staging-dlq-messages", "arrakis.dlq", 0),
			Actions: []report.Action{{Kind: "park", Target: "arrakis.dlq", Outcome: report.OutcomeDone},
				{Kind: "replay", Target: "arrakis.dlq", Outcome: report.OutcomeFailed}},
			Now: t0.Add(5 * time.Minute)}},
		{"memory-high-day-long", "memory-high", picture.Subject{
			Alarm: ecsAlarm("arrakis-staging-ingestor-memory-high", "AWS/ECS", "MemoryUtilization", "arrakis-staging-ingestor", 85, "Average"),
			Now:   t0.Add(30 * time.Hour)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.subject
			s.Environment = "staging"
			s.Alarm.Period = 300
			s.Related = picture.Related(tc.function, c, s.Alarm)
			spec, err := picture.Plan(s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := spec.WidgetJSON()
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			_ = jsonIndent(&pretty, got)
			golden.Check(t, tc.name+".json", pretty.Bytes())
		})
	}
}

func TestPlan(t *testing.T) {
	a := mqAlarm("dlq", "arrakis.dlq", 0)
	tests := []struct {
		name      string
		subject   picture.Subject
		wantErr   error
		wantMarks []string
		window    time.Duration
		period    int64
	}{
		{name: "composite alarm has no metric", subject: picture.Subject{Alarm: alarm.Alarm{Name: "c", Composite: true}, Now: t0}, wantErr: picture.ErrNoMetric},
		{name: "fresh alarm gets an hour", subject: picture.Subject{Alarm: a, Now: t0.Add(time.Minute)}, window: time.Hour, period: 60},
		{name: "skipped actions are not marked, others are, oldest first", subject: picture.Subject{Environment: "staging", Alarm: a, Now: t0.Add(20 * time.Minute),
			Incident: &incident.Incident{OpenedAt: t0, Timeline: []incident.Entry{
				actionAt(t0.Add(time.Minute), "force-new-deployment", "arrakis-staging-ingestor", "done"),
				actionAt(t0.Add(2*time.Minute), "scale-service", "arrakis-staging-gp-worker", "skipped"),
				actionAt(t0.Add(-3*time.Hour), "replay", "arrakis.dlq", "done"), // before the window
			}},
			Actions: []report.Action{{Kind: "replay", Target: "arrakis.dlq", Outcome: report.OutcomeDryRun}}},
			wantMarks: []string{"restart ingestor 03:01", "would replay arrakis.dlq 03:20"}, window: time.Hour, period: 60},
		{name: "a day-long window widens the period to stay under 360 points", subject: picture.Subject{Alarm: a, Now: t0.Add(48 * time.Hour)}, window: 24 * time.Hour, period: 240},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := picture.Plan(tc.subject)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			var marks []string
			for _, m := range spec.Marks {
				marks = append(marks, m.Label)
			}
			if strings.Join(marks, "|") != strings.Join(tc.wantMarks, "|") {
				t.Errorf("marks = %q, want %q", marks, tc.wantMarks)
			}
			if got := spec.End.Sub(spec.Start); got != tc.window {
				t.Errorf("window = %s, want %s", got, tc.window)
			}
			if spec.Period != tc.period {
				t.Errorf("period = %d, want %d", spec.Period, tc.period)
			}
		})
	}
}

// The painter against the sandbox's CloudWatch and S3 through the real SDK clients: the PNG
// decodes at the widget's size, is stored, and its presigned URL serves the same bytes.
func TestPaintAgainstSandbox(t *testing.T) {
	sb := sandbox.StartTest(t, sandbox.Options{})
	if err := sb.LoadScenario("queue-under-provisioned"); err != nil {
		t.Fatal(err)
	}
	awsCfg, err := sb.AWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := cfg()
	p := &picture.Painter{
		CloudWatch: cloudwatch.NewFromConfig(awsCfg),
		Related:    func(a alarm.Alarm) []picture.Metric { return picture.Related("queue-depth", c, a) },
		Keeper:     picture.NewS3Keeper(func() *s3.Client { return s3.NewFromConfig(awsCfg) }, sandbox.PictureBucketFor("staging"), time.Hour),
	}
	a := mqAlarm(sb.AlarmName(sandbox.AlarmQueueDepthHigh), "arrakis.interactions", 1000)
	now := time.Now()
	a.ChangedAt = now.Add(-10 * time.Minute)
	pic, note := p.Paint(context.Background(), picture.Subject{Environment: "staging", Alarm: a, Now: now,
		Actions: []report.Action{{Kind: "scale-service", Target: "arrakis-staging-gp-worker", Outcome: report.OutcomeDone}}})
	if !note.Drawn || pic == nil {
		t.Fatalf("not drawn: %+v", note)
	}
	img, err := png.Decode(bytes.NewReader(pic.PNG))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != picture.DefaultWidth || b.Dy() != picture.DefaultHeight {
		t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), picture.DefaultWidth, picture.DefaultHeight)
	}
	if !note.Stored || pic.URL == "" || note.Marks != 1 {
		t.Fatalf("note = %+v, url %q", note, pic.URL)
	}
	resp, err := http.Get(pic.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body, pic.PNG) {
		t.Errorf("presigned GET: status %d, %d bytes (want the %d stored)", resp.StatusCode, len(body), len(pic.PNG))
	}
	if dir := os.Getenv("GPR_PICTURE_OUT"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "queue-depth.png"), pic.PNG, 0o644)
	}
}

// A slow or failing picture never holds the report: the painter gives up at its budget and
// says why, and an unstored picture is still attached.
func TestPaintBounded(t *testing.T) {
	sb := sandbox.StartTest(t, sandbox.Options{})
	awsCfg, err := sb.AWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := mqAlarm(sb.AlarmName(sandbox.AlarmDLQMessages), "arrakis.dlq", 0)
	a.ChangedAt = time.Now()
	subject := picture.Subject{Environment: "staging", Alarm: a, Now: time.Now()}
	keeper := picture.NewS3Keeper(func() *s3.Client { return s3.NewFromConfig(awsCfg) }, sandbox.PictureBucketFor("staging"), time.Hour)
	p := &picture.Painter{CloudWatch: cloudwatch.NewFromConfig(awsCfg), Keeper: keeper, Timeout: 500 * time.Millisecond}

	if _, err := sb.InjectFault(sandbox.Fault{Op: "cloudwatch:GetMetricWidgetImage", Kind: sandbox.FaultTimeout, Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	pic, note := p.Paint(context.Background(), subject)
	if pic != nil || note.Drawn || !strings.Contains(note.Error, "no answer within 500ms") {
		t.Errorf("slow: pic %v, note %+v", pic != nil, note)
	}
	sb.ClearFaults()

	if _, err := sb.InjectFault(sandbox.Fault{Op: "s3:PutObject", Kind: sandbox.FaultInternal}); err != nil {
		t.Fatal(err)
	}
	// This part is about the store failing, not about speed: a budget no loaded machine misses.
	roomy := *p
	roomy.Timeout = 30 * time.Second
	pic, note = roomy.Paint(context.Background(), subject)
	if pic == nil || !note.Drawn || note.Stored || pic.URL != "" || !strings.Contains(note.Error, "not stored") {
		t.Errorf("store failing: pic %v, note %+v", pic != nil, note)
	}

	// Too little time before the report's deadline: not even started.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if pic, note := p.Paint(ctx, subject); pic != nil || !strings.Contains(note.Error, "too little time") {
		t.Errorf("near the deadline: pic %v, note %+v", pic != nil, note)
	}
}
