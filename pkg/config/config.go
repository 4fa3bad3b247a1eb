// Package config is the one place that knows the functions' environment variables: their
// names, defaults (derived from the environment name, as the runbook names things) and
// validation. Load reports every problem at once, so a broken deployment is fixed in one go.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Environment variable names. The CDK stack sets them; `make invoke` sets them for the sandbox.
const (
	EnvEnvironment     = "GPR_ENV"               // required: staging, production, ...
	EnvMode            = "GPR_MODE"              // off | dry-run | on (default dry-run)
	EnvKillSwitchParam = "GPR_KILL_SWITCH_PARAM" // SSM parameter; "on"/"true"/"1" stops every action
	EnvReportTopicARN  = "GPR_REPORT_TOPIC_ARN"  // required: the report SNS topic
	EnvLedgerTable     = "GPR_LEDGER_TABLE"      // DynamoDB ledger; empty means an in-memory ledger (local only)
	EnvIncidents       = "GPR_INCIDENTS"         // keep the environment's incident in the ledger table (default true)

	EnvCluster          = "GPR_CLUSTER"
	EnvIngestorService  = "GPR_INGESTOR_SERVICE"
	EnvWorkerService    = "GPR_WORKER_SERVICE"
	EnvIngestorLogGroup = "GPR_INGESTOR_LOG_GROUP"
	EnvWorkerLogGroup   = "GPR_WORKER_LOG_GROUP"
	EnvDashboard        = "GPR_DASHBOARD"

	EnvBroker           = "GPR_BROKER"          // Amazon MQ broker name (the AWS/AmazonMQ Broker dimension)
	EnvVirtualHost      = "GPR_VHOST"           // RabbitMQ virtual host (the AWS/AmazonMQ VirtualHost dimension), default "/"
	EnvQueue            = "GPR_QUEUE"           // the work queue the worker consumes
	EnvDLQ              = "GPR_DLQ"             // the dead-letter queue
	EnvParkingQueue     = "GPR_PARKING_QUEUE"   // optional: where bad-data DLQ messages are parked
	EnvRabbitSecret     = "GPR_RABBITMQ_SECRET" // username, password, management_url, amqp_url
	EnvDatabaseSecret   = "GPR_DATABASE_SECRET" // host, port, username, password, dbname (or dsn)
	EnvDiscordSecret    = "GPR_DISCORD_SECRET"  // bot token used for GET /gateway/bot
	EnvDiscordAPIURL    = "GPR_DISCORD_API_URL"
	EnvWebhooksSecret   = "GPR_WEBHOOKS_SECRET"  // optional: slack_webhook_url, discord_webhook_url
	EnvPagerDutySecret  = "GPR_PAGERDUTY_SECRET" // optional: routing_key
	EnvPagerDutyURL     = "GPR_PAGERDUTY_URL"
	EnvSlackBotSecret   = "GPR_SLACK_BOT_SECRET" // optional: bot_token; with GPR_SLACK_CHANNEL, Slack reports thread
	EnvSlackChannel     = "GPR_SLACK_CHANNEL"    // the channel id the bot posts to
	EnvSlackAPIURL      = "GPR_SLACK_API_URL"
	EnvIngestorConnName = "GPR_INGESTOR_CONNECTION" // client-provided RabbitMQ connection name prefix
	EnvWorkerConnName   = "GPR_WORKER_CONNECTION"

	EnvAllowRollback      = "GPR_ALLOW_ROLLBACK"          // policy switch, default false
	EnvAllowRaiseMemory   = "GPR_ALLOW_RAISE_MEMORY"      // policy switch, default false
	EnvMaxWorkers         = "GPR_MAX_WORKERS"             // default 3 (the runbook's scale-up)
	EnvScaleStep          = "GPR_SCALE_STEP"              // default 1
	EnvMemoryFactor       = "GPR_MEMORY_FACTOR"           // default 1.5
	EnvMaxTaskMemoryMiB   = "GPR_MAX_TASK_MEMORY_MIB"     // default 4096
	EnvMaxReplaysPerRun   = "GPR_MAX_REPLAYS_PER_RUN"     // default 500
	EnvMaxReplaysPerMsg   = "GPR_MAX_REPLAYS_PER_MESSAGE" // default 3
	EnvMaxReplaysPerHour  = "GPR_DLQ_MAX_REPLAY_PER_HOUR" // messages replayed or parked per hour across runs, default 2000
	EnvDLQAssumeClassic   = "GPR_DLQ_ASSUME_CLASSIC"      // peek even when the DLQ's type cannot be read (default false)
	EnvPeekSample         = "GPR_PEEK_SAMPLE"             // default 100
	EnvRestartBudget      = "GPR_RESTART_BUDGET"          // forced deployments per service per 24 h, default 3
	EnvRestartCooldown    = "GPR_RESTART_COOLDOWN"        // default 15m
	EnvLeakRestartEvery   = "GPR_LEAK_RESTART_INTERVAL"   // memory-high leak restarts, default 6h
	EnvIncidentMaxAge     = "GPR_INCIDENT_MAX_AGE"        // an incident open longer is closed and a new ALARM opens another, default 24h
	EnvAlarmNames         = "GPR_ALARM_NAMES"             // comma-separated: the alarms this function handles (read on a follow-up)
	EnvFollowUpInterval   = "GPR_FOLLOW_UP_INTERVAL"      // how often the stack's rule runs the follow-up, default 5m
	EnvScaleCooldown      = "GPR_SCALE_COOLDOWN"          // default 5m
	EnvMinDiscordSessions = "GPR_MIN_DISCORD_SESSIONS"    // default 5
	EnvMemoryHighPercent  = "GPR_MEMORY_HIGH_PERCENT"     // default 85 (the runbook's "sustained > 85%")

	EnvPictures       = "GPR_PICTURES"        // draw the alarm's metric into reports (default true)
	EnvPictureTimeout = "GPR_PICTURE_TIMEOUT" // GetMetricWidgetImage plus storing it, default 3s
	EnvPictureBucket  = "GPR_PICTURE_BUCKET"  // optional: S3 bucket for pictures linked by URL (Slack webhook, e-mail)
	EnvPictureURLTTL  = "GPR_PICTURE_URL_TTL" // how long a picture's presigned URL works, default 1h

	EnvOffers             = "GPR_OFFERS"              // offer held-back fixes for approval as buttons (default false; the stack sets it when the environment has approvers)
	EnvOfferTTL           = "GPR_OFFER_TTL"           // how long an offer can be approved, default 30m
	EnvApprovers          = "GPR_APPROVERS"           // approve: slack:<id>, discord:user:<id>, discord:role:<id>, comma-separated
	EnvApprovalsRequired  = "GPR_APPROVALS_REQUIRED"  // approve: different approvers an offer needs, 1 or 2 (default 1)
	EnvInteractionsSecret = "GPR_INTERACTIONS_SECRET" // approve: slack_signing_secret, discord_public_key, discord_application_id

	EnvProbeTimeout   = "GPR_PROBE_TIMEOUT"   // per diagnostic probe, default 8s
	EnvVerifyTimeout  = "GPR_VERIFY_TIMEOUT"  // bounded wait after acting, default 60s
	EnvVerifyInterval = "GPR_VERIFY_INTERVAL" // default 5s
	EnvStableTimeout  = "GPR_STABLE_TIMEOUT"  // a manual operation's wait for services-stable or a draining queue, default 3m (a Complete System Restart waits up to 4 times: it must fit Lambda's 15 min)
	EnvLockTTL        = "GPR_LOCK_TTL"        // default 5m

	EnvRegion = "AWS_REGION" // set by Lambda; used for console links
)

