package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/playbook"
)

// RemediationStackProps configures one environment's stack.
type RemediationStackProps struct {
	awscdk.StackProps
	Settings Settings
	// BuildDir holds <function>/bootstrap as `make build` writes them (the repo's build/).
	BuildDir string
}

// NewRemediationStack defines the environment's stack: the five runbook alarms (or
// subscriptions to existing alarm topics), the four alarm functions and approve (behind its
// function URL) with least-privilege roles,
// the ledger, the report topic, the kill switch, alarms on the remediator itself and its
// dashboard. It fails before defining anything when a function's bootstrap is missing.
func NewRemediationStack(scope constructs.Construct, props *RemediationStackProps) (awscdk.Stack, error) {
	s := props.Settings
	if err := checkBootstraps(props.BuildDir); err != nil {
		return nil, err
	}
	sp := props.StackProps
	sp.Env = &awscdk.Environment{Account: jsii.String(s.Account), Region: jsii.String(s.Region)}
	sp.StackName = jsii.String(s.StackName())
	sp.TerminationProtection = jsii.Bool(s.TerminationProtection)
	if sp.Description == nil {
		sp.Description = jsii.String(fmt.Sprintf("gp-remediation (%s): alarm-driven remediation of the Arrakis Gateway Proxy", s.Env))
	}
	stack := awscdk.NewStack(scope, jsii.String(s.StackName()), &sp)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("gp-remediation"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("environment"), jsii.String(s.Env), nil)

	b := &builder{stack: stack, s: s}
	b.shared()
	alarms := s.runbookAlarms()
	for _, fn := range functionNames {
		b.function(fn, filepath.Join(props.BuildDir, fn))
	}
	b.approve(filepath.Join(props.BuildDir, fnApprove))
	b.digest(filepath.Join(props.BuildDir, fnDigest))
	if s.Alarms.Create {
		b.alarms(alarms)
	} else {
		b.subscribeExisting(alarms)
	}
	b.selfAlarms()
	b.dashboard()
	// Importing subnets by id (synth stays offline) leaves their route tables unknown; nothing
	// here routes, so CDK's warning about it says nothing useful.
	awscdk.Annotations_Of(stack).AcknowledgeWarning(jsii.String("@aws-cdk/aws-ec2:noSubnetRouteTableId"),
		jsii.String("subnets are imported by id; the stack defines no routes"))
	return stack, nil
}

// checkBootstraps fails with what to run when `make build` has not produced every function.
func checkBootstraps(dir string) error {
	var missing []string
	for _, fn := range append(slices.Clone(functionNames), fnApprove, fnDigest) {
		p := filepath.Join(dir, fn, "bootstrap")
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("function bootstrap missing: %s; run `make build` first (it writes build/<function>/bootstrap for linux/arm64)",
			strings.Join(missing, ", "))
	}
	return nil
}

// builder carries what the parts of the stack share.
type builder struct {
	stack awscdk.Stack
	s     Settings

	topicKey         awskms.Key
	reportTopic      awssns.Topic
	failed           awssqs.Queue
	ledger           awsdynamodb.Table
	pictures         awss3.Bucket
	functions        map[string]awslambda.Function
	alarmTopics      map[string]awssns.ITopic // by function, when the stack creates the alarms
	runbookAlarms    []awscloudwatch.IAlarm   // created or imported by name, for the dashboard
	remediatorAlarms []awscloudwatch.IAlarm

	vpc            awsec2.IVpc
	subnets        []awsec2.ISubnet
	securityGroups []awsec2.ISecurityGroup
}

// refs are the shared resources the functions' grants name.
func (b *builder) refs() stackRefs {
	return stackRefs{
		ReportTopicARN:   *b.reportTopic.TopicArn(),
		ReportKeyARN:     *b.topicKey.KeyArn(),
		LedgerTableARN:   *b.ledger.TableArn(),
		PictureBucketARN: *b.pictures.BucketArn(),
	}
}

