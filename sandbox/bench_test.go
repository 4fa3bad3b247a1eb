package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/arrakis/gp-remediation/sandbox"
)

// The sandbox's own cost per call, through the real SDK clients (the 2 ms floor of
// minResponseDelay included), so a function benchmark can tell it apart from its own time.

func benchClients(b *testing.B, scenario string) *clients {
	b.Helper()
	s := sandbox.StartTest(b, sandbox.Options{})
	if err := s.LoadScenario(scenario); err != nil {
		b.Fatal(err)
	}
	cfg, err := s.AWSConfig(context.Background(), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		b.Fatal(err)
	}
	return newClients(s, cfg)
}

func BenchmarkDescribeServices(b *testing.B) {
	c := benchClients(b, "worker-bad-deployment")
	in := &ecs.DescribeServicesInput{Cluster: aws.String(c.names.Cluster), Services: []string{c.names.IngestorService, c.names.WorkerService}}
	for b.Loop() {
		if _, err := c.ecs.DescribeServices(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetMetricDataHourAtOneMinute(b *testing.B) {
	c := benchClients(b, "memory-leak")
	now := time.Now()
	in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
		MetricDataQueries: []cwtypes.MetricDataQuery{
			statQuery("m1", "AWS/ECS", "MemoryUtilization", 60, "Average", c.memory(c.names.IngestorService)),
			statQuery("m5", "AWS/ECS", "MemoryUtilization", 300, "Average", c.memory(c.names.IngestorService)),
			statQuery("cpu", "AWS/ECS", "CPUUtilization", 60, "Maximum", c.memory(c.names.IngestorService)),
		}}
	for b.Loop() {
		if _, err := c.cw.GetMetricData(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilterLogEvents(b *testing.B) {
	c := benchClients(b, "worker-bad-deployment")
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(c.names.WorkerLogGroup),
		StartTime: aws.Int64(time.Now().Add(-time.Hour).UnixMilli()), FilterPattern: aws.String("?fatal ?panic ?crash")}
	for b.Loop() {
		if _, err := c.logs.FilterLogEvents(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadScenario(b *testing.B) {
	s := sandbox.New(sandbox.Options{})
	defer s.Close()
	for b.Loop() {
		if err := s.LoadScenario("worker-bad-deployment"); err != nil {
			b.Fatal(err)
		}
	}
}
