package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/jsii-runtime-go"

	"github.com/arrakis/gp-remediation/pkg/config"
)

// The approve function answers Slack interactivity and Discord interactions (button clicks on
// offers, and /gpr slash commands) at a Lambda function URL. It verifies each request's
// signature, answers within Slack's and Discord's 3 seconds, and invokes itself asynchronously
// to do the work: re-read ECS, go through the guard, act on the two services, report.
const fnApprove = "approve"

// approveSpec: 15 minutes, Lambda's most, because a complete restart waits for both services
// to stabilise twice; in the VPC because the health report reads RabbitMQ and PostgreSQL, and
// replay-dlq moves dead letters over AMQP as the dlq function does (same subnets and security
// groups, same rabbit secret).
var approveSpec = functionSpec{
	Name: fnApprove, Description: "Answers Slack and Discord approvals and /gpr commands",
	MemoryMiB: 256, Timeout: 15 * time.Minute, InVPC: true,
	Secrets: []string{config.EnvInteractionsSecret, config.EnvRabbitSecret, config.EnvDatabaseSecret},
}

// defaultOfferTTL is pkg/offer's DefaultTTL: long enough to read a report and decide, short
// enough that the state an offer was decided on is still the state.
const defaultOfferTTL = 30 * time.Minute

// maxOfferTTL: an offer a day old was decided on a state nobody remembers.
const maxOfferTTL = 24 * time.Hour

// productionEnv is the environment whose actions take two approvers unless it says otherwise.
const productionEnv = "production"

// approveConcurrency is approve's reserved concurrency. Not 1 like the alarm functions: a
// complete restart keeps one invocation busy for up to 15 minutes, and Slack and Discord must
// still get their answer within 3 seconds meanwhile (a throttled function URL answers 429, which
// Slack shows as a failure). Reserved, so a flood of requests at the public URL (refused on
// their signature, but each still an invocation) cannot take the account's concurrency from
// anything else. The guard's per-service locks, not concurrency, keep two actions off one service.
const approveConcurrency = 5

// approveMaxEventAge: an approval that waited longer for a free slot is parked in the
// failed-invocations queue (whose alarm tells people) rather than run on a stale click.
const approveMaxEventAge = 15 * time.Minute

// Approvals say who may approve offers and slash commands in an environment (cdk.json keys
// at the environment's top level).
type Approvals struct {
	// Approvers are "slack:<user id>", "discord:user:<user id>" or "discord:role:<role id>".
	// None: nobody can approve, so the alarm functions post no offers (GPR_OFFERS=false).
	Approvers []string `json:"approvers"`
	// ApprovalsRequired is how many different approvers an action needs: 1, or 2 (the default
	// in production).
	ApprovalsRequired int `json:"approvalsRequired"`
	// OfferTTL is how long an offer can be approved (at most 24h).
	OfferTTL Duration `json:"offerTTL"`
	// InteractionsSecret names the secret with slack_signing_secret, discord_public_key and
	// discord_application_id: what approve verifies requests with.
	InteractionsSecret string `json:"interactionsSecret"`
}

// defaultApprovals: no approvers yet; production takes two.
func defaultApprovals(env string) Approvals {
	required := 1
	if env == productionEnv {
		required = 2
	}
	return Approvals{
		ApprovalsRequired:  required,
		OfferTTL:           Duration(defaultOfferTTL),
		InteractionsSecret: "arrakis-" + env + "/gp-remediation/interactions",
	}
}

// approverRE are the three forms pkg/offer.ParseApprovers reads: Slack user ids are upper-case
// letters and digits, Discord ids are snowflakes (digits).
var approverRE = regexp.MustCompile(`^(slack:[A-Z0-9]{1,32}|discord:(user|role):[0-9]{1,20})$`)

// offerEnv is what the alarm functions need to post offers.
func (s Settings) offerEnv() map[string]string {
	return map[string]string{
		config.EnvOffers:   strconv.FormatBool(len(s.Approvers) > 0),
		config.EnvOfferTTL: s.OfferTTL.String(),
	}
}

// approveVars are the variables approve reads, of everything functionEnv renders; GOGC and
// GOMEMLIMIT are the runtime settings every function gets.
var approveVars = []string{
	config.EnvEnvironment, config.EnvMode, config.EnvKillSwitchParam, config.EnvLedgerTable, config.EnvIncidents,
	config.EnvReportTopicARN,
	config.EnvCluster, config.EnvIngestorService, config.EnvWorkerService,
	config.EnvBroker, config.EnvVirtualHost, config.EnvQueue, config.EnvDLQ,
	config.EnvRabbitSecret, config.EnvDatabaseSecret, config.EnvWebhooksSecret, config.EnvSlackBotSecret,
	config.EnvSlackChannel, config.EnvDiscordAPIURL,
	config.EnvMaxWorkers, config.EnvMaxTaskMemoryMiB,
	// replay-dlq: the default count and the per-message limit, as the dlq function has them.
	config.EnvMaxReplaysPerRun, config.EnvMaxReplaysPerMsg,
	config.EnvRestartBudget, config.EnvRestartCooldown, config.EnvScaleCooldown, config.EnvLockTTL,
	config.EnvInteractionsSecret, config.EnvApprovers, config.EnvApprovalsRequired, config.EnvOfferTTL,
	"GOGC", "GOMEMLIMIT",
}

