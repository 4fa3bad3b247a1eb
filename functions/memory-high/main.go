// Command memory-high answers "Ingestor Memory High" (runbook: WARNING): it tells a leak from
// a spike or a stable high need, restarts a leaking ingestor within its budgets (and only with
// Discord session starts to spare), and reports. It only wires; the judgement is in
// pkg/memoryhigh.
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
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/memoryhigh"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/notasks"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
)

const function = "memory-high"

func main() {
	ctx := context.Background()
	a, err := app.Load(ctx, function, os.Getenv)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("cannot start", "function", function, "error", err.Error())
		os.Exit(1)
	}
	pb := &memoryhigh.Playbook{
		Config:  a.Config,
		ECS:     ecs.Client{API: awsecs.NewFromConfig(a.AWS), Cluster: a.Config.Cluster},
		Logs:    logs.Client{API: cloudwatchlogs.NewFromConfig(a.AWS)},
		Metrics: metrics.Client{API: cloudwatch.NewFromConfig(a.AWS)},
		Discord: notasks.SecretDiscord{Secrets: a.Secrets, Secret: a.Config.DiscordSecret, APIURL: a.Config.DiscordAPIURL, HTTP: a.HTTP},
	}
	runner := a.Runner()
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (report.Result, error) {
		return playbook.Handle(ctx, runner, playbook.Playbook[memoryhigh.Evidence](pb), payload)
	})
}
