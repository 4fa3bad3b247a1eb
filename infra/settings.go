package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/arrakis/gp-remediation/pkg/config"
)

// Settings are one environment's deployment settings, read from cdk.json's
// context.environments.<env>. Every field has a default except account, region and network;
// resource names default to the runbook's, derived from the environment name by
// config.Defaults so the stack and the functions never disagree.
type Settings struct {
	Env string `json:"-"` // the key under "environments"

	Account string `json:"account"`
	Region  string `json:"region"`
	// Mode is off, dry-run or on. Absent means dry-run: a new environment watches before it acts.
	Mode                  config.Mode `json:"mode"`
	TerminationProtection bool        `json:"terminationProtection"`

	// Names overrides config.Defaults(env) field by field (JSON keys match the field names,
	// e.g. "workerService", "killSwitchParam").
	Names        config.Names `json:"names"`
	ParkingQueue string       `json:"parkingQueue"` // optional: where the dlq function parks bad data

	Network   Network   `json:"network"`
	Policy    Policy    `json:"policy"`
	Caps      Caps      `json:"caps"`
	Budgets   Budgets   `json:"budgets"`
	Timeouts  Timeouts  `json:"timeouts"`
	Reports   Reports   `json:"reports"`
	Alarms    Alarms    `json:"alarms"`
	Incidents Incidents `json:"incidents"`

	// Functions overrides the memory and timeout of a function, by short name.
	Functions        map[string]FunctionSize `json:"functions"`
	LogRetentionDays int                     `json:"logRetentionDays"`
	// SecretsKeyARNs are customer-managed KMS keys the referenced secrets are encrypted with
	// (none when they use the account's aws/secretsmanager key).
	SecretsKeyARNs []string `json:"secretsKeyArns"`

	// Approvals (approvers, approvalsRequired, offerTTL, interactionsSecret: see approve.go).
	Approvals
}

// Network places the functions that must reach the broker or the database (queue-depth, dlq)
// in the environment's VPC. The other two only call AWS APIs and Discord, so they stay out.
type Network struct {
	VPCID     string   `json:"vpcId"`
	SubnetIDs []string `json:"subnetIds"` // private subnets with a route to the AWS APIs
	// AvailabilityZones of the subnets, in the same order (CDK needs them to import a VPC
	// without looking it up, so synth works offline).
	AvailabilityZones []string `json:"availabilityZones"`
	SecurityGroupIDs  []string `json:"securityGroupIds"`
}

// Policy holds the opt-in actions (config's GPR_ALLOW_*).
type Policy struct {
	AllowRollback    bool `json:"allowRollback"`
	AllowRaiseMemory bool `json:"allowRaiseMemory"`
	// PassRoleARNs are the task and execution roles of the two services. Registering a task
	// definition with more memory passes them; when empty, PassRole is limited to roles passed
	// to ECS tasks in this account instead.
	PassRoleARNs []string `json:"passRoleArns"`
}

// Caps bound what one decision may do.
type Caps struct {
	MaxWorkers           int     `json:"maxWorkers"`
	ScaleStep            int     `json:"scaleStep"`
	MemoryFactor         float64 `json:"memoryFactor"`
	MaxTaskMemoryMiB     int     `json:"maxTaskMemoryMiB"`
	MaxReplaysPerRun     int     `json:"maxReplaysPerRun"`
	MaxReplaysPerMessage int     `json:"maxReplaysPerMessage"`
	// MaxReplaysPerHour bounds what the dlq function moves per hour across runs.
	MaxReplaysPerHour int `json:"maxReplaysPerHour"`
	PeekSample        int `json:"peekSample"`
}

// Budgets and cooldowns bound how often actions may hit one target.
type Budgets struct {
	RestartBudget       int      `json:"restartBudget"`
	RestartCooldown     Duration `json:"restartCooldown"`
	LeakRestartInterval Duration `json:"leakRestartInterval"`
	ScaleCooldown       Duration `json:"scaleCooldown"`
	MinDiscordSessions  int      `json:"minDiscordSessions"`
	LockTTL             Duration `json:"lockTTL"`
}

// Timeouts of the pipeline inside one invocation.
type Timeouts struct {
	Probe          Duration `json:"probe"`
	Verify         Duration `json:"verify"`
	VerifyInterval Duration `json:"verifyInterval"`
}

