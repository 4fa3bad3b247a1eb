// Command invoke-remote invokes a deployed remediation function with a sample event and
// prints the Result it returns:
//
//	go run ./cmd/invoke-remote -env staging -fn no-tasks -event ingestor-oom
//
// The event is a file path, or a name under events/<fn>/ (".json" optional). The function is
// arrakis-<env>-remediate-<fn> in the environment's region from cdk.json (or -region, or the
// SDK's usual settings). The invocation is synchronous with the log tail requested: the tail
// goes to stderr, the Result JSON to stdout. Exit status: 0 a Result came back; 1 the
// function failed (FunctionError: Lambda's error payload is printed) or the call did not
// happen; 2 bad usage; 3 the function answered that the event was unusable (Result.error).
//
// The approve function takes function URL events (events/approve): a Slack sample is signed
// again, now, with the environment's signing secret read from Secrets Manager (the secret
// named by cdk.json's interactionsSecret, or -secret), as the function refuses a signature
// more than five minutes old. A Discord sample cannot be: only Discord holds the private key.
// What comes back is the HTTP answer the function URL would give, printed with its status
// (exit 0 whatever the status: a 401 for the unsigned sample is the answer expected); the
// work a command starts runs afterwards in an asynchronous invocation, which answers the
// sample's response_url (not a real conversation) and logs to the function's log group.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/arrakis/gp-remediation/internal/sample"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Invoker is the one Lambda operation this program needs.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// SecretReader reads the interactions secret, to sign the approve function's Slack samples.
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Clients are the AWS APIs this program calls.
type Clients struct {
	Lambda  Invoker
	Secrets SecretReader
}

// approveFunction takes function URL events, not alarms.
const approveFunction = "approve"

var functions = []string{"no-tasks", "queue-depth", "dlq", "memory-high", approveFunction}

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitBadEventRes = 3
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, newClients))
}

// options are the parsed command line.
type options struct {
	env, fn, event, region, function, root, secret string
	timeout                                        time.Duration
}

// newClients builds the clients from the SDK's standard settings (profile, credentials,
// AWS_ENDPOINT_URL...). Invoke is not idempotent, so the SDK does not retry it: a second
// attempt could run the remediation twice.
func newClients(ctx context.Context, region string) (Clients, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Clients{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return Clients{}, errors.New("no region: pass -region, set AWS_REGION, or give the environment a region in cdk.json")
	}
	return Clients{
		Lambda:  lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.RetryMaxAttempts = 1 }),
		Secrets: secretsmanager.NewFromConfig(cfg),
	}, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, connect func(context.Context, string) (Clients, error)) int {
	o, err := parseArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "invoke-remote:", err)
		}
		return exitUsage
	}
	payload, path, err := readEvent(o.root, o.fn, o.event)
	if err != nil {
		fmt.Fprintln(stderr, "invoke-remote:", err)
		return exitUsage
	}
	settings, err := environmentFromCDK(o.root, o.env)
	if err != nil {
		fmt.Fprintln(stderr, "invoke-remote:", err)
		return exitUsage
	}
	region := o.region
	if region == "" {
		region = settings.Region
	}
	secret := o.secret
	if secret == "" {
		secret = settings.InteractionsSecret
	}
	if secret == "" {
		secret = "arrakis-" + o.env + "/gp-remediation/interactions" // the stack's default
	}
	name := o.function
	if name == "" {
		name = "arrakis-" + o.env + "-remediate-" + o.fn
	}

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	clients, err := connect(ctx, region)
	if err != nil {
		fmt.Fprintln(stderr, "invoke-remote:", err)
		return exitFailed
	}
	if o.fn == approveFunction {
		if payload, err = signSample(ctx, clients.Secrets, secret, payload, stderr); err != nil {
			fmt.Fprintln(stderr, "invoke-remote:", err)
			return exitUsage
		}
	}
	fmt.Fprintf(stderr, "invoke-remote: invoking %s (%s) with %s\n", name, regionLabel(region), path)
	out, err := clients.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(name),
		InvocationType: types.InvocationTypeRequestResponse,
		LogType:        types.LogTypeTail,
		Payload:        payload,
	})
	if err != nil {
		fmt.Fprintf(stderr, "invoke-remote: invoke %s: %v\n", name, err)
		return exitFailed
	}
	if o.fn == approveFunction {
		return printURLResponse(out, stdout, stderr)
	}
	return printOutcome(out, o.fn, stdout, stderr)
}

