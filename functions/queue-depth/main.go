// Command queue-depth answers "Queue Depth High" (runbook: WARNING) and its return to OK: it
// finds out why the work queue fills up, adds a worker only when that can help, restarts
// workers that run without consuming, and scales back on OK. It only wires; the judgement is
// in pkg/queuedepth.
package main

import (
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/arrakis/gp-remediation/pkg/alarmstate"
	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/brokerdb"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/queuedepth"
	"github.com/arrakis/gp-remediation/pkg/trust"
	"github.com/arrakis/gp-remediation/pkg/trust/trustecs"
)

const function = "queue-depth"

func main() {
	app.Start(function, func(a *app.App) playbook.Playbook[queuedepth.Evidence] {
		cw := cloudwatch.NewFromConfig(a.AWS)
		// Its alarm's return to OK may close the incident: it reads the member alarms' states.
		if states, err := alarmstate.New(cw); err == nil {
			a.AlarmStates, a.Alarms = states, states
		}
		ecsClient := ecs.Client{API: awsecs.NewFromConfig(a.AWS), Cluster: a.Config.Cluster}
		// Its close of the incident judges each action against what happened to its target.
		a.Agreements = trust.NewECSHistories(a.Config, trustecs.Reader{ECS: ecsClient}, metrics.Client{API: cw})
		return &queuedepth.Playbook{
			Config:  a.Config,
			ECS:     ecsClient,
			Logs:    logs.Client{API: cloudwatchlogs.NewFromConfig(a.AWS)},
			Metrics: metrics.Client{API: cw},
			Conns:   brokerdb.Connections{Secrets: a.Secrets, Config: a.Config, Function: function, HTTP: a.HTTP},
			Ledger:  a.Ledger,
		}
	})
}