// roleAndLogs makes fn's execution role with grants (telling cdk-nag why each wildcard is
// there) and its log group.
func (b *builder) roleAndLogs(fn string, grants []grant) (awsiam.Role, awslogs.LogGroup) {
	s, st := b.s, b.stack
	cid, name := constructID(fn), s.FunctionName(fn)
	role := awsiam.NewRole(st, b.id(cid, "Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Execution role of " + name),
	})
	for _, g := range grants {
		role.AddToPrincipalPolicy(policyStatement(g))
	}
	b.suppressRole(role, grants, fn)
	logGroup := awslogs.NewLogGroup(st, b.id(cid, "Logs"), &awslogs.LogGroupProps{
		LogGroupName: jsii.String("/aws/lambda/" + name),
		Retention:    retentionDays[s.LogRetentionDays],
		// Deleted with the stack: a retained group of the same name would make recreating the
		// stack fail.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	return role, logGroup
}

// lambdaProps are what every function of the stack shares: provided.al2023 on arm64 from
// codeDir, the spec's description, memory and timeout, reserved concurrency, its role (with
// grants) and log group, JSON logs, active tracing and env. Callers add the rest.
func (b *builder) lambdaProps(fn, codeDir string, sp functionSpec, concurrency int, grants []grant, env map[string]string) *awslambda.FunctionProps {
	role, logGroup := b.roleAndLogs(fn, grants)
	environment := map[string]*string{}
	for k, v := range env {
		environment[k] = jsii.String(v)
	}
	return &awslambda.FunctionProps{
		FunctionName:                 jsii.String(b.s.FunctionName(fn)),
		Description:                  jsii.String(sp.Description + " (" + b.s.Env + ")"),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         awslambda.Code_FromAsset(jsii.String(codeDir), nil),
		MemorySize:                   jsii.Number(float64(sp.MemoryMiB)),
		Timeout:                      awscdk.Duration_Seconds(jsii.Number(sp.Timeout.Seconds())),
		ReservedConcurrentExecutions: jsii.Number(float64(concurrency)),
		Role:                         role,
		LogGroup:                     logGroup,
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		Tracing:                      awslambda.Tracing_ACTIVE,
		Environment:                  &environment,
	}
}

func (b *builder) id(parts ...string) *string { return jsii.String(strings.Join(parts, "")) }

// shared defines the resources every function uses.
func (b *builder) shared() {
	s, st := b.s, b.stack
	// One customer-managed key for the topics: the AWS-managed SNS key cannot be used by
	// CloudWatch alarms, so a key whose policy lets CloudWatch publish is required.
	b.topicKey = awskms.NewKey(st, jsii.String("TopicKey"), &awskms.KeyProps{
		Description:       jsii.String(fmt.Sprintf("gp-remediation %s: encrypts the report and alarm topics", s.Env)),
		Alias:             jsii.String("alias/" + s.prefix() + "-topics"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	b.topicKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"), // in a key policy, "*" is this key
	}), jsii.Bool(false))

	b.reportTopic = awssns.NewTopic(st, jsii.String("ReportTopic"), &awssns.TopicProps{
		TopicName:   jsii.String(s.prefix() + "-reports"),
		DisplayName: jsii.String(fmt.Sprintf("gp-remediation %s reports", s.Env)),
		MasterKey:   b.topicKey,
		EnforceSSL:  jsii.Bool(true),
	})
	for _, e := range s.Reports.Emails {
		b.reportTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}

	b.failed = awssqs.NewQueue(st, jsii.String("FailedInvocations"), &awssqs.QueueProps{
		QueueName:       jsii.String(s.prefix() + "-failed"),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(b.failed, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the dead-letter destination of failed asynchronous invocations and SNS deliveries."),
	}}, jsii.Bool(true))

	b.ledger = awsdynamodb.NewTable(st, jsii.String("Ledger"), &awsdynamodb.TableProps{
		TableName:           jsii.String(s.prefix() + "-ledger"),
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(ledger.AttrPartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String(ledger.AttrSortKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(ledger.AttrExpiresAt),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// The ledger holds budgets and cooldowns: losing it would let a fresh stack restart
		// services again at once.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	// The kill switch: "off" here; operators set it to "on" to stop every action at once.
	// CloudFormation rewrites it only when this value changes, so a deploy does not undo a
	// switch someone flipped.
	awsssm.NewStringParameter(st, jsii.String("KillSwitch"), &awsssm.StringParameterProps{
		ParameterName: jsii.String(s.Names.KillSwitchParam),
		StringValue:   jsii.String("off"),
		Description:   jsii.String("gp-remediation kill switch: on/true/1 stops every remediation action in " + s.Env),
	})
	// Report pictures, for the sinks that can only link one (a Slack incoming webhook, e-mail,
	// PagerDuty): private, SSL only, read through presigned URLs, gone after a week.
	b.pictures = awss3.NewBucket(st, jsii.String("Pictures"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-pictures"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(7)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
		// Pictures are copies of CloudWatch's own data: nothing is lost with the stack.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(b.pictures, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("Holds only report graphs (copies of CloudWatch metrics) for a week; every read is a presigned URL " +
			"the functions signed, and writes come from the functions' roles, which CloudTrail records."),
	}}, jsii.Bool(true))
	b.functions = map[string]awslambda.Function{}
	b.alarmTopics = map[string]awssns.ITopic{}
}

// function defines one function with its role, log group and async settings.
func (b *builder) function(fn, codeDir string) {
	s, st := b.s, b.stack
	sp := s.spec(fn)
	cid := constructID(fn)
	name := s.FunctionName(fn)

	props := b.lambdaProps(fn, codeDir, sp, 1, // one remediation at a time per function
		s.permissions(fn, b.refs()), s.functionEnv(fn, *b.reportTopic.TopicArn(), *b.ledger.TableName(), *b.pictures.BucketName()))
	props.OnFailure = awslambdadestinations.NewSqsDestination(b.failed)
	// No retries: the guard claims each alarm transition before acting, so a retry would only
	// be answered "duplicate". A failure goes to the queue, whose alarm tells people.
	props.RetryAttempts = jsii.Number(0)
	// Throttled events (reserved concurrency 1) wait in Lambda's queue; an alarm older than an
	// hour is history, not a reason to act.
	props.MaxEventAge = awscdk.Duration_Hours(jsii.Number(1))
	if sp.InVPC {
		props.Vpc, props.VpcSubnets, props.SecurityGroups = b.network()
	}
	f := awslambda.NewFunction(st, b.id(cid, "Function"), props)
	b.functions[fn] = f

	// Follow-through: CloudWatch notifies on a state change only, so a rule runs the function
	// again on a schedule; it reads its alarms and takes the next step for each one still in
	// ALARM. A rule rather than one-time schedules written by the functions: no PassRole or
	// scheduler permissions for them, and a run that dies cannot break the chain.
	minutes := time.Duration(s.Incidents.FollowUpInterval) / time.Minute
	awsevents.NewRule(st, b.id(cid, "FollowUp"), &awsevents.RuleProps{
		RuleName:    jsii.String(name + "-follow-up"),
		Description: jsii.String(fmt.Sprintf("Follow-up of %s every %d min while its alarms stay in ALARM", name, minutes)),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(float64(minutes)))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(f, &awseventstargets.LambdaFunctionProps{
			Event: awsevents.RuleTargetInput_FromObject(map[string]any{"source": "gp-remediation", "detail-type": "follow-up"}),
			// A missed tick is replaced by the next one: never retried, never queued long.
			RetryAttempts:   jsii.Number(0),
			MaxEventAge:     awscdk.Duration_Minutes(jsii.Number(float64(minutes))),
			DeadLetterQueue: b.failed,
		})},
	})

	if s.Alarms.Create {
		topic := awssns.NewTopic(st, b.id(cid, "AlarmTopic"), &awssns.TopicProps{
			TopicName:   jsii.String(s.prefix() + "-alarms-" + fn),
			DisplayName: jsii.String(fmt.Sprintf("gp-remediation %s alarms for %s", s.Env, fn)),
			MasterKey:   b.topicKey,
			EnforceSSL:  jsii.Bool(true),
		})
		// Only the stack's alarms publish here, each only the states fn handles: no filter.
		topic.AddSubscription(awssnssubscriptions.NewLambdaSubscription(f, &awssnssubscriptions.LambdaSubscriptionProps{
			DeadLetterQueue: b.failed,
		}))
		b.alarmTopics[fn] = topic
	}
}

// network imports the environment's VPC, subnets and security groups (owned by the network
// stack) once, for every function that runs in the VPC.
func (b *builder) network() (awsec2.IVpc, *awsec2.SubnetSelection, *[]awsec2.ISecurityGroup) {
	if b.vpc == nil {
		st, n := b.stack, b.s.Network
		b.vpc = awsec2.Vpc_FromVpcAttributes(st, jsii.String("Vpc"), &awsec2.VpcAttributes{
			VpcId:             jsii.String(n.VPCID),
			AvailabilityZones: jsii.Strings(n.AvailabilityZones...),
			PrivateSubnetIds:  jsii.Strings(n.SubnetIDs...),
		})
		for i, id := range n.SubnetIDs {
			b.subnets = append(b.subnets, awsec2.Subnet_FromSubnetAttributes(st, jsii.String(fmt.Sprintf("Subnet%d", i)),
				&awsec2.SubnetAttributes{SubnetId: jsii.String(id), AvailabilityZone: jsii.String(n.AvailabilityZones[i])}))
		}
		for i, id := range n.SecurityGroupIDs {
			b.securityGroups = append(b.securityGroups, awsec2.SecurityGroup_FromSecurityGroupId(st,
				jsii.String(fmt.Sprintf("SecurityGroup%d", i)), jsii.String(id),
				&awsec2.SecurityGroupImportOptions{Mutable: jsii.Bool(false)})) // its rules belong to the network stack
		}
	}
	return b.vpc, &awsec2.SubnetSelection{Subnets: &b.subnets}, &b.securityGroups
}

// alarms defines the runbook's five alarms, each publishing to its function's topic.
func (b *builder) alarms(specs []alarmSpec) {
	for _, a := range specs {
		m := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(a.Namespace),
			MetricName:    jsii.String(a.Metric),
			DimensionsMap: stringMap(a.Dimensions),
			Statistic:     jsii.String(a.Statistic),
			Period:        awscdk.Duration_Seconds(jsii.Number(float64(a.PeriodSeconds))),
		})
		op := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
		if a.Comparison == "<" {
			op = awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD
		}
		missing := awscloudwatch.TreatMissingData_NOT_BREACHING
		if a.MissingBreaching {
			missing = awscloudwatch.TreatMissingData_BREACHING
		}
		al := awscloudwatch.NewAlarm(b.stack, b.id("Alarm", constructID(a.Key)), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(a.Name),
			AlarmDescription:   jsii.String(a.Description),
			Metric:             m,
			Threshold:          jsii.Number(a.Threshold.Threshold),
			EvaluationPeriods:  jsii.Number(float64(a.EvaluationPeriods)),
			DatapointsToAlarm:  jsii.Number(float64(a.DatapointsToAlarm)),
			ComparisonOperator: op,
			TreatMissingData:   missing,
		})
		action := awscloudwatchactions.NewSnsAction(b.alarmTopics[a.Function])
		al.AddAlarmAction(action)
		if a.OKAction {
			al.AddOkAction(action)
		}
		b.runbookAlarms = append(b.runbookAlarms, al)
	}
}

