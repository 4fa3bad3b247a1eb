// Command gpr runs one of the runbook's manual operations (pkg/ops) for an engineer with AWS
// credentials, through the same guard and ledger as the functions, and prints its report.
// It is a dry run unless -apply is given, like `make invoke` against a real account.
//
//	go run ./cmd/gpr health
//	go run ./cmd/gpr -apply restart worker
//	go run ./cmd/gpr -sandbox -scenario worker-crash-loop -apply complete-restart   (make gpr)
//	go run ./cmd/gpr -apply replay-dlq bug 50   (once the fix is out: 50 dead letters back to their queue)
//
// Configuration comes from the functions' GPR_* variables (pkg/config), AWS from the SDK's
// default chain (AWS_PROFILE, SSO, keys, AWS_ENDPOINT_URL...), as an engineer's shell has it.
// With GPR_LEDGER_TABLE set, budgets, cooldowns and locks are the functions' own; without it
// they last only as long as this process (it says so).
//
// Exit status: 0 done (or dry run), 1 a step failed or its new tasks failed to start, 2 bad
// usage or request, 3 a step was refused (kill switch, budget, cooldown, lock, mode off,
// state changed).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/brokerdb"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/ops"
	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/secrets"
	"github.com/arrakis/gp-remediation/pkg/service"
	"github.com/arrakis/gp-remediation/sandbox"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitRefused = 3
)

func main() {
	// Ctrl-C cancels the operation's waits instead of killing the process, so the report of
	// what was done so far is still printed and the guard's locks are released.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: arguments, environment and output are passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("gpr", flag.ContinueOnError)
	flags.SetOutput(stderr)
	apply := flags.Bool("apply", false, "change things (default: a dry run that only says what it would do)")
	asJSON := flags.Bool("json", false, "print the JSON Result instead of the text report")
	useSandbox := flags.Bool("sandbox", false, "run against an in-process sandbox instead of an AWS account (make gpr)")
	scenario := flags.String("scenario", "healthy", "the sandbox's scenario (with -sandbox)")
	wait := flags.Duration("wait", 5*time.Minute, "the longest wait for services-stable and for the queue to drain, per wait")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: gpr [-apply] [-json] [-wait 5m] [-sandbox [-scenario name]] <operation...>\n\n%s\n\nflags:\n", ops.Usage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	req, err := ops.Parse(flags.Args())
	if err != nil {
		fmt.Fprintln(stderr, "gpr:", err)
		return exitUsage
	}

	env := getenv
	var awsCfg aws.Config
	if *useSandbox {
		sb := sandbox.New(sandbox.Options{TaskStartDelay: 2 * time.Second})
		if err := sb.LoadScenario(*scenario); err != nil {
			fmt.Fprintln(stderr, "gpr:", err)
			return exitUsage
		}
		_, stopSandbox, err := sb.Start("127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "gpr:", err)
			return exitFailed
		}
		defer stopSandbox()
		overlay := sb.Env()
		env = func(k string) string {
			if v, ok := overlay[k]; ok {
				return v
			}
			return getenv(k)
		}
		if awsCfg, err = sb.AWSConfig(ctx, awsconfig.WithRetryer(app.Retryer)); err != nil {
			fmt.Fprintln(stderr, "gpr:", err)
			return exitFailed
		}
		fmt.Fprintf(stderr, "gpr: %s against the sandbox (scenario %s)\n", req, *scenario)
	} else {
		if awsCfg, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRetryer(app.Retryer)); err != nil {
			fmt.Fprintln(stderr, "gpr: load your AWS configuration:", err)
			return exitFailed
		}
	}
	cfg, err := config.Load(env)
	if err != nil {
		fmt.Fprintln(stderr, "gpr:", err)
		return exitUsage
	}
	op, err := operator(cfg, awsCfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "gpr:", err)
		return exitFailed
	}
	op.StableTimeout = *wait
	if *useSandbox {
		op.PollInterval = 500 * time.Millisecond
	}
	if !*apply && req.Mutates() {
		fmt.Fprintln(stderr, "gpr: dry run: nothing will be changed (add -apply to act)")
	}
	who := getenv("USER")
	if who == "" {
		who = "unknown user"
	}
	rep := op.Run(ctx, req, ops.Requester{Who: who, Via: "cli"}, *apply, nil)
	if *asJSON {
		out, err := json.MarshalIndent(rep.Result, "", "  ")
		if err != nil {
			fmt.Fprintln(stderr, "gpr:", err)
			return exitFailed
		}
		fmt.Fprintln(stdout, string(out))
	} else {
		_, body := render.Text(rep)
		fmt.Fprint(stdout, body)
	}
	return exitCode(rep.Result)
}

// exitCode says how the operation went, for scripts.
func exitCode(res report.Result) int {
	if res.Error != "" {
		return exitUsage
	}
	code := exitOK
	if v := res.Verification; v != nil && v.Status == report.VerifyFailed {
		code = exitFailed
	}
	for _, a := range res.Actions {
		switch a.Outcome {
		case report.OutcomeFailed:
			return exitFailed
		case report.OutcomeSkipped:
			code = exitRefused
		}
	}
	return code
}

// operator wires the operations to the environment: ECS, the broker and the database through
// the rabbit and database secrets, the guard with the kill switch and the ledger.
func operator(cfg config.Config, awsCfg aws.Config, stderr io.Writer) (*ops.Operator, error) {
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var l guard.Ledger
	if cfg.LedgerTable != "" {
		t, err := ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable)
		if err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		l = t
	} else {
		fmt.Fprintf(stderr, "gpr: %s is not set: budgets, cooldowns and locks last only as long as this command, and the functions do not see its actions\n", config.EnvLedgerTable)
		l = guard.NewMemoryLedger()
	}
	store := &secrets.Store{API: secretsmanager.NewFromConfig(awsCfg)}
	hc := &http.Client{Timeout: 10 * time.Second}
	conns := brokerdb.Connections{Secrets: store, Config: cfg, Function: ops.Function, HTTP: hc}
	return &ops.Operator{
		Config:  cfg,
		ECS:     ecs.Client{API: awsecs.NewFromConfig(awsCfg), Cluster: cfg.Cluster},
		Queues:  ops.BrokerQueues{Conns: conns},
		DB:      ops.DatabaseSlowQueries{Conns: conns},
		DLQ:     ops.BrokerDLQ{Conns: conns, Config: cfg},
		Discord: service.SecretDiscord{Secrets: store, Secret: cfg.DiscordSecret, APIURL: cfg.DiscordAPIURL, HTTP: hc},
		Guard: guard.Guard{Mode: cfg.Mode, Kill: guard.SSMKillSwitch{Client: ssm.NewFromConfig(awsCfg), Name: cfg.KillSwitchParam},
			Ledger: l, Budgets: app.Budgets(cfg), LockTTL: cfg.LockTTL},
		Log:          log,
		PollInterval: cfg.VerifyInterval,
	}, nil
}
