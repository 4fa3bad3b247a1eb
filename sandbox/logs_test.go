package sandbox_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/arrakis/gp-remediation/sandbox"
)

func TestFilterPattern(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		msg     string
		want    bool
	}{
		{"empty matches everything", "", "anything", true},
		{"blank matches everything", "   ", "anything", true},
		{"term", "ERROR", "level=ERROR msg=x", true},
		{"term is case-sensitive", "ERROR", "level=error msg=x", false},
		{"term is a substring", "fatal", "fatal error: runtime: out of memory", true},
		{"all terms must appear", "fatal memory", "fatal error: runtime: out of memory", true},
		{"all terms must appear, one missing", "fatal panic", "fatal error: runtime: out of memory", false},
		{"any of optional terms", "?fatal ?panic ?crash", "panic: runtime error", true},
		{"any of optional terms, none", "?fatal ?panic ?crash", "level=INFO msg=ok", false},
		{"quoted phrase", `"out of memory"`, "fatal error: runtime: out of memory", true},
		{"quoted phrase needs the words together", `"out memory"`, "fatal error: runtime: out of memory", false},
		{"optional quoted phrases", `?"slow query" ?timeout`, `level=ERROR msg="timeout acquiring connection"`, true},
		{"escaped quote in phrase", `"say \"hi\""`, `he said "hi"`, false},
		{"escaped quote in phrase matches", `"said \"hi\""`, `he said "hi"`, true},
		{"exclusion", "ERROR -timeout", `level=ERROR msg="timeout acquiring connection"`, false},
		{"exclusion not present", "ERROR -timeout", `level=ERROR msg="slow query"`, true},
		{"runbook's OR is three required terms plus OR", "fatal OR panic OR crash", "fatal error", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fp, err := sandbox.ParseFilterPattern(tc.pattern)
			if err != nil {
				t.Fatalf("parse %q: %v", tc.pattern, err)
			}
			if got := fp.Match(tc.msg); got != tc.want {
				t.Errorf("%q on %q = %v, want %v", tc.pattern, tc.msg, got, tc.want)
			}
		})
	}
	for _, bad := range []string{`{ $.level = "ERROR" }`, `[ip, user]`, `%ERR.*%`, `"unterminated`, `? `, `ER"ROR`} {
		t.Run("rejects "+bad, func(t *testing.T) {
			if _, err := sandbox.ParseFilterPattern(bad); err == nil {
				t.Errorf("%q parsed", bad)
			}
		})
	}
}

func filterAll(t *testing.T, c *clients, in *cloudwatchlogs.FilterLogEventsInput) []logstypes.FilteredLogEvent {
	t.Helper()
	var out []logstypes.FilteredLogEvent
	p := cloudwatchlogs.NewFilterLogEventsPaginator(c.logs, in)
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("FilterLogEvents: %v", err)
		}
		pages++
		out = append(out, page.Events...)
	}
	return out
}