// Mode says what a function may do in an environment.
type Mode string

const (
	ModeOff    Mode = "off"     // do nothing but log a Result
	ModeDryRun Mode = "dry-run" // diagnose, decide and report what would be done
	ModeOn     Mode = "on"      // act
)

// Config is everything a function needs, typed and validated.
type Config struct {
	Environment     string
	Mode            Mode
	KillSwitchParam string
	ReportTopicARN  string
	LedgerTable     string
	Incidents       bool
	Region          string

	Cluster          string
	IngestorService  string
	WorkerService    string
	IngestorLogGroup string
	WorkerLogGroup   string
	Dashboard        string

	Broker           string
	VirtualHost      string
	Queue            string
	DLQ              string
	ParkingQueue     string
	RabbitSecret     string
	DatabaseSecret   string
	DiscordSecret    string
	DiscordAPIURL    string
	WebhooksSecret   string
	PagerDutySecret  string
	PagerDutyURL     string
	SlackBotSecret   string
	SlackChannel     string
	SlackAPIURL      string
	IngestorConnName string
	WorkerConnName   string

	AllowRollback      bool
	AllowRaiseMemory   bool
	MaxWorkers         int
	ScaleStep          int
	MemoryFactor       float64
	MaxTaskMemoryMiB   int
	MaxReplaysPerRun   int
	MaxReplaysPerMsg   int
	MaxReplaysPerHour  int
	PeekSample         int
	DLQAssumeClassic   bool
	RestartBudget      int
	RestartCooldown    time.Duration
	LeakRestartEvery   time.Duration
	IncidentMaxAge     time.Duration
	AlarmNames         []string
	FollowUpInterval   time.Duration
	ScaleCooldown      time.Duration
	MinDiscordSessions int
	MemoryHighPercent  float64

	Pictures       bool
	PictureTimeout time.Duration
	PictureBucket  string
	PictureURLTTL  time.Duration

	Offers             bool
	OfferTTL           time.Duration
	Approvers          string // parsed by pkg/offer (ParseApprovers) where it is used
	ApprovalsRequired  int
	InteractionsSecret string

	ProbeTimeout   time.Duration
	VerifyTimeout  time.Duration
	VerifyInterval time.Duration
	StableTimeout  time.Duration
	LockTTL        time.Duration
}