// Incidents sets how the functions follow an incident through.
type Incidents struct {
	// FollowUpInterval is how often each function's scheduled rule runs it again while one of
	// its alarms stays in ALARM (whole minutes, 1 to 60).
	FollowUpInterval Duration `json:"followUpInterval"`
	// MaxAge closes an incident still open after it, whatever its alarms say.
	MaxAge Duration `json:"maxAge"`
}

// Reports says where reports go besides the report topic.
type Reports struct {
	Emails []string `json:"emails"` // subscribed to the report topic (each confirms by e-mail)
	// WebhooksSecret holds slack_webhook_url and/or discord_webhook_url; PagerDutySecret holds
	// routing_key. Empty means that sink is not used in this environment.
	WebhooksSecret  string `json:"webhooksSecret"`
	PagerDutySecret string `json:"pagerDutySecret"`
	// SlackBotSecret holds bot_token and SlackChannel is the channel id it posts to: with both,
	// an incident's reports thread in Slack (without them Slack gets the webhook, if any).
	SlackBotSecret string `json:"slackBotSecret"`
	SlackChannel   string `json:"slackChannel"`
}

// Alarms says whether the stack creates the runbook's alarms or listens to existing ones.
type Alarms struct {
	// Create true: the stack creates the five alarms and one topic per function.
	// Create false: the functions subscribe to Topics, filtered on the alarm names.
	Create bool                `json:"create"`
	Topics map[string][]string `json:"topics"` // function -> existing topic ARNs (Create false)
	// Names overrides alarm names by key (see alarmKeys); by default "arrakis-{env} <runbook title>".
	Names map[string]string `json:"names"`

	NoTasks    Threshold `json:"noTasks"`
	QueueDepth Threshold `json:"queueDepth"`
	DLQ        Threshold `json:"dlq"`
	// MemoryHigh.Threshold is also the functions' GPR_MEMORY_HIGH_PERCENT: one number for both.
	MemoryHigh Threshold `json:"memoryHigh"`

	// ThrottlesPer15Min: reserved concurrency 1 serialises invocations, so two alarms at once
	// throttle one of them briefly (Lambda retries it); only a sustained count is a problem.
	ThrottlesPer15Min int `json:"throttlesPer15Min"`
}

// Threshold of one metric alarm.
type Threshold struct {
	Threshold         float64 `json:"threshold"`
	PeriodSeconds     int     `json:"periodSeconds"`
	EvaluationPeriods int     `json:"evaluationPeriods"`
	DatapointsToAlarm int     `json:"datapointsToAlarm"`
}

// FunctionSize overrides a function's memory (MiB) and timeout (seconds).
type FunctionSize struct {
	MemoryMiB      int `json:"memoryMiB"`
	TimeoutSeconds int `json:"timeoutSeconds"`
}

// Duration reads "15m" or "90s" in JSON.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"15m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// String is Go's spelling without trailing zero units ("6h", "15m", "1m30s"), which
// time.ParseDuration (and so pkg/config) reads back unchanged.
func (d Duration) String() string {
	str := time.Duration(d).String()
	if strings.HasSuffix(str, "m0s") {
		str = strings.TrimSuffix(str, "0s")
	}
	if strings.HasSuffix(str, "h0m") {
		str = strings.TrimSuffix(str, "0m")
	}
	return str
}

