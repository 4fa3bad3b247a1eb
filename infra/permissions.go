package main

import (
	"fmt"
	"sort"
	"strings"
)

// grant is one IAM statement, as plain data, so least privilege is table-tested without
// synthesizing anything.
type grant struct {
	Sid        string
	Actions    []string
	Resources  []string
	Conditions map[string]map[string]any
}

// stackRefs are the ARNs of what the stack itself creates (CloudFormation tokens in the
// stack, plain strings in unit tests).
type stackRefs struct {
	ReportTopicARN string
	ReportKeyARN   string // the KMS key the report topic is encrypted with
	LedgerTableARN string
	// PictureBucketARN is the bucket report pictures are stored in for linking.
	PictureBucketARN string
}

// wildcardReasons lists the only actions allowed on Resource "*", each with why. The stack's
// nag suppressions quote these reasons, and the tests fail on any other "*".
var wildcardReasons = map[string]string{
	"cloudwatch:GetMetricData":        "cloudwatch:GetMetricData has no resource-level permissions; AWS evaluates it against *",
	"cloudwatch:GetMetricWidgetImage": "cloudwatch:GetMetricWidgetImage (the report's graph) has no resource-level permissions; AWS evaluates it against *",
	"ecs:DescribeTaskDefinition":      "ecs:DescribeTaskDefinition has no resource-level permissions",
	"ecs:ListTaskDefinitions":         "ecs:ListTaskDefinitions has no resource-level permissions",
	"ecs:RegisterTaskDefinition":      "ecs:RegisterTaskDefinition has no resource-level permissions; granted only when policy.allowRaiseMemory is on",
	"ecs:ListTasks":                   "ecs:ListTasks is evaluated against * unless a container instance is named; scoped to the cluster by the ecs:cluster condition",
	"xray:PutTraceSegments":           "X-Ray has no resource-level permissions (added by CDK for active tracing)",
	"xray:PutTelemetryRecords":        "X-Ray has no resource-level permissions (added by CDK for active tracing)",
	"ec2:DescribeNetworkInterfaces":   "Lambda's VPC attachment needs ec2:DescribeNetworkInterfaces, which works only on *",
	"ec2:DescribeSubnets":             "ec2:DescribeSubnets (Lambda's VPC attachment) has no resource-level permissions",
}

// arnBuilder spells ARNs in one account and region.
type arnBuilder struct{ partition, region, account string }

func newARNs(s Settings) arnBuilder {
	return arnBuilder{partition: partitionOf(s.Region), region: s.Region, account: s.Account}
}

func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func (a arnBuilder) arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", a.partition, service, a.region, a.account, resource)
}

func (a arnBuilder) cluster(c string) string      { return a.arn("ecs", "cluster/"+c) }
func (a arnBuilder) service(c, svc string) string { return a.arn("ecs", "service/"+c+"/"+svc) }
func (a arnBuilder) tasks(c string) string        { return a.arn("ecs", "task/"+c+"/*") }
func (a arnBuilder) parameter(name string) string {
	return a.arn("ssm", "parameter/"+strings.TrimPrefix(name, "/"))
}
func (a arnBuilder) secret(name string) string {
	return a.arn("secretsmanager", "secret:"+name+"-??????")
}
func (a arnBuilder) logGroup(name string) []string {
	g := a.arn("logs", "log-group:"+name)
	return []string{g, g + ":*"}
}