// Load reads the configuration through getenv (os.Getenv in main, a map in tests) and returns
// every problem it found, joined, or none.
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	env := strings.TrimSpace(getenv(EnvEnvironment))
	if env == "" {
		r.fail("%s is required (the environment name, e.g. staging)", EnvEnvironment)
	} else if !validEnvName(env) {
		r.fail("%s=%q: use lower-case letters, digits and '-'", EnvEnvironment, env)
	}
	d := Defaults(env)
	c := Config{
		Environment:     env,
		Mode:            r.mode(),
		KillSwitchParam: r.str(EnvKillSwitchParam, d.KillSwitchParam),
		ReportTopicARN:  r.str(EnvReportTopicARN, ""),
		LedgerTable:     r.str(EnvLedgerTable, ""),
		Incidents:       r.boolean(EnvIncidents, true),
		Region:          r.str(EnvRegion, "us-east-1"),

		Cluster:          r.str(EnvCluster, d.Cluster),
		IngestorService:  r.str(EnvIngestorService, d.IngestorService),
		WorkerService:    r.str(EnvWorkerService, d.WorkerService),
		IngestorLogGroup: r.str(EnvIngestorLogGroup, d.IngestorLogGroup),
		WorkerLogGroup:   r.str(EnvWorkerLogGroup, d.WorkerLogGroup),
		Dashboard:        r.str(EnvDashboard, d.Dashboard),

		Broker:           r.str(EnvBroker, d.Broker),
		VirtualHost:      r.str(EnvVirtualHost, "/"),
		Queue:            r.str(EnvQueue, d.Queue),
		DLQ:              r.str(EnvDLQ, d.DLQ),
		ParkingQueue:     r.str(EnvParkingQueue, ""),
		RabbitSecret:     r.str(EnvRabbitSecret, d.RabbitSecret),
		DatabaseSecret:   r.str(EnvDatabaseSecret, d.DatabaseSecret),
		DiscordSecret:    r.str(EnvDiscordSecret, d.DiscordSecret),
		DiscordAPIURL:    r.url(EnvDiscordAPIURL, "https://discord.com/api/v10"),
		WebhooksSecret:   r.str(EnvWebhooksSecret, ""),
		PagerDutySecret:  r.str(EnvPagerDutySecret, ""),
		PagerDutyURL:     r.url(EnvPagerDutyURL, "https://events.pagerduty.com/v2/enqueue"),
		SlackBotSecret:   r.str(EnvSlackBotSecret, ""),
		SlackChannel:     r.str(EnvSlackChannel, ""),
		SlackAPIURL:      r.url(EnvSlackAPIURL, "https://slack.com/api"),
		IngestorConnName: r.str(EnvIngestorConnName, "ingestor"),
		WorkerConnName:   r.str(EnvWorkerConnName, "gp-worker"),

		AllowRollback:      r.boolean(EnvAllowRollback, false),
		AllowRaiseMemory:   r.boolean(EnvAllowRaiseMemory, false),
		MaxWorkers:         r.integer(EnvMaxWorkers, 3, 1, 100),
		ScaleStep:          r.integer(EnvScaleStep, 1, 1, 10),
		MemoryFactor:       r.float(EnvMemoryFactor, 1.5, 1.0, 4.0),
		MaxTaskMemoryMiB:   r.integer(EnvMaxTaskMemoryMiB, 4096, 128, 120*1024),
		MaxReplaysPerRun:   r.integer(EnvMaxReplaysPerRun, 500, 0, 100000),
		MaxReplaysPerMsg:   r.integer(EnvMaxReplaysPerMsg, 3, 0, 100),
		MaxReplaysPerHour:  r.integer(EnvMaxReplaysPerHour, 2000, 0, 1_000_000),
		PeekSample:         r.integer(EnvPeekSample, 100, 1, 10000),
		DLQAssumeClassic:   r.boolean(EnvDLQAssumeClassic, false),
		RestartBudget:      r.integer(EnvRestartBudget, 3, 0, 100),
		RestartCooldown:    r.duration(EnvRestartCooldown, 15*time.Minute),
		LeakRestartEvery:   r.duration(EnvLeakRestartEvery, 6*time.Hour),
		IncidentMaxAge:     r.duration(EnvIncidentMaxAge, 24*time.Hour),
		AlarmNames:         r.list(EnvAlarmNames),
		FollowUpInterval:   r.duration(EnvFollowUpInterval, 5*time.Minute),
		ScaleCooldown:      r.duration(EnvScaleCooldown, 5*time.Minute),
		MinDiscordSessions: r.integer(EnvMinDiscordSessions, 5, 0, 1000000),
		MemoryHighPercent:  r.float(EnvMemoryHighPercent, 85, 1, 100),

		Pictures:       r.boolean(EnvPictures, true),
		PictureTimeout: r.duration(EnvPictureTimeout, 3*time.Second),
		PictureBucket:  r.str(EnvPictureBucket, ""),
		PictureURLTTL:  r.duration(EnvPictureURLTTL, time.Hour),

		Offers:             r.boolean(EnvOffers, false),
		OfferTTL:           r.duration(EnvOfferTTL, 30*time.Minute),
		Approvers:          r.str(EnvApprovers, ""),
		ApprovalsRequired:  r.integer(EnvApprovalsRequired, 1, 1, 2),
		InteractionsSecret: r.str(EnvInteractionsSecret, ""),

		ProbeTimeout:   r.duration(EnvProbeTimeout, 8*time.Second),
		VerifyTimeout:  r.duration(EnvVerifyTimeout, 60*time.Second),
		VerifyInterval: r.duration(EnvVerifyInterval, 5*time.Second),
		StableTimeout:  r.duration(EnvStableTimeout, 3*time.Minute),
		LockTTL:        r.duration(EnvLockTTL, 5*time.Minute),
	}
	if c.ReportTopicARN == "" {
		r.fail("%s is required (the report SNS topic ARN)", EnvReportTopicARN)
	} else if !strings.HasPrefix(c.ReportTopicARN, "arn:") {
		r.fail("%s=%q is not an ARN", EnvReportTopicARN, c.ReportTopicARN)
	}
	if c.VerifyInterval > c.VerifyTimeout {
		r.fail("%s (%s) must not exceed %s (%s)", EnvVerifyInterval, c.VerifyInterval, EnvVerifyTimeout, c.VerifyTimeout)
	}
	if c.PictureURLTTL > 7*24*time.Hour {
		r.fail("%s (%s) exceeds the 7 days a presigned URL can last", EnvPictureURLTTL, c.PictureURLTTL)
	}
	if c.StableTimeout <= 0 || c.StableTimeout > 3*time.Minute+30*time.Second {
		r.fail("%s (%s) must be more than 0 and at most 3m30s: a Complete System Restart waits up to 4 times and must end within Lambda's 15 minutes", EnvStableTimeout, c.StableTimeout)
	}
	if c.OfferTTL <= 0 || c.OfferTTL > 24*time.Hour {
		r.fail("%s (%s) must be more than 0 and at most 24h", EnvOfferTTL, c.OfferTTL)
	}
	if len(r.errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %w", errors.Join(r.errs...))
	}
	return c, nil
}