// defaultSettings holds every default for env. Tuning defaults come from config.Load itself,
// so the functions' defaults and the stack's are one set of numbers.
func defaultSettings(env string) Settings {
	c := configDefaults()
	return Settings{
		Env:   env,
		Mode:  config.ModeDryRun,
		Names: config.Defaults(env),
		Policy: Policy{
			AllowRollback:    c.AllowRollback,
			AllowRaiseMemory: c.AllowRaiseMemory,
		},
		Caps: Caps{
			MaxWorkers: c.MaxWorkers, ScaleStep: c.ScaleStep, MemoryFactor: c.MemoryFactor,
			MaxTaskMemoryMiB: c.MaxTaskMemoryMiB, MaxReplaysPerRun: c.MaxReplaysPerRun,
			MaxReplaysPerMessage: c.MaxReplaysPerMsg, MaxReplaysPerHour: c.MaxReplaysPerHour, PeekSample: c.PeekSample,
		},
		Budgets: Budgets{
			RestartBudget: c.RestartBudget, RestartCooldown: Duration(c.RestartCooldown),
			LeakRestartInterval: Duration(c.LeakRestartEvery), ScaleCooldown: Duration(c.ScaleCooldown),
			MinDiscordSessions: c.MinDiscordSessions, LockTTL: Duration(c.LockTTL),
		},
		Timeouts: Timeouts{
			Probe: Duration(c.ProbeTimeout), Verify: Duration(c.VerifyTimeout),
			VerifyInterval: Duration(c.VerifyInterval),
		},
		Alarms: Alarms{
			Create: true,
			// Container Insights publishes every minute: two empty minutes is an outage, one
			// may be a task replacement.
			NoTasks: Threshold{Threshold: 1, PeriodSeconds: 60, EvaluationPeriods: 2, DatapointsToAlarm: 2},
			// Amazon MQ publishes queue metrics every minute; 5 minutes above the line is a
			// backlog rather than a burst.
			QueueDepth: Threshold{Threshold: 1000, PeriodSeconds: 60, EvaluationPeriods: 5, DatapointsToAlarm: 5},
			DLQ:        Threshold{Threshold: 0, PeriodSeconds: 60, EvaluationPeriods: 1, DatapointsToAlarm: 1},
			// The runbook's "sustained > 85%": three 5-minute averages.
			MemoryHigh:        Threshold{Threshold: c.MemoryHighPercent, PeriodSeconds: 300, EvaluationPeriods: 3, DatapointsToAlarm: 3},
			ThrottlesPer15Min: 10,
		},
		Incidents:        Incidents{FollowUpInterval: Duration(c.FollowUpInterval), MaxAge: Duration(c.IncidentMaxAge)},
		LogRetentionDays: 30,
		Approvals:        defaultApprovals(env),
	}
}

// placeholderTopicARN stands in for the report topic's ARN (a CloudFormation token at synth
// time) when the rendered environment is checked with config.Load.
const placeholderTopicARN = "arn:aws:sns:us-east-1:000000000000:placeholder"

// Functions are the four functions, in the runbook's order.
var functionNames = []string{fnNoTasks, fnQueueDepth, fnDLQ, fnMemoryHigh}

const (
	fnNoTasks    = "no-tasks"
	fnQueueDepth = "queue-depth"
	fnDLQ        = "dlq"
	fnMemoryHigh = "memory-high"
)

// functionSpec is what differs between the functions, in one table.
type functionSpec struct {
	Name        string
	Description string
	MemoryMiB   int
	Timeout     time.Duration
	InVPC       bool // reaches the broker or the database
	Alarms      []string
	// States the function acts on; CloudWatch sends OK to queue-depth (its scale-back) and to
	// no-tasks (a CRITICAL alarm's return to OK resolves its PagerDuty incident).
	States []string
	// Secrets it reads besides the report sinks' (webhooks, PagerDuty), by config env var.
	Secrets []string
	// GoMaxProcs, when set, becomes the function's GOMAXPROCS. Lambda shows the runtime two
	// CPUs at any memory size while granting a fraction of one below 1,769 MB; a replay handing
	// every delivery and confirm between two Ps then pays thread hand-offs on CPU it does not
	// have (BenchmarkReplayVsShovel: one P moved 10,000 messages ~20 % faster than two).
	GoMaxProcs int
}

