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

	"github.com/arrakis/gp-remediation/pkg/app"
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
	pb := &queuedepth.Playbook{Config: a.Config, ECS: a.ECS, Logs: a.Logs, Metrics: a.Metrics, Conns: a.Connections(), Ledger: a.Ledger}
	runner := a.Runner()
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (report.Result, error) {
		return playbook.Handle(ctx, runner, playbook.Playbook[queuedepth.Evidence](pb), payload)
	})
}
