package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/trust"
)

// fnDigest is the weekly effectiveness and coverage digest (functions/digest, pkg/trust). It
// reads the ledger's incidents and posts a report: no alarm invokes it, a schedule does.
const fnDigest = "digest"

// digestSchedule is how often the digest runs.
const digestSchedule = "rate(7 days)"

// digestEnv is the digest's environment: the names config.Load needs and the report sinks.
func (s Settings) digestEnv(topicARN, table string) map[string]string {
	env := map[string]string{
		config.EnvEnvironment:    s.Env,
		config.EnvMode:           string(s.Mode),
		config.EnvReportTopicARN: topicARN,
		config.EnvLedgerTable:    table,
	}
	for _, v := range s.digestSecrets() {
		env[v] = s.secretName(v)
	}
	if s.Reports.SlackChannel != "" {
		env[config.EnvSlackChannel] = s.Reports.SlackChannel
	}
	return env
}

// digestSecrets are the chat sinks' secrets the digest reads (PagerDuty is not one: a
// digest pages nobody).
func (s Settings) digestSecrets() []string { return s.chatSecrets() }

// chatSecrets are the secret variables of the chat sinks the environment configures (the
// webhooks, the Slack bot), for a function that posts reports but pages nobody.
func (s Settings) chatSecrets() []string {
	var out []string
	for _, v := range []string{config.EnvWebhooksSecret, config.EnvSlackBotSecret} {
		if s.secretName(v) != "" {
			out = append(out, v)
		}
	}
	return out
}

// digestPermissions is the digest's least privilege: its own log streams, a Query and GetItem
// of the ledger (the incidents), publishing to the report topic (and its key, through SNS
// only), and the chat sinks' secrets. It reads nothing of ECS: the agreement verdicts were
// recorded at each incident's close.
func (s Settings) digestPermissions(refs stackRefs) []grant {
	a := newARNs(s)
	g := []grant{
		{Sid: "OwnLogs", Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: []string{a.arn("logs", "log-group:/aws/lambda/"+s.FunctionName(fnDigest)+":*")}},
		{Sid: "Incidents", Actions: []string{"dynamodb:Query", "dynamodb:GetItem"}, Resources: []string{refs.LedgerTableARN}},
		{Sid: "Report", Actions: []string{"sns:Publish"}, Resources: []string{refs.ReportTopicARN}},
		{Sid: "ReportTopicKey", Actions: []string{"kms:GenerateDataKey", "kms:Decrypt"}, Resources: []string{refs.ReportKeyARN},
			Conditions: map[string]map[string]any{"StringEquals": {"kms:ViaService": "sns." + s.Region + ".amazonaws.com"}}},
	}
	var secrets []string
	for _, v := range s.digestSecrets() {
		secrets = append(secrets, a.secret(s.secretName(v)))
	}
	sort.Strings(secrets)
	if len(secrets) > 0 {
		g = append(g, grant{Sid: "Secrets", Actions: []string{"secretsmanager:GetSecretValue"}, Resources: secrets})
		if len(s.SecretsKeyARNs) > 0 {
			g = append(g, grant{Sid: "SecretsKeys", Actions: []string{"kms:Decrypt"}, Resources: s.SecretsKeyARNs,
				Conditions: map[string]map[string]any{"StringEquals": {"kms:ViaService": "secretsmanager." + s.Region + ".amazonaws.com"}}})
		}
	}
	return g
}

// digest defines the digest function (from codeDir, checked by checkBootstraps), its role,
// its log group and its schedule.
func (b *builder) digest(codeDir string) {
	s, st := b.s, b.stack
	name := s.FunctionName(fnDigest)
	// The role's suppressions: its own group's streams (":*").
	props := b.lambdaProps(fnDigest, codeDir, digestSpec, 1, s.digestPermissions(b.refs()),
		s.digestEnv(*b.reportTopic.TopicArn(), *b.ledger.TableName()))
	props.RetryAttempts = jsii.Number(0) // the schedule's target retries; a digest twice is noise
	f := awslambda.NewFunction(st, jsii.String("DigestFunction"), props)
	awsevents.NewRule(st, jsii.String("DigestSchedule"), &awsevents.RuleProps{
		RuleName:    jsii.String(name + "-weekly"),
		Description: jsii.String("The weekly digest of " + s.Env),
		Schedule:    awsevents.Schedule_Expression(jsii.String(digestSchedule)),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(f, &awseventstargets.LambdaFunctionProps{
			RetryAttempts:   jsii.Number(2),
			DeadLetterQueue: b.failed,
		})},
	})
	b.digestDashboard()
}

// digestSpec: a week of incidents is read and posted in seconds.
var digestSpec = functionSpec{Name: fnDigest, Description: "Weekly effectiveness and coverage digest of gp-remediation",
	MemoryMiB: 256, Timeout: 60 * time.Second}

// digestDashboard graphs the digest's EMF metrics, one point a week: the trust the functions
// earn (dry-run agreement, recoveries, time to recover with and without an action).
func (b *builder) digestDashboard() {
	s := b.s
	metric := func(name, label, stat string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(trust.MetricNamespace),
			MetricName:    jsii.String(name),
			DimensionsMap: stringMap(map[string]string{"Environment": s.Env}),
			Statistic:     jsii.String(stat),
			Period:        awscdk.Duration_Days(jsii.Number(7)),
			Label:         jsii.String(label),
		})
	}
	graph := func(title string, ms ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &ms, Width: jsii.Number(8), Height: jsii.Number(6),
		})
	}
	header := awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String(fmt.Sprintf("# gp-remediation trust — %s\nThe weekly digest's numbers (function `%s`, %s; namespace `%s`). "+
			"Agreement: how often a person did what a dry-run action proposed, among the verdicts the evidence could decide.",
			s.Env, s.FunctionName(fnDigest), digestSchedule, trust.MetricNamespace)),
		Width: jsii.Number(24), Height: jsii.Number(2),
	})
	rows := [][]awscloudwatch.IWidget{
		{header},
		{
			graph("Dry-run agreement (%)", metric(trust.MetricAgreementRate, "agreement", "Maximum")),
			graph("Incidents", metric(trust.MetricIncidents, "opened", "Maximum"), metric(trust.MetricIncidentsRecovered, "recovered", "Maximum"),
				metric(trust.MetricActionsVerified, "actions verified", "Maximum")),
			graph("Median time to recover (s)", metric(trust.MetricMedianTimeToRecover, "with an action", "Maximum"),
				metric(trust.MetricMedianTimeToRecoverOff, "without", "Maximum")),
		},
	}
	awscloudwatch.NewDashboard(b.stack, jsii.String("DigestDashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(s.prefix() + "-trust"),
		Widgets:       dashboardRows(rows),
	})
}