// approveEnv is approve's environment: the shared values as functionEnv renders them for every
// function, the three whose defaults only pkg/config holds (incidents, virtual host, Discord's
// API) spelled out from config's own defaults, and the approvals. topicARN and table may be
// CloudFormation tokens.
func (s Settings) approveEnv(topicARN, table string) map[string]string {
	all := s.functionEnv(fnApprove, topicARN, table, "")
	d := configDefaults()
	all[config.EnvIncidents] = strconv.FormatBool(d.Incidents)
	all[config.EnvVirtualHost] = d.VirtualHost
	all[config.EnvDiscordAPIURL] = d.DiscordAPIURL
	all[config.EnvApprovers] = strings.Join(s.Approvers, ",")
	all[config.EnvApprovalsRequired] = strconv.Itoa(s.ApprovalsRequired)
	env := map[string]string{}
	for _, k := range approveVars {
		if v, ok := all[k]; ok {
			env[k] = v
		}
	}
	return env
}

// approveSecrets are the secret variables approve reads: the interactions, the broker and the
// database (health), and the chat sinks when configured. Not PagerDuty: a person asked, so
// nobody is paged.
func (s Settings) approveSecrets() []string {
	return append(slices.Clone(functionSpecs[fnApprove].Secrets), s.chatSecrets()...)
}

// approvePermissions: the issue's "the approve role can act only on the two named services and
// the ledger". Besides what every function needs (its logs, the kill switch, the report topic,
// the VPC attachment), exactly what its operations call.
func (s Settings) approvePermissions(refs stackRefs) []grant {
	a := newARNs(s)
	n := s.Names
	g := s.commonGrants(fnApprove, refs)
	var secrets []string
	for _, v := range s.approveSecrets() {
		secrets = append(secrets, a.secret(s.secretName(v)))
	}
	slices.Sort(secrets)
	g = append(g,
		// What pkg/ledger calls for the guard, incidents and offers: Get, Put (conditional:
		// offers change by versioned puts), Delete (locks) and Query (budgets).
		grant{Sid: "Ledger", Actions: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"},
			Resources: []string{refs.LedgerTableARN}},
		grant{Sid: "Services", Actions: []string{"ecs:DescribeServices", "ecs:UpdateService"},
			Resources: []string{a.service(n.Cluster, n.IngestorService), a.service(n.Cluster, n.WorkerService)}},
		// Raising memory reads the running task definition first, as memory-high does.
		grant{Sid: "TaskDefinitions", Actions: []string{"ecs:DescribeTaskDefinition"}, Resources: []string{"*"}},
		// The ARN is spelled from the function's known name, not taken from the function: the
		// function depends on its role's policy, so a reference back would be a cycle. The
		// unqualified ARN only: approve invokes itself without a qualifier.
		grant{Sid: "InvokeSelf", Actions: []string{"lambda:InvokeFunction"}, Resources: []string{a.arn("lambda", "function:"+s.FunctionName(fnApprove))}},
		grant{Sid: "Secrets", Actions: []string{"secretsmanager:GetSecretValue"}, Resources: secrets},
	)
	g = append(g, s.secretsKeyGrants()...)
	// Raising memory is offered to approvers exactly when the policy keeps the functions from
	// doing it alone, so approve may register a task definition when the policy allows it or
	// when someone can approve (the offer is the person's decision, taken through the guard).
	if s.Policy.AllowRaiseMemory || len(s.Approvers) > 0 {
		g = append(g, s.raiseMemoryGrants()...)
	}
	return append(g, s.vpcGrants()...)
}

