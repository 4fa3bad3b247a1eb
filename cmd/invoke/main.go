// Command invoke runs one function's bootstrap under the Lambda Runtime Interface Emulator
// with one event and prints the function's Result JSON on stdout (everything else goes to
// stderr). By default the function talks to an in-process sandbox loaded with a scenario;
// with -sandbox=false it talks to whatever AWS account the caller's credentials reach, in
// dry-run unless -mode on is given.
//
//	go run ./cmd/invoke -fn no-tasks -event events/no-tasks/ingestor-alarm.json -scenario ingestor-oom
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/internal/lambdarun"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/sandbox"
)

// defaultScenario is the incident each function is shown against when none is named.
var defaultScenario = map[string]string{
	"no-tasks":    "ingestor-oom",
	"queue-depth": "queue-under-provisioned",
	"dlq":         "dlq",
	"memory-high": "memory-leak",
	"approve":     "healthy", // a person's command: the state it acts on is whatever the scenario holds
}

// brokerFunctions read and change the RabbitMQ broker: each invocation gets a virtual host of
// its own, so it never sees (let alone replays, parks or restarts workers over) anyone
// else's messages on the local broker.
var brokerFunctions = map[string]bool{"queue-depth": true, "dlq": true}

func functionNames() []string {
	names := slices.Collect(maps.Keys(defaultScenario))
	slices.Sort(names)
	return names
}

// prepareBroker gives a broker function its world. With AMQP_URL set it uses that broker and
// virtual host on purpose (amqp://user:pass@host:port/vhost). Otherwise it builds, in a virtual
// host of its own on the local broker, the queues and messages of the end-to-end case that
// uses this event and scenario (events/<fn>/cases.json), and deletes it afterwards.
func prepareBroker(ctx context.Context, fn, eventPath, scenario string, opts *sandbox.Options) (map[string]string, func(), error) {
	none := func() {}
	if !brokerFunctions[fn] {
		return nil, none, nil
	}
	if u := os.Getenv("AMQP_URL"); u != "" {
		parsed, err := amqp.ParseURI(u)
		if err != nil {
			return nil, none, fmt.Errorf("AMQP_URL: %w", err)
		}
		// The credentials travel in the secret's own fields, as Amazon MQ's do.
		opts.Rabbit = sandbox.RabbitOptions{AMQPURL: fmt.Sprintf("%s://%s:%d/%s", parsed.Scheme, parsed.Host, parsed.Port, url.PathEscape(parsed.Vhost)),
			Username: parsed.Username, Password: parsed.Password}
		fmt.Fprintf(os.Stderr, "invoke: using the broker of AMQP_URL (virtual host %q) on purpose\n", parsed.Vhost)
		return nil, none, nil
	}
	all, err := cases.Load(filepath.Dir(filepath.Dir(eventPath)))
	if err != nil {
		return nil, none, err
	}
	var spec *cases.Broker
	for _, c := range all {
		if c.Function == fn && c.Broker != nil && filepath.Base(c.Event) == filepath.Base(eventPath) && c.Scenario == scenario {
			spec = c.Broker
			break
		}
	}
	if spec == nil {
		return nil, none, fmt.Errorf("no case in events/%s/cases.json builds a broker for %s with scenario %s; set AMQP_URL=amqp://user:pass@host:port/vhost to use an existing broker on purpose", fn, filepath.Base(eventPath), scenario)
	}
	cleanup, err := spec.Prepare(ctx)
	if err != nil {
		return nil, none, err
	}
	opts.Rabbit = sandbox.RabbitOptions{AMQPURL: spec.URL()}
	fmt.Fprintf(os.Stderr, "invoke: broker state in virtual host %s of the local RabbitMQ (deleted afterwards)\n", spec.VirtualHost())
	return spec.Env(), cleanup, nil
}

func main() {
	// Ctrl-C (or a TERM) cancels the invocation instead of killing the process, so the deferred
	// clean-up still deletes the case's virtual host and stops the emulator and its function,
	// which run in a process group of their own and would otherwise be left behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	if ctx.Err() != nil {
		err = fmt.Errorf("interrupted")
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(1)
	}
}