// subscribeExisting subscribes each function to the existing topics its alarms publish to.
// Such topics usually carry other alarms too, so a filter on the message body lets through
// only this function's alarms and states.
func (b *builder) subscribeExisting(specs []alarmSpec) {
	for _, fn := range functionNames {
		var names []*string
		for _, a := range alarmsOf(specs, fn) {
			names = append(names, jsii.String(a.Name))
		}
		filter := map[string]awssns.FilterOrPolicy{
			"AlarmName": awssns.FilterOrPolicy_Filter(awssns.SubscriptionFilter_StringFilter(
				&awssns.StringConditions{Allowlist: &names})),
			"NewStateValue": awssns.FilterOrPolicy_Filter(awssns.SubscriptionFilter_StringFilter(
				&awssns.StringConditions{Allowlist: jsii.Strings(functionSpecs[fn].States...)})),
		}
		for _, a := range alarmsOf(specs, fn) { // on the dashboard too
			b.runbookAlarms = append(b.runbookAlarms, awscloudwatch.Alarm_FromAlarmName(b.stack, b.id("Existing", constructID(a.Key)), jsii.String(a.Name)))
		}
		for i, arn := range b.s.Alarms.Topics[fn] {
			t := awssns.Topic_FromTopicArn(b.stack, b.id(constructID(fn), fmt.Sprintf("ExistingTopic%d", i)), jsii.String(arn))
			t.AddSubscription(awssnssubscriptions.NewLambdaSubscription(b.functions[fn], &awssnssubscriptions.LambdaSubscriptionProps{
				FilterPolicyWithMessageBody: &filter,
				DeadLetterQueue:             b.failed,
			}))
		}
	}
}

