package sandbox_test

import (
	"errors"
	"github.com/aws/smithy-go"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/arrakis/gp-remediation/sandbox"
)

// loadTime is on a 5-minute boundary plus 30 s, so bucket arithmetic in the tests is exact.
var loadTime = time.Date(2026, 11, 27, 12, 0, 30, 0, time.UTC)

func withClock(clock *fakeClock) func(*sandbox.Options) {
	return func(o *sandbox.Options) { o.Now = clock.Now }
}

func dims(kv ...string) []cwtypes.Dimension {
	var out []cwtypes.Dimension
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, cwtypes.Dimension{Name: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func statQuery(id, ns, name string, period int32, stat string, d []cwtypes.Dimension) cwtypes.MetricDataQuery {
	return cwtypes.MetricDataQuery{Id: aws.String(id), MetricStat: &cwtypes.MetricStat{
		Metric: &cwtypes.Metric{Namespace: aws.String(ns), MetricName: aws.String(name), Dimensions: d},
		Period: aws.Int32(period), Stat: aws.String(stat),
	}}
}

func getMetricData(t *testing.T, c *clients, start, end time.Time, scan cwtypes.ScanBy, qs ...cwtypes.MetricDataQuery) []cwtypes.MetricDataResult {
	t.Helper()
	out, err := c.cw.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start), EndTime: aws.Time(end), ScanBy: scan, MetricDataQueries: qs,
	})
	if err != nil {
		t.Fatalf("GetMetricData: %v", err)
	}
	return out.MetricDataResults
}

func (c *clients) memory(service string) []cwtypes.Dimension {
	return dims("ClusterName", c.names.Cluster, "ServiceName", service)
}

