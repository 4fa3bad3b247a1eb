// Command approve is the function behind the Lambda function URL that Slack's interactivity
// and slash commands and Discord's interactions endpoint call: people approve offers and run
// the runbook's manual operations (/gpr health, /gpr restart worker, ...) from the chat. It
// only wires; the judgement is in pkg/approve, pkg/offer and pkg/ops.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/approve"
	"github.com/arrakis/gp-remediation/pkg/brokerdb"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/interact"
	"github.com/arrakis/gp-remediation/pkg/offer"
	"github.com/arrakis/gp-remediation/pkg/ops"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/service"
)

const function = "approve"

func main() {
	h, err := build(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("cannot start", "function", function, "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h)
}

func build(ctx context.Context) (*approve.Handler, error) {
	a, err := app.Load(ctx, function, os.Getenv)
	if err != nil {
		return nil, err
	}
	c := a.Config
	approvers, err := offer.ParseApprovers(c.Approvers)
	if err != nil {
		return nil, err
	}
	if a.Offers == nil {
		return nil, errMissing("GPR_LEDGER_TABLE: offers and replays are kept in the ledger")
	}
	if c.InteractionsSecret == "" {
		return nil, errMissing("GPR_INTERACTIONS_SECRET: without the signing secret and public key nothing can be verified")
	}
	self := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	if self == "" {
		return nil, errMissing("AWS_LAMBDA_FUNCTION_NAME (set by Lambda): the work runs in an asynchronous invocation of this function")
	}
	conns := brokerdb.Connections{Secrets: a.Secrets, Config: c, Function: function, HTTP: a.HTTP}
	h := &approve.Handler{
		Config:    c,
		Verifier:  verifier(a),
		Approvers: approvers,
		Offers:    a.Offers,
		Claims:    a.Ledger,
		Queue:     approve.LambdaQueue{Client: awslambda.NewFromConfig(a.AWS), Function: self},
		Ops: &ops.Operator{
			Config: c, ECS: ecs.Client{API: awsecs.NewFromConfig(a.AWS), Cluster: c.Cluster},
			Queues: ops.BrokerQueues{Conns: conns}, DB: ops.DatabaseSlowQueries{Conns: conns}, DLQ: ops.BrokerDLQ{Conns: conns, Config: c},
			Discord: service.SecretDiscord{Secrets: a.Secrets, Secret: c.DiscordSecret, APIURL: c.DiscordAPIURL, HTTP: a.HTTP},
			Guard:   a.Guard(), Log: a.Log, StableTimeout: c.StableTimeout, PollInterval: c.VerifyInterval,
		},
		Replies: approve.HTTPReplier{Client: a.HTTP, DiscordAPIURL: c.DiscordAPIURL},
		Post:    post(a),
		Log:     a.Log,
		Owner: func(ctx context.Context) string {
			if lc, ok := lambdacontext.FromContext(ctx); ok {
				return lc.AwsRequestID
			}
			return ""
		},
	}
	if a.Incidents != nil {
		h.Timeline = a.Incidents
	}
	return h, nil
}

type errMissing string

func (e errMissing) Error() string { return "approve needs " + string(e) }

// verifier reads the interactions secret per request (the store caches it for a few
// minutes), so a rotated signing secret takes effect without a deployment.
func verifier(a *app.App) func(ctx context.Context) (interact.Verifier, error) {
	return func(ctx context.Context) (interact.Verifier, error) {
		f, err := a.Secrets.Fields(ctx, a.Config.InteractionsSecret)
		if err != nil {
			return interact.Verifier{}, err
		}
		v := interact.Verifier{SlackSigningSecret: f["slack_signing_secret"]}
		if k := f["discord_public_key"]; k != "" {
			if v.DiscordPublicKey, err = interact.ParseDiscordPublicKey(k); err != nil {
				return interact.Verifier{}, err
			}
		}
		return v, nil
	}
}

// incidentGetter reads one incident (the ledger's store does).
type incidentGetter interface {
	Get(ctx context.Context, id string) (incident.Incident, error)
}

// post sends an operation's report into its incident's conversation, or to the environment's
// destinations when it has none.
func post(a *app.App) func(ctx context.Context, r report.Report, incidentID string) []report.Sink {
	return func(ctx context.Context, r report.Report, incidentID string) []report.Sink {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		store, ok := a.Incidents.(incidentGetter)
		if incidentID != "" && ok {
			if inc, err := store.Get(ctx, incidentID); err == nil {
				sinks, conv := a.Converse(ctx, r, inc.Conversation)
				if conv != inc.Conversation {
					if _, err := a.Incidents.SetConversation(ctx, inc.ID, conv); err != nil {
						a.Log.ErrorContext(ctx, "could not record the incident's conversation", "incident", inc.ID, "error", err.Error())
					}
				}
				return sinks
			}
		}
		return a.Deliver(ctx, r)
	}
}