// selfAlarms watch the remediator: function errors and sustained throttles, and failed
// invocations parked in the queue. They report to the report topic.
func (b *builder) selfAlarms() {
	s := b.s
	action := awscloudwatchactions.NewSnsAction(b.reportTopic)
	add := func(id, name, desc string, m awscloudwatch.IMetric, threshold float64) {
		al := awscloudwatch.NewAlarm(b.stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(name),
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		al.AddAlarmAction(action)
		b.remediatorAlarms = append(b.remediatorAlarms, al)
	}
	for _, fn := range functionNames {
		f, cid, name := b.functions[fn], constructID(fn), s.FunctionName(fn)
		add(cid+"Errors", name+" errors",
			fmt.Sprintf("%s failed (error, timeout or crash): the alarm it answered was not remediated. See its log group /aws/lambda/%s.", name, name),
			f.MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}), 1)
		add(cid+"Throttles", name+" throttles",
			fmt.Sprintf("%s was throttled %d times in 15 minutes: alarms are queueing behind its reserved concurrency of 1.", name, s.Alarms.ThrottlesPer15Min),
			f.MetricThrottles(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(15)), Statistic: jsii.String("Sum")}),
			float64(s.Alarms.ThrottlesPer15Min))
	}
	add("FailedInvocationsAlarm", s.prefix()+" failed invocations",
		fmt.Sprintf("Asynchronous invocations or SNS deliveries failed and were parked in %s-failed: read the messages, then remediate by hand (runbook).", s.prefix()),
		b.failed.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum")}), 1)
}