// permissions is everything fn may do in this environment, one statement per concern.
func (s Settings) permissions(fn string, refs stackRefs) []grant {
	a := newARNs(s)
	n := s.Names
	sp := s.spec(fn)
	var g []grant
	add := func(sid string, actions, resources []string) {
		g = append(g, grant{Sid: sid, Actions: actions, Resources: resources})
	}

	g = append(g, s.commonGrants(fn, refs)...)
	// What pkg/ledger calls: conditional puts (claims, locks, actions, the incident),
	// conditional deletes (unlock), a query (history) and a read (the incident).
	add("Ledger", []string{"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:GetItem"}, []string{refs.LedgerTableARN})
	// The environment's runbook alarms: a follow-up reads the function's own, and any
	// function may close the incident once every member alarm reads OK.
	var alarmARNs []string
	for _, al := range s.runbookAlarms() {
		alarmARNs = append(alarmARNs, a.arn("cloudwatch", "alarm:"+al.Name))
	}
	sort.Strings(alarmARNs)
	add("Alarms", []string{"cloudwatch:DescribeAlarms"}, alarmARNs)
	// The report's graph: drawn by CloudWatch, stored for the sinks that link it. GetObject is
	// what the presigned URLs the function signs are allowed to do.
	add("PictureDraw", []string{"cloudwatch:GetMetricWidgetImage"}, []string{"*"})
	if refs.PictureBucketARN != "" {
		add("PictureStore", []string{"s3:PutObject", "s3:GetObject"}, []string{refs.PictureBucketARN + "/pictures/*"})
	}

	var secrets []string
	for _, v := range s.secrets(fn) {
		secrets = append(secrets, a.secret(s.secretName(v)))
	}
	sort.Strings(secrets)
	add("Secrets", []string{"secretsmanager:GetSecretValue"}, secrets)
	g = append(g, s.secretsKeyGrants()...)

	services := map[string][]string{ // which ECS services fn acts on, in the runbook's order
		fnNoTasks:    {n.WorkerService, n.IngestorService},
		fnQueueDepth: {n.WorkerService},
		fnMemoryHigh: {n.IngestorService},
	}[fn]
	logGroups := map[string][]string{
		fnNoTasks:    {n.WorkerLogGroup, n.IngestorLogGroup},
		fnQueueDepth: {n.WorkerLogGroup},
		fnMemoryHigh: {n.IngestorLogGroup},
	}[fn]
	if len(services) > 0 {
		var arns []string
		for _, svc := range services {
			arns = append(arns, a.service(n.Cluster, svc))
		}
		if len(services) == 1 {
			// Closing an incident judges every action in it against its target's history
			// (pkg/trust), the other service's too: it reads both and changes its own.
			add("Services", []string{"ecs:UpdateService"}, arns)
			add("ReadServices", []string{"ecs:DescribeServices"},
				[]string{a.service(n.Cluster, n.IngestorService), a.service(n.Cluster, n.WorkerService)})
		} else {
			add("Services", []string{"ecs:DescribeServices", "ecs:UpdateService"}, arns)
		}
		add("Metrics", []string{"cloudwatch:GetMetricData"}, []string{"*"})
		var groups []string
		for _, lg := range logGroups {
			groups = append(groups, a.logGroup(lg)...)
		}
		add("ServiceLogs", []string{"logs:FilterLogEvents"}, groups)
	}
	if fn == fnDLQ {
		// Closing an incident reads the DLQ's depth: its drops are the moves out of it (pkg/trust).
		add("Metrics", []string{"cloudwatch:GetMetricData"}, []string{"*"})
	}
	if fn == fnNoTasks || fn == fnQueueDepth { // stopped tasks: why they died
		g = append(g, grant{
			Sid: "ListTasks", Actions: []string{"ecs:ListTasks"}, Resources: []string{"*"},
			Conditions: map[string]map[string]any{"ArnEquals": {"ecs:cluster": a.cluster(n.Cluster)}},
		})
		add("DescribeTasks", []string{"ecs:DescribeTasks"}, []string{a.tasks(n.Cluster)})
	}
	switch fn {
	case fnNoTasks:
		add("TaskDefinitions", []string{"ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"}, []string{"*"})
	case fnMemoryHigh:
		add("TaskDefinitions", []string{"ecs:DescribeTaskDefinition"}, []string{"*"})
	}
	if (fn == fnNoTasks || fn == fnMemoryHigh) && s.Policy.AllowRaiseMemory {
		g = append(g, s.raiseMemoryGrants()...)
	}

	if sp.InVPC {
		g = append(g, s.vpcGrants()...)
	}
	return g
}

