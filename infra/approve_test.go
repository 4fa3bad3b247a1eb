package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/arrakis/gp-remediation/pkg/config"
)

// The names pkg/config and pkg/approve read: a change on either side must show here.
func TestApproveVariableNames(t *testing.T) {
	for got, want := range map[string]string{
		config.EnvOffers: "GPR_OFFERS", config.EnvOfferTTL: "GPR_OFFER_TTL", config.EnvApprovers: "GPR_APPROVERS",
		config.EnvApprovalsRequired: "GPR_APPROVALS_REQUIRED", config.EnvInteractionsSecret: "GPR_INTERACTIONS_SECRET",
	} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
}

func TestApprovalsDefaults(t *testing.T) {
	for _, tc := range []struct {
		env      string
		required int
	}{{"qa", 1}, {"staging", 1}, {"production", 2}} {
		t.Run(tc.env, func(t *testing.T) {
			s, err := parseSettings(tc.env, []byte(minimal))
			if err != nil {
				t.Fatal(err)
			}
			want := Approvals{ApprovalsRequired: tc.required, OfferTTL: Duration(defaultOfferTTL),
				InteractionsSecret: "arrakis-" + tc.env + "/gp-remediation/interactions"}
			if !jsonEq(s.Approvals, want) {
				t.Errorf("approvals %+v, want %+v", s.Approvals, want)
			}
		})
	}
}

