// Package app wires what every function shares: configuration, the AWS configuration, the
// guard and its ledger, the report destinations and the pager. Every function's main.go calls
// Start with a builder of its playbook, which creates only the clients that playbook needs, so
// all four are wired the same way and each links only what it uses (the zipped bootstraps
// stay under 5 MB).
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/deliver"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/picture"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/secrets"
)

// App holds one function's wiring.
type App struct {
	Function string
	Config   config.Config
	AWS      aws.Config
	Log      *slog.Logger
	Secrets  *secrets.Store
	SNS      *sns.Client
	SSM      *ssm.Client
	Ledger   guard.Ledger
	HTTP     *http.Client
	// Incidents keeps the environment's incident on the ledger table (nil without a table).
	Incidents playbook.Incidents
	// AlarmStates reads alarm states; a function whose alarm returns to OK sets it to close
	// the incident (nil: incidents close at their maximum age).
	AlarmStates playbook.AlarmStates
	// Alarms reads the function's alarms on a follow-up (nil: follow-ups do nothing).
	Alarms playbook.AlarmReader
	// Offers keeps offers of fixes a person may approve (nil without a table).
	Offers *ledger.Offers
	// Agreements judges the incident's actions at its close (nil: no verdicts are given).
	Agreements playbook.Agreements
}

// Start wires function, builds its playbook with build, and hands its handler to the Lambda
// runtime; it does not return. A configuration that does not load is logged (on stdout, as
// JSON) and ends the process, so Lambda reports a failed init rather than failing every event.
func Start[E any](function string, build func(*App) playbook.Playbook[E]) {
	a, err := Load(context.Background(), function, os.Getenv)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("cannot start", "function", function, "error", err.Error())
		os.Exit(1)
	}
	pb := build(a) // first: a builder may set what the runner uses (the alarm readers)
	lambda.Start(Handler[E]{Runner: a.Runner(), Playbook: pb})
}

// Handler takes the invocation's raw payload (aws-lambda-go's lambda.Handler), so that input
// which is not JSON at all (random bytes, an empty body) still reaches the pipeline and gets a
// not-actionable Result: a typed handler would fail in the runtime's decoding, and Lambda
// would retry the same bad input.
type Handler[E any] struct {
	Runner   *playbook.Runner
	Playbook playbook.Playbook[E]
}

var _ lambda.Handler = Handler[struct{}]{}

// Invoke implements lambda.Handler.
func (h Handler[E]) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	res, err := playbook.Handle(ctx, h.Runner, h.Playbook, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// Load reads the configuration and builds the clients. AWS endpoints come from the SDK's own
// settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>), which is how tests and `make invoke`
// point the functions at the local sandbox.
func Load(ctx context.Context, function string, getenv func(string) string) (*App, error) {
	log := lambdacontext.NewLogger().With("function", function)
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := AWSConfig()
	if err != nil {
		return nil, err
	}
	a := &App{
		Function: function, Config: cfg, AWS: awsCfg, Log: log,
		Secrets: &secrets.Store{API: secretsmanager.NewFromConfig(awsCfg)},
		SNS:     sns.NewFromConfig(awsCfg),
		SSM:     ssm.NewFromConfig(awsCfg),
		HTTP:    &http.Client{Timeout: 10 * time.Second},
	}
	if cfg.LedgerTable != "" {
		db := dynamodb.NewFromConfig(awsCfg) // one client for the ledger, incidents and offers
		t, err := ledger.New(db, cfg.LedgerTable)
		if err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		a.Ledger = t
		if cfg.Incidents {
			inc, err := ledger.NewIncidents(db, cfg.LedgerTable)
			if err != nil {
				return nil, fmt.Errorf("incidents: %w", err)
			}
			a.Incidents = inc
		}
		if a.Offers, err = ledger.NewOffers(db, cfg.LedgerTable); err != nil {
			return nil, fmt.Errorf("offers: %w", err)
		}
	} else {
		// Without a table, idempotency and budgets last only as long as this process. Fine
		// for a local run; the stack always sets the table.
		log.Warn("no ledger table configured: using an in-memory ledger", "env", config.EnvLedgerTable)
		a.Ledger = guard.NewMemoryLedger()
	}
	return a, nil
}

// AWSConfig builds the SDK configuration the way Lambda provides it: region, credentials
// and endpoint settings from the environment, by the names the SDK documents, so
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> work exactly as the SDK describes (see
// awsenv.go). The full default chain (profiles, SSO, STS, IMDS) is not linked: a Lambda
// function never uses it. Locally, `make invoke` resolves a developer's credentials and
// passes them in the environment.
func AWSConfig() (aws.Config, error) { return awsConfigFromEnv(os.Getenv) }

// Retryer is the SDK's adaptive retryer: it backs off on throttling across calls, which
// matters when four probes hit ECS at once. Attempts and backoff are bounded so retries fit
// inside a probe's timeout.
func Retryer() aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = 4
			so.MaxBackoff = 2 * time.Second
		})
	})
}

