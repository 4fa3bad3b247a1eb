// Command dlq answers "DLQ Messages" (runbook: WARNING): it peeks at the dead letters without
// losing or reordering any, groups and classifies them, replays the transient ones with a
// no-loss protocol, parks bad data when a parking queue is configured, and reports every
// group. It never purges. It only wires; the judgement is in pkg/dlq.
package main

import (
	"github.com/arrakis/gp-remediation/pkg/alarmstate"
	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/brokerdb"
	"github.com/arrakis/gp-remediation/pkg/dlq"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/trust"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
)

const function = "dlq"

func main() {
	app.Start(function, func(a *app.App) playbook.Playbook[dlq.Evidence] {
		// A follow-up reads this function's alarms; an OK may close the incident.
		cw := cloudwatch.NewFromConfig(a.AWS)
		if states, err := alarmstate.New(cw); err == nil {
			a.AlarmStates, a.Alarms = states, states
		}
		// Its close of the incident judges each action: the DLQ's moves from its depth; it reads
		// no ECS service, so an action on one is unknown and says so.
		a.Agreements = trust.NewECSHistories(a.Config, nil, metrics.Client{API: cw})
		return &dlq.Playbook{Config: a.Config, Conns: brokerdb.Connections{Secrets: a.Secrets, Config: a.Config, Function: function, HTTP: a.HTTP}, Ledger: a.Ledger}
	})
}