func TestGetMetricDataAggregation(t *testing.T) {
	clock := &fakeClock{t: loadTime}
	c := start(t, "healthy", withClock(clock))
	// A noiseless ramp: the value at each minute is the number of minutes since -3h.
	ref := sandbox.MetricRef{Namespace: "Test", Name: "Ramp", Dimensions: map[string]string{"K": "v"}}
	c.sandbox.SetMetric(ref, sandbox.Shape{Keys: []sandbox.Key{{At: -3 * time.Hour, V: 0}, {At: 0, V: 180}}, Continue: true})
	d := dims("K", "v")
	end := loadTime
	start := end.Add(-30 * time.Minute) // 11:30:30 -> the first whole minute is 11:31
	stats := []string{"Average", "Sum", "Maximum", "Minimum", "SampleCount", "p50", "p99"}
	var qs []cwtypes.MetricDataQuery
	for i, st := range stats {
		qs = append(qs, statQuery("q"+string(rune('a'+i)), "Test", "Ramp", 300, st, d))
	}
	res := getMetricData(t, c, start, end, cwtypes.ScanByTimestampAscending, qs...)
	if len(res) != len(stats) {
		t.Fatalf("%d results", len(res))
	}
	// v(minute) = 180 + (minute - 12:00:30)/1m, i.e. v(11:31) = 150.5 ... v(12:00) = 179.5.
	v := func(m time.Time) float64 { return 180 + m.Sub(loadTime).Minutes() }
	buckets := []time.Time{}
	for b := time.Date(2026, 11, 27, 11, 30, 0, 0, time.UTC); !b.After(loadTime); b = b.Add(5 * time.Minute) {
		buckets = append(buckets, b)
	}
	for i, st := range stats {
		r := res[i]
		if r.StatusCode != cwtypes.StatusCodeComplete || aws.ToString(r.Label) != "Ramp" {
			t.Errorf("%s: status %s label %q", st, r.StatusCode, aws.ToString(r.Label))
		}
		if len(r.Timestamps) != len(buckets) {
			t.Fatalf("%s: %d timestamps %v, want %d", st, len(r.Timestamps), r.Timestamps, len(buckets))
		}
		for j, b := range buckets {
			if !r.Timestamps[j].Equal(b) {
				t.Errorf("%s: timestamp %d = %v, want %v", st, j, r.Timestamps[j], b)
			}
			var pts []float64
			for m := b; m.Before(b.Add(5*time.Minute)) && !m.After(loadTime); m = m.Add(time.Minute) {
				if !m.Before(start) {
					pts = append(pts, v(m))
				}
			}
			var want float64
			switch st {
			case "Average":
				for _, p := range pts {
					want += p
				}
				want /= float64(len(pts))
			case "Sum":
				for _, p := range pts {
					want += p
				}
			case "Maximum", "p99":
				want = slices.Max(pts)
			case "Minimum":
				want = slices.Min(pts)
			case "SampleCount":
				want = float64(len(pts))
			case "p50":
				want = pts[int(math.Ceil(0.5*float64(len(pts))))-1]
			}
			if math.Abs(r.Values[j]-want) > 1e-9 {
				t.Errorf("%s bucket %v: %v, want %v (points %v)", st, b, r.Values[j], want, pts)
			}
		}
	}

	t.Run("descending by default", func(t *testing.T) {
		res := getMetricData(t, c, start, end, "", statQuery("m", "Test", "Ramp", 60, "Average", d))
		ts := res[0].Timestamps
		if len(ts) != 30 {
			t.Fatalf("%d points at 60 s, want 30", len(ts))
		}
		for i := 1; i < len(ts); i++ {
			if !ts[i].Before(ts[i-1]) {
				t.Fatalf("not descending at %d: %v", i, ts)
			}
		}
		if !ts[0].Equal(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)) || res[0].Values[0] != v(ts[0]) {
			t.Errorf("newest %v = %v", ts[0], res[0].Values[0])
		}
	})

	t.Run("never in the future, and later reads see new points", func(t *testing.T) {
		res := getMetricData(t, c, start, end.Add(time.Hour), "", statQuery("m", "Test", "Ramp", 60, "Average", d))
		if got := res[0].Timestamps[0]; got.After(loadTime) {
			t.Fatalf("a datapoint at %v after now %v", got, loadTime)
		}
		clock.Advance(3 * time.Minute)
		res = getMetricData(t, c, start, end.Add(time.Hour), "", statQuery("m", "Test", "Ramp", 60, "Average", d))
		if got := res[0].Timestamps[0]; !got.Equal(time.Date(2026, 11, 27, 12, 3, 0, 0, time.UTC)) || res[0].Values[0] != v(got) {
			t.Errorf("after 3 min the newest point is %v = %v", got, res[0].Values[0])
		}
	})

	t.Run("matches Datapoints", func(t *testing.T) {
		res := getMetricData(t, c, start, end, cwtypes.ScanByTimestampAscending, statQuery("m", "Test", "Ramp", 120, "Maximum", d))
		dp := c.sandbox.Datapoints(ref, start, end, 2*time.Minute, "Maximum")
		if len(dp) != len(res[0].Values) {
			t.Fatalf("%d datapoints vs %d values", len(dp), len(res[0].Values))
		}
		for i := range dp {
			if !dp[i].Time.Equal(res[0].Timestamps[i]) || dp[i].Value != res[0].Values[i] {
				t.Errorf("%d: %v vs %v=%v", i, dp[i], res[0].Timestamps[i], res[0].Values[i])
			}
		}
	})
}