var functionSpecs = map[string]functionSpec{
	fnNoTasks: {
		Name: fnNoTasks, Description: "Remediates No Ingestor/Worker Tasks Running",
		MemoryMiB: 256, Timeout: 2 * time.Minute,
		Alarms: []string{alarmNoIngestorTasks, alarmNoWorkerTasks}, States: []string{"ALARM", "OK"},
		Secrets: []string{config.EnvDiscordSecret},
	},
	fnQueueDepth: {
		Name: fnQueueDepth, Description: "Remediates Queue Depth High and scales back on OK",
		MemoryMiB: 256, Timeout: 2 * time.Minute, InVPC: true,
		Alarms: []string{alarmQueueDepthHigh}, States: []string{"ALARM", "OK"},
		Secrets: []string{config.EnvRabbitSecret, config.EnvDatabaseSecret},
	},
	fnDLQ: {
		Name: fnDLQ, Description: "Triages and replays DLQ Messages",
		// Peeking and replaying hundreds of messages with confirms takes longest.
		MemoryMiB: 512, Timeout: 5 * time.Minute, InVPC: true,
		Alarms: []string{alarmDLQMessages}, States: []string{"ALARM"},
		Secrets: []string{config.EnvRabbitSecret}, GoMaxProcs: 1,
	},
	fnMemoryHigh: {
		Name: fnMemoryHigh, Description: "Remediates Ingestor Memory High",
		MemoryMiB: 256, Timeout: 2 * time.Minute,
		Alarms: []string{alarmIngestorMemoryHigh}, States: []string{"ALARM"},
		Secrets: []string{config.EnvDiscordSecret},
	},
	fnApprove: approveSpec,
}

// spec returns fn's spec with this environment's size overrides applied.
func (s Settings) spec(fn string) functionSpec {
	sp := functionSpecs[fn]
	if o, ok := s.Functions[fn]; ok {
		if o.MemoryMiB > 0 {
			sp.MemoryMiB = o.MemoryMiB
		}
		if o.TimeoutSeconds > 0 {
			sp.Timeout = time.Duration(o.TimeoutSeconds) * time.Second
		}
	}
	return sp
}

// FunctionName is the deployed name of a function: arrakis-{env}-remediate-{fn}.
func (s Settings) FunctionName(fn string) string { return "arrakis-" + s.Env + "-remediate-" + fn }

// StackName is the CloudFormation stack of the environment.
func (s Settings) StackName() string { return "arrakis-" + s.Env + "-gp-remediation" }

func (s Settings) prefix() string { return "arrakis-" + s.Env + "-gp-remediation" }

// secretName maps a secret env var to the secret's name in this environment.
func (s Settings) secretName(envVar string) string {
	switch envVar {
	case config.EnvRabbitSecret:
		return s.Names.RabbitSecret
	case config.EnvDatabaseSecret:
		return s.Names.DatabaseSecret
	case config.EnvDiscordSecret:
		return s.Names.DiscordSecret
	case config.EnvWebhooksSecret:
		return s.Reports.WebhooksSecret
	case config.EnvPagerDutySecret:
		return s.Reports.PagerDutySecret
	case config.EnvSlackBotSecret:
		return s.Reports.SlackBotSecret
	case config.EnvInteractionsSecret:
		return s.InteractionsSecret
	}
	return ""
}

// secrets lists the secret env vars fn reads in this environment, with names set.
func (s Settings) secrets(fn string) []string {
	out := slices.Clone(functionSpecs[fn].Secrets)
	for _, v := range []string{config.EnvWebhooksSecret, config.EnvPagerDutySecret, config.EnvSlackBotSecret} {
		if s.secretName(v) != "" {
			out = append(out, v)
		}
	}
	return out
}