// Names are the runbook's resource names for one environment.
type Names struct {
	Cluster, IngestorService, WorkerService     string
	IngestorLogGroup, WorkerLogGroup, Dashboard string
	Broker, Queue, DLQ                          string
	RabbitSecret, DatabaseSecret, DiscordSecret string
	KillSwitchParam                             string
}

// Defaults derives every name from the environment name, as the runbook spells them.
func Defaults(env string) Names {
	return Names{
		Cluster:          "arrakis-" + env + "-cluster",
		IngestorService:  "arrakis-" + env + "-ingestor",
		WorkerService:    "arrakis-" + env + "-gp-worker",
		IngestorLogGroup: "/ecs/arrakis-" + env + "/ingestor",
		WorkerLogGroup:   "/ecs/arrakis-" + env + "/gp-worker",
		Dashboard:        "arrakis-" + env + "-gateway-proxy",
		Broker:           "arrakis-" + env + "-rabbitmq",
		Queue:            "arrakis.interactions",
		DLQ:              "arrakis.dlq",
		RabbitSecret:     "arrakis-" + env + "/rabbitmq",
		DatabaseSecret:   "arrakis-" + env + "/database",
		DiscordSecret:    "arrakis-" + env + "/discord",
		KillSwitchParam:  "/arrakis-" + env + "/gp-remediation/kill-switch",
	}
}

