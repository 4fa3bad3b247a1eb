package ops_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/brokerdb"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/ops"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/secrets"
	"github.com/arrakis/gp-remediation/sandbox"
)

// Every part readable: the sandbox's services, the real RabbitMQ (a virtual host of the
// test's own, with 5 messages and one busy worker holding one), the real PostgreSQL.
func TestHealthReadsEveryPart(t *testing.T) {
	b := &cases.Broker{Ready: 5, Consumers: 1, Prefetch: 1}
	cleanup, err := b.Prepare(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	sb := sandbox.StartTest(t, sandbox.Options{Rabbit: sandbox.RabbitOptions{AMQPURL: b.URL()}})
	env := sb.Env()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	awsCfg, err := sb.AWSConfig(context.Background(), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	conns := brokerdb.Connections{Secrets: &secrets.Store{API: secretsmanager.NewFromConfig(awsCfg)}, Config: cfg, Function: ops.Function, HTTP: http.DefaultClient}
	op := &ops.Operator{Config: cfg, ECS: ecs.Client{API: awsecs.NewFromConfig(awsCfg), Cluster: cfg.Cluster},
		Queues: ops.BrokerQueues{Conns: conns}, DB: ops.DatabaseSlowQueries{Conns: conns}}

	// The management API's statistics lag the broker by a few seconds: ask until the busy
	// worker and its unacknowledged message show.
	var r report.Report
	var ev string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		r = op.Run(ctx(t), ops.Request{Kind: ops.KindHealth}, alice, false, nil)
		ev = strings.Join(r.Result.Finding.Evidence, "\n")
		if strings.Contains(ev, "queue arrakis.interactions: ready 4, unacked 1, consumers 1") {
			break
		}
	}
	body := renders(t, r)
	for _, d := range r.Result.Diagnostics {
		if !d.OK {
			t.Errorf("probe %s failed: %s", d.Name, d.Error)
		}
	}
	for _, want := range []string{
		"asked by U123 (alice) via cli: health",
		"ingestor arrakis-staging-ingestor: desired 1, running 1, pending 0",
		"worker arrakis-staging-gp-worker: desired 1, running 1, pending 0",
		"worker deployment ecs-svc/",
		"queue arrakis.interactions: ready 4, unacked 1, consumers 1",
		"DLQ arrakis.dlq: ready 0, unacked 0, consumers 0",
		"slow queries (over 5s): ",
	} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}
	if !strings.HasPrefix(r.Headline, "Health of staging: ingestor 1/1 running, worker 1/1 running, arrakis.interactions 4 ready, 1 consumer(s), DLQ 0, ") {
		t.Errorf("headline %q", r.Headline)
	}
	if len(r.Result.Actions) != 0 || strings.Contains(body, "unknown") {
		t.Errorf("a read-only report with nothing unknown, got:\n%s", body)
	}
	if r.Result.Finding.Code != "manual-health" {
		t.Errorf("code %q", r.Result.Finding.Code)
	}
}

// A part that cannot be read is unknown, with why, never a guess.
func TestHealthSaysUnknown(t *testing.T) {
	f := setup(t, "healthy", nil)
	if _, err := f.sb.InjectFault(sandbox.Fault{Op: "ecs:DescribeServices", Kind: sandbox.FaultInternal}); err != nil {
		t.Fatal(err)
	}
	r := f.op.Run(ctx(t), ops.Request{Kind: ops.KindHealth}, alice, false, nil)
	renders(t, r)
	ev := strings.Join(r.Result.Finding.Evidence, "\n")
	for _, want := range []string{
		"ingestor arrakis-staging-ingestor: unknown (describe service arrakis-staging-ingestor: ",
		"worker arrakis-staging-gp-worker: unknown (describe service arrakis-staging-gp-worker: ",
		"queue arrakis.interactions: unknown (not configured)",
		"DLQ arrakis.dlq: unknown (not configured)",
		"slow queries: unknown (not configured)",
	} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}
	if want := "Health of staging: ingestor unknown, worker unknown, queue unknown, DLQ unknown, slow queries unknown"; r.Headline != want {
		t.Errorf("headline %q; want %q", r.Headline, want)
	}
	if r.Severity != report.SeverityWarning {
		t.Errorf("severity %s", r.Severity)
	}
	failed := 0
	for _, d := range r.Result.Diagnostics {
		if !d.OK {
			failed++
		}
	}
	if failed != 5 {
		t.Errorf("%d failed diagnostics; want 5: %+v", failed, r.Result.Diagnostics)
	}
	// The one readable part among unreadable ones is still read.
	f.sb.ClearFaults()
	r = f.op.Run(ctx(t), ops.Request{Kind: ops.KindHealth}, alice, false, nil)
	if !strings.HasPrefix(r.Headline, "Health of staging: ingestor 1/1 running, worker 1/1 running, queue unknown") {
		t.Errorf("headline %q", r.Headline)
	}
}