func TestGetMetricDataQueries(t *testing.T) {
	clock := &fakeClock{t: loadTime}
	c := start(t, "queue-under-provisioned", withClock(clock))
	end := loadTime
	start := end.Add(-15 * time.Minute)
	queue := dims("Broker", c.names.Broker, "Queue", c.names.Queue)

	t.Run("queue depth under both dimension sets", func(t *testing.T) {
		res := getMetricData(t, c, start, end, cwtypes.ScanByTimestampAscending,
			statQuery("a", "AWS/AmazonMQ", "MessageCount", 60, "Average", queue),
			statQuery("b", "AWS/AmazonMQ", "MessageCount", 60, "Average", dims("Broker", c.names.Broker, "VirtualHost", "/", "Queue", c.names.Queue)))
		a, b := res[0].Values, res[1].Values
		if len(a) < 14 || !slices.Equal(a, b) {
			t.Fatalf("runbook dims %v, Amazon MQ dims %v", a, b)
		}
		if a[0] < 150 || a[0] > 300 || a[len(a)-1] < 2200 || a[len(a)-1] > 2500 {
			t.Errorf("MessageCount %v .. %v, want about 200 .. 2400", a[0], a[len(a)-1])
		}
		for _, x := range a {
			if x != math.Round(x) {
				t.Errorf("a message count %v is not whole", x)
			}
		}
	})

	t.Run("dimensions must match exactly", func(t *testing.T) {
		res := getMetricData(t, c, start, end, "", statQuery("a", "AWS/AmazonMQ", "MessageCount", 60, "Average", dims("Queue", c.names.Queue)))
		if len(res[0].Values) != 0 || res[0].StatusCode != cwtypes.StatusCodeComplete {
			t.Errorf("partial dimensions: %v %s", res[0].Values, res[0].StatusCode)
		}
	})

	t.Run("unknown metric, labels, ReturnData=false, expressions", func(t *testing.T) {
		hidden := statQuery("hidden", "AWS/ECS", "CPUUtilization", 60, "Average", c.memory(c.names.WorkerService))
		hidden.ReturnData = aws.Bool(false)
		labelled := statQuery("cpu", "AWS/ECS", "CPUUtilization", 60, "Maximum", c.memory(c.names.WorkerService))
		labelled.Label = aws.String("worker CPU")
		res := getMetricData(t, c, start, end, "",
			statQuery("nope", "AWS/ECS", "NoSuchMetric", 60, "Average", nil),
			hidden, labelled,
			cwtypes.MetricDataQuery{Id: aws.String("expr"), Expression: aws.String("hidden * 2")})
		if len(res) != 3 {
			t.Fatalf("%d results, want 3 (ReturnData=false omitted)", len(res))
		}
		if aws.ToString(res[0].Id) != "nope" || len(res[0].Values) != 0 || res[0].StatusCode != cwtypes.StatusCodeComplete || aws.ToString(res[0].Label) != "NoSuchMetric" {
			t.Errorf("unknown metric: %+v", res[0])
		}
		if aws.ToString(res[1].Label) != "worker CPU" || len(res[1].Values) < 14 || slices.Min(res[1].Values) < 80 {
			t.Errorf("worker CPU: label %q values %v", aws.ToString(res[1].Label), res[1].Values)
		}
		if aws.ToString(res[2].Id) != "expr" || res[2].StatusCode != cwtypes.StatusCodeInternalError || len(res[2].Messages) != 1 {
			t.Errorf("expression: %+v", res[2])
		}
	})

	tests := []struct {
		name  string
		in    *cloudwatch.GetMetricDataInput
		check func(error) bool
	}{
		{"end before start", &cloudwatch.GetMetricDataInput{StartTime: aws.Time(end), EndTime: aws.Time(start),
			MetricDataQueries: []cwtypes.MetricDataQuery{statQuery("a", "AWS/AmazonMQ", "MessageCount", 60, "Average", queue)}},
			invalidParameterValue},
		{"period not a multiple of 60", &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end),
			MetricDataQueries: []cwtypes.MetricDataQuery{statQuery("a", "AWS/AmazonMQ", "MessageCount", 90, "Average", queue)}},
			invalidParameterValue},
		{"unknown statistic", &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end),
			MetricDataQueries: []cwtypes.MetricDataQuery{statQuery("a", "AWS/AmazonMQ", "MessageCount", 60, "Median", queue)}},
			invalidParameterValue},
		{"bad id", &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end),
			MetricDataQueries: []cwtypes.MetricDataQuery{statQuery("Upper", "AWS/AmazonMQ", "MessageCount", 60, "Average", queue)}},
			invalidParameterValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.cw.GetMetricData(ctx(t), tc.in)
			if !tc.check(err) {
				t.Fatalf("got %T %v", err, err)
			}
		})
	}
}

