package main

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/trust"
)

// TestDigest: the digest function runs weekly from a schedule rule, with the environment
// config.Load needs and the ledger table; its role may only query and read the ledger,
// publish reports (the topic's key through SNS) and read the chat sinks' secrets; the stack
// stays cdk-nag clean (checkStack's "nag" covers the whole stack, the digest included).
func TestDigest(t *testing.T) {
	for _, env := range []string{"staging", "production"} {
		t.Run(env, func(t *testing.T) {
			c := synthEnv(t, env)
			s := c.s
			fnID, fn := c.function(t, fnDigest)
			vars, _ := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
			tableID := c.logicalID(t, "AWS::DynamoDB::Table", "TableName", s.prefix()+"-ledger")
			if vars[config.EnvEnvironment] != s.Env || !jsonEq(vars[config.EnvLedgerTable], ref(tableID)) || vars[config.EnvReportTopicARN] == nil {
				t.Errorf("environment %v", vars)
			}
			if fn["Architectures"] == nil || !jsonEq(fn["Architectures"], []any{"arm64"}) || fn["Runtime"] != "provided.al2023" {
				t.Errorf("runtime %v %v", fn["Runtime"], fn["Architectures"])
			}

			dashID := c.logicalID(t, "AWS::CloudWatch::Dashboard", "DashboardName", s.prefix()+"-trust")
			body, _ := json.Marshal(c.resources("AWS::CloudWatch::Dashboard")[dashID]["DashboardBody"])
			for _, m := range []string{trust.MetricAgreementRate, trust.MetricIncidentsRecovered, trust.MetricMedianTimeToRecover} {
				if !strings.Contains(string(body), m) {
					t.Errorf("the trust dashboard does not graph %s", m)
				}
			}

			ruleID := c.logicalID(t, "AWS::Events::Rule", "Name", s.FunctionName(fnDigest)+"-weekly")
			rule := c.resources("AWS::Events::Rule")[ruleID]
			targets := asList(rule["Targets"])
			if rule["ScheduleExpression"] != digestSchedule || len(targets) != 1 ||
				!jsonEq(targets[0].(map[string]any)["Arn"], map[string]any{"Fn::GetAtt": getAtt(fnID, "Arn")}) {
				t.Errorf("schedule rule %v", rule)
			}

			roleID := fn["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			var actions []string
			for _, p := range c.resources("AWS::IAM::Policy") {
				if !jsonEq(asList(p["Roles"]), []any{ref(roleID)}) {
					continue
				}
				for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					stm := st.(map[string]any)
					for _, a := range asStrings(stm["Action"]) {
						actions = append(actions, a)
						res := asStrings(stm["Resource"])
						if strings.HasPrefix(a, "dynamodb:") && !jsonEq(stm["Resource"], map[string]any{"Fn::GetAtt": getAtt(tableID, "Arn")}) {
							t.Errorf("%s on %v, want the ledger table only", a, stm["Resource"])
						}
						if slices.Contains(res, "*") && !strings.HasPrefix(a, "xray:") {
							t.Errorf("%s on *", a)
						}
					}
				}
			}
			sort.Strings(actions)
			actions = slices.Compact(actions)
			want := []string{"dynamodb:GetItem", "dynamodb:Query", "kms:Decrypt", "kms:GenerateDataKey", "logs:CreateLogStream", "logs:PutLogEvents", "sns:Publish",
				"xray:PutTelemetryRecords", "xray:PutTraceSegments"}
			if len(s.digestSecrets()) > 0 {
				want = append(want, "secretsmanager:GetSecretValue")
				sort.Strings(want)
			}
			if !slices.Equal(actions, want) {
				t.Errorf("digest role's actions\n got %v\nwant %v", actions, want)
			}
		})
	}
}

func TestDigestPermissions(t *testing.T) {
	s := Settings{Env: "staging", Region: "eu-west-1", Account: "111122223333"}
	refs := stackRefs{ReportTopicARN: "arn:topic", ReportKeyARN: "arn:key", LedgerTableARN: "arn:table"}
	for _, g := range s.digestPermissions(refs) {
		for _, a := range g.Actions {
			if strings.HasPrefix(a, "ecs:") || a == "dynamodb:PutItem" || a == "dynamodb:DeleteItem" || a == "ssm:GetParameter" {
				t.Errorf("the digest is granted %s", a)
			}
		}
	}
}

// TestDigestEnvLoads: the digest's environment is one pkg/config loads, with and without
// chat sinks, and names only the sinks' secrets.
func TestDigestEnvLoads(t *testing.T) {
	for _, patch := range []string{`{}`, `{"reports": {"webhooksSecret": "qa/hooks", "pagerDutySecret": "qa/pd"}}`} {
		s, err := parseSettings("qa", with(t, patch))
		if err != nil {
			t.Fatal(err)
		}
		env := s.digestEnv(placeholderTopicARN, "ledger")
		c, err := config.Load(mapEnv(env))
		if err != nil {
			t.Fatalf("%s: %v", patch, err)
		}
		if c.LedgerTable != "ledger" || c.Environment != "qa" {
			t.Errorf("%s: loaded %+v", patch, c)
		}
		if _, ok := env[config.EnvPagerDutySecret]; ok {
			t.Errorf("%s: the digest is given the PagerDuty secret", patch)
		}
	}
}