func validEnvName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return len(s) <= 32
}

// reader collects every parse problem instead of stopping at the first.
type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

// list reads a comma-separated list, leaving out empty items.
func (r *reader) list(name string) []string {
	var out []string
	for _, item := range strings.Split(r.getenv(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (r *reader) mode() Mode {
	switch v := Mode(strings.ToLower(r.str(EnvMode, string(ModeDryRun)))); v {
	case ModeOff, ModeDryRun, ModeOn:
		return v
	default:
		r.fail("%s=%q: want off, dry-run or on", EnvMode, v)
		return ModeDryRun
	}
}

func (r *reader) url(name, def string) string {
	v := r.str(name, def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail("%s: not an http(s) URL", name) // the value may hold a secret: never echo it
		return def
	}
	return strings.TrimRight(v, "/")
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail("%s=%q: want true or false", name, v)
		return def
	}
	return b
}

func (r *reader) integer(name string, def, lo, hi int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail("%s=%q: want an integer from %d to %d", name, v, lo, hi)
		return def
	}
	return n
}

func (r *reader) float(name string, def, lo, hi float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		r.fail("%s=%q: want a number from %g to %g", name, v, lo, hi)
		return def
	}
	return f
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail("%s=%q: want a positive duration such as 30s or 15m", name, v)
		return def
	}
	return d
}

// RuntimeEnv is the Go runtime's settings for a function of memoryMiB: the collector is off
// (GOGC=off) and runs only as the heap nears three quarters of the function's memory
// (GOMEMLIMIT), the configuration Go's GC guide gives for a program with a known memory
// budget. A Lambda invocation's live heap is small and short-lived, so this mostly saves the
// collections during package initialization, where the AWS SDK builds its operation schemas
// (about a third of the cold start measured on this machine).
func RuntimeEnv(memoryMiB int) map[string]string {
	return map[string]string{"GOGC": "off", "GOMEMLIMIT": fmt.Sprintf("%dMiB", memoryMiB*3/4)}
}
