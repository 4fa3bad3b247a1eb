// Command digest posts the weekly effectiveness and coverage digest of its environment
// (pkg/trust): incidents, what the functions did and how it went, how often their dry-run
// matched what people did, and which runbook steps they cover. An EventBridge schedule invokes
// it; it can be invoked on demand with {"from": …, "to": …}. It only wires.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/trust"
)

func main() {
	a, err := app.Load(context.Background(), trust.Function, os.Getenv)
	if err == nil && a.Config.LedgerTable == "" {
		err = errNoTable
	}
	var incidents *ledger.IncidentHistory
	if err == nil {
		incidents, err = ledger.NewIncidentHistory(dynamodb.NewFromConfig(a.AWS), a.Config.LedgerTable)
	}
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("cannot start", "function", trust.Function, "error", err.Error())
		os.Exit(1)
	}
	g := trust.Digester{Environment: a.Config.Environment, Incidents: incidents, Deliver: a.Deliver, Metrics: os.Stdout, Log: a.Log}
	lambda.Start(g.Handle)
}

type startError string

func (e startError) Error() string { return string(e) }

const errNoTable = startError("the digest reads the incidents of the ledger table: " + config.EnvLedgerTable + " is required")
