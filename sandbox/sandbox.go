// Package sandbox is a local stand-in for one environment's AWS account and the HTTP services
// around it (Slack and Discord incoming webhooks, PagerDuty Events v2, Discord's REST API).
// The real aws-sdk-go-v2 clients talk to it over HTTP in their own wire protocols, reached
// only through the SDK's standard endpoint settings (AWS_ENDPOINT_URL, static credentials,
// us-east-1):
//
//   - ECS (awsJson1.1): DescribeServices, UpdateService, ListTasks, DescribeTasks,
//     DescribeTaskDefinition, ListTaskDefinitions, RegisterTaskDefinition.
//   - CloudWatch (smithy-rpcv2-cbor): GetMetricData (expression queries are not evaluated:
//     they answer StatusCode InternalError with a message); DescribeAlarms (alarms.go);
//     GetMetricWidgetImage (widget.go: a PNG of the widget JSON's metrics and annotations
//     drawn from the same series; metric math and views other than timeSeries are refused).
//   - CloudWatch Logs (awsJson1.1): FilterLogEvents (see FilterPattern for the syntax served).
//   - Secrets Manager GetSecretValue and SSM GetParameter (awsJson1.1).
//   - SNS Publish (awsQuery), with SNS's limits; every publication is recorded.
//
// Anything else gets the protocol's own "unknown operation" error. DynamoDB is not served.
//
// A Sandbox keeps state (UpdateService changes what DescribeServices returns), starts tasks
// after Options.TaskStartDelay, serves metrics that are functions of time (and react to
// restarts and scale-ups), and records what the functions published and posted. Named
// scenarios (Scenarios) load a consistent picture of one environment; faults can be injected
// per operation (InjectFault). Typical test use:
//
//	s := sandbox.StartTest(t, sandbox.Options{TaskStartDelay: 200 * time.Millisecond})
//	if err := s.LoadScenario("ingestor-oom"); err != nil { t.Fatal(err) }
//	for k, v := range s.Env() { t.Setenv(k, v) }   // or cfg, _ := s.AWSConfig(ctx)
//	... run the function ...
//	svc, _ := s.Service(s.Names().IngestorService); pubs := s.Published()
//
// Processes that cannot call Go use the admin API under /_sandbox/ (see admin.go) and
// sandbox/cmd/sandbox.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/arrakis/gp-remediation/pkg/config"
)

// Fixed identity of the simulated account. The credentials are fake: the sandbox accepts any
// SigV4 signature, these are only what Env hands to the functions.
const (
	AccountID       = "123456789012"
	Region          = "us-east-1"
	AccessKeyID     = "AKIASANDBOXFAKEKEY00"
	SecretAccessKey = "sandbox/fake/secret/access/key/00000000"
)

// Options configure a Sandbox. The zero value is usable.
type Options struct {
	// Env is the environment name every resource name derives from (default "staging").
	Env string
	// Now is the clock (default time.Now). Scenario data is relative to the time a scenario
	// is loaded; tests can pass a controllable clock.
	Now func() time.Time
	// TaskStartDelay is how long (real time) a new task stays PENDING before it runs or
	// crashes (default 2s; tests use 100–300 ms).
	TaskStartDelay time.Duration
	// Rabbit and Database are what the arrakis-{env}/rabbitmq and arrakis-{env}/database
	// secrets hold (defaults: the local broker and PostgreSQL).
	Rabbit   RabbitOptions
	Database DatabaseOptions
	// Logger receives one debug line per AWS call (default: discard).
	Logger *slog.Logger
	// VirtualHost is the RabbitMQ virtual host the queue metrics carry as Amazon MQ's
	// VirtualHost dimension (default "/"); end-to-end cases give each run a vhost of its own.
	VirtualHost string
}

// RabbitOptions are the fields of the RabbitMQ secret.
type RabbitOptions struct {
	AMQPURL, ManagementURL, Username, Password string
}

// DatabaseOptions are the fields of the database secret.
type DatabaseOptions struct {
	Host     string
	Port     int
	Username string
	Password string
	DBName   string
}