// commonGrants are what every function needs to run, stop and report: its own log streams
// (the stack creates the group, so no logs:CreateLogGroup), the kill switch, and the report
// topic with its key, through SNS only.
func (s Settings) commonGrants(fn string, refs stackRefs) []grant {
	a := newARNs(s)
	return []grant{
		{Sid: "OwnLogs", Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: []string{a.arn("logs", "log-group:/aws/lambda/"+s.FunctionName(fn)+":*")}},
		{Sid: "KillSwitch", Actions: []string{"ssm:GetParameter"}, Resources: []string{a.parameter(s.Names.KillSwitchParam)}},
		{Sid: "Report", Actions: []string{"sns:Publish"}, Resources: []string{refs.ReportTopicARN}},
		{
			Sid: "ReportTopicKey", Actions: []string{"kms:GenerateDataKey", "kms:Decrypt"}, Resources: []string{refs.ReportKeyARN},
			Conditions: map[string]map[string]any{"StringEquals": {"kms:ViaService": "sns." + s.Region + ".amazonaws.com"}},
		},
	}
}

// secretsKeyGrants decrypt the secrets through Secrets Manager when they use customer-managed
// keys (none otherwise).
func (s Settings) secretsKeyGrants() []grant {
	if len(s.SecretsKeyARNs) == 0 {
		return nil
	}
	return []grant{{
		Sid: "SecretsKeys", Actions: []string{"kms:Decrypt"}, Resources: s.SecretsKeyARNs,
		Conditions: map[string]map[string]any{"StringEquals": {"kms:ViaService": "secretsmanager." + s.Region + ".amazonaws.com"}},
	}}
}

// raiseMemoryGrants register a copy of a task definition with more memory: the copy passes the
// service's task and execution roles, to ECS tasks only.
func (s Settings) raiseMemoryGrants() []grant {
	a := newARNs(s)
	roles := s.Policy.PassRoleARNs
	if len(roles) == 0 {
		roles = []string{fmt.Sprintf("arn:%s:iam::%s:role/*", a.partition, a.account)}
	}
	return []grant{
		{Sid: "RegisterTaskDefinition", Actions: []string{"ecs:RegisterTaskDefinition"}, Resources: []string{"*"}},
		{
			Sid: "PassTaskRoles", Actions: []string{"iam:PassRole"}, Resources: roles,
			Conditions: map[string]map[string]any{"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
		},
	}
}

// vpcGrants are what AWSLambdaVPCAccessExecutionRole grants, scoped where EC2 allows it.
func (s Settings) vpcGrants() []grant {
	a := newARNs(s)
	create := []string{a.arn("ec2", "network-interface/*")}
	for _, id := range s.Network.SubnetIDs {
		create = append(create, a.arn("ec2", "subnet/"+id))
	}
	for _, id := range s.Network.SecurityGroupIDs {
		create = append(create, a.arn("ec2", "security-group/"+id))
	}
	return []grant{
		{Sid: "VPCDescribe", Actions: []string{"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}, Resources: []string{"*"}},
		{Sid: "VPCCreateENI", Actions: []string{"ec2:CreateNetworkInterface"}, Resources: create},
		{
			Sid: "VPCManageENI", Actions: []string{"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"},
			Resources: []string{a.arn("ec2", "network-interface/*")},
		},
	}
}

// patternResources are the resource patterns (not "*") that contain a wildcard, with why:
// cdk-nag's IAM5 wants each named.
func patternResources(gs []grant) map[string]string {
	out := map[string]string{}
	for _, g := range gs {
		for _, r := range g.Resources {
			if r == "*" || !strings.ContainsAny(r, "*?") {
				continue
			}
			switch {
			case strings.HasSuffix(r, "-??????"):
				out[r] = "Secrets Manager appends a random 6-character suffix to a secret's ARN; the name is fixed"
			case strings.HasSuffix(r, "/pictures/*"):
				out[r] = "report pictures under pictures/ in the stack's picture bucket (one object per report, named when it is drawn)"
			case strings.Contains(r, ":log-group:"):
				out[r] = "log streams of one named log group"
			case strings.Contains(r, ":task/"):
				out[r] = "tasks of the environment's cluster (task ids are not known in advance)"
			case strings.Contains(r, ":network-interface/"):
				out[r] = "ENIs Lambda creates for the VPC attachment (ids not known in advance)"
			case strings.Contains(r, ":role/"):
				out[r] = "task and execution roles of the services, passed only to ecs-tasks.amazonaws.com (set policy.passRoleArns to name them)"
			default:
				out[r] = "unexplained wildcard" // the tests fail on this text
			}
		}
	}
	return out
}