func TestFilterLogEvents(t *testing.T) {
	clock := &fakeClock{t: loadTime}
	c := start(t, "ingestor-oom", withClock(clock))
	group := c.names.IngestorLogGroup
	hourAgo := loadTime.Add(-time.Hour).UnixMilli()

	t.Run("the no-tasks probe finds the OOM crashes", func(t *testing.T) {
		events := filterAll(t, c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group),
			StartTime: aws.Int64(hourAgo), FilterPattern: aws.String("?fatal ?panic ?crash")})
		// Each crash logs "fatal error: runtime: out of memory" and a stack line in panic.go.
		if len(events) != 10 {
			t.Fatalf("%d events, want two per crash", len(events))
		}
		streams := map[string]bool{}
		for i, e := range events {
			if msg := aws.ToString(e.Message); msg != "fatal error: runtime: out of memory" && !strings.Contains(msg, "runtime/panic.go") {
				t.Errorf("event %q", msg)
			}
			if !strings.HasPrefix(aws.ToString(e.LogStreamName), "ecs/ingestor/") || aws.ToString(e.EventId) == "" || aws.ToInt64(e.IngestionTime) < aws.ToInt64(e.Timestamp) {
				t.Errorf("event fields %+v", e)
			}
			if i > 0 && aws.ToInt64(e.Timestamp) < aws.ToInt64(events[i-1].Timestamp) {
				t.Error("events not in time order")
			}
			streams[aws.ToString(e.LogStreamName)] = true
		}
		if len(streams) != 5 {
			t.Errorf("%d streams, want one per crashed task", len(streams))
		}
	})

	t.Run("pagination returns every matching event once", func(t *testing.T) {
		all := c.sandbox.Logs(group)
		want := 0
		for _, e := range all {
			if e.Time.UnixMilli() >= hourAgo {
				want++
			}
		}
		events := filterAll(t, c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group),
			StartTime: aws.Int64(hourAgo), Limit: aws.Int32(7)})
		if len(events) != want || want < 20 {
			t.Fatalf("%d events over pages of 7, want %d", len(events), want)
		}
		ids := map[string]bool{}
		for _, e := range events {
			if ids[aws.ToString(e.EventId)] {
				t.Fatalf("event %s twice", aws.ToString(e.EventId))
			}
			ids[aws.ToString(e.EventId)] = true
		}
	})

	t.Run("time bounds are inclusive", func(t *testing.T) {
		all := c.sandbox.Logs(group)
		e := all[len(all)/2]
		ms := e.Time.UnixMilli()
		out, err := c.logs.FilterLogEvents(ctx(t), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group),
			StartTime: aws.Int64(ms), EndTime: aws.Int64(ms)})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, got := range out.Events {
			found = found || aws.ToString(got.Message) == e.Message
			if aws.ToInt64(got.Timestamp) != ms {
				t.Errorf("event at %d outside [%d, %d]", aws.ToInt64(got.Timestamp), ms, ms)
			}
		}
		if !found {
			t.Errorf("the event at exactly %d is missing", ms)
		}
	})

	t.Run("stream prefix", func(t *testing.T) {
		first := c.sandbox.Logs(group)[0].Stream
		events := filterAll(t, c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), LogStreamNamePrefix: aws.String(first)})
		for _, e := range events {
			if aws.ToString(e.LogStreamName) != first {
				t.Fatalf("stream %q", aws.ToString(e.LogStreamName))
			}
		}
		if len(events) == 0 {
			t.Error("no events in the first stream")
		}
	})

	t.Run("case-sensitive like CloudWatch", func(t *testing.T) {
		events := filterAll(t, c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), FilterPattern: aws.String("FATAL")})
		if len(events) != 0 {
			t.Errorf("%d events for FATAL", len(events))
		}
	})

	t.Run("a new crash is logged", func(t *testing.T) {
		c2 := start(t, "ingestor-token-invalid")
		before := len(filterAll(t, c2, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(c2.names.IngestorLogGroup), FilterPattern: aws.String(`"4004 Authentication failed"`)}))
		c2.sandbox.AppendLog(c2.names.IngestorLogGroup, "ecs/ingestor/manual", time.Now(), "level=ERROR msg=\"Shard 0 closed: 4004 Authentication failed\"")
		after := len(filterAll(t, c2, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(c2.names.IngestorLogGroup), FilterPattern: aws.String(`"4004 Authentication failed"`)}))
		if before != 6 || after != 7 {
			t.Errorf("4004 events %d then %d, want 6 then 7", before, after)
		}
	})

	errTests := []struct {
		name  string
		in    *cloudwatchlogs.FilterLogEventsInput
		check func(error) bool
	}{
		{"unknown group", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/ecs/nope")},
			func(err error) bool { var e *logstypes.ResourceNotFoundException; return errors.As(err, &e) }},
		{"JSON pattern", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), FilterPattern: aws.String(`{ $.level = "ERROR" }`)},
			func(err error) bool { var e *logstypes.InvalidParameterException; return errors.As(err, &e) }},
		{"limit too large", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), Limit: aws.Int32(10001)},
			func(err error) bool { var e *logstypes.InvalidParameterException; return errors.As(err, &e) }},
		{"bad token", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), NextToken: aws.String("xyz")},
			func(err error) bool { var e *logstypes.InvalidParameterException; return errors.As(err, &e) }},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.logs.FilterLogEvents(ctx(t), tc.in)
			if !tc.check(err) {
				t.Fatalf("got %T %v", err, err)
			}
		})
	}
}

func TestScenarioLogs(t *testing.T) {
	tests := []struct {
		scenario string
		worker   bool
		pattern  string
		min      int
	}{
		{"worker-bad-deployment", true, `"panic: runtime error: invalid memory address or nil pointer dereference"`, 4},
		{"worker-bad-deployment", true, `"goroutine 1 [running]:"`, 4},
		{"ingestor-token-invalid", false, `"fatal: gateway rejected the bot token"`, 5},
		{"worker-crash-loop", true, `"fatal: cannot connect to database"`, 5},
		{"queue-database-bottleneck", true, `"slow query took 8.2s"`, 3},
		{"queue-database-bottleneck", true, `"timeout acquiring connection"`, 15},
		{"queue-database-bottleneck", true, `?slow ?timeout`, 30},
		{"healthy", false, "?fatal ?panic ?crash", 0},
		{"healthy", true, "ERROR", 0},
	}
	for _, tc := range tests {
		t.Run(tc.scenario+" "+tc.pattern, func(t *testing.T) {
			c := start(t, tc.scenario)
			group := c.names.IngestorLogGroup
			if tc.worker {
				group = c.names.WorkerLogGroup
			}
			events := filterAll(t, c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group),
				StartTime: aws.Int64(time.Now().Add(-time.Hour).UnixMilli()), FilterPattern: aws.String(tc.pattern)})
			if (tc.min == 0 && len(events) != 0) || len(events) < tc.min {
				t.Errorf("%d events, want %s %d", len(events), map[bool]string{true: "exactly", false: "at least"}[tc.min == 0], tc.min)
			}
		})
	}
}