func (o Options) withDefaults() Options {
	if o.Env == "" {
		o.Env = "staging"
	}
	if o.VirtualHost == "" {
		o.VirtualHost = "/"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TaskStartDelay <= 0 {
		o.TaskStartDelay = 2 * time.Second
	}
	r := &o.Rabbit
	if r.AMQPURL == "" {
		r.AMQPURL = "amqp://127.0.0.1:5672/"
	}
	if r.ManagementURL == "" {
		r.ManagementURL = "http://127.0.0.1:15672"
	}
	if r.Username == "" {
		r.Username = "guest"
	}
	if r.Password == "" {
		r.Password = "guest"
	}
	d := &o.Database
	if d.Host == "" {
		d.Host = "127.0.0.1"
	}
	if d.Port == 0 {
		d.Port = 5432
	}
	if d.Username == "" {
		d.Username = "postgres"
	}
	if d.DBName == "" {
		d.DBName = "arrakis"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Sandbox is one simulated environment. It is an http.Handler; Start serves it on an address.
// All methods are safe for concurrent use.
type Sandbox struct {
	opts  Options
	names config.Names
	log   *slog.Logger

	mu       sync.Mutex
	gen      uint64 // bumped by every LoadScenario and by Close: older timers do nothing
	scenario string
	loadedAt time.Time
	rng      *rand.Rand
	baseURL  string

	clusterARN string
	services   map[string]*service    // by service name
	taskDefs   map[string][]*taskDef  // by family, ascending revision
	tasks      []*task                // creation order
	taskByID   map[string]*task       // by task id
	outcomes   map[string]TaskOutcome // "family:revision" or "family" -> what new tasks do
	series     map[string]*series     // by seriesKey
	alarms     map[string]*cwAlarm    // CloudWatch alarms by name
	reactions  []Reaction             // metric changes the simulation triggers
	logGroups  map[string]*logGroup   // by name
	secrets    map[string]*secret     // by name
	params     map[string]*parameter  // by name
	topics     map[string]bool        // topic ARNs
	discord    discordState           // the Discord API stand-in
	slackAPI   slackState             // the Slack Web API stand-in
	discordMsg map[string]string      // Discord webhook message id -> webhook id/token
	hookFail   map[string]bool        // kind -> answer 500
	objects    map[string]*Object     // S3 objects by "bucket/key"
	published  []Publication
	requests   []Request
	// lambdaTargets maps a function name to what Invoke forwards to (an emulator); invocations
	// records every Invoke (interactions.go).
	lambdaTargets map[string]LambdaTarget
	invocations   []Invocation
	calls         []Call
	updates       []ServiceUpdate // accepted UpdateService requests (updates.go)
	faults        []*faultState
	latency       time.Duration
	closing       chan struct{}
	closeOnce     sync.Once
	logSeq        uint64
}

// New returns a Sandbox with the "healthy" scenario loaded.
func New(opts Options) *Sandbox {
	opts = opts.withDefaults()
	s := &Sandbox{
		opts:       opts,
		names:      config.Defaults(opts.Env),
		log:        opts.Logger,
		hookFail:   map[string]bool{},
		closing:    make(chan struct{}),
		slackAPI:   slackState{token: SlackBotToken, channels: map[string]bool{SlackChannel: true}, messages: map[string]slackMessage{}, files: map[string]*slackFile{}},
		discordMsg: map[string]string{},
	}
	if err := s.LoadScenario("healthy"); err != nil {
		// The healthy scenario is built in; failing to load it is a programming error.
		panic(fmt.Sprintf("sandbox: load healthy scenario: %v", err))
	}
	return s
}

// EnvName returns the environment name.
func (s *Sandbox) EnvName() string { return s.opts.Env }

// Names returns the resource names of the environment (config.Defaults of Options.Env).
func (s *Sandbox) Names() config.Names { return s.names }

// Start serves the sandbox on addr (e.g. "127.0.0.1:0") and returns its base URL and a stop
// function that releases held requests, cancels pending simulation timers and shuts the
// server down.
func (s *Sandbox) Start(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox server stopped", "err", err)
		}
	}()
	url := "http://" + ln.Addr().String()
	s.SetBaseURL(url)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
			}
			<-done
		})
	}
	return url, stop, nil
}

// TB is the part of testing.TB that StartTest uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// StartTest creates a Sandbox, serves it on a free local port, and stops it when the test
// ends. It fails the test if the server cannot start.
func StartTest(tb TB, opts Options) *Sandbox {
	tb.Helper()
	s := New(opts)
	_, stop, err := s.Start("127.0.0.1:0")
	if err != nil {
		tb.Fatalf("start sandbox: %v", err)
	}
	tb.Cleanup(stop)
	return s
}

// Close releases requests held by a timeout fault and stops the simulation (pending task
// starts never happen). The HTTP handler keeps answering.
func (s *Sandbox) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	s.gen++
	s.mu.Unlock()
}

// SetBaseURL tells the sandbox its own URL (Start does it). Use it when serving the sandbox
// with httptest.NewServer: Env and the templates in secrets need it.
func (s *Sandbox) SetBaseURL(u string) {
	s.mu.Lock()
	s.baseURL = strings.TrimRight(u, "/")
	s.mu.Unlock()
}

// URL is the base URL the sandbox is served at ("" before Start or SetBaseURL).
func (s *Sandbox) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// ReportTopicARN is the environment's report topic.
func (s *Sandbox) ReportTopicARN() string {
	return "arn:aws:sns:" + Region + ":" + AccountID + ":arrakis-" + s.opts.Env + "-gp-remediation-reports"
}