func TestApprovalsSettings(t *testing.T) {
	for _, tc := range []struct {
		name, env, patch string
		want             []string // every one in the single error; none: it loads
	}{
		{"the three forms", "qa", `{"approvers": ["slack:U0123ABC", "discord:user:123456789012345678", "discord:role:654321"]}`, nil},
		{"production may take one approver when it says so", "production",
			`{"approvers": ["slack:U0123"], "approvalsRequired": 1}`, nil},
		{"two required, one role: any number may hold it", "production", `{"approvers": ["discord:role:654321"]}`, nil},
		{"two required, two users", "production", `{"approvers": ["slack:U0123", "discord:user:42"]}`, nil},
		{"no approvers: nothing to approve, nothing to check", "production", `{}`, nil},
		{"offer ttl at the bound", "qa", `{"offerTTL": "24h", "interactionsSecret": "qa/chat"}`, nil},
		{"approver forms", "qa", `{"approvers": ["U0123", "slack:u0123", "discord:123", "discord:user:abc", "discord:role:", "slack:U0123 ", "teams:U1"]}`,
			[]string{`"U0123" is not slack:<user id>`, `"slack:u0123"`, `"discord:123"`, `"discord:user:abc"`, `"discord:role:"`, `"slack:U0123 "`, `"teams:U1"`}},
		{"listed twice", "qa", `{"approvers": ["slack:U0123", "slack:U0123"]}`, []string{`approvers: "slack:U0123" is listed twice`}},
		{"approvals required", "qa", `{"approvalsRequired": 3}`, []string{"approvalsRequired 3: want 1 or 2"}},
		{"approvals required zero", "qa", `{"approvalsRequired": 0}`, []string{"approvalsRequired 0: want 1 or 2"}},
		{"production's two with one user", "production", `{"approvers": ["slack:U0123"]}`,
			[]string{"approvalsRequired 2: only 1 approver listed, so nothing could ever be approved"}},
		{"offer ttl too long", "qa", `{"offerTTL": "25h"}`, []string{"offerTTL 25h0m0s: want more than 0 and at most 24h"}},
		{"offer ttl zero", "qa", `{"offerTTL": "0s"}`, []string{"offerTTL 0s"}},
		{"no interactions secret", "qa", `{"interactionsSecret": ""}`, []string{"interactionsSecret: approve verifies every request with it"}},
		{"approve has no alarm topic", "qa", `{"alarms": {"create": false, "topics": {"no-tasks": ["arn:aws:sns:eu-west-1:123456789012:a"], "queue-depth": ["arn:aws:sns:eu-west-1:123456789012:a"], "dlq": ["arn:aws:sns:eu-west-1:123456789012:a"], "memory-high": ["arn:aws:sns:eu-west-1:123456789012:a"], "approve": ["arn:aws:sns:eu-west-1:123456789012:a"]}}}`,
			[]string{"alarms.topics.approve: approve is invoked by Slack and Discord, not by alarms"}},
		{"approve's size", "qa", `{"functions": {"approve": {"memoryMiB": 64, "timeoutSeconds": 1000}}}`,
			[]string{"functions.approve.memoryMiB 64", "functions.approve.timeoutSeconds 1000"}},
		{"unknown key", "qa", `{"approver": ["slack:U0123"]}`, []string{`unknown field "approver"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSettings(tc.env, with(t, tc.patch))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				var p map[string]any
				json.Unmarshal([]byte(tc.patch), &p)
				if want, ok := p["approvers"]; ok && !jsonEq(s.Approvers, want) {
					t.Errorf("approvers %v, want %v", s.Approvers, want)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestApproveEnv(t *testing.T) {
	const topic, table = "arn:aws:sns:eu-west-1:123456789012:reports", "ledger"
	for _, tc := range []struct {
		name, env, patch string
		want             map[string]string // besides the values every case has
		absent           []string
	}{
		{
			name: "defaults", env: "qa", patch: `{}`,
			want: map[string]string{
				config.EnvApprovers: "", config.EnvApprovalsRequired: "1", config.EnvOfferTTL: "30m",
				config.EnvInteractionsSecret: "arrakis-qa/gp-remediation/interactions",
			},
			absent: []string{config.EnvWebhooksSecret, config.EnvSlackBotSecret, config.EnvSlackChannel},
		},
		{
			name: "production with approvers and every sink", env: "production",
			patch: `{"mode": "on", "approvers": ["slack:U0123", "discord:role:654321"], "offerTTL": "1h", "interactionsSecret": "prod/chat",
				"reports": {"webhooksSecret": "prod/hooks", "pagerDutySecret": "prod/pd", "slackBotSecret": "prod/bot", "slackChannel": "C0123"},
				"caps": {"maxWorkers": 6, "maxTaskMemoryMiB": 8192}, "budgets": {"restartBudget": 2, "lockTTL": "10m"}}`,
			want: map[string]string{
				config.EnvMode: "on", config.EnvApprovers: "slack:U0123,discord:role:654321", config.EnvApprovalsRequired: "2", config.EnvOfferTTL: "1h",
				config.EnvInteractionsSecret: "prod/chat", config.EnvWebhooksSecret: "prod/hooks", config.EnvSlackBotSecret: "prod/bot",
				config.EnvSlackChannel: "C0123", config.EnvMaxWorkers: "6", config.EnvMaxTaskMemoryMiB: "8192",
				config.EnvRestartBudget: "2", config.EnvLockTTL: "10m",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSettings(tc.env, with(t, tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			env := s.approveEnv(topic, table)
			want := map[string]string{
				config.EnvEnvironment: tc.env, config.EnvMode: "dry-run",
				config.EnvKillSwitchParam: "/arrakis-" + tc.env + "/gp-remediation/kill-switch",
				config.EnvLedgerTable:     table, config.EnvIncidents: "true", config.EnvReportTopicARN: topic,
				config.EnvCluster: "arrakis-" + tc.env + "-cluster", config.EnvIngestorService: "arrakis-" + tc.env + "-ingestor",
				config.EnvWorkerService: "arrakis-" + tc.env + "-gp-worker", config.EnvBroker: "arrakis-" + tc.env + "-rabbitmq",
				config.EnvVirtualHost: "/", config.EnvQueue: "arrakis.interactions", config.EnvDLQ: "arrakis.dlq",
				config.EnvRabbitSecret: "arrakis-" + tc.env + "/rabbitmq", config.EnvDatabaseSecret: "arrakis-" + tc.env + "/database",
				config.EnvDiscordAPIURL: "https://discord.com/api/v10",
				config.EnvMaxWorkers:    "3", config.EnvMaxTaskMemoryMiB: "4096", config.EnvRestartBudget: "3",
				config.EnvRestartCooldown: "15m", config.EnvScaleCooldown: "5m", config.EnvLockTTL: "5m",
				config.EnvMaxReplaysPerRun: "500", config.EnvMaxReplaysPerMsg: "3",
				"GOGC": "off", "GOMEMLIMIT": "192MiB",
			}
			maps.Copy(want, tc.want)
			for k, v := range want {
				if got, ok := env[k]; !ok || got != v {
					t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
				}
			}
			for k := range env {
				if _, ok := want[k]; !ok {
					t.Errorf("%s = %q set, approve does not read it", k, env[k])
				}
			}
			for _, k := range append(tc.absent, config.EnvPagerDutySecret, config.EnvDiscordSecret, config.EnvOffers, config.EnvAlarmNames, config.EnvPictureBucket) {
				if _, ok := env[k]; ok {
					t.Errorf("%s set", k)
				}
			}
			if _, err := config.Load(mapEnv(env)); err != nil {
				t.Errorf("config refuses approve's environment: %v", err)
			}
		})
	}
}

// TestOffersReachTheAlarmFunctions: the alarm functions post offers only when someone can
// approve them, with the environment's time to live.
func TestOffersReachTheAlarmFunctions(t *testing.T) {
	for _, tc := range []struct {
		patch, offers, ttl string
	}{
		{`{}`, "false", "30m"},
		{`{"approvers": ["discord:user:42"], "offerTTL": "45m"}`, "true", "45m"},
	} {
		s, err := parseSettings("qa", with(t, tc.patch))
		if err != nil {
			t.Fatal(err)
		}
		for _, fn := range functionNames {
			env := s.functionEnv(fn, placeholderTopicARN, "t", "")
			if env[config.EnvOffers] != tc.offers || env[config.EnvOfferTTL] != tc.ttl {
				t.Errorf("%s with %s: %s=%q %s=%q, want %q %q", fn, tc.patch, config.EnvOffers, env[config.EnvOffers], config.EnvOfferTTL, env[config.EnvOfferTTL], tc.offers, tc.ttl)
			}
		}
	}
}

// TestApprovePermissions: every statement of approve's role, actions and resources exactly.
func TestApprovePermissions(t *testing.T) {
	const (
		arn     = "arn:aws:%s:eu-west-1:123456789012:%s"
		secrets = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
	)
	common := func(env string) map[string][2][]string {
		return map[string][2][]string{
			"OwnLogs":        {{"logs:CreateLogStream", "logs:PutLogEvents"}, {fmt.Sprintf(arn, "logs", "log-group:/aws/lambda/arrakis-"+env+"-remediate-approve:*")}},
			"KillSwitch":     {{"ssm:GetParameter"}, {fmt.Sprintf(arn, "ssm", "parameter/arrakis-"+env+"/gp-remediation/kill-switch")}},
			"Report":         {{"sns:Publish"}, {testRefs.ReportTopicARN}},
			"ReportTopicKey": {{"kms:GenerateDataKey", "kms:Decrypt"}, {testRefs.ReportKeyARN}},
			"Ledger":         {{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"}, {testRefs.LedgerTableARN}},
			"Services": {{"ecs:DescribeServices", "ecs:UpdateService"}, {
				fmt.Sprintf(arn, "ecs", "service/arrakis-"+env+"-cluster/arrakis-"+env+"-ingestor"),
				fmt.Sprintf(arn, "ecs", "service/arrakis-"+env+"-cluster/arrakis-"+env+"-gp-worker")}},
			"TaskDefinitions": {{"ecs:DescribeTaskDefinition"}, {"*"}},
			"InvokeSelf":      {{"lambda:InvokeFunction"}, {fmt.Sprintf(arn, "lambda", "function:arrakis-"+env+"-remediate-approve")}},
			"VPCDescribe":     {{"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}, {"*"}},
			"VPCCreateENI": {{"ec2:CreateNetworkInterface"}, {fmt.Sprintf(arn, "ec2", "network-interface/*"),
				fmt.Sprintf(arn, "ec2", "subnet/subnet-0123456789abcdef0"), fmt.Sprintf(arn, "ec2", "security-group/sg-0123456789abcdef0")}},
			"VPCManageENI": {{"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"},
				{fmt.Sprintf(arn, "ec2", "network-interface/*")}},
		}
	}
	for _, tc := range []struct {
		name, patch string
		more        map[string][2][]string // statements besides the common ones
	}{
		{
			name: "defaults", patch: `{}`,
			more: map[string][2][]string{
				"Secrets": {{"secretsmanager:GetSecretValue"}, {secrets + "arrakis-qa/database-??????", secrets + "arrakis-qa/gp-remediation/interactions-??????", secrets + "arrakis-qa/rabbitmq-??????"}},
			},
		},
		{
			name: "every sink, renamed secrets, customer keys: not PagerDuty, not the Discord bot",
			patch: `{"interactionsSecret": "qa/chat", "names": {"rabbitSecret": "qa/mq", "databaseSecret": "qa/db"},
				"reports": {"webhooksSecret": "qa/hooks", "pagerDutySecret": "qa/pd", "slackBotSecret": "qa/bot", "slackChannel": "C0123"},
				"secretsKeyArns": ["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]}`,
			more: map[string][2][]string{
				"Secrets":     {{"secretsmanager:GetSecretValue"}, {secrets + "qa/bot-??????", secrets + "qa/chat-??????", secrets + "qa/db-??????", secrets + "qa/hooks-??????", secrets + "qa/mq-??????"}},
				"SecretsKeys": {{"kms:Decrypt"}, {"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
			},
		},
		{
			name: "raising memory allowed, roles unnamed", patch: `{"policy": {"allowRaiseMemory": true}}`,
			more: map[string][2][]string{
				"Secrets":                {{"secretsmanager:GetSecretValue"}, {secrets + "arrakis-qa/database-??????", secrets + "arrakis-qa/gp-remediation/interactions-??????", secrets + "arrakis-qa/rabbitmq-??????"}},
				"RegisterTaskDefinition": {{"ecs:RegisterTaskDefinition"}, {"*"}},
				"PassTaskRoles":          {{"iam:PassRole"}, {"arn:aws:iam::123456789012:role/*"}},
			},
		},
		{
			name: "raising memory allowed, roles named", patch: `{"policy": {"allowRaiseMemory": true, "passRoleArns": ["arn:aws:iam::123456789012:role/worker-task"]}}`,
			more: map[string][2][]string{
				"Secrets":                {{"secretsmanager:GetSecretValue"}, {secrets + "arrakis-qa/database-??????", secrets + "arrakis-qa/gp-remediation/interactions-??????", secrets + "arrakis-qa/rabbitmq-??????"}},
				"RegisterTaskDefinition": {{"ecs:RegisterTaskDefinition"}, {"*"}},
				"PassTaskRoles":          {{"iam:PassRole"}, {"arn:aws:iam::123456789012:role/worker-task"}},
			},
		},
		{
			// The policy keeps the functions from raising memory, so it is offered; an approver
			// may accept the offer, so approve may do it.
			name: "raising memory off, approvers listed", patch: `{"approvers": ["slack:U0123"], "policy": {"passRoleArns": ["arn:aws:iam::123456789012:role/worker-task"]}}`,
			more: map[string][2][]string{
				"Secrets":                {{"secretsmanager:GetSecretValue"}, {secrets + "arrakis-qa/database-??????", secrets + "arrakis-qa/gp-remediation/interactions-??????", secrets + "arrakis-qa/rabbitmq-??????"}},
				"RegisterTaskDefinition": {{"ecs:RegisterTaskDefinition"}, {"*"}},
				"PassTaskRoles":          {{"iam:PassRole"}, {"arn:aws:iam::123456789012:role/worker-task"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSettings("qa", with(t, tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			want := common("qa")
			maps.Copy(want, tc.more)
			gs := s.approvePermissions(testRefs)
			got := map[string][2][]string{}
			for _, g := range gs {
				if _, dup := got[g.Sid]; dup {
					t.Errorf("duplicate Sid %s", g.Sid)
				}
				got[g.Sid] = [2][]string{g.Actions, g.Resources}
			}
			equalStatements(t, got, want)
			checkApproveGrants(t, s, gs)
		})
	}
}

// checkApproveGrants holds what must be true of approve's role whatever the settings: ECS
// only on the two services (or "*" for the task-definition actions that have no resource),
// "*" only for the listed reasons, PassRole only to ECS tasks, every pattern explained.
func checkApproveGrants(t *testing.T, s Settings, gs []grant) {
	t.Helper()
	a := newARNs(s)
	services := []string{a.service(s.Names.Cluster, s.Names.IngestorService), a.service(s.Names.Cluster, s.Names.WorkerService)}
	for _, g := range gs {
		for _, act := range g.Actions {
			if strings.Contains(act, "*") {
				t.Errorf("%s: wildcard action %s", g.Sid, act)
			}
			for _, r := range g.Resources {
				switch {
				case r == "*" && wildcardReasons[act] == "":
					t.Errorf("%s: %s on * has no reason", g.Sid, act)
				case strings.HasPrefix(act, "ecs:") && r != "*" && !slices.Contains(services, r):
					t.Errorf("%s: %s names %s, not one of the two services", g.Sid, act, r)
				case strings.HasPrefix(act, "ecs:") && r == "*" && act != "ecs:DescribeTaskDefinition" && act != "ecs:RegisterTaskDefinition":
					t.Errorf("%s: %s on *", g.Sid, act)
				}
			}
		}
		if slices.Contains(g.Actions, "iam:PassRole") && g.Conditions["StringEquals"]["iam:PassedToService"] != "ecs-tasks.amazonaws.com" {
			t.Errorf("PassRole without the ecs-tasks condition: %+v", g)
		}
	}
	for r, why := range patternResources(gs) {
		if why == "unexplained wildcard" {
			t.Errorf("%s has no reason", r)
		}
	}
}

// TestApproveStack synthesizes staging and production from cdk.json and a variant with
// approvers, every sink and the raise-memory policy, and checks approve's resources.
func TestApproveStack(t *testing.T) {
	for _, env := range []string{"staging", "production"} {
		t.Run(env, func(t *testing.T) { checkApprove(t, synthEnv(t, env)) })
	}
	t.Run("approvers, sinks, raise memory", func(t *testing.T) {
		s := repoSettings(t, "production")
		s.Approvers = []string{"slack:U0123", "discord:role:654321"}
		s.Policy.AllowRaiseMemory = true
		s.Reports.SlackBotSecret, s.Reports.SlackChannel = "arrakis-production/gp-remediation/slack-bot", "C0123"
		if err := s.validate(); err != nil {
			t.Fatal(err)
		}
		c := synthSettings(t, s)
		checkStack(t, c)
		t.Run("approve", func(t *testing.T) { checkApprove(t, c) })
	})
}

func checkApprove(t *testing.T, c *synthesized) {
	s := c.s
	id, p := c.function(t, fnApprove)
	fnARN := map[string]any{"Fn::GetAtt": getAtt(id, "Arn")}
	sp := s.spec(fnApprove)

	t.Run("function", func(t *testing.T) {
		for k, want := range map[string]any{
			"Runtime":                      "provided.al2023",
			"Architectures":                []any{"arm64"},
			"Handler":                      "bootstrap",
			"MemorySize":                   float64(sp.MemoryMiB),
			"Timeout":                      float64(900),
			"ReservedConcurrentExecutions": float64(approveConcurrency),
			"TracingConfig":                map[string]any{"Mode": "Active"},
			"VpcConfig":                    map[string]any{"SecurityGroupIds": s.Network.SecurityGroupIDs, "SubnetIds": s.Network.SubnetIDs},
		} {
			if !jsonEq(p[k], want) {
				t.Errorf("%s = %v, want %v", k, p[k], want)
			}
		}
		_, queueDepth := c.function(t, fnQueueDepth)
		if !jsonEq(p["VpcConfig"], queueDepth["VpcConfig"]) {
			t.Errorf("VpcConfig %v, queue-depth's %v", p["VpcConfig"], queueDepth["VpcConfig"])
		}
		// replay-dlq reaches the broker over AMQP as dlq does: its network, its secret, its
		// replay caps.
		_, dlq := c.function(t, fnDLQ)
		if !jsonEq(p["VpcConfig"], dlq["VpcConfig"]) {
			t.Errorf("VpcConfig %v, dlq's %v", p["VpcConfig"], dlq["VpcConfig"])
		}
		vars := func(fp map[string]any) map[string]any {
			return fp["Environment"].(map[string]any)["Variables"].(map[string]any)
		}
		for _, k := range []string{config.EnvRabbitSecret, config.EnvDLQ, config.EnvVirtualHost, config.EnvMaxReplaysPerRun, config.EnvMaxReplaysPerMsg} {
			if got, want := vars(p)[k], vars(dlq)[k]; want != nil && !jsonEq(got, want) || got == nil {
				t.Errorf("%s = %v, dlq's %v", k, got, want)
			}
		}
		logID := c.logicalID(t, "AWS::Logs::LogGroup", "LogGroupName", "/aws/lambda/"+s.FunctionName(fnApprove))
		if want := map[string]any{"LogFormat": "JSON", "LogGroup": ref(logID)}; !jsonEq(p["LoggingConfig"], want) {
			t.Errorf("LoggingConfig = %v, want %v", p["LoggingConfig"], want)
		}
		// Its own asynchronous invocations: to the failed queue, no retry.
		queueID := c.logicalID(t, "AWS::SQS::Queue", "QueueName", s.prefix()+"-failed")
		n := 0
		for _, eic := range c.resources("AWS::Lambda::EventInvokeConfig") {
			if !jsonEq(eic["FunctionName"], ref(id)) {
				continue
			}
			n++
			want := map[string]any{"OnFailure": map[string]any{"Destination": map[string]any{"Fn::GetAtt": getAtt(queueID, "Arn")}}}
			if !jsonEq(eic["DestinationConfig"], want) || eic["MaximumRetryAttempts"] != float64(0) ||
				eic["MaximumEventAgeInSeconds"] != approveMaxEventAge.Seconds() {
				t.Errorf("EventInvokeConfig %v", eic)
			}
		}
		if n != 1 {
			t.Errorf("%d EventInvokeConfigs", n)
		}
		// Invoked by Slack and Discord only: no alarm topic, no schedule.
		for _, sub := range c.resources("AWS::SNS::Subscription") {
			if jsonEq(sub["Endpoint"], fnARN) {
				t.Errorf("approve subscribed to %v", sub["TopicArn"])
			}
		}
		for _, r := range c.resources("AWS::Events::Rule") {
			for _, tg := range asList(r["Targets"]) {
				if jsonEq(tg.(map[string]any)["Arn"], fnARN) {
					t.Errorf("approve is the target of rule %v", r["Name"])
				}
			}
		}
	})

	t.Run("url", func(t *testing.T) {
		urls := c.resources("AWS::Lambda::Url")
		var urlID string
		for uid, u := range urls {
			urlID = uid
			if u["AuthType"] != "NONE" || !jsonEq(u["TargetFunctionArn"], fnARN) || u["Cors"] != nil || u["Qualifier"] != nil {
				t.Errorf("function URL %v, want auth NONE on approve, no CORS", u)
			}
		}
		if len(urls) != 1 {
			t.Fatalf("%d function URLs", len(urls))
		}
		// Anyone may call the URL (the signatures are the authentication), and only through it.
		var perms []string
		for _, pm := range c.resources("AWS::Lambda::Permission") {
			if !jsonEq(pm["FunctionName"], fnARN) {
				continue
			}
			perms = append(perms, fmt.Sprint(pm["Action"]))
			switch pm["Action"] {
			case "lambda:InvokeFunctionUrl":
				if pm["Principal"] != "*" || pm["FunctionUrlAuthType"] != "NONE" {
					t.Errorf("URL permission %v", pm)
				}
			case "lambda:InvokeFunction":
				if pm["Principal"] != "*" || pm["InvokedViaFunctionUrl"] != true {
					t.Errorf("invoke permission %v: want it only through the function URL", pm)
				}
			default:
				t.Errorf("unexpected permission %v", pm)
			}
		}
		sort.Strings(perms)
		if !slices.Equal(perms, []string{"lambda:InvokeFunction", "lambda:InvokeFunctionUrl"}) {
			t.Errorf("permissions on approve: %v", perms)
		}
		out, _ := c.tmpl["Outputs"].(map[string]any)["ApproveUrl"].(map[string]any)
		if !jsonEq(out["Value"], map[string]any{"Fn::GetAtt": getAtt(urlID, "FunctionUrl")}) ||
			!strings.Contains(fmt.Sprint(out["Description"]), "Interactivity Request URL") ||
			!strings.Contains(fmt.Sprint(out["Description"]), "Interactions Endpoint URL") {
			t.Errorf("output ApproveUrl = %v", out)
		}
	})

	t.Run("env", func(t *testing.T) {
		vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		topicID := c.logicalID(t, "AWS::SNS::Topic", "TopicName", s.prefix()+"-reports")
		tableID := c.logicalID(t, "AWS::DynamoDB::Table", "TableName", s.prefix()+"-ledger")
		want := s.approveEnv("TOPIC", "TABLE")
		for k, v := range want {
			switch k {
			case config.EnvReportTopicARN:
				if !jsonEq(vars[k], ref(topicID)) {
					t.Errorf("%s = %v", k, vars[k])
				}
			case config.EnvLedgerTable:
				if !jsonEq(vars[k], ref(tableID)) {
					t.Errorf("%s = %v", k, vars[k])
				}
			default:
				if vars[k] != v {
					t.Errorf("%s = %v, want %q", k, vars[k], v)
				}
			}
		}
		if len(vars) != len(want) {
			t.Errorf("%d variables, want %d", len(vars), len(want))
		}
		wantRequired := map[bool]string{true: "2", false: "1"}[s.Env == productionEnv]
		if vars[config.EnvApprovalsRequired] != wantRequired || vars[config.EnvApprovers] != strings.Join(s.Approvers, ",") {
			t.Errorf("%s=%v %s=%v, want %s", config.EnvApprovalsRequired, vars[config.EnvApprovalsRequired], config.EnvApprovers, vars[config.EnvApprovers], wantRequired)
		}
		offers := fmt.Sprint(len(s.Approvers) > 0)
		for _, fn := range functionNames {
			_, fp := c.function(t, fn)
			fv := fp["Environment"].(map[string]any)["Variables"].(map[string]any)
			if fv[config.EnvOffers] != offers || fv[config.EnvOfferTTL] != s.OfferTTL.String() {
				t.Errorf("%s: %s=%v %s=%v, want %s %s", fn, config.EnvOffers, fv[config.EnvOffers], config.EnvOfferTTL, fv[config.EnvOfferTTL], offers, s.OfferTTL)
			}
		}
	})

	t.Run("role", func(t *testing.T) {
		roleID := p["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		keyID := ""
		for k := range c.resources("AWS::KMS::Key") {
			keyID = k
		}
		// The stack's tokens, as the template spells them.
		refs := stackRefs{ReportTopicARN: "TOPIC", ReportKeyARN: "KEY", LedgerTableARN: "TABLE"}
		tokens := map[string]any{
			"TOPIC": ref(c.logicalID(t, "AWS::SNS::Topic", "TopicName", s.prefix()+"-reports")),
			"KEY":   map[string]any{"Fn::GetAtt": getAtt(keyID, "Arn")},
			"TABLE": map[string]any{"Fn::GetAtt": getAtt(c.logicalID(t, "AWS::DynamoDB::Table", "TableName", s.prefix()+"-ledger"), "Arn")},
		}
		render := func(rs []string) []string {
			var out []string
			for _, r := range rs {
				if tok, ok := tokens[r]; ok {
					out = append(out, mustJSON(tok))
				} else {
					out = append(out, r)
				}
			}
			sort.Strings(out)
			return out
		}
		want := map[string][2][]string{}
		for _, g := range s.approvePermissions(refs) {
			want[g.Sid] = [2][]string{g.Actions, render(g.Resources)}
		}
		// CDK's own: X-Ray for active tracing, the on-failure destination.
		queue := map[string]any{"Fn::GetAtt": getAtt(c.logicalID(t, "AWS::SQS::Queue", "QueueName", s.prefix()+"-failed"), "Arn")}
		want["(tracing)"] = [2][]string{{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, {"*"}}
		want["(on-failure)"] = [2][]string{{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, {mustJSON(queue)}}

		got := map[string][2][]string{}
		policies := 0
		for _, pol := range c.resources("AWS::IAM::Policy") {
			if !slices.ContainsFunc(asList(pol["Roles"]), func(r any) bool { return jsonEq(r, ref(roleID)) }) {
				continue
			}
			policies++
			for _, st := range pol["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				stm := st.(map[string]any)
				if stm["Effect"] != "Allow" {
					t.Errorf("statement %v", stm)
				}
				sid, _ := stm["Sid"].(string)
				acts := asStrings(stm["Action"])
				switch {
				case sid != "":
				case slices.Contains(acts, "xray:PutTraceSegments"):
					sid = "(tracing)"
				case slices.Contains(acts, "sqs:SendMessage"):
					sid = "(on-failure)"
				default:
					sid = "(unknown) " + mustJSON(stm)
				}
				got[sid] = [2][]string{acts, render(asStrings(stm["Resource"]))}
				if slices.Contains(asStrings(stm["Resource"]), "*") {
					for _, a := range acts {
						if wildcardReasons[a] == "" {
							t.Errorf("%s on * without a reason", a)
						}
					}
				}
				for _, a := range acts {
					if strings.HasPrefix(a, "ecs:") {
						for _, r := range asStrings(stm["Resource"]) {
							if r != "*" && !strings.HasSuffix(r, "/"+s.Names.IngestorService) && !strings.HasSuffix(r, "/"+s.Names.WorkerService) {
								t.Errorf("%s names %s", a, r)
							}
						}
					}
				}
			}
		}
		if policies != 1 {
			t.Errorf("%d policies on approve's role", policies)
		}
		equalStatements(t, got, want)
		// The self-invoke ARN is spelled, not a reference to the function (which would be a cycle).
		if r := got["InvokeSelf"][1]; len(r) != 1 || r[0] != fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.Region, s.Account, s.FunctionName(fnApprove)) {
			t.Errorf("lambda:InvokeFunction on %v", r)
		}
		if role := c.resources("AWS::IAM::Role")[roleID]; role["ManagedPolicyArns"] != nil || role["Policies"] != nil {
			t.Errorf("approve's role has managed or inline policies: %v", role)
		}
	})

	t.Run("alarms", func(t *testing.T) {
		topic := ref(c.logicalID(t, "AWS::SNS::Topic", "TopicName", s.prefix()+"-reports"))
		for _, name := range []string{s.FunctionName(fnApprove) + " errors", s.FunctionName(fnApprove) + " throttles"} {
			aid := c.logicalID(t, "AWS::CloudWatch::Alarm", "AlarmName", name)
			al := c.resources("AWS::CloudWatch::Alarm")[aid]
			if !jsonEq(al["AlarmActions"], []any{topic}) || !jsonEq(al["Dimensions"], []any{map[string]any{"Name": "FunctionName", "Value": ref(id)}}) {
				t.Errorf("%s: actions %v dimensions %v", name, al["AlarmActions"], al["Dimensions"])
			}
		}
	})

	t.Run("no dependency cycle", func(t *testing.T) {
		if cycle := dependencyCycle(c.tmpl); cycle != nil {
			t.Errorf("dependency cycle: %s", strings.Join(cycle, " -> "))
		}
	})

	t.Run("nag", func(t *testing.T) {
		for _, e := range append(slices.Clone(c.errors), c.warnings...) {
			if strings.Contains(e, "Approve") {
				t.Errorf("finding on approve: %s", e)
			}
		}
	})
}

// dependencyCycle returns a cycle among the template's resources (through Ref, Fn::GetAtt,
// Fn::Sub and DependsOn), or nil: CloudFormation refuses a template with one.
func dependencyCycle(tmpl map[string]any) []string {
	resources, _ := tmpl["Resources"].(map[string]any)
	deps := map[string][]string{}
	var walk func(from string, v any)
	walk = func(from string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				switch k {
				case "Ref":
					if s, ok := val.(string); ok {
						deps[from] = append(deps[from], s)
					}
				case "Fn::GetAtt":
					if l, ok := val.([]any); ok && len(l) > 0 {
						deps[from] = append(deps[from], fmt.Sprint(l[0]))
					}
				case "Fn::Sub":
					str, _ := val.(string)
					if l, ok := val.([]any); ok && len(l) > 0 {
						str, _ = l[0].(string)
					}
					for _, part := range strings.Split(str, "${")[1:] {
						name, _, _ := strings.Cut(part, "}")
						name, _, _ = strings.Cut(name, ".")
						deps[from] = append(deps[from], name)
					}
				}
				walk(from, val)
			}
		case []any:
			for _, e := range x {
				walk(from, e)
			}
		}
	}
	ids := make([]string, 0, len(resources))
	for id, r := range resources {
		ids = append(ids, id)
		rm, _ := r.(map[string]any)
		walk(id, rm["Properties"])
		for _, d := range asList(rm["DependsOn"]) {
			if s, ok := d.(string); ok {
				deps[id] = append(deps[id], s)
			}
		}
	}
	sort.Strings(ids)
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(id string) []string
	visit = func(id string) []string {
		state[id] = open
		stack = append(stack, id)
		for _, d := range deps[id] {
			if _, ok := resources[d]; !ok {
				continue // a parameter or a pseudo parameter
			}
			switch state[d] {
			case open:
				i := slices.Index(stack, d)
				return append(slices.Clone(stack[i:]), d)
			case unseen:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		return nil
	}
	for _, id := range ids {
		if state[id] == unseen {
			if c := visit(id); c != nil {
				return c
			}
		}
	}
	return nil
}

// TestDependencyCycleFindsOne: the check above can fail, e.g. a role policy naming its
// function by reference while the function depends on the policy.
func TestDependencyCycleFindsOne(t *testing.T) {
	var tmpl map[string]any
	json.Unmarshal([]byte(`{"Resources": {
		"Fn": {"Type": "AWS::Lambda::Function", "DependsOn": ["Policy"], "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
		"Role": {"Type": "AWS::IAM::Role", "Properties": {}},
		"Policy": {"Type": "AWS::IAM::Policy", "Properties": {"Roles": [{"Ref": "Role"}],
			"PolicyDocument": {"Statement": [{"Resource": {"Fn::Sub": "${Fn.Arn}:*"}}]}}},
		"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"Name": {"Ref": "AWS::StackName"}}}
	}}`), &tmpl)
	cycle := dependencyCycle(tmpl)
	if len(cycle) != 3 || cycle[0] != cycle[2] || !slices.Contains(cycle, "Fn") || !slices.Contains(cycle, "Policy") {
		t.Errorf("cycle %v, want Fn and Policy", cycle)
	}
	tmpl["Resources"].(map[string]any)["Fn"].(map[string]any)["DependsOn"] = []any{}
	if cycle := dependencyCycle(tmpl); cycle != nil {
		t.Errorf("cycle %v in an acyclic template", cycle)
	}
}

// TestBootstrapOfApproveRequired: synth refuses to package a stack without approve's build.
func TestBootstrapOfApproveRequired(t *testing.T) {
	dir := t.TempDir()
	for _, fn := range append(slices.Clone(functionNames), fnDigest) {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	err := checkBootstraps(dir)
	if want := filepath.Join(dir, fnApprove, "bootstrap"); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to name %s", err, want)
	}
	if err := os.MkdirAll(filepath.Join(dir, fnApprove), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fnApprove, "bootstrap"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkBootstraps(dir); err != nil {
		t.Errorf("every bootstrap there: %v", err)
	}
}

// equalStatements compares policy statements by Sid: actions and resources each, and no
// statement more or less than wanted.
func equalStatements(t *testing.T, got, want map[string][2][]string) {
	t.Helper()
	for sid, w := range want {
		if !jsonEq(got[sid], w) {
			t.Errorf("%s: %v on %v, want %v on %v", sid, got[sid][0], got[sid][1], w[0], w[1])
		}
	}
	for sid, g := range got {
		if _, ok := want[sid]; !ok {
			t.Errorf("unexpected statement %s: %v on %v", sid, g[0], g[1])
		}
	}
}