// functionEnv is a function's environment: every name and tuning value, spelled with
// pkg/config's constants. topicARN and table may be CloudFormation tokens.
func (s Settings) functionEnv(fn, topicARN, table, pictureBucket string) map[string]string {
	n := s.Names
	env := map[string]string{
		config.EnvEnvironment:     s.Env,
		config.EnvMode:            string(s.Mode),
		config.EnvKillSwitchParam: n.KillSwitchParam,
		config.EnvReportTopicARN:  topicARN,
		config.EnvLedgerTable:     table,

		config.EnvCluster:          n.Cluster,
		config.EnvIngestorService:  n.IngestorService,
		config.EnvWorkerService:    n.WorkerService,
		config.EnvIngestorLogGroup: n.IngestorLogGroup,
		config.EnvWorkerLogGroup:   n.WorkerLogGroup,
		config.EnvDashboard:        n.Dashboard,
		config.EnvBroker:           n.Broker,
		config.EnvQueue:            n.Queue,
		config.EnvDLQ:              n.DLQ,

		config.EnvAllowRollback:      strconv.FormatBool(s.Policy.AllowRollback),
		config.EnvAllowRaiseMemory:   strconv.FormatBool(s.Policy.AllowRaiseMemory),
		config.EnvMaxWorkers:         strconv.Itoa(s.Caps.MaxWorkers),
		config.EnvScaleStep:          strconv.Itoa(s.Caps.ScaleStep),
		config.EnvMemoryFactor:       strconv.FormatFloat(s.Caps.MemoryFactor, 'g', -1, 64),
		config.EnvMaxTaskMemoryMiB:   strconv.Itoa(s.Caps.MaxTaskMemoryMiB),
		config.EnvMaxReplaysPerRun:   strconv.Itoa(s.Caps.MaxReplaysPerRun),
		config.EnvMaxReplaysPerMsg:   strconv.Itoa(s.Caps.MaxReplaysPerMessage),
		config.EnvMaxReplaysPerHour:  strconv.Itoa(s.Caps.MaxReplaysPerHour),
		config.EnvPeekSample:         strconv.Itoa(s.Caps.PeekSample),
		config.EnvRestartBudget:      strconv.Itoa(s.Budgets.RestartBudget),
		config.EnvRestartCooldown:    s.Budgets.RestartCooldown.String(),
		config.EnvLeakRestartEvery:   s.Budgets.LeakRestartInterval.String(),
		config.EnvScaleCooldown:      s.Budgets.ScaleCooldown.String(),
		config.EnvMinDiscordSessions: strconv.Itoa(s.Budgets.MinDiscordSessions),
		config.EnvMemoryHighPercent:  strconv.FormatFloat(s.Alarms.MemoryHigh.Threshold, 'g', -1, 64),
		config.EnvLockTTL:            s.Budgets.LockTTL.String(),
		config.EnvProbeTimeout:       s.Timeouts.Probe.String(),
		config.EnvVerifyTimeout:      s.Timeouts.Verify.String(),
		config.EnvVerifyInterval:     s.Timeouts.VerifyInterval.String(),
		config.EnvFollowUpInterval:   s.Incidents.FollowUpInterval.String(),
		config.EnvIncidentMaxAge:     s.Incidents.MaxAge.String(),
		config.EnvAlarmNames:         strings.Join(s.alarmNamesOf(fn), ","),
	}
	maps.Copy(env, config.RuntimeEnv(s.spec(fn).MemoryMiB))
	maps.Copy(env, s.offerEnv())
	if n := functionSpecs[fn].GoMaxProcs; n > 0 {
		env["GOMAXPROCS"] = strconv.Itoa(n)
	}
	if fn == fnDLQ && s.ParkingQueue != "" {
		env[config.EnvParkingQueue] = s.ParkingQueue
	}
	if s.Reports.SlackChannel != "" {
		env[config.EnvSlackChannel] = s.Reports.SlackChannel
	}
	if pictureBucket != "" {
		env[config.EnvPictureBucket] = pictureBucket
	}
	for _, v := range s.secrets(fn) {
		env[v] = s.secretName(v)
	}
	return env
}

// loadSettings selects env from the "environments" context value (as the CDK app hands it
// over: decoded JSON) and returns its validated settings. A missing or unknown env names the
// known ones.
func loadSettings(environments any, env string) (Settings, error) {
	raw, err := json.Marshal(environments)
	if err != nil {
		return Settings{}, fmt.Errorf("read context \"environments\": %w", err)
	}
	var all map[string]json.RawMessage
	if environments == nil || json.Unmarshal(raw, &all) != nil || len(all) == 0 {
		return Settings{}, errors.New(`cdk.json has no "environments" object under "context"`)
	}
	known := make([]string, 0, len(all))
	for k := range all {
		known = append(known, k)
	}
	sort.Strings(known)
	if env == "" {
		return Settings{}, fmt.Errorf("no environment given: pass -c env=NAME (known: %s)", strings.Join(known, ", "))
	}
	body, ok := all[env]
	if !ok {
		return Settings{}, fmt.Errorf("unknown environment %q (known: %s)", env, strings.Join(known, ", "))
	}
	s, err := parseSettings(env, body)
	if err != nil {
		return Settings{}, fmt.Errorf("environment %q: %w", env, err)
	}
	return s, nil
}