// WebhooksSecretName is the secret holding the Slack and Discord webhook URLs.
func (s *Sandbox) WebhooksSecretName() string {
	return "arrakis-" + s.opts.Env + "/gp-remediation/webhooks"
}

// SlackBotSecretName is the secret holding {"bot_token": …} for the Slack Web API stand-in
// (GPR_SLACK_BOT_SECRET; Env leaves it unset, so functions use the webhook unless told).
func (s *Sandbox) SlackBotSecretName() string {
	return "arrakis-" + s.opts.Env + "/gp-remediation/slack-bot"
}

// PagerDutySecretName is the secret holding {"routing_key": …}.
func (s *Sandbox) PagerDutySecretName() string {
	return "arrakis-" + s.opts.Env + "/gp-remediation/pagerduty"
}

// Env returns the environment variables a function needs to talk to this sandbox (the SDK's
// standard endpoint setting, fake static credentials, region, and the GPR_* settings). It
// needs the base URL (Start or SetBaseURL). DynamoDB is not served here: leave
// GPR_LEDGER_TABLE unset (in-memory ledger) or point AWS_ENDPOINT_URL_DYNAMODB elsewhere.
func (s *Sandbox) Env() map[string]string {
	base := s.URL()
	return EnvFor(base, s.opts.Env)
}

// EnvFor is Env for a sandbox served at baseURL for environment env, without one running
// (sandbox/cmd/sandbox -print-env uses it).
func EnvFor(baseURL, env string) map[string]string {
	base := strings.TrimRight(baseURL, "/")
	n := config.Defaults(env)
	return map[string]string{
		"AWS_ENDPOINT_URL":           base,
		"AWS_ACCESS_KEY_ID":          AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":      SecretAccessKey,
		"AWS_REGION":                 Region,
		"AWS_DEFAULT_REGION":         Region,
		"AWS_EC2_METADATA_DISABLED":  "true",
		config.EnvEnvironment:        env,
		config.EnvReportTopicARN:     "arn:aws:sns:" + Region + ":" + AccountID + ":arrakis-" + env + "-gp-remediation-reports",
		config.EnvKillSwitchParam:    n.KillSwitchParam,
		config.EnvCluster:            n.Cluster,
		config.EnvIngestorService:    n.IngestorService,
		config.EnvWorkerService:      n.WorkerService,
		config.EnvIngestorLogGroup:   n.IngestorLogGroup,
		config.EnvWorkerLogGroup:     n.WorkerLogGroup,
		config.EnvBroker:             n.Broker,
		config.EnvQueue:              n.Queue,
		config.EnvDLQ:                n.DLQ,
		config.EnvRabbitSecret:       n.RabbitSecret,
		config.EnvDatabaseSecret:     n.DatabaseSecret,
		config.EnvDiscordSecret:      n.DiscordSecret,
		config.EnvWebhooksSecret:     "arrakis-" + env + "/gp-remediation/webhooks",
		config.EnvPagerDutySecret:    "arrakis-" + env + "/gp-remediation/pagerduty",
		config.EnvPagerDutyURL:       base + "/_sandbox/pagerduty/v2/enqueue",
		config.EnvDiscordAPIURL:      base + "/_sandbox/discord/api/v10",
		config.EnvPictureBucket:      PictureBucketFor(env),
		config.EnvOffers:             "true",
		config.EnvApprovers:          ApproversValue,
		config.EnvInteractionsSecret: InteractionsSecretFor(env),
	}
}

// AWSConfig returns an aws.Config for the real SDK clients aimed at this sandbox: static fake
// credentials, us-east-1, BaseEndpoint = the sandbox URL. It does not read the process
// environment's endpoint settings, so it is safe in parallel tests.
func (s *Sandbox) AWSConfig(ctx context.Context, optFns ...func(*awsconfig.LoadOptions) error) (aws.Config, error) {
	base := s.URL()
	if base == "" {
		return aws.Config{}, errors.New("sandbox has no URL: call Start or SetBaseURL first")
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(Region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		awsconfig.WithBaseEndpoint(base),
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, append(opts, optFns...)...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config for sandbox: %w", err)
	}
	return cfg, nil
}

// ServeHTTP dispatches on the request: /_sandbox/... for the stand-ins and the admin API,
// otherwise an AWS call recognised by its protocol (X-Amz-Target for awsJson, the
// /service/…/operation/… path for rpcv2-cbor, a form body for awsQuery).
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") || r.URL.Path == "/_sandbox" {
		s.serveSandbox(w, r)
		return
	}
	if isS3(r) {
		s.serveS3(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/2015-03-31/functions/") {
		s.serveLambda(w, r)
		return
	}
	s.serveAWS(w, r)
}

func (s *Sandbox) now() time.Time { return s.opts.Now() }

// baseFor is the URL templates expand to: the configured base URL, else what the client used.
func (s *Sandbox) baseFor(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	return "http://" + r.Host
}