// signSample signs an approve sample now: a Slack one with the signing secret of the
// environment's interactions secret; an unsigned one goes as it is.
func signSample(ctx context.Context, secrets SecretReader, secretName string, payload []byte, stderr io.Writer) ([]byte, error) {
	var keys sample.Keys
	platform, err := sample.Detect(payload)
	if err != nil {
		return nil, err
	}
	if platform == sample.Slack {
		out, err := secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretName)})
		if err != nil {
			return nil, fmt.Errorf("read the signing secret from %s: %w", secretName, err)
		}
		var fields struct {
			SlackSigningSecret string `json:"slack_signing_secret"`
		}
		if out.SecretString == nil || json.Unmarshal([]byte(*out.SecretString), &fields) != nil || fields.SlackSigningSecret == "" {
			return nil, fmt.Errorf("secret %s has no slack_signing_secret field", secretName)
		}
		keys.SlackSigningSecret = fields.SlackSigningSecret
	}
	signed, _, err := sample.Prepare(payload, keys, time.Now(), "")
	if err != nil {
		return nil, err
	}
	switch platform {
	case sample.Slack:
		fmt.Fprintf(stderr, "invoke-remote: signed the Slack sample now with the signing secret of %s\n", secretName)
	case sample.Unsigned:
		fmt.Fprintln(stderr, "invoke-remote: the sample carries no signature: the function should refuse it (401)")
	}
	return signed, nil
}

// printURLResponse prints the approve function's HTTP answer: its status on stderr, the whole
// response on stdout.
func printURLResponse(out *lambda.InvokeOutput, stdout, stderr io.Writer) int {
	printTail(out, stderr)
	if out.FunctionError != nil {
		fmt.Fprintf(stderr, "invoke-remote: the function failed (%s): %s\n", *out.FunctionError, bytes.TrimSpace(out.Payload))
		return exitFailed
	}
	var resp events.LambdaFunctionURLResponse
	if err := json.Unmarshal(out.Payload, &resp); err != nil || resp.StatusCode == 0 {
		fmt.Fprintf(stderr, "invoke-remote: the answer is not a function URL response: %s\n", bytes.TrimSpace(out.Payload))
		return exitFailed
	}
	fmt.Fprintf(stderr, "invoke-remote: the function URL would answer HTTP %d\n", resp.StatusCode)
	printIndented(stdout, out.Payload)
	return exitOK
}

// printIndented prints what the function sent, indented: not a re-encoding, so fields this
// program does not know stay visible.
func printIndented(stdout io.Writer, payload []byte) {
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, payload, "", "  "); err != nil {
		pretty.Reset()
		pretty.Write(payload)
	}
	fmt.Fprintln(stdout, strings.TrimSpace(pretty.String()))
}

