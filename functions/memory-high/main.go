// Command memory-high answers "Ingestor Memory High" (runbook: WARNING): it tells a leak from
// a spike or a stable high need, restarts a leaking ingestor within its budgets (and only with
// Discord session starts to spare), and reports. It only wires; the judgement is in
// pkg/memoryhigh.
package main

import (
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/arrakis/gp-remediation/pkg/alarmstate"
	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/memoryhigh"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/service"
	"github.com/arrakis/gp-remediation/pkg/trust"
	"github.com/arrakis/gp-remediation/pkg/trust/trustecs"
)

const function = "memory-high"

func main() {
	app.Start(function, func(a *app.App) playbook.Playbook[memoryhigh.Evidence] {
		// A follow-up reads this function's alarms; an OK may close the incident.
		cw := cloudwatch.NewFromConfig(a.AWS)
		if states, err := alarmstate.New(cw); err == nil {
			a.AlarmStates, a.Alarms = states, states
		}
		ecsClient := ecs.Client{API: awsecs.NewFromConfig(a.AWS), Cluster: a.Config.Cluster}
		// Its close of the incident judges each action against what happened to its target.
		a.Agreements = trust.NewECSHistories(a.Config, trustecs.Reader{ECS: ecsClient}, metrics.Client{API: cw})
		return &memoryhigh.Playbook{
			Config:  a.Config,
			ECS:     ecsClient,
			Logs:    logs.Client{API: cloudwatchlogs.NewFromConfig(a.AWS)},
			Metrics: metrics.Client{API: cw},
			Discord: service.SecretDiscord{Secrets: a.Secrets, Secret: a.Config.DiscordSecret, APIURL: a.Config.DiscordAPIURL, HTTP: a.HTTP},
		}
	})
}