func TestMetricGapsWhileNothingRuns(t *testing.T) {
	clock := &fakeClock{t: loadTime}
	c := start(t, "ingestor-oom", withClock(clock))
	res := getMetricData(t, c, loadTime.Add(-time.Hour), loadTime, cwtypes.ScanByTimestampAscending,
		statQuery("m", "AWS/ECS", "MemoryUtilization", 60, "Maximum", c.memory(c.names.IngestorService)))
	ts, vals := res[0].Timestamps, res[0].Values
	if len(ts) < 30 || len(ts) > 55 {
		t.Fatalf("%d points in the last hour of a crash loop", len(ts))
	}
	if last := ts[len(ts)-1]; loadTime.Sub(last) < 6*time.Minute {
		t.Errorf("a datapoint at %v although nothing runs since the crash 7 min ago", last)
	}
	peaks := 0
	for _, v := range vals {
		if v > 95 {
			peaks++
		}
	}
	if peaks < 4 {
		t.Errorf("%d minutes near 100%% before the crashes, want one per crash: %v", peaks, vals)
	}
}

func TestReactions(t *testing.T) {
	t.Run("a restart clears a leak", func(t *testing.T) {
		clock := &fakeClock{t: loadTime}
		c := start(t, "memory-leak", withClock(clock))
		mem := statQuery("m", "AWS/ECS", "MemoryUtilization", 60, "Average", c.memory(c.names.IngestorService))
		before := getMetricData(t, c, loadTime.Add(-time.Hour), loadTime, "", mem)[0].Values
		if before[0] < 78 || before[len(before)-1] > 45 {
			t.Fatalf("before: newest %v oldest %v, want a leak 40 -> 82", before[0], before[len(before)-1])
		}
		if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(c.names.IngestorService), ForceNewDeployment: true}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the restart", func() bool {
			s, _ := c.sandbox.Service(c.names.IngestorService)
			return len(s.Deployments) == 1 && s.Deployments[0].RolloutState == "COMPLETED" && s.Deployments[0].Running == 1
		})
		clock.Advance(2 * time.Minute)
		after := getMetricData(t, c, loadTime.Add(-time.Hour), clock.Now(), "", mem)[0].Values
		if after[0] < 32 || after[0] > 38 {
			t.Errorf("memory after the restart %v, want ~35", after[0])
		}
	})
	t.Run("a scale-up drains the queue", func(t *testing.T) {
		clock := &fakeClock{t: loadTime}
		c := start(t, "queue-under-provisioned", withClock(clock))
		q := statQuery("q", "AWS/AmazonMQ", "MessageCount", 60, "Maximum", dims("Broker", c.names.Broker, "Queue", c.names.Queue))
		if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(c.names.WorkerService), DesiredCount: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "2 running workers", func() bool {
			s, _ := c.sandbox.Service(c.names.WorkerService)
			return s.Running == 2
		})
		atScale := getMetricData(t, c, loadTime.Add(-5*time.Minute), clock.Now(), "", q)[0].Values[0]
		clock.Advance(4 * time.Minute)
		later := getMetricData(t, c, loadTime.Add(-5*time.Minute), clock.Now(), "", q)[0].Values[0]
		if later > atScale-800 {
			t.Errorf("queue %v at the scale-up, %v four minutes later: want it falling ~250/min", atScale, later)
		}
		// Without a scale-up the same scenario keeps growing (~147/min).
		clock2 := &fakeClock{t: loadTime}
		c2 := start(t, "queue-under-provisioned", withClock(clock2))
		clock2.Advance(4 * time.Minute)
		grown := getMetricData(t, c2, loadTime, clock2.Now(), "", q)[0].Values[0]
		if grown < atScale+400 {
			t.Errorf("without scaling the queue is %v four minutes later, want above %v", grown, atScale+400)
		}
	})
}

