// Command no-tasks answers "No Ingestor Tasks Running" and "No Worker Tasks Running"
// (runbook: CRITICAL): it finds out why the service has no task, restarts it when a restart
// can help, verifies, and reports. It only wires; the judgement is in pkg/notasks.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/notasks"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
)

const function = "no-tasks"

func main() {
	ctx := context.Background()
	a, err := app.Load(ctx, function, os.Getenv)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("cannot start", "function", function, "error", err.Error())
		os.Exit(1)
	}
	pb := &notasks.Playbook{Config: a.Config, ECS: a.ECS, Logs: a.Logs, Metrics: a.Metrics, Discord: a.Discord()}
	runner := a.Runner()
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (report.Result, error) {
		return playbook.Handle(ctx, runner, playbook.Playbook[notasks.Evidence](pb), payload)
	})
}
