// Command queue-depth answers "Queue Depth High" (runbook: WARNING) and its return to OK: it
// finds out why the work queue fills up, adds a worker only when that can help, restarts
// workers that run without consuming, and scales back on OK. It only wires; the judgement is
// in pkg/queuedepth.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/brokerdb"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/queuedepth"
	"github.com/arrakis/gp-remediation/pkg/report"
)

const function = "queue-depth"

func main() {
	ctx := context.Background()
	a, err := app.Load(ctx, function, os.Getenv)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("cannot start", "function", function, "error", err.Error())
		os.Exit(1)
	}
	pb := &queuedepth.Playbook{
		Config:  a.Config,
		ECS:     ecs.Client{API: awsecs.NewFromConfig(a.AWS), Cluster: a.Config.Cluster},
		Logs:    logs.Client{API: cloudwatchlogs.NewFromConfig(a.AWS)},
		Metrics: metrics.Client{API: cloudwatch.NewFromConfig(a.AWS)},
		Conns:   brokerdb.Connections{Secrets: a.Secrets, Config: a.Config, Function: function, HTTP: a.HTTP},
		Ledger:  a.Ledger,
	}
	runner := a.Runner()
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (report.Result, error) {
		return playbook.Handle(ctx, runner, playbook.Playbook[queuedepth.Evidence](pb), payload)
	})
}