func TestMetricsOfTheNamedScenarios(t *testing.T) {
	tests := []struct {
		scenario string
		metric   func(c *clients) cwtypes.MetricDataQuery
		check    func(vals []float64) string // ascending, 1-minute, last hour; "" is fine
	}{
		{"memory-leak", func(c *clients) cwtypes.MetricDataQuery {
			return statQuery("m", "AWS/ECS", "MemoryUtilization", 60, "Average", c.memory(c.names.IngestorService))
		}, func(v []float64) string {
			if v[0] < 38 || v[0] > 43 || v[len(v)-1] < 79 || v[len(v)-1] > 84 {
				return "want 40 -> 82"
			}
			return ""
		}},
		{"memory-spike", func(c *clients) cwtypes.MetricDataQuery {
			return statQuery("m", "AWS/ECS", "MemoryUtilization", 60, "Average", c.memory(c.names.IngestorService))
		}, func(v []float64) string {
			if slices.Max(v[:len(v)-5]) > 47 || slices.Min(v[len(v)-4:]) < 85 {
				return "want flat ~45 then ~88 in the last 4 minutes"
			}
			return ""
		}},
		{"memory-sustained-high", func(c *clients) cwtypes.MetricDataQuery {
			return statQuery("m", "AWS/ECS", "MemoryUtilization", 60, "Average", c.memory(c.names.IngestorService))
		}, func(v []float64) string {
			if slices.Min(v) < 87 || slices.Max(v) > 93 {
				return "want 87-93 throughout"
			}
			return ""
		}},
		{"memory-recovering", func(c *clients) cwtypes.MetricDataQuery {
			return statQuery("m", "AWS/ECS", "MemoryUtilization", 60, "Average", c.memory(c.names.IngestorService))
		}, func(v []float64) string {
			if slices.Max(v) < 88 || v[len(v)-1] > 62 || v[len(v)-1] < 58 {
				return "want ~90 then falling to 60"
			}
			return ""
		}},
		{"queue-consumers-missing", func(c *clients) cwtypes.MetricDataQuery {
			return statQuery("m", "AWS/ECS", "CPUUtilization", 60, "Average", c.memory(c.names.WorkerService))
		}, func(v []float64) string {
			if slices.Max(v[len(v)-15:]) > 2 {
				return "want ~1% CPU"
			}
			return ""
		}},
		{"queue-draining", func(c *clients) cwtypes.MetricDataQuery {
			return statQuery("m", "AWS/AmazonMQ", "MessageCount", 60, "Average", dims("Broker", c.names.Broker, "Queue", c.names.Queue))
		}, func(v []float64) string {
			if a, b := v[len(v)-16], v[len(v)-1]; a < 2900 || b > 500 || b < 300 {
				return "want 3000 -> 400 over 15 min"
			}
			return ""
		}},
		{"dlq", func(c *clients) cwtypes.MetricDataQuery {
			return statQuery("m", "AWS/AmazonMQ", "MessageCount", 60, "Maximum", dims("Broker", c.names.Broker, "Queue", c.names.DLQ))
		}, func(v []float64) string {
			if v[len(v)-1] != 37 {
				return "want 37 dead letters"
			}
			return ""
		}},
		{"scaled-to-zero", func(c *clients) cwtypes.MetricDataQuery {
			return statQuery("m", "AWS/ECS", "CPUUtilization", 60, "Average", c.memory(c.names.WorkerService))
		}, func(v []float64) string {
			if len(v) != 0 {
				return "want no datapoints while scaled to zero"
			}
			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			c := start(t, tc.scenario, withClock(&fakeClock{t: loadTime}))
			res := getMetricData(t, c, loadTime.Add(-time.Hour), loadTime, cwtypes.ScanByTimestampAscending, tc.metric(c))
			v := res[0].Values
			if len(v) == 0 && tc.scenario != "scaled-to-zero" {
				t.Fatal("no datapoints")
			}
			if msg := tc.check(v); msg != "" {
				t.Errorf("%s: %v", msg, v)
			}
		})
	}
}

// invalidParameterValue accepts CloudWatch's InvalidParameterValue as clients of either
// generation see it: the typed exception (schema-based models) or an API error with that
// query code (earlier models, which list no such error for GetMetricData).
func invalidParameterValue(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "InvalidParameterValue"
}
