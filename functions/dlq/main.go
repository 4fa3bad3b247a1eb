// Command dlq answers "DLQ Messages" (runbook: WARNING): it peeks at the dead letters without
// losing or reordering any, groups and classifies them, replays the transient ones with a
// no-loss protocol, parks bad data when a parking queue is configured, and reports every
// group. It never purges. It only wires; the judgement is in pkg/dlq.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/brokerdb"
	"github.com/arrakis/gp-remediation/pkg/dlq"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
)

const function = "dlq"

func main() {
	ctx := context.Background()
	a, err := app.Load(ctx, function, os.Getenv)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("cannot start", "function", function, "error", err.Error())
		os.Exit(1)
	}
	pb := &dlq.Playbook{Config: a.Config, Conns: brokerdb.Connections{Secrets: a.Secrets, Config: a.Config, Function: function, HTTP: a.HTTP}}
	runner := a.Runner()
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (report.Result, error) {
		return playbook.Handle(ctx, runner, playbook.Playbook[dlq.Evidence](pb), payload)
	})
}