// parseSettings decodes one environment's JSON over the defaults and validates it.
func parseSettings(env string, body []byte) (Settings, error) {
	s := defaultSettings(env)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // a misspelt key would otherwise silently keep a default
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("decode settings: %w", err)
	}
	if s.Mode == "" {
		s.Mode = config.ModeDryRun
	}
	if err := s.validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

var (
	accountRE = regexp.MustCompile(`^\d{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	vpcRE     = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetRE  = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	sgRE      = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	snsARNRE  = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$`)
	iamRoleRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
	kmsKeyRE  = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$`)
)

// retentionDays are the retention periods CloudWatch Logs accepts.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// validate reports every problem at once. The rendered function environments go through
// config.Load too, so a value the functions would refuse fails the synth instead.
func (s Settings) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !accountRE.MatchString(s.Account) {
		bad("account %q: want the 12-digit AWS account id", s.Account)
	}
	if !regionRE.MatchString(s.Region) {
		bad("region %q: want a region code such as us-east-1", s.Region)
	}
	if !vpcRE.MatchString(s.Network.VPCID) {
		bad("network.vpcId %q: queue-depth and dlq must run in the VPC of the broker and the database", s.Network.VPCID)
	}
	if len(s.Network.SubnetIDs) == 0 {
		bad("network.subnetIds: at least one private subnet is required")
	}
	for _, id := range s.Network.SubnetIDs {
		if !subnetRE.MatchString(id) {
			bad("network.subnetIds: %q is not a subnet id", id)
		}
	}
	if len(s.Network.AvailabilityZones) != len(s.Network.SubnetIDs) {
		bad("network.availabilityZones: want one per subnet, in the same order (%d subnets, %d zones)", len(s.Network.SubnetIDs), len(s.Network.AvailabilityZones))
	}
	for _, az := range s.Network.AvailabilityZones {
		if !strings.HasPrefix(az, s.Region) {
			bad("network.availabilityZones: %q is not in %s", az, s.Region)
		}
	}
	if f := time.Duration(s.Incidents.FollowUpInterval); f < time.Minute || f > time.Hour || f%time.Minute != 0 {
		bad("incidents.followUpInterval %s: want whole minutes from 1m to 60m (an EventBridge rate)", f)
	}
	if (s.Reports.SlackBotSecret == "") != (s.Reports.SlackChannel == "") {
		bad("reports.slackBotSecret and reports.slackChannel: set both (the bot posts to that channel) or neither")
	}
	if s.Caps.MaxReplaysPerHour < 0 {
		bad("caps.maxReplaysPerHour %d: want 0 (no hourly bound) or more", s.Caps.MaxReplaysPerHour)
	}
	for _, fn := range functionNames {
		// EventBridge rule names are at most 64 characters.
		if name := s.FunctionName(fn) + "-follow-up"; len(name) > 64 {
			bad("environment name %q is too long: the follow-up rule %q would pass EventBridge's 64 characters", s.Env, name)
		}
	}
	if m := time.Duration(s.Incidents.MaxAge); m < time.Hour {
		bad("incidents.maxAge %s: want at least 1h", m)
	}
	if len(s.Network.SecurityGroupIDs) == 0 {
		bad("network.securityGroupIds: at least one security group (allowed to reach the broker and the database) is required")
	}
	for _, id := range s.Network.SecurityGroupIDs {
		if !sgRE.MatchString(id) {
			bad("network.securityGroupIds: %q is not a security group id", id)
		}
	}
	for _, arn := range s.Policy.PassRoleARNs {
		if !iamRoleRE.MatchString(arn) {
			bad("policy.passRoleArns: %q is not an IAM role ARN", arn)
		}
	}
	for _, arn := range s.SecretsKeyARNs {
		if !kmsKeyRE.MatchString(arn) {
			bad("secretsKeyArns: %q is not a KMS key ARN", arn)
		}
	}
	for _, e := range s.Reports.Emails {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			bad("reports.emails: %q is not an e-mail address", e)
		}
	}
	if _, ok := retentionDays[s.LogRetentionDays]; !ok {
		days := make([]int, 0, len(retentionDays))
		for d := range retentionDays {
			days = append(days, d)
		}
		sort.Ints(days)
		bad("logRetentionDays %d: CloudWatch Logs accepts %v", s.LogRetentionDays, days)
	}

	errs = append(errs, s.validateAlarms()...)
	errs = append(errs, s.validateApprovals()...)

	for fn := range s.Functions {
		if _, ok := functionSpecs[fn]; !ok {
			bad("functions: unknown function %q (known: %s, %s)", fn, strings.Join(functionNames, ", "), fnApprove)
		}
	}
	for _, fn := range functionNames {
		sp := s.spec(fn)
		if sp.MemoryMiB < 128 || sp.MemoryMiB > 10240 {
			bad("functions.%s.memoryMiB %d: Lambda allows 128 to 10240", fn, sp.MemoryMiB)
		}
		if sp.Timeout > 15*time.Minute {
			bad("functions.%s.timeoutSeconds %d: Lambda allows at most 900", fn, int(sp.Timeout.Seconds()))
		}
		// One probe round, the bounded verify and time to report must fit in one invocation,
		// or Lambda kills the function before it says what it did.
		if need := time.Duration(s.Timeouts.Probe) + time.Duration(s.Timeouts.Verify) + 30*time.Second; sp.Timeout < need {
			bad("functions.%s: timeout %s is shorter than probe + verify + 30s report margin (%s)", fn, sp.Timeout, need)
		}
		if _, err := config.Load(mapEnv(s.functionEnv(fn, placeholderTopicARN, "ledger", "pictures"))); err != nil {
			bad("%s: %w", fn, err)
		}
	}
	return errors.Join(errs...)
}

func (s Settings) validateAlarms() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for key := range s.Alarms.Names {
		if _, ok := alarmTitles[key]; !ok {
			bad("alarms.names: unknown alarm %q (known: %s)", key, strings.Join(alarmKeys, ", "))
		}
	}
	for fn, arns := range s.Alarms.Topics {
		if _, ok := functionSpecs[fn]; !ok {
			bad("alarms.topics: unknown function %q (known: %s)", fn, strings.Join(functionNames, ", "))
		}
		for _, arn := range arns {
			if !snsARNRE.MatchString(arn) {
				bad("alarms.topics.%s: %q is not an SNS topic ARN", fn, arn)
			}
		}
	}
	if s.Alarms.Create && len(s.Alarms.Topics) > 0 {
		bad("alarms: set either create true (the stack makes the alarms and their topics) or topics, not both")
	}
	if !s.Alarms.Create {
		for _, fn := range functionNames {
			if len(s.Alarms.Topics[fn]) == 0 {
				bad("alarms.topics.%s: with create false every function needs the ARN of the topic its alarms publish to", fn)
			}
		}
	}
	for name, t := range map[string]Threshold{"noTasks": s.Alarms.NoTasks, "queueDepth": s.Alarms.QueueDepth, "dlq": s.Alarms.DLQ, "memoryHigh": s.Alarms.MemoryHigh} {
		if t.PeriodSeconds != 10 && t.PeriodSeconds != 30 && (t.PeriodSeconds < 60 || t.PeriodSeconds%60 != 0) {
			bad("alarms.%s.periodSeconds %d: CloudWatch wants 10, 30 or a multiple of 60", name, t.PeriodSeconds)
		}
		if t.EvaluationPeriods < 1 || t.DatapointsToAlarm < 1 || t.DatapointsToAlarm > t.EvaluationPeriods {
			bad("alarms.%s: want 1 <= datapointsToAlarm (%d) <= evaluationPeriods (%d)", name, t.DatapointsToAlarm, t.EvaluationPeriods)
		}
		if t.PeriodSeconds*t.EvaluationPeriods > 86400 {
			bad("alarms.%s: periodSeconds x evaluationPeriods must not exceed one day", name)
		}
	}
	if s.Alarms.QueueDepth.Threshold < 1 {
		bad("alarms.queueDepth.threshold %g: want at least 1 message", s.Alarms.QueueDepth.Threshold)
	}
	if s.Alarms.DLQ.Threshold < 0 {
		bad("alarms.dlq.threshold %g: want 0 or more", s.Alarms.DLQ.Threshold)
	}
	if s.Alarms.ThrottlesPer15Min < 1 {
		bad("alarms.throttlesPer15Min %d: want at least 1", s.Alarms.ThrottlesPer15Min)
	}
	return errs
}

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}
