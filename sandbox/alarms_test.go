package sandbox_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go"

	"github.com/arrakis/gp-remediation/sandbox"
)

func describeAlarms(t *testing.T, c *clients, names ...string) map[string]string {
	t.Helper()
	out, err := c.cw.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: names})
	if err != nil {
		t.Fatalf("DescribeAlarms: %v", err)
	}
	got := map[string]string{}
	for _, a := range out.MetricAlarms {
		got[aws.ToString(a.AlarmName)] = string(a.StateValue)
	}
	return got
}

func TestDescribeAlarms(t *testing.T) {
	c := start(t, "ingestor-leak-oom")
	s := c.sandbox
	all := describeAlarms(t, c)
	if len(all) != 5 {
		t.Fatalf("%d alarms, want the stack's 5: %v", len(all), all)
	}
	for key, want := range map[string]string{
		sandbox.AlarmNoIngestorTasks: "ALARM", sandbox.AlarmIngestorMemoryHigh: "ALARM",
		sandbox.AlarmNoWorkerTasks: "OK", sandbox.AlarmQueueDepthHigh: "OK", sandbox.AlarmDLQMessages: "OK",
	} {
		if got := all[s.AlarmName(key)]; got != want {
			t.Errorf("%s: %q, want %s", s.AlarmName(key), got, want)
		}
	}
	// The stack's naming (infra/alarms.go): "arrakis-<env> <runbook title>".
	if got := s.AlarmName(sandbox.AlarmQueueDepthHigh); !strings.HasPrefix(got, "arrakis-") || !strings.HasSuffix(got, " Queue Depth High") {
		t.Errorf("alarm name %q", got)
	}
	name := s.AlarmName(sandbox.AlarmNoIngestorTasks)
	if got := describeAlarms(t, c, name, "no such alarm"); len(got) != 1 || got[name] != "ALARM" {
		t.Fatalf("by name: %v", got)
	}

	// The admin API: set a state, refuse an unknown state or alarm, list.
	if code := httpJSON(t, http.MethodPost, s.URL()+"/_sandbox/alarms/"+url.PathEscape(name)+"/state", `{"state":"OK"}`, nil); code != http.StatusOK {
		t.Fatalf("set state: %d", code)
	}
	if got := describeAlarms(t, c, name); got[name] != "OK" {
		t.Fatalf("after set: %v", got)
	}
	if code := httpJSON(t, http.MethodPost, s.URL()+"/_sandbox/alarms/"+url.PathEscape(name)+"/state", `{"state":"FINE"}`, nil); code != http.StatusBadRequest {
		t.Fatalf("bad state: %d, want 400", code)
	}
	if code := httpJSON(t, http.MethodPost, s.URL()+"/_sandbox/alarms/nope/state", `{"state":"OK"}`, nil); code != http.StatusBadRequest {
		t.Fatalf("unknown alarm: %d, want 400", code)
	}
	var list []sandbox.AlarmInfo
	if code := httpJSON(t, http.MethodGet, s.URL()+"/_sandbox/alarms", "", &list); code != http.StatusOK || len(list) != 5 {
		t.Fatalf("GET alarms: %d, %d alarms", code, len(list))
	}

	// Loading a scenario resets the states.
	if err := s.LoadScenario("healthy"); err != nil {
		t.Fatal(err)
	}
	for n, st := range describeAlarms(t, c) {
		if st != "OK" {
			t.Errorf("healthy: %s is %s", n, st)
		}
	}
}

func TestDescribeAlarmsLimits(t *testing.T) {
	c := start(t, "healthy")
	names := make([]string, 101)
	for i := range names {
		names[i] = fmt.Sprint("a", i)
	}
	_, err := c.cw.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: names})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" {
		t.Fatalf("101 names: %v, want InvalidParameterValue (the awsQuery-compatible code)", err)
	}
	// Pages of 2 over 5 alarms: 2, 2, 1.
	var sizes []int
	in := &cloudwatch.DescribeAlarmsInput{MaxRecords: aws.Int32(2)}
	for {
		out, err := c.cw.DescribeAlarms(ctx(t), in)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(out.MetricAlarms))
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if fmt.Sprint(sizes) != "[2 2 1]" {
		t.Fatalf("page sizes %v, want [2 2 1]", sizes)
	}
}

// Every scenario but "healthy" tells of an outage, so it fires at least one alarm: a new
// scenario without an entry in the sandbox's scenario-to-alarm table fails here.
func TestEveryScenarioFiresAnAlarm(t *testing.T) {
	c := start(t, "healthy")
	for _, sc := range sandbox.Scenarios() {
		if err := c.sandbox.LoadScenario(sc.Name); err != nil {
			t.Fatal(err)
		}
		firing := 0
		for _, st := range describeAlarms(t, c) {
			if st == "ALARM" {
				firing++
			}
		}
		if (sc.Name == "healthy") != (firing == 0) {
			t.Errorf("scenario %s: %d alarms in ALARM", sc.Name, firing)
		}
	}
}