// dashboard shows what the remediator did, from the functions' EMF metrics, next to the
// alarms and the functions' health.
func (b *builder) dashboard() {
	s := b.s
	emf := func(metric, fn, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(playbook.MetricNamespace),
			MetricName:    jsii.String(metric),
			DimensionsMap: stringMap(map[string]string{"Environment": s.Env, "Function": fn}),
			Statistic:     jsii.String("Sum"),
			Period:        awscdk.Duration_Minutes(jsii.Number(5)),
			Label:         jsii.String(label),
		})
	}
	graph := func(title string, metrics []awscloudwatch.IMetric, width float64, stacked bool) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &metrics, Width: jsii.Number(width), Height: jsii.Number(6), Stacked: jsii.Bool(stacked),
		})
	}

	var perFunction []awscloudwatch.IWidget
	for _, fn := range functionNames {
		var ms []awscloudwatch.IMetric
		for _, m := range []string{playbook.MetricActionsDone, playbook.MetricActionsDryRun, playbook.MetricActionsSkipped, playbook.MetricActionsFailed} {
			ms = append(ms, emf(m, fn, strings.TrimPrefix(m, "Actions")))
		}
		perFunction = append(perFunction, graph("Actions: "+fn, ms, 6, true))
	}
	var escalations, invocations, errs, duration []awscloudwatch.IMetric
	for _, fn := range functionNames {
		f := b.functions[fn]
		escalations = append(escalations, emf(playbook.MetricEscalations, fn, fn))
		invocations = append(invocations, emf(playbook.MetricInvocations, fn, fn))
		errs = append(errs,
			f.MetricErrors(&awscloudwatch.MetricOptions{Label: jsii.String(fn + " errors"), Statistic: jsii.String("Sum")}),
			f.MetricThrottles(&awscloudwatch.MetricOptions{Label: jsii.String(fn + " throttles"), Statistic: jsii.String("Sum")}))
		duration = append(duration, f.MetricDuration(&awscloudwatch.MetricOptions{Label: jsii.String(fn), Statistic: jsii.String("Maximum")}))
	}
	errs = append(errs, b.failed.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Label: jsii.String("failed invocations queued")}))

	header := awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String(fmt.Sprintf("# gp-remediation — %s\nMode at deploy: **%s**. Kill switch: SSM `%s`. "+
			"Reports: SNS `%s-reports`. Counts per 5 minutes from the functions' EMF metrics (namespace `%s`).",
			s.Env, s.Mode, s.Names.KillSwitchParam, s.prefix(), playbook.MetricNamespace)),
		Width: jsii.Number(24), Height: jsii.Number(2),
	})
	rows := [][]awscloudwatch.IWidget{
		{header},
		perFunction,
		{
			graph("Escalations (paged or reported for a human)", escalations, 8, false),
			graph("Invocations", invocations, 8, false),
			graph("Lambda errors, throttles, failed invocations", errs, 8, false),
		},
		{graph("Duration (max, ms)", duration, 12, false)},
	}
	alarmsWidget := func(title string, as []awscloudwatch.IAlarm) awscloudwatch.IWidget {
		refs := make([]interfacesawscloudwatch.IAlarmRef, len(as))
		for i, a := range as {
			refs[i] = a
		}
		return awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
			Title: jsii.String(title), Alarms: &refs, Width: jsii.Number(12), Height: jsii.Number(4),
		})
	}
	last := len(rows) - 1
	rows[last] = append(rows[last], alarmsWidget("Runbook alarms", b.runbookAlarms))
	rows = append(rows, []awscloudwatch.IWidget{alarmsWidget("Remediator alarms", b.remediatorAlarms)})

	awscloudwatch.NewDashboard(b.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(s.prefix()),
		Widgets:       dashboardRows(rows),
	})
}