// validateApprovals reports every problem with the approvals settings.
func (s Settings) validateApprovals() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	seen := map[string]bool{}
	users, roles := 0, 0
	for _, ap := range s.Approvers {
		switch {
		case !approverRE.MatchString(ap):
			bad("approvers: %q is not slack:<user id> (upper-case letters and digits), discord:user:<id> or discord:role:<id> (digits)", ap)
		case seen[ap]:
			bad("approvers: %q is listed twice", ap)
		case strings.HasPrefix(ap, "discord:role:"):
			roles++
		default:
			users++
		}
		seen[ap] = true
	}
	switch r := s.ApprovalsRequired; {
	case r != 1 && r != 2:
		bad("approvalsRequired %d: want 1 or 2 (different approvers per action)", r)
	case len(s.Approvers) > 0 && roles == 0 && users < r:
		// With roles, any number of people may hold one; with user ids only, fewer than
		// required means no action could ever be approved.
		bad("approvalsRequired %d: only %d approver listed, so nothing could ever be approved", r, users)
	}
	if t := time.Duration(s.OfferTTL); t <= 0 || t > maxOfferTTL {
		bad("offerTTL %s: want more than 0 and at most %s", t, Duration(maxOfferTTL))
	}
	if s.InteractionsSecret == "" {
		bad("interactionsSecret: approve verifies every request with it; name the secret (default arrakis-%s/gp-remediation/interactions)", s.Env)
	}
	if _, ok := s.Alarms.Topics[fnApprove]; ok {
		bad("alarms.topics.%s: approve is invoked by Slack and Discord, not by alarms", fnApprove)
	}
	sp := s.spec(fnApprove)
	if sp.MemoryMiB < 128 || sp.MemoryMiB > 10240 {
		bad("functions.%s.memoryMiB %d: Lambda allows 128 to 10240", fnApprove, sp.MemoryMiB)
	}
	if sp.Timeout > 15*time.Minute {
		bad("functions.%s.timeoutSeconds %d: Lambda allows at most 900", fnApprove, int(sp.Timeout.Seconds()))
	}
	if _, err := config.Load(mapEnv(s.approveEnv(placeholderTopicARN, "ledger"))); err != nil {
		bad("%s: %w", fnApprove, err)
	}
	return errs
}

// approve defines the approve function: its role, log group, function URL and the URL as an
// output, and its error and throttle alarms.
func (b *builder) approve(codeDir string) {
	s, st := b.s, b.stack
	sp := s.spec(fnApprove)
	cid := constructID(fnApprove)
	name := s.FunctionName(fnApprove)

	props := b.lambdaProps(fnApprove, codeDir, sp, approveConcurrency, s.approvePermissions(b.refs()),
		s.approveEnv(*b.reportTopic.TopicArn(), *b.ledger.TableName()))
	// Its own asynchronous invocations (the work after the 3-second answer): a failure goes to
	// the queue without a retry, which would run an approved action twice.
	props.OnFailure = awslambdadestinations.NewSqsDestination(b.failed)
	props.RetryAttempts = jsii.Number(0)
	props.MaxEventAge = awscdk.Duration_Seconds(jsii.Number(approveMaxEventAge.Seconds()))
	// It reads RabbitMQ's management API and PostgreSQL for the health report, as queue-depth,
	// and replays the DLQ over AMQP, as dlq: the same network as both.
	props.Vpc, props.VpcSubnets, props.SecurityGroups = b.network()
	f := awslambda.NewFunction(st, b.id(cid, "Function"), props)
	b.functions[fnApprove] = f

	// Auth type NONE: Slack and Discord cannot sign AWS SigV4 requests. Their own request
	// signatures are the authentication (Slack's HMAC-SHA256 signing secret, Discord's Ed25519
	// public key, both in the interactions secret), and approve refuses every request without a
	// valid, fresh signature before reading anything else; the approver allowlist then decides
	// who may act.
	url := f.AddFunctionUrl(&awslambda.FunctionUrlOptions{AuthType: awslambda.FunctionUrlAuthType_NONE})
	awscdk.NewCfnOutput(st, jsii.String("ApproveUrl"), &awscdk.CfnOutputProps{
		Value: url.Url(),
		Description: jsii.String("approve's function URL (" + s.Env + "): register it as Slack's Interactivity Request URL and slash command URL " +
			"and as Discord's Interactions Endpoint URL"),
	})

	action := awscloudwatchactions.NewSnsAction(b.reportTopic)
	for _, a := range []struct {
		id, name, desc string
		metric         awscloudwatch.IMetric
		threshold      float64
	}{
		{cid + "Errors", name + " errors",
			fmt.Sprintf("%s failed (error, timeout or crash): a click or slash command may not have been answered or carried out. See its log group /aws/lambda/%s.", name, name),
			f.MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}), 1},
		{cid + "Throttles", name + " throttles",
			fmt.Sprintf("%s was throttled %d times in 15 minutes: Slack and Discord got errors instead of answers (reserved concurrency %d).", name, s.Alarms.ThrottlesPer15Min, approveConcurrency),
			f.MetricThrottles(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(15)), Statistic: jsii.String("Sum")}),
			float64(s.Alarms.ThrottlesPer15Min)},
	} {
		al := awscloudwatch.NewAlarm(st, jsii.String(a.id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(a.name),
			AlarmDescription:   jsii.String(a.desc),
			Metric:             a.metric,
			Threshold:          jsii.Number(a.threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		al.AddAlarmAction(action)
		b.remediatorAlarms = append(b.remediatorAlarms, al)
	}
}

// configDefaults are pkg/config's defaults (the report topic is the one value without one).
func configDefaults() config.Config {
	c, err := config.Load(func(k string) string {
		switch k {
		case config.EnvEnvironment:
			return "defaults"
		case config.EnvReportTopicARN:
			return placeholderTopicARN
		}
		return ""
	})
	if err != nil {
		panic("config defaults do not load: " + err.Error()) // a bug in pkg/config, not input
	}
	return c
}