// Budgets are the per-kind action budgets of docs/design.md ("Guard rails"), from the configuration.
func Budgets(c config.Config) map[string]guard.Budget {
	return map[string]guard.Budget{
		playbook.KindForceNewDeployment: {Max: c.RestartBudget, Window: 24 * time.Hour, Cooldown: c.RestartCooldown},
		playbook.KindRollback:           {Max: 1, Window: 6 * time.Hour},
		playbook.KindRaiseTaskMemory:    {Max: 1, Window: 24 * time.Hour},
		playbook.KindScaleService:       {Max: 10, Window: 24 * time.Hour, Cooldown: c.ScaleCooldown},
		// memory-high restarts a leaking ingestor at most once per interval, on top of the
		// restart budget every function shares.
		"memory-high/" + playbook.KindForceNewDeployment: {Max: 1, Window: c.LeakRestartEvery},
	}
}

// Guard is the guard every action of this function goes through: the environment's mode, the
// SSM kill switch, the ledger's locks, budgets and cooldowns.
func (a *App) Guard() guard.Guard {
	c := a.Config
	return guard.Guard{
		Mode: c.Mode, Kill: guard.SSMKillSwitch{Client: a.SSM, Name: c.KillSwitchParam}, Ledger: a.Ledger,
		Budgets: Budgets(c), LockTTL: c.LockTTL,
	}
}

