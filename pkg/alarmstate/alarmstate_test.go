package alarmstate_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/alarmstate"
	"github.com/arrakis/gp-remediation/sandbox"
)

// pager forces small pages and counts calls, to exercise NextToken and the 100-name chunks
// through the real client and the sandbox's wire protocol.
type pager struct {
	cw    *cloudwatch.Client
	calls int
}

func (p *pager) DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	p.calls++
	cp := *in
	cp.MaxRecords = aws.Int32(2)
	return p.cw.DescribeAlarms(ctx, &cp, opts...)
}

func setup(t *testing.T, scenario string) (*sandbox.Sandbox, *cloudwatch.Client) {
	t.Helper()
	s := sandbox.StartTest(t, sandbox.Options{})
	if err := s.LoadScenario(scenario); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.AWSConfig(context.Background(), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return s, cloudwatch.NewFromConfig(cfg)
}

func TestStates(t *testing.T) {
	ctx := context.Background()
	s, cw := setup(t, "worker-bad-deployment")
	keys := []string{sandbox.AlarmNoIngestorTasks, sandbox.AlarmNoWorkerTasks, sandbox.AlarmQueueDepthHigh, sandbox.AlarmDLQMessages, sandbox.AlarmIngestorMemoryHigh}
	var names []string
	for _, k := range keys {
		names = append(names, s.AlarmName(k))
	}
	// 150 names: two calls of at most 100, the unknown ones simply absent.
	for i := range 145 {
		names = append(names, fmt.Sprintf("arrakis-nowhere %d", i))
	}
	p := &pager{cw: cw}
	r, err := alarmstate.New(p)
	if err != nil {
		t.Fatal(err)
	}
	states, err := r.States(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 5 {
		t.Fatalf("%d states, want 5: %v", len(states), states)
	}
	// 5 alarms in pages of 2 within the first 100 names: 3 calls; the second chunk: 1.
	if p.calls != 4 {
		t.Fatalf("%d DescribeAlarms calls, want 4", p.calls)
	}
	want := map[string]string{
		sandbox.AlarmNoIngestorTasks: "OK", sandbox.AlarmNoWorkerTasks: "ALARM", sandbox.AlarmQueueDepthHigh: "ALARM",
		sandbox.AlarmDLQMessages: "OK", sandbox.AlarmIngestorMemoryHigh: "OK",
	}
	for k, w := range want {
		if got := states[s.AlarmName(k)]; got.State != w || got.Name != s.AlarmName(k) || got.UpdatedAt.IsZero() {
			t.Errorf("%s: %+v, want state %s", k, got, w)
		}
	}

	// The admin API flips an alarm to OK, as an e2e test does.
	name := s.AlarmName(sandbox.AlarmNoWorkerTasks)
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/_sandbox/alarms/"+url.PathEscape(name)+"/state", strings.NewReader(`{"state":"OK"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin set state: %d", resp.StatusCode)
	}
	states, err = r.States(ctx, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	if states[name].State != "OK" {
		t.Fatalf("after the admin call: %+v, want OK", states[name])
	}
}

func TestToAlarm(t *testing.T) {
	s, cw := setup(t, "queue-under-provisioned")
	r, err := alarmstate.New(cw)
	if err != nil {
		t.Fatal(err)
	}
	name := s.AlarmName(sandbox.AlarmQueueDepthHigh)
	got, err := r.Describe(context.Background(), []string{name})
	if err != nil || len(got) != 1 {
		t.Fatalf("Describe: %d alarms, %v", len(got), err)
	}
	a := alarmstate.ToAlarm(got[0])
	_, loadedAt := s.Scenario()
	n := s.Names()
	if a.Name != name || a.State != alarm.StateAlarm || a.Namespace != "AWS/AmazonMQ" || a.MetricName != "MessageCount" ||
		a.Threshold != 1000 || a.Period != 60 || a.Dimension("Queue") != n.Queue || a.Dimension("Broker") != n.Broker ||
		a.RegionCode != sandbox.Region || a.AccountID != sandbox.AccountID || a.Reason == "" {
		t.Fatalf("ToAlarm = %+v", a)
	}
	if d := a.ChangedAt.Sub(loadedAt); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("ChangedAt %s, want the scenario's load time %s", a.ChangedAt, loadedAt)
	}
	if len(a.Metrics) != 1 || a.Metrics[0].Stat != "Maximum" {
		t.Fatalf("Metrics %+v", a.Metrics)
	}
}
