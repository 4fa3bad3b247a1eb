package main

import (
	"slices"
	"strings"
	"testing"
)

var testRefs = stackRefs{
	ReportTopicARN: "arn:aws:sns:eu-west-1:123456789012:arrakis-qa-gp-remediation-reports",
	ReportKeyARN:   "arn:aws:kms:eu-west-1:123456789012:key/0000",
	LedgerTableARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/arrakis-qa-gp-remediation-ledger",
}

// actionsOn lists, for each action, the resources granted.
func actionsOn(gs []grant) map[string][]string {
	out := map[string][]string{}
	for _, g := range gs {
		for _, a := range g.Actions {
			out[a] = append(out[a], g.Resources...)
		}
	}
	return out
}

func TestPermissionsPerFunction(t *testing.T) {
	const (
		svc     = "arn:aws:ecs:eu-west-1:123456789012:service/arrakis-qa-cluster/"
		secrets = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
		logs    = "arn:aws:logs:eu-west-1:123456789012:log-group:"
	)
	for _, tc := range []struct {
		name       string
		patch      string
		fn         string
		update     []string // ecs:UpdateService resources
		logGroups  []string
		secrets    []string
		present    []string
		absent     []string
		passRoleOn []string
	}{
		{
			name: "no-tasks", fn: fnNoTasks, patch: `{}`,
			update:    []string{svc + "arrakis-qa-gp-worker", svc + "arrakis-qa-ingestor"},
			logGroups: []string{"/ecs/arrakis-qa/gp-worker", "/ecs/arrakis-qa/ingestor"},
			secrets:   []string{"arrakis-qa/discord"},
			present:   []string{"ecs:DescribeServices", "ecs:ListTasks", "ecs:DescribeTasks", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions", "cloudwatch:GetMetricData"},
			absent:    []string{"ecs:RegisterTaskDefinition", "iam:PassRole", "ec2:CreateNetworkInterface"},
		},
		{
			name: "no-tasks raising memory, roles unnamed", fn: fnNoTasks, patch: `{"policy": {"allowRaiseMemory": true}}`,
			update:     []string{svc + "arrakis-qa-gp-worker", svc + "arrakis-qa-ingestor"},
			logGroups:  []string{"/ecs/arrakis-qa/gp-worker", "/ecs/arrakis-qa/ingestor"},
			secrets:    []string{"arrakis-qa/discord"},
			present:    []string{"ecs:RegisterTaskDefinition"},
			passRoleOn: []string{"arn:aws:iam::123456789012:role/*"},
		},
		{
			name: "queue-depth with sinks", fn: fnQueueDepth, patch: `{"reports": {"webhooksSecret": "qa/hooks", "pagerDutySecret": "qa/pd"}}`,
			update:    []string{svc + "arrakis-qa-gp-worker"},
			logGroups: []string{"/ecs/arrakis-qa/gp-worker"},
			secrets:   []string{"arrakis-qa/database", "arrakis-qa/rabbitmq", "qa/hooks", "qa/pd"},
			present:   []string{"ecs:ListTasks", "ecs:DescribeTasks", "cloudwatch:GetMetricData", "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces"},
			absent:    []string{"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition", "iam:PassRole"},
		},
		{
			name: "dlq", fn: fnDLQ, patch: `{"policy": {"allowRaiseMemory": true}}`,
			secrets: []string{"arrakis-qa/rabbitmq"},
			present: []string{"ec2:CreateNetworkInterface", "cloudwatch:GetMetricData"},
			absent:  []string{"ecs:UpdateService", "ecs:DescribeServices", "logs:FilterLogEvents", "ecs:RegisterTaskDefinition", "iam:PassRole"},
		},
		{
			name: "memory-high raising memory, roles named", fn: fnMemoryHigh,
			patch:      `{"policy": {"allowRaiseMemory": true, "passRoleArns": ["arn:aws:iam::123456789012:role/ingestor-task"]}}`,
			update:     []string{svc + "arrakis-qa-ingestor"},
			logGroups:  []string{"/ecs/arrakis-qa/ingestor"},
			secrets:    []string{"arrakis-qa/discord"},
			present:    []string{"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"},
			absent:     []string{"ecs:ListTasks", "ecs:ListTaskDefinitions", "ec2:CreateNetworkInterface"},
			passRoleOn: []string{"arn:aws:iam::123456789012:role/ingestor-task"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSettings("qa", with(t, tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			gs := s.permissions(tc.fn, testRefs)
			on := actionsOn(gs)
			// A function that changes one service reads both: its close of an incident judges
			// every action against its target's history.
			describe := tc.update
			if len(tc.update) == 1 {
				describe = []string{svc + "arrakis-qa-ingestor", svc + "arrakis-qa-gp-worker"}
			}
			if !slices.Equal(on["ecs:UpdateService"], tc.update) || !slices.Equal(on["ecs:DescribeServices"], describe) {
				t.Errorf("UpdateService on %v, DescribeServices on %v, want %v and %v", on["ecs:UpdateService"], on["ecs:DescribeServices"], tc.update, describe)
			}
			var wantLogs []string
			for _, lg := range tc.logGroups {
				wantLogs = append(wantLogs, logs+lg, logs+lg+":*")
			}
			if !slices.Equal(on["logs:FilterLogEvents"], wantLogs) {
				t.Errorf("FilterLogEvents on %v, want %v", on["logs:FilterLogEvents"], wantLogs)
			}
			var wantSecrets []string
			for _, n := range tc.secrets {
				wantSecrets = append(wantSecrets, secrets+n+"-??????")
			}
			if !slices.Equal(on["secretsmanager:GetSecretValue"], wantSecrets) {
				t.Errorf("GetSecretValue on %v, want %v", on["secretsmanager:GetSecretValue"], wantSecrets)
			}
			for _, a := range tc.present {
				if len(on[a]) == 0 {
					t.Errorf("%s not granted", a)
				}
			}
			for _, a := range tc.absent {
				if len(on[a]) > 0 {
					t.Errorf("%s granted on %v", a, on[a])
				}
			}
			if !slices.Equal(on["iam:PassRole"], tc.passRoleOn) {
				t.Errorf("PassRole on %v, want %v", on["iam:PassRole"], tc.passRoleOn)
			}
			for _, g := range gs {
				if slices.Contains(g.Actions, "iam:PassRole") && g.Conditions["StringEquals"]["iam:PassedToService"] != "ecs-tasks.amazonaws.com" {
					t.Errorf("PassRole without the ecs-tasks condition: %+v", g)
				}
			}
			// Every function: only the report topic, only the ledger, only the kill switch.
			for a, want := range map[string][]string{
				"sns:Publish":         {testRefs.ReportTopicARN},
				"dynamodb:PutItem":    {testRefs.LedgerTableARN},
				"dynamodb:Query":      {testRefs.LedgerTableARN},
				"ssm:GetParameter":    {"arn:aws:ssm:eu-west-1:123456789012:parameter/arrakis-qa/gp-remediation/kill-switch"},
				"kms:GenerateDataKey": {testRefs.ReportKeyARN},
				"logs:PutLogEvents":   {logs + "/aws/lambda/arrakis-qa-remediate-" + tc.fn + ":*"},
			} {
				if !slices.Equal(on[a], want) {
					t.Errorf("%s on %v, want %v", a, on[a], want)
				}
			}
		})
	}
}

// TestWildcardsAreJustified: no action has a wildcard, "*" resources only carry the listed
// actions, and every resource pattern has a reason, in every function and policy.
func TestWildcardsAreJustified(t *testing.T) {
	for _, patch := range []string{`{}`, `{"policy": {"allowRaiseMemory": true, "allowRollback": true}}`, `{"secretsKeyArns": ["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]}`} {
		s, err := parseSettings("qa", with(t, patch))
		if err != nil {
			t.Fatal(err)
		}
		for _, fn := range functionNames {
			gs := s.permissions(fn, testRefs)
			sids := map[string]bool{}
			for _, g := range gs {
				if sids[g.Sid] {
					t.Errorf("%s: duplicate Sid %s", fn, g.Sid)
				}
				sids[g.Sid] = true
				if len(g.Resources) == 0 {
					t.Errorf("%s %s: no resources", fn, g.Sid)
				}
				for _, a := range g.Actions {
					if strings.Contains(a, "*") {
						t.Errorf("%s: wildcard action %s", fn, a)
					}
					if slices.Contains(g.Resources, "*") && wildcardReasons[a] == "" {
						t.Errorf("%s: %s on * has no reason", fn, a)
					}
				}
			}
			for r, why := range patternResources(gs) {
				if why == "unexplained wildcard" {
					t.Errorf("%s: %s has no reason", fn, r)
				}
			}
		}
	}
}

func TestPartition(t *testing.T) {
	for region, want := range map[string]string{"us-east-1": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov", "eu-central-2": "aws"} {
		if got := partitionOf(region); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}
