package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/config"
)

// minimal is the least an environment must say: where it is and its network.
const minimal = `{
  "account": "123456789012", "region": "eu-west-1",
  "network": {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"],
              "availabilityZones": ["eu-west-1a"], "securityGroupIds": ["sg-0123456789abcdef0"]}
}`

// with returns minimal with the top-level keys of patch replaced.
func with(t *testing.T, patch string) []byte {
	t.Helper()
	var base, p map[string]any
	if err := json.Unmarshal([]byte(minimal), &base); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(patch), &p); err != nil {
		t.Fatalf("patch: %v", err)
	}
	for k, v := range p {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	b, _ := json.Marshal(base)
	return b
}

func TestDefaults(t *testing.T) {
	s, err := parseSettings("qa", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != config.ModeDryRun {
		t.Errorf("mode %q: an environment that does not say starts in dry-run", s.Mode)
	}
	if s.Names != config.Defaults("qa") {
		t.Errorf("names %+v, want the runbook's defaults", s.Names)
	}
	if s.StackName() != "arrakis-qa-gp-remediation" || s.FunctionName(fnDLQ) != "arrakis-qa-remediate-dlq" {
		t.Errorf("stack %s, function %s", s.StackName(), s.FunctionName(fnDLQ))
	}
	// Tuning defaults are pkg/config's: the functions would read the same values with no
	// variable set at all.
	c, err := config.Load(mapEnv(map[string]string{config.EnvEnvironment: "qa", config.EnvReportTopicARN: placeholderTopicARN}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(mapEnv(s.functionEnv(fnNoTasks, placeholderTopicARN, "", "")))
	if err != nil {
		t.Fatal(err)
	}
	got.KillSwitchParam, c.KillSwitchParam = "", ""
	got.AlarmNames = nil // the function's own alarms: the stack names them, config has no default
	if !reflect.DeepEqual(got, c) {
		t.Errorf("rendered defaults differ from pkg/config's:\n got %+v\nwant %+v", got, c)
	}
	if s.Alarms.MemoryHigh.Threshold != c.MemoryHighPercent {
		t.Errorf("memory alarm threshold %g, config %g", s.Alarms.MemoryHigh.Threshold, c.MemoryHighPercent)
	}
	if !s.Alarms.Create || s.LogRetentionDays != 30 {
		t.Errorf("alarms.create %v, retention %d", s.Alarms.Create, s.LogRetentionDays)
	}
}

func TestOverrides(t *testing.T) {
	s, err := parseSettings("qa", with(t, `{
		"mode": "on",
		"names": {"workerService": "qa-worker", "killSwitchParam": "/qa/stop"},
		"caps": {"maxWorkers": 5},
		"budgets": {"restartCooldown": "30m"},
		"alarms": {"memoryHigh": {"threshold": 90, "periodSeconds": 300, "evaluationPeriods": 2, "datapointsToAlarm": 2},
		           "names": {"dlq-messages": "qa DLQ"}},
		"functions": {"dlq": {"timeoutSeconds": 600}}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	env := s.functionEnv(fnQueueDepth, placeholderTopicARN, "t", "")
	for k, want := range map[string]string{
		config.EnvMode: "on", config.EnvWorkerService: "qa-worker", config.EnvIngestorService: "arrakis-qa-ingestor",
		config.EnvKillSwitchParam: "/qa/stop", config.EnvMaxWorkers: "5", config.EnvRestartCooldown: "30m",
		config.EnvMemoryHighPercent: "90", config.EnvLeakRestartEvery: "6h",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if s.spec(fnDLQ).Timeout != 10*time.Minute || s.spec(fnDLQ).MemoryMiB != 512 {
		t.Errorf("dlq spec %+v", s.spec(fnDLQ))
	}
	if s.alarmName(alarmDLQMessages) != "qa DLQ" || s.alarmName(alarmQueueDepthHigh) != "arrakis-qa Queue Depth High" {
		t.Errorf("alarm names %q, %q", s.alarmName(alarmDLQMessages), s.alarmName(alarmQueueDepthHigh))
	}
}

func TestFunctionEnvSecrets(t *testing.T) {
	s, err := parseSettings("qa", with(t, `{"reports": {"webhooksSecret": "qa/hooks", "pagerDutySecret": "qa/pd"}, "parkingQueue": "arrakis.parking"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fn      string
		set     []string
		notSet  []string
		parking bool
	}{
		{fnNoTasks, []string{config.EnvDiscordSecret}, []string{config.EnvRabbitSecret, config.EnvDatabaseSecret}, false},
		{fnQueueDepth, []string{config.EnvRabbitSecret, config.EnvDatabaseSecret}, []string{config.EnvDiscordSecret}, false},
		{fnDLQ, []string{config.EnvRabbitSecret}, []string{config.EnvDatabaseSecret, config.EnvDiscordSecret}, true},
		{fnMemoryHigh, []string{config.EnvDiscordSecret}, []string{config.EnvRabbitSecret, config.EnvDatabaseSecret}, false},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			env := s.functionEnv(tc.fn, placeholderTopicARN, "t", "")
			for _, k := range append(tc.set, config.EnvWebhooksSecret, config.EnvPagerDutySecret) {
				if env[k] == "" {
					t.Errorf("%s not set", k)
				}
			}
			for _, k := range tc.notSet {
				if _, ok := env[k]; ok {
					t.Errorf("%s set for a function that does not read it", k)
				}
			}
			if got, want := env["GOMAXPROCS"], map[bool]string{true: "1"}[tc.fn == fnDLQ]; got != want {
				t.Errorf("GOMAXPROCS = %q, want %q", got, want)
			}
			if _, ok := env[config.EnvParkingQueue]; ok != tc.parking {
				t.Errorf("%s set = %v", config.EnvParkingQueue, ok)
			}
			if env[config.EnvWebhooksSecret] != "qa/hooks" || env[config.EnvPagerDutySecret] != "qa/pd" {
				t.Errorf("sink secrets %q %q", env[config.EnvWebhooksSecret], env[config.EnvPagerDutySecret])
			}
		})
	}
}

func TestInvalidSettings(t *testing.T) {
	for _, tc := range []struct {
		name, patch string
		want        []string // every one must appear in the single error
	}{
		{"unknown key", `{"mod": "on"}`, []string{`unknown field "mod"`}},
		{"bad mode", `{"mode": "yes"}`, []string{`GPR_MODE="yes"`}},
		{"account and region", `{"account": "1234", "region": "Virginia"}`, []string{`account "1234"`, `region "Virginia"`}},
		{"no network", `{"network": null}`, []string{"network.vpcId", "network.subnetIds", "network.securityGroupIds"}},
		{"zones", `{"network": {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"], "availabilityZones": ["us-east-1a"], "securityGroupIds": ["sg-0123456789abcdef0"]}}`,
			[]string{"one per subnet", `"us-east-1a" is not in eu-west-1`}},
		{"caps outside config's ranges", `{"caps": {"maxWorkers": 0, "memoryFactor": 9}}`, []string{"GPR_MAX_WORKERS", "GPR_MEMORY_FACTOR"}},
		{"bad duration", `{"budgets": {"restartCooldown": "soon"}}`, []string{`duration "soon"`}},
		{"timeout too short for verify", `{"functions": {"no-tasks": {"timeoutSeconds": 60}}}`, []string{"functions.no-tasks: timeout 1m0s is shorter"}},
		{"unknown function", `{"functions": {"fix-all": {"memoryMiB": 256}}}`, []string{`unknown function "fix-all"`}},
		{"memory", `{"functions": {"dlq": {"memoryMiB": 64}}}`, []string{"functions.dlq.memoryMiB 64"}},
		{"retention", `{"logRetentionDays": 31}`, []string{"logRetentionDays 31"}},
		{"emails", `{"reports": {"emails": ["On Call <oncall@example.com>", "nobody"]}}`, []string{`"On Call <oncall@example.com>"`, `"nobody"`}},
		{"existing topics missing", `{"alarms": {"create": false, "topics": {"dlq": ["arn:aws:sns:eu-west-1:123456789012:alerts"]}}}`,
			[]string{"alarms.topics.no-tasks", "alarms.topics.queue-depth", "alarms.topics.memory-high"}},
		{"create and topics", `{"alarms": {"topics": {"dlq": ["arn:aws:sns:eu-west-1:123456789012:alerts"]}}}`, []string{"not both"}},
		{"bad topic", `{"alarms": {"create": false, "topics": {"no-tasks": ["alerts"], "queue-depth": ["alerts"], "dlq": ["alerts"], "memory-high": ["alerts"]}}}`,
			[]string{`alarms.topics.dlq: "alerts" is not an SNS topic ARN`}},
		{"unknown alarm name key", `{"alarms": {"names": {"cpu-high": "x"}}}`, []string{`unknown alarm "cpu-high"`}},
		{"threshold shape", `{"alarms": {"queueDepth": {"threshold": 0, "periodSeconds": 45, "evaluationPeriods": 2, "datapointsToAlarm": 3}}}`,
			[]string{"alarms.queueDepth.periodSeconds 45", "datapointsToAlarm (3)", "alarms.queueDepth.threshold 0"}},
		{"memory threshold beyond config", `{"alarms": {"memoryHigh": {"threshold": 120, "periodSeconds": 300, "evaluationPeriods": 3, "datapointsToAlarm": 3}}}`,
			[]string{"GPR_MEMORY_HIGH_PERCENT"}},
		{"pass roles", `{"policy": {"allowRaiseMemory": true, "passRoleArns": ["ecsTaskRole"]}}`, []string{`"ecsTaskRole" is not an IAM role ARN`}},
		{"slack bot without a channel", `{"reports": {"slackBotSecret": "arrakis-qa/slack-bot"}}`, []string{"set both"}},
		{"follow-up interval", `{"incidents": {"followUpInterval": "90s", "maxAge": "10m"}}`, []string{"incidents.followUpInterval 1m30s", "incidents.maxAge 10m0s"}},
		{"negative hourly pace", `{"caps": {"maxReplaysPerHour": -1}}`, []string{"caps.maxReplaysPerHour -1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSettings("qa", with(t, tc.patch))
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

func TestLoadSettingsSelectsEnvironment(t *testing.T) {
	var envs map[string]any
	json.Unmarshal([]byte(`{"staging": `+minimal+`, "production": `+minimal+`, "broken": {"account": "x"}}`), &envs)
	for _, tc := range []struct {
		name, env    string
		environments any
		want         string // error text; "" means it loads
	}{
		{"known", "staging", envs, ""},
		{"unknown", "prod", envs, `unknown environment "prod" (known: broken, production, staging)`},
		{"missing", "", envs, "no environment given: pass -c env=NAME (known: broken, production, staging)"},
		{"invalid", "broken", envs, `environment "broken": `},
		{"no environments", "staging", nil, `cdk.json has no "environments" object`},
		{"not an object", "staging", "staging", `cdk.json has no "environments" object`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadSettings(tc.environments, tc.env)
			if tc.want == "" {
				if err != nil || s.Env != tc.env {
					t.Fatalf("got %q, %v", s.Env, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in, out string
	}{{`"15m"`, "15m"}, {`"6h"`, "6h"}, {`"90s"`, "1m30s"}, {`"1h30m"`, "1h30m"}, {`"500ms"`, "500ms"}, {`"2h0m5s"`, "2h0m5s"}} {
		t.Run(tc.in, func(t *testing.T) {
			var d Duration
			if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
				t.Fatal(err)
			}
			if d.String() != tc.out {
				t.Errorf("String() = %q, want %q", d.String(), tc.out)
			}
			back, err := time.ParseDuration(d.String())
			if err != nil || Duration(back) != d {
				t.Errorf("%q does not read back: %v %v", d.String(), back, err)
			}
		})
	}
	var d Duration
	for _, bad := range []string{`15`, `"15 minutes"`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestRepoEnvironments checks cdk.json itself: both environments load, and production is
// not switched on by accident (the issue: it starts in dry-run until someone changes it).
func TestRepoEnvironments(t *testing.T) {
	for _, env := range []string{"staging", "production"} {
		s := repoSettings(t, env)
		if s.Env != env {
			t.Errorf("%s loaded as %s", env, s.Env)
		}
	}
	if m := repoSettings(t, "production").Mode; m != config.ModeDryRun {
		t.Errorf("production mode %q: flip it to on deliberately (and change this test with it)", m)
	}
}

// TestLongEnvironmentNamesAreRefused: EventBridge rule names have at most 64 characters, and
// each function's follow-up rule is named after the function.
func TestLongEnvironmentNamesAreRefused(t *testing.T) {
	_, err := parseSettings("a-rather-long-environment-name", with(t, `{}`))
	if err == nil || !strings.Contains(err.Error(), "64 characters") {
		t.Fatalf("err = %v, want the rule name's limit", err)
	}
}

// TestSlackBotReachesTheFunctions: the bot secret and channel are passed to every function,
// which may read that secret and no other Slack one; the hourly DLQ pace is passed too.
func TestSlackBotReachesTheFunctions(t *testing.T) {
	s, err := parseSettings("qa", with(t, `{"reports": {"slackBotSecret": "arrakis-qa/slack-bot", "slackChannel": "C0123456789"}, "caps": {"maxReplaysPerHour": 900}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range functionNames {
		env := s.functionEnv(fn, "topic", "table", "")
		if env[config.EnvSlackBotSecret] != "arrakis-qa/slack-bot" || env[config.EnvSlackChannel] != "C0123456789" || env[config.EnvMaxReplaysPerHour] != "900" {
			t.Errorf("%s: env %v lacks the bot or the pace", fn, env)
		}
		granted := false
		for _, g := range s.permissions(fn, stackRefs{}) {
			for _, r := range g.Resources {
				if strings.Contains(r, "secret:arrakis-qa/slack-bot") && slices.Contains(g.Actions, "secretsmanager:GetSecretValue") {
					granted = true
				}
			}
		}
		if !granted {
			t.Errorf("%s: no GetSecretValue on the bot secret", fn)
		}
	}
}