// Runner builds the pipeline runner for this function.
func (a *App) Runner() *playbook.Runner {
	c := a.Config
	return &playbook.Runner{
		Function:    a.Function,
		Config:      c,
		Guard:       a.Guard(),
		Deliver:     a.deliver,
		Converse:    a.converse,
		Pager:       a.pager(),
		Incidents:   a.Incidents,
		AlarmStates: a.AlarmStates,
		Alarms:      a.Alarms,
		Agreements:  a.Agreements,
		Warm:        a.warm,
		Pictures:    a.painter(),
		Offers:      a.offerer(),
		Log:         a.Log,
		Metrics:     os.Stdout,
		RequestID:   requestID,
	}
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

// deliver sends the report to the SNS topic and to the chat destinations.
// offerer is where offers go: the ledger's table, when there is one and offers are on.
func (a *App) offerer() playbook.Offerer {
	if a.Offers == nil || !a.Config.Offers {
		return nil
	}
	return a.Offers
}

// Converse sends a report of an incident into the incident's conversation.
func (a *App) Converse(ctx context.Context, r report.Report, conv incident.Conversation) ([]report.Sink, incident.Conversation) {
	return a.converse(ctx, r, conv)
}

// Deliver sends a report outside any incident (the digest, an operation without one) to the
// environment's destinations: the topic and the chat sinks.
func (a *App) Deliver(ctx context.Context, r report.Report) []report.Sink { return a.deliver(ctx, r) }

// converse sends a report of an incident into the incident's conversation.
func (a *App) converse(ctx context.Context, r report.Report, conv incident.Conversation) ([]report.Sink, incident.Conversation) {
	dests, failed := a.destinations(ctx)
	sinks, next := deliver.Converse(ctx, r, deliver.Conversation(conv), dests)
	return append(sinks, failed...), incident.Conversation(next)
}

func (a *App) deliver(ctx context.Context, r report.Report) []report.Sink {
	dests, failed := a.destinations(ctx)
	return append(deliver.Deliver(ctx, r, dests), failed...)
}

// destinations are the SNS topic, Slack and Discord. Slack is the bot (Web API, can thread
// a conversation) when a bot secret and channel are configured, else the incoming webhook
// named in the webhooks secret, exactly as before. Secrets are read per invocation (cached
// a few minutes) so a rotated webhook or token takes effect without a deployment; one that
// cannot be read is a failed status, never a failed delivery.
func (a *App) destinations(ctx context.Context) ([]deliver.Destination, []report.Sink) {
	dests := []deliver.Destination{deliver.NewSNSSink(a.SNS, a.Config.ReportTopicARN)}
	var failed []report.Sink
	bot := a.Config.SlackBotSecret != "" && a.Config.SlackChannel != ""
	if bot {
		token, err := a.Secrets.Field(ctx, a.Config.SlackBotSecret, "bot_token")
		if err != nil {
			failed = append(failed, report.Sink{Name: "slack", OK: false, Error: err.Error()})
		} else {
			dests = append(dests, deliver.NewSlackBot(token, a.Config.SlackChannel, a.Config.SlackAPIURL, a.HTTP))
		}
	}
	if name := a.Config.WebhooksSecret; name != "" {
		f, err := a.Secrets.Fields(ctx, name)
		if err != nil {
			failed = append(failed, report.Sink{Name: "webhooks", OK: false, Error: err.Error()})
		} else {
			if u := f["slack_webhook_url"]; u != "" && !bot {
				dests = append(dests, deliver.NewSlackSink(u, a.HTTP))
			}
			if u := f["discord_webhook_url"]; u != "" {
				dests = append(dests, deliver.NewDiscordSink(u, a.HTTP))
			}
		}
	}
	return dests, failed
}

// warm reads the sinks' secrets into the cache while the diagnosis runs.
func (a *App) warm(ctx context.Context) {
	for _, name := range []string{a.Config.WebhooksSecret, a.Config.PagerDutySecret, a.Config.SlackBotSecret} {
		if name != "" {
			_, _ = a.Secrets.Fields(ctx, name) // errors show when the report is sent
		}
	}
}

// painter draws each report's picture with CloudWatch, and stores it in the picture bucket
// when one is configured (nil when pictures are switched off).
func (a *App) painter() playbook.Painter {
	c := a.Config
	if !c.Pictures {
		return nil
	}
	p := &picture.Painter{
		CloudWatch: &picture.LazyWidgetAPI{New: func() picture.WidgetAPI { return cloudwatch.NewFromConfig(a.AWS) }},
		Related:    func(al alarm.Alarm) []picture.Metric { return picture.Related(a.Function, c, al) },
		Timeout:    c.PictureTimeout,
	}
	if c.PictureBucket != "" {
		p.Keeper = picture.NewS3Keeper(func() *s3.Client { return s3.NewFromConfig(a.AWS) }, c.PictureBucket, c.PictureURLTTL)
	}
	return p
}

// pager returns the PagerDuty pager, or nil when no routing-key secret is configured.
func (a *App) pager() playbook.Pager {
	if a.Config.PagerDutySecret == "" {
		return nil
	}
	return &secretPager{app: a}
}

// secretPager reads the routing key when it pages, so a missing or unreadable secret shows
// up in the Result instead of failing the function at start.
type secretPager struct{ app *App }

func (p *secretPager) sink(ctx context.Context) (*deliver.PagerDutySink, error) {
	key, err := p.app.Secrets.Field(ctx, p.app.Config.PagerDutySecret, "routing_key")
	if err != nil {
		return nil, err
	}
	return deliver.NewPagerDutySink(key, p.app.Config.PagerDutyURL, p.app.HTTP), nil
}

func (p *secretPager) Trigger(ctx context.Context, r report.Report, dedupKey string) error {
	s, err := p.sink(ctx)
	if err != nil {
		return err
	}
	return s.Trigger(ctx, r, dedupKey)
}

func (p *secretPager) Resolve(ctx context.Context, dedupKey string) error {
	s, err := p.sink(ctx)
	if err != nil {
		return err
	}
	return s.Resolve(ctx, dedupKey)
}