// run takes its arguments rather than reading os.Args, so its usage checks are testable.
func run(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fn := flags.String("fn", "", "function: no-tasks, queue-depth, dlq, memory-high, approve")
	eventPath := flags.String("event", "", "event file (e.g. events/no-tasks/ingestor-alarm.json)")
	bootstrap := flags.String("bootstrap", "", "bootstrap built for this host (default build/host/<fn>/bootstrap)")
	rie := flags.String("rie", "build/tools/aws-lambda-rie", "aws-lambda-rie binary")
	useSandbox := flags.Bool("sandbox", os.Getenv("SANDBOX") != "0", "run against the local sandbox (SANDBOX=0 for a real account)")
	scenario := flags.String("scenario", os.Getenv("SCENARIO"), "sandbox scenario (default: one per function)")
	mode := flags.String("mode", os.Getenv("MODE"), "off, dry-run or on (default: on in the sandbox, dry-run against a real account)")
	timeout := flags.Duration("timeout", 120*time.Second, "function timeout")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *fn == "" || *eventPath == "" {
		return fmt.Errorf("usage: invoke -fn <function> -event <file> [-scenario name] [-sandbox=false] [-mode on]")
	}
	if _, ok := defaultScenario[*fn]; !ok {
		return fmt.Errorf("unknown function %q: the functions are %s", *fn, strings.Join(functionNames(), ", "))
	}
	if *bootstrap == "" {
		*bootstrap = "build/host/" + *fn + "/bootstrap"
	}
	payload, err := os.ReadFile(*eventPath)
	if err != nil {
		return err
	}
	if *useSandbox {
		if *mode == "" {
			*mode = "on" // the sandbox is not production: show what the function does
		}
		if *scenario == "" {
			*scenario = defaultScenario[*fn]
		}
	}
	if *fn == "approve" {
		// Its events are Slack's and Discord's requests, signed by them: here the sandbox
		// plays both; a deployed function takes a sample through make invoke-remote.
		if !*useSandbox {
			return errors.New("approve runs here only against the sandbox: try a sample on a deployed function with make invoke-remote FN=approve")
		}
		return invokeApprove(ctx, *rie, filepath.Dir(filepath.Dir(*bootstrap)), *scenario, *mode, payload)
	}
	env := map[string]string{}
	if *useSandbox {
		opts := sandbox.Options{TaskStartDelay: 2 * time.Second}
		brokerEnv, cleanup, err := prepareBroker(ctx, *fn, *eventPath, *scenario, &opts)
		if err != nil {
			return err
		}
		defer cleanup()
		sb := sandbox.New(opts)
		if err := sb.LoadScenario(*scenario); err != nil {
			return err
		}
		_, stop, err := sb.Start("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer stop()
		env = sb.Env()
		maps.Copy(env, brokerEnv)
		// The sample alarm fires now, beside the evidence the sandbox makes for now.
		payload = cases.Retime(payload, time.Now().UTC().Truncate(time.Second).Sub(cases.SampleTime))
		env[config.EnvVerifyInterval] = "1s"
		env[config.EnvVerifyTimeout] = "30s"
		fmt.Fprintf(os.Stderr, "invoke: %s with %s against the sandbox (scenario %s, mode %s)\n", *fn, *eventPath, *scenario, *mode)
	} else {
		if *mode == "" {
			*mode = "dry-run" // a real account: look, do not touch, unless told to
		}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "GPR_") {
				env[k] = v
			}
		}
		// The function reads credentials from its environment, as in Lambda: resolve yours
		// (profile, SSO, ...) here and pass them in.
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("load your AWS configuration: %w", err)
		}
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return fmt.Errorf("resolve your AWS credentials: %w", err)
		}
		env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"] = creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken
		env["AWS_REGION"] = cfg.Region
		fmt.Fprintf(os.Stderr, "invoke: %s with %s against the AWS account of your credentials (mode %s)\n", *fn, *eventPath, *mode)
	}
	env[config.EnvMode] = *mode

	emu, err := lambdarun.Start(ctx, lambdarun.Options{RIE: *rie, Bootstrap: *bootstrap, Env: env, Timeout: *timeout, Output: os.Stderr})
	if err != nil {
		return err
	}
	defer emu.Stop()
	out, err := emu.Invoke(ctx, payload)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Write(out)
	}
	fmt.Println(pretty.String())
	if bytes.Contains(out, []byte(`"errorMessage"`)) {
		return fmt.Errorf("the function returned an error")
	}
	return nil
}