func dashboardRows(rows [][]awscloudwatch.IWidget) *[]*[]awscloudwatch.IWidget {
	out := make([]*[]awscloudwatch.IWidget, len(rows))
	for i := range rows {
		out[i] = &rows[i]
	}
	return &out
}

// suppressRole names, for cdk-nag, every wildcard in fn's role and why it is there.
func (b *builder) suppressRole(role awsiam.Role, grants []grant, fn string) {
	// Every role has a "*": active tracing makes CDK add the X-Ray statement.
	reasons := []string{wildcardReasons["xray:PutTraceSegments"]}
	for _, g := range grants {
		if slices.Contains(g.Resources, "*") {
			for _, a := range g.Actions {
				reasons = append(reasons, wildcardReasons[a])
			}
		}
	}
	appliesTo := []any{"Resource::*"}
	patterns := patternResources(grants)
	keys := make([]string, 0, len(patterns))
	for r := range patterns {
		keys = append(keys, r)
	}
	sort.Strings(keys)
	for _, r := range keys {
		if rest, ok := strings.CutSuffix(r, "/pictures/*"); ok && strings.Contains(rest, "${Token[") {
			// The bucket's ARN is a token until deployment; cdk-nag sees it as
			// <Pictures….Arn>, which a regular expression names.
			appliesTo = append(appliesTo, &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<Pictures[0-9A-F]+\.Arn>\/pictures\/\*$/`)})
			reasons = append(reasons, "the picture bucket's pictures/*: "+patterns[r])
			continue
		}
		appliesTo = append(appliesTo, "Resource::"+r)
		reasons = append(reasons, r+": "+patterns[r])
	}
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String(fn + ": " + strings.Join(reasons, "; ")),
		AppliesTo: &appliesTo,
	}}, jsii.Bool(true))
}

func policyStatement(g grant) awsiam.PolicyStatement {
	p := &awsiam.PolicyStatementProps{
		Sid:       jsii.String(g.Sid),
		Actions:   jsii.Strings(g.Actions...),
		Resources: jsii.Strings(g.Resources...),
	}
	if len(g.Conditions) > 0 {
		c := map[string]any{}
		for k, v := range g.Conditions {
			c[k] = v
		}
		p.Conditions = &c
	}
	return awsiam.NewPolicyStatement(p)
}

// constructID turns "no-tasks" into "NoTasks".
func constructID(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func stringMap(m map[string]string) *map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = jsii.String(v)
	}
	return &out
}