// printTail writes the log tail Lambda returned to stderr.
func printTail(out *lambda.InvokeOutput, stderr io.Writer) {
	if out.LogResult == nil {
		return
	}
	tail, err := base64.StdEncoding.DecodeString(*out.LogResult)
	if err != nil {
		fmt.Fprintln(stderr, "invoke-remote: the log tail is not base64:", err)
		return
	}
	fmt.Fprintf(stderr, "----- log tail (last 4 KB) -----\n%s", tail)
	if len(tail) > 0 && tail[len(tail)-1] != '\n' {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintln(stderr, "-----")
}

// printOutcome writes the log tail to stderr and the Result (or Lambda's error) and picks
// the exit status.
func printOutcome(out *lambda.InvokeOutput, fn string, stdout, stderr io.Writer) int {
	printTail(out, stderr)
	if out.FunctionError != nil {
		fmt.Fprintf(stderr, "invoke-remote: the function failed (%s): %s\n", *out.FunctionError, bytes.TrimSpace(out.Payload))
		return exitFailed
	}
	var res report.Result
	if err := json.Unmarshal(out.Payload, &res); err != nil || res.Function == "" {
		fmt.Fprintf(stderr, "invoke-remote: the answer is not a Result: %s\n", bytes.TrimSpace(out.Payload))
		return exitFailed
	}
	printIndented(stdout, out.Payload)
	if res.Function != fn {
		fmt.Fprintf(stderr, "invoke-remote: note: the Result is from %q, not %q\n", res.Function, fn)
	}
	if res.Error != "" {
		fmt.Fprintf(stderr, "invoke-remote: the function could not use the event: %s\n", res.Error)
		return exitBadEventRes
	}
	return exitOK
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("invoke-remote", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.env, "env", "", "environment (a key of cdk.json's context.environments), e.g. staging")
	fs.StringVar(&o.fn, "fn", "", "function: "+strings.Join(functions, ", "))
	fs.StringVar(&o.event, "event", "", "event file, or a name under events/<fn>/")
	fs.StringVar(&o.region, "region", "", "region (default: the environment's in cdk.json, else the SDK's)")
	fs.StringVar(&o.function, "function", "", "function name or ARN (default arrakis-<env>-remediate-<fn>)")
	fs.StringVar(&o.root, "root", ".", "repository root (holds cdk.json and events/)")
	fs.StringVar(&o.secret, "secret", "", "approve: the interactions secret whose slack_signing_secret signs a Slack sample (default: cdk.json's interactionsSecret, else arrakis-<env>/gp-remediation/interactions)")
	fs.DurationVar(&o.timeout, "timeout", 6*time.Minute, "give up after this long (the longest function timeout is 5m)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var missing []string
	if o.env == "" {
		missing = append(missing, "-env")
	}
	if o.fn == "" {
		missing = append(missing, "-fn")
	}
	if o.event == "" {
		missing = append(missing, "-event")
	}
	if len(missing) > 0 {
		return o, fmt.Errorf("%s required (usage: invoke-remote -env staging -fn no-tasks -event NAME)", strings.Join(missing, ", "))
	}
	if !slices.Contains(functions, o.fn) {
		return o, fmt.Errorf("unknown function %q (known: %s)", o.fn, strings.Join(functions, ", "))
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, nil
}

// readEvent reads the event: a path as given, else events/<fn>/<name>(.json). An unknown
// name lists the events there.
func readEvent(root, fn, event string) ([]byte, string, error) {
	candidates := []string{event}
	if !strings.ContainsRune(event, filepath.Separator) {
		dir := filepath.Join(root, "events", fn)
		candidates = append(candidates, filepath.Join(dir, event), filepath.Join(dir, event+".json"))
	}
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if err == nil {
			if !json.Valid(b) {
				return nil, "", fmt.Errorf("event %s is not valid JSON", p)
			}
			return b, p, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("read event %s: %w", p, err)
		}
	}
	names, _ := filepath.Glob(filepath.Join(root, "events", fn, "*.json"))
	for i, n := range names {
		names[i] = strings.TrimSuffix(filepath.Base(n), ".json")
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, "", fmt.Errorf("no event %q: not a file, and events/%s/ has no events", event, fn)
	}
	return nil, "", fmt.Errorf("no event %q (events/%s/ has: %s)", event, fn, strings.Join(names, ", "))
}

// cdkEnvironment is what this program reads of an environment in cdk.json.
type cdkEnvironment struct {
	Region             string `json:"region"`
	InteractionsSecret string `json:"interactionsSecret"`
}

// environmentFromCDK reads the environment's region (and the approve function's interactions
// secret) from cdk.json, so `make invoke-remote` needs no more than ENV. Without a cdk.json
// the SDK's own settings decide.
func environmentFromCDK(root, env string) (cdkEnvironment, error) {
	b, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if errors.Is(err, os.ErrNotExist) {
		return cdkEnvironment{}, nil
	}
	if err != nil {
		return cdkEnvironment{}, fmt.Errorf("read cdk.json: %w", err)
	}
	var doc struct {
		Context struct {
			Environments map[string]cdkEnvironment `json:"environments"`
		} `json:"context"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return cdkEnvironment{}, fmt.Errorf("read cdk.json: %w", err)
	}
	e, ok := doc.Context.Environments[env]
	if !ok {
		known := make([]string, 0, len(doc.Context.Environments))
		for k := range doc.Context.Environments {
			known = append(known, k)
		}
		sort.Strings(known)
		return cdkEnvironment{}, fmt.Errorf("unknown environment %q (known: %s)", env, strings.Join(known, ", "))
	}
	return e, nil
}

func regionLabel(r string) string {
	if r == "" {
		return "region from the SDK's settings"
	}
	return r
}
