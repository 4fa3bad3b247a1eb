// Command no-tasks answers "No Ingestor Tasks Running" and "No Worker Tasks Running"
// (runbook: CRITICAL): it finds out why the service has no task, restarts it when a restart
// can help, verifies, and reports. It only wires; the judgement is in pkg/notasks.
package main

import (
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/arrakis/gp-remediation/pkg/alarmstate"
	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/notasks"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/service"
	"github.com/arrakis/gp-remediation/pkg/trust"
	"github.com/arrakis/gp-remediation/pkg/trust/trustecs"
)

const function = "no-tasks"

func main() {
	app.Start(function, func(a *app.App) playbook.Playbook[notasks.Evidence] {
		cw := cloudwatch.NewFromConfig(a.AWS)
		// Its alarm's return to OK may close the incident: it reads the member alarms' states.
		if states, err := alarmstate.New(cw); err == nil {
			a.AlarmStates, a.Alarms = states, states
		}
		ecsClient := ecs.Client{API: awsecs.NewFromConfig(a.AWS), Cluster: a.Config.Cluster}
		// Its close of the incident judges each action against what happened to its target.
		a.Agreements = trust.NewECSHistories(a.Config, trustecs.Reader{ECS: ecsClient}, metrics.Client{API: cw})
		return &notasks.Playbook{
			Config:  a.Config,
			ECS:     ecsClient,
			Logs:    logs.Client{API: cloudwatchlogs.NewFromConfig(a.AWS)},
			Metrics: metrics.Client{API: cw},
			Discord: service.SecretDiscord{Secrets: a.Secrets, Secret: a.Config.DiscordSecret, APIURL: a.Config.DiscordAPIURL, HTTP: a.HTTP},
		}
	})
}
