package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/playbook"
)

// These tests synthesize real stacks through jsii (Node.js, no AWS credentials, no Docker).
// A failing CDK assertion panics and ends the binary; the checks below therefore read the
// template as JSON and report with t.Errorf where they can. Run with -count=1: the test
// cache does not see cdk.json or the assets.

// buildDir is a stand-in for `make build`'s output: the stack only packages the files.
var buildDir string

func TestMain(m *testing.M) {
	// The Node.js version warnings are silenced by infra.mk's environment: jsii snapshots the
	// environment before TestMain runs, so setting them here would not reach Node.
	dir, err := os.MkdirTemp("", "gpr-infra-build-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, fn := range append(slices.Clone(functionNames), fnApprove, fnDigest) {
		p := filepath.Join(dir, fn, "bootstrap")
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = os.WriteFile(p, []byte("bootstrap of "+fn+"\n"), 0o755)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	jsii.Close()
	os.Exit(code)
}

// cdkContext is cdk.json's context, as the CLI would hand it to the app.
func cdkContext(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatalf("read cdk.json: %v", err)
	}
	var doc struct {
		App     string         `json:"app"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	if doc.App != "go run ./infra" {
		t.Errorf("cdk.json app = %q, want the infra program", doc.App)
	}
	return doc.Context
}

func repoSettings(t *testing.T, env string) Settings {
	t.Helper()
	s, err := loadSettings(cdkContext(t)["environments"], env)
	if err != nil {
		t.Fatalf("settings of %s: %v", env, err)
	}
	return s
}

// synthesized is one stack's template (as JSON) and its nag findings.
type synthesized struct {
	s        Settings
	tmpl     map[string]any
	template assertions.Template
	errors   []string
	warnings []string
}

var (
	synthMu    sync.Mutex
	synthCache = map[string]*synthesized{}
)

// synthEnv synthesizes an environment of cdk.json through defineApp, as `cdk synth -c env=`
// does (once per environment per test binary).
func synthEnv(t *testing.T, env string) *synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	if c, ok := synthCache[env]; ok {
		return c
	}
	ctx := cdkContext(t)
	ctx["env"] = env
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	stack, err := defineApp(app, buildDir)
	if err != nil {
		t.Fatalf("define %s: %v", env, err)
	}
	c := collect(stack, repoSettings(t, env))
	synthCache[env] = c
	return c
}

// synthSettings synthesizes a stack from settings directly (variants of an environment).
func synthSettings(t *testing.T, s Settings) *synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	app := awscdk.NewApp(nil)
	stack, err := NewRemediationStack(app, &RemediationStackProps{Settings: s, BuildDir: buildDir})
	if err != nil {
		t.Fatalf("define: %v", err)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return collect(stack, s)
}

func collect(stack awscdk.Stack, s Settings) *synthesized {
	tpl := assertions.Template_FromStack(stack, nil)
	raw, _ := json.Marshal(tpl.ToJSON())
	c := &synthesized{s: s, template: tpl}
	json.Unmarshal(raw, &c.tmpl)
	ann := assertions.Annotations_FromStack(stack)
	nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	c.errors = messages(ann.FindError(jsii.String("*"), nag))
	// Every warning, not only nag's: a warning is either fixed or acknowledged with a reason.
	c.warnings = messages(ann.FindWarning(jsii.String("*"), assertions.Match_AnyValue()))
	return c
}

// messages renders the synthesis messages FindError/FindWarning return as "path: text",
// through JSON: the Go type (cxapi.SynthesisMessage) is a deprecated alias of the cloud
// assembly's.
func messages(found any) []string {
	var ms []struct {
		ID    string `json:"id"`
		Entry struct {
			Data any `json:"data"`
		} `json:"entry"`
	}
	b, _ := json.Marshal(found)
	json.Unmarshal(b, &ms)
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s: %v", m.ID, m.Entry.Data))
	}
	return out
}

// resources returns the template's resources of a type, by logical id.
func (c *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range c.tmpl["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] == typ {
			props, _ := rm["Properties"].(map[string]any)
			if props == nil {
				props = map[string]any{}
			}
			out[id] = props
		}
	}
	return out
}

// logicalID finds the one resource of typ whose property key equals value.
func (c *synthesized) logicalID(t *testing.T, typ, key, value string) string {
	t.Helper()
	for id, p := range c.resources(typ) {
		if p[key] == value {
			return id
		}
	}
	t.Fatalf("no %s with %s=%s", typ, key, value)
	return ""
}

func (c *synthesized) function(t *testing.T, fn string) (string, map[string]any) {
	t.Helper()
	id := c.logicalID(t, "AWS::Lambda::Function", "FunctionName", c.s.FunctionName(fn))
	return id, c.resources("AWS::Lambda::Function")[id]
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }
func getAtt(id, attr string) []any { return []any{id, attr} }
func jsonEq(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}
func asStrings(v any) (out []string) {
	for _, x := range asList(v) {
		s, _ := json.Marshal(x)
		if str, ok := x.(string); ok {
			out = append(out, str)
		} else {
			out = append(out, string(s))
		}
	}
	return out
}

func TestEnvironmentsSynthesize(t *testing.T) {
	for _, env := range []string{"staging", "production"} {
		t.Run(env, func(t *testing.T) {
			c := synthEnv(t, env)
			checkStack(t, c)
		})
	}
}

// checkStack holds every assertion that applies to any environment's stack.
func checkStack(t *testing.T, c *synthesized) {
	s := c.s
	t.Run("nag", func(t *testing.T) {
		if len(c.errors) > 0 || len(c.warnings) > 0 {
			t.Errorf("findings (cdk-nag errors and warnings, CDK warnings):\nerrors:\n  %s\nwarnings:\n  %s", strings.Join(c.errors, "\n  "), strings.Join(c.warnings, "\n  "))
		}
	})
	t.Run("counts", func(t *testing.T) {
		runbook := 0
		topics := 1 // the report topic
		if s.Alarms.Create {
			runbook, topics = len(alarmKeys), 1+len(functionNames)
		}
		functions := len(functionNames) + 1 // and approve
		want := map[string]int{
			// The four remediation functions, approve and the digest (digest.go); every one but
			// the digest has its errors and throttles alarms.
			"AWS::Lambda::Function":          functions + 1,
			"AWS::Lambda::EventInvokeConfig": functions + 1,
			"AWS::IAM::Role":                 functions + 1,
			"AWS::Logs::LogGroup":            functions + 1,
			"AWS::Lambda::Url":               1,
			"AWS::CloudWatch::Alarm":         runbook + 2*functions + 1,
			"AWS::SNS::Topic":                topics,
			"AWS::DynamoDB::Table":           1,
			"AWS::SSM::Parameter":            1,
			"AWS::SQS::Queue":                1,
			"AWS::KMS::Key":                  1,
			"AWS::CloudWatch::Dashboard":     2, // the functions' and the digest's (digest.go)
		}
		for typ, n := range want {
			if got := len(c.resources(typ)); got != n {
				t.Errorf("%s: %d resources, want %d", typ, got, n)
			}
		}
		subs := 0
		for _, p := range c.resources("AWS::SNS::Subscription") {
			if p["Protocol"] == "email" {
				subs++
			}
		}
		if subs != len(s.Reports.Emails) {
			t.Errorf("%d e-mail subscriptions, want %d", subs, len(s.Reports.Emails))
		}
	})
	t.Run("stack", func(t *testing.T) {
		if got := c.s.StackName(); got != "arrakis-"+s.Env+"-gp-remediation" {
			t.Errorf("stack name %q", got)
		}
	})
	t.Run("functions", func(t *testing.T) { checkFunctions(t, c) })
	t.Run("shared", func(t *testing.T) { checkShared(t, c) })
	t.Run("alarms", func(t *testing.T) { checkAlarms(t, c) })
	t.Run("iam", func(t *testing.T) { checkIAM(t, c) })
	t.Run("follow-up", func(t *testing.T) { checkFollowUp(t, c) })
}

// checkFollowUp: one scheduled rule per function at the environment's interval, sending the
// follow-up event to that function only; the invoke permission is scoped to the rule; each
// role may read the environment's runbook alarms and nothing else with DescribeAlarms.
func checkFollowUp(t *testing.T, c *synthesized) {
	s := c.s
	rules := c.resources("AWS::Events::Rule")
	if len(rules) != len(functionNames)+1 {
		t.Fatalf("%d rules, want one per function and the digest's schedule", len(rules))
	}
	minutes := time.Duration(s.Incidents.FollowUpInterval) / time.Minute
	wantRate := fmt.Sprintf("rate(%d minutes)", minutes)
	if minutes == 1 {
		wantRate = "rate(1 minute)"
	}
	for _, fn := range functionNames {
		fnID, _ := c.function(t, fn)
		ruleID := c.logicalID(t, "AWS::Events::Rule", "Name", s.FunctionName(fn)+"-follow-up")
		r := rules[ruleID]
		if r["ScheduleExpression"] != wantRate || r["State"] != "ENABLED" {
			t.Errorf("%s: schedule %v state %v, want %s ENABLED", fn, r["ScheduleExpression"], r["State"], wantRate)
		}
		targets, _ := r["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("%s: %d targets", fn, len(targets))
		}
		tg := targets[0].(map[string]any)
		var input map[string]any
		_ = json.Unmarshal([]byte(fmt.Sprint(tg["Input"])), &input)
		if !jsonEq(tg["Arn"], map[string]any{"Fn::GetAtt": getAtt(fnID, "Arn")}) ||
			!jsonEq(input, map[string]any{"source": "gp-remediation", "detail-type": "follow-up"}) {
			t.Errorf("%s: target %v", fn, tg)
		}
		scoped := false
		for _, p := range c.resources("AWS::Lambda::Permission") {
			if jsonEq(p["FunctionName"], map[string]any{"Fn::GetAtt": getAtt(fnID, "Arn")}) &&
				jsonEq(p["SourceArn"], map[string]any{"Fn::GetAtt": getAtt(ruleID, "Arn")}) && p["Principal"] == "events.amazonaws.com" {
				scoped = true
			}
		}
		if !scoped {
			t.Errorf("%s: no invoke permission scoped to its follow-up rule", fn)
		}
	}
	var want []string
	for _, al := range s.runbookAlarms() {
		want = append(want, fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", s.Region, s.Account, al.Name))
	}
	sort.Strings(want)
	for _, fn := range functionNames {
		var got []string
		for _, g := range s.permissions(fn, stackRefs{}) {
			if slices.Contains(g.Actions, "cloudwatch:DescribeAlarms") {
				got = append(got, g.Resources...)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: DescribeAlarms on %v, want the environment's alarms %v", fn, got, want)
		}
	}
}

func checkFunctions(t *testing.T, c *synthesized) {
	s := c.s
	topicID := c.logicalID(t, "AWS::SNS::Topic", "TopicName", s.prefix()+"-reports")
	tableID := c.logicalID(t, "AWS::DynamoDB::Table", "TableName", s.prefix()+"-ledger")
	buckets := c.resources("AWS::S3::Bucket")
	if len(buckets) != 1 {
		t.Fatalf("%d buckets, want the picture bucket only", len(buckets))
	}
	var bucketID string
	for id, p := range buckets {
		bucketID = id
		pab, _ := json.Marshal(p["PublicAccessBlockConfiguration"])
		if string(pab) != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
			t.Errorf("picture bucket public access block %s", pab)
		}
		life, _ := json.Marshal(p["LifecycleConfiguration"])
		if !strings.Contains(string(life), `"ExpirationInDays":7`) {
			t.Errorf("picture bucket lifecycle %s: want objects expired after 7 days", life)
		}
	}
	queueID := c.logicalID(t, "AWS::SQS::Queue", "QueueName", s.prefix()+"-failed")
	for _, fn := range functionNames {
		t.Run(fn, func(t *testing.T) {
			id, p := c.function(t, fn)
			sp := s.spec(fn)
			for k, want := range map[string]any{
				"Runtime":                      "provided.al2023",
				"Architectures":                []any{"arm64"},
				"Handler":                      "bootstrap",
				"MemorySize":                   float64(sp.MemoryMiB),
				"Timeout":                      sp.Timeout.Seconds(),
				"ReservedConcurrentExecutions": float64(1),
				"TracingConfig":                map[string]any{"Mode": "Active"},
			} {
				if !jsonEq(p[k], want) {
					t.Errorf("%s = %v, want %v", k, p[k], want)
				}
			}
			logID := c.logicalID(t, "AWS::Logs::LogGroup", "LogGroupName", "/aws/lambda/"+s.FunctionName(fn))
			if lg := c.resources("AWS::Logs::LogGroup")[logID]; lg["RetentionInDays"] != float64(s.LogRetentionDays) {
				t.Errorf("log retention %v, want %d", lg["RetentionInDays"], s.LogRetentionDays)
			}
			if want := map[string]any{"LogFormat": "JSON", "LogGroup": ref(logID)}; !jsonEq(p["LoggingConfig"], want) {
				t.Errorf("LoggingConfig = %v, want %v", p["LoggingConfig"], want)
			}
			vpc, inVPC := p["VpcConfig"].(map[string]any)
			if inVPC != sp.InVPC {
				t.Fatalf("in VPC = %v, want %v", inVPC, sp.InVPC)
			}
			if inVPC {
				if !jsonEq(vpc["SubnetIds"], s.Network.SubnetIDs) || !jsonEq(vpc["SecurityGroupIds"], s.Network.SecurityGroupIDs) {
					t.Errorf("VpcConfig = %v, want subnets %v and groups %v", vpc, s.Network.SubnetIDs, s.Network.SecurityGroupIDs)
				}
			}

			// Environment: exactly what functionEnv renders, the tokens being the stack's own
			// topic and table, and config.Load accepts it.
			vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			want := s.functionEnv(fn, "TOPIC", "TABLE", "PICTURES")
			for k, v := range want {
				switch k {
				case config.EnvReportTopicARN:
					if !jsonEq(vars[k], ref(topicID)) {
						t.Errorf("%s = %v, want the report topic", k, vars[k])
					}
				case config.EnvPictureBucket:
					if !jsonEq(vars[k], ref(bucketID)) {
						t.Errorf("%s = %v, want the picture bucket", k, vars[k])
					}
				case config.EnvLedgerTable:
					if !jsonEq(vars[k], ref(tableID)) {
						t.Errorf("%s = %v, want the ledger table", k, vars[k])
					}
				default:
					if vars[k] != v {
						t.Errorf("%s = %v, want %q", k, vars[k], v)
					}
				}
			}
			if len(vars) != len(want) {
				t.Errorf("%d variables, want %d: %v", len(vars), len(want), vars)
			}
			if vars[config.EnvMode] != string(s.Mode) || vars[config.EnvEnvironment] != s.Env {
				t.Errorf("mode/env = %v/%v", vars[config.EnvMode], vars[config.EnvEnvironment])
			}
			env := map[string]string{config.EnvReportTopicARN: placeholderTopicARN}
			for k, v := range vars {
				if str, ok := v.(string); ok {
					env[k] = str
				}
			}
			if _, err := config.Load(mapEnv(env)); err != nil {
				t.Errorf("the functions would refuse this environment: %v", err)
			}

			// Failed asynchronous invocations go to the queue, without retries.
			found := false
			for _, eic := range c.resources("AWS::Lambda::EventInvokeConfig") {
				if !jsonEq(eic["FunctionName"], ref(id)) {
					continue
				}
				found = true
				dest := eic["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]
				if !jsonEq(dest, map[string]any{"Fn::GetAtt": getAtt(queueID, "Arn")}) {
					t.Errorf("on-failure destination = %v", dest)
				}
				if eic["MaximumRetryAttempts"] != float64(0) || eic["MaximumEventAgeInSeconds"] != float64(3600) {
					t.Errorf("retries/age = %v/%v", eic["MaximumRetryAttempts"], eic["MaximumEventAgeInSeconds"])
				}
			}
			if !found {
				t.Error("no EventInvokeConfig")
			}
		})
	}
}

func checkShared(t *testing.T, c *synthesized) {
	s := c.s
	for _, p := range c.resources("AWS::DynamoDB::Table") {
		want := map[string]any{
			"BillingMode":             "PAY_PER_REQUEST",
			"TimeToLiveSpecification": map[string]any{"AttributeName": ledger.AttrExpiresAt, "Enabled": true},
			"KeySchema": []any{
				map[string]any{"AttributeName": ledger.AttrPartitionKey, "KeyType": "HASH"},
				map[string]any{"AttributeName": ledger.AttrSortKey, "KeyType": "RANGE"},
			},
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		}
		for k, v := range want {
			if !jsonEq(p[k], v) {
				t.Errorf("ledger %s = %v, want %v", k, p[k], v)
			}
		}
	}
	params := c.resources("AWS::SSM::Parameter")
	for _, p := range params {
		if p["Name"] != s.Names.KillSwitchParam || p["Value"] != "off" {
			t.Errorf("kill switch = %v=%v", p["Name"], p["Value"])
		}
	}
	// Every topic: KMS-encrypted and publishing only over TLS.
	keyID := ""
	for id := range c.resources("AWS::KMS::Key") {
		keyID = id
	}
	for id, p := range c.resources("AWS::SNS::Topic") {
		if !jsonEq(p["KmsMasterKeyId"], map[string]any{"Fn::GetAtt": getAtt(keyID, "Arn")}) {
			t.Errorf("topic %s key = %v", id, p["KmsMasterKeyId"])
		}
		ssl := false
		for _, pol := range c.resources("AWS::SNS::TopicPolicy") {
			if !slices.ContainsFunc(asList(pol["Topics"]), func(v any) bool { return jsonEq(v, ref(id)) }) {
				continue
			}
			for _, st := range pol["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				stm := st.(map[string]any)
				if stm["Effect"] == "Deny" && jsonEq(stm["Condition"], map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}) {
					ssl = true
				}
			}
		}
		if !ssl {
			t.Errorf("topic %s does not deny publishing without TLS", id)
		}
	}
	for _, p := range c.resources("AWS::SNS::Subscription") {
		if p["Protocol"] == "email" && !slices.Contains(s.Reports.Emails, p["Endpoint"].(string)) {
			t.Errorf("unexpected e-mail subscription %v", p["Endpoint"])
		}
	}
	for _, p := range c.resources("AWS::CloudWatch::Dashboard") {
		if p["DashboardName"] == s.prefix()+"-trust" {
			continue // the digest's (digest.go), checked in digest_test.go
		}
		if p["DashboardName"] != s.prefix() {
			t.Errorf("dashboard name %v", p["DashboardName"])
		}
		body, _ := json.Marshal(p["DashboardBody"])
		// The runbook's alarms are on it, created here or imported by name.
		for _, a := range s.runbookAlarms() {
			id := ""
			for lid, ap := range c.resources("AWS::CloudWatch::Alarm") {
				if ap["AlarmName"] == a.Name {
					id = lid
				}
			}
			if !strings.Contains(string(body), ":alarm:"+a.Name) && (id == "" || !strings.Contains(string(body), `"`+id+`"`)) {
				t.Errorf("dashboard does not show alarm %q", a.Name)
			}
		}
		for _, m := range []string{playbook.MetricActionsDone, playbook.MetricActionsDryRun, playbook.MetricActionsSkipped,
			playbook.MetricActionsFailed, playbook.MetricEscalations, playbook.MetricInvocations, playbook.MetricNamespace} {
			if !strings.Contains(string(body), m) {
				t.Errorf("dashboard does not show %s", m)
			}
		}
	}
}

func checkAlarms(t *testing.T, c *synthesized) {
	s := c.s
	alarms := map[string]map[string]any{}
	for _, p := range c.resources("AWS::CloudWatch::Alarm") {
		alarms[p["AlarmName"].(string)] = p
	}
	reportTopic := ref(c.logicalID(t, "AWS::SNS::Topic", "TopicName", s.prefix()+"-reports"))

	for _, a := range s.runbookAlarms() {
		p, ok := alarms[a.Name]
		if !s.Alarms.Create {
			if ok {
				t.Errorf("alarm %q created although alarms.create is false", a.Name)
			}
			continue
		}
		if !ok {
			t.Errorf("no alarm %q", a.Name)
			continue
		}
		topic := ref(c.logicalID(t, "AWS::SNS::Topic", "TopicName", s.prefix()+"-alarms-"+a.Function))
		if !jsonEq(p["AlarmActions"], []any{topic}) {
			t.Errorf("%s: AlarmActions %v, want %v", a.Name, p["AlarmActions"], topic)
		}
		if a.OKAction != (p["OKActions"] != nil) {
			t.Errorf("%s: OKActions %v, want OK action %v", a.Name, p["OKActions"], a.OKAction)
		}
		if p["Namespace"] != a.Namespace || p["MetricName"] != a.Metric || p["Threshold"] != a.Threshold.Threshold {
			t.Errorf("%s: metric %v/%v > %v", a.Name, p["Namespace"], p["MetricName"], p["Threshold"])
		}
		dims := map[string]any{}
		for _, d := range p["Dimensions"].([]any) {
			dm := d.(map[string]any)
			dims[dm["Name"].(string)] = dm["Value"]
		}
		if !jsonEq(dims, a.Dimensions) {
			t.Errorf("%s: dimensions %v, want %v", a.Name, dims, a.Dimensions)
		}
	}
	if s.Alarms.Create {
		// Each function is subscribed to its own topic, and nothing else is.
		for _, fn := range functionNames {
			fnID, _ := c.function(t, fn)
			topic := ref(c.logicalID(t, "AWS::SNS::Topic", "TopicName", s.prefix()+"-alarms-"+fn))
			n := 0
			for _, sub := range c.resources("AWS::SNS::Subscription") {
				if jsonEq(sub["Endpoint"], map[string]any{"Fn::GetAtt": getAtt(fnID, "Arn")}) {
					n++
					if sub["Protocol"] != "lambda" || !jsonEq(sub["TopicArn"], topic) {
						t.Errorf("%s subscribed to %v over %v", fn, sub["TopicArn"], sub["Protocol"])
					}
				}
			}
			if n != 1 {
				t.Errorf("%s has %d subscriptions, want 1", fn, n)
			}
		}
	}
	for _, fn := range functionNames {
		for _, name := range []string{s.FunctionName(fn) + " errors", s.FunctionName(fn) + " throttles"} {
			p, ok := alarms[name]
			if !ok || !jsonEq(p["AlarmActions"], []any{reportTopic}) {
				t.Errorf("self-alarm %q missing or not reporting to the report topic: %v", name, p)
			}
		}
	}
	if p, ok := alarms[s.prefix()+" failed invocations"]; !ok || p["MetricName"] != "ApproximateNumberOfMessagesVisible" {
		t.Errorf("no alarm on the on-failure queue: %v", p)
	}
}

// checkIAM: no "*" action anywhere, "*" resources only for the justified actions, and each
// function's role holds exactly its grants.
func checkIAM(t *testing.T, c *synthesized) {
	s := c.s
	roleOf := map[string]string{} // role logical id -> function
	for _, fn := range functionNames {
		_, p := c.function(t, fn)
		roleOf[p["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)] = fn
	}
	byFn := map[string][]map[string]any{}
	for _, p := range c.resources("AWS::IAM::Policy") {
		var fn string
		for _, r := range asList(p["Roles"]) {
			fn = roleOf[r.(map[string]any)["Ref"].(string)]
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			stm := st.(map[string]any)
			byFn[fn] = append(byFn[fn], stm)
			if stm["Effect"] != "Allow" {
				continue
			}
			for _, a := range asStrings(stm["Action"]) {
				if strings.Contains(a, "*") {
					t.Errorf("wildcard action %q in %s's policy", a, fn)
				}
			}
			if slices.Contains(asStrings(stm["Resource"]), "*") {
				for _, a := range asStrings(stm["Action"]) {
					if wildcardReasons[a] == "" {
						t.Errorf("%s: %s on Resource * has no justification", fn, a)
					}
				}
			}
		}
	}
	for _, p := range c.resources("AWS::IAM::Role") {
		if p["ManagedPolicyArns"] != nil || p["Policies"] != nil {
			t.Errorf("role with managed or inline policies outside the checked ones: %v", p)
		}
	}
	a := newARNs(s)
	for _, fn := range functionNames {
		t.Run(fn, func(t *testing.T) {
			stmts := byFn[fn]
			resourcesOf := func(action string) (out []string) {
				for _, st := range stmts {
					if slices.Contains(asStrings(st["Action"]), action) {
						out = append(out, asStrings(st["Resource"])...)
					}
				}
				sort.Strings(out)
				return out
			}
			var services []string
			switch fn {
			case fnNoTasks:
				services = []string{a.service(s.Names.Cluster, s.Names.IngestorService), a.service(s.Names.Cluster, s.Names.WorkerService)}
			case fnQueueDepth:
				services = []string{a.service(s.Names.Cluster, s.Names.WorkerService)}
			case fnMemoryHigh:
				services = []string{a.service(s.Names.Cluster, s.Names.IngestorService)}
			}
			sort.Strings(services)
			if got := resourcesOf("ecs:UpdateService"); !slices.Equal(got, services) {
				t.Errorf("ecs:UpdateService on %v, want %v", got, services)
			}
			register := s.Policy.AllowRaiseMemory && (fn == fnNoTasks || fn == fnMemoryHigh)
			if got := resourcesOf("ecs:RegisterTaskDefinition"); (len(got) > 0) != register {
				t.Errorf("ecs:RegisterTaskDefinition granted = %v, want %v", got, register)
			}
			if got := resourcesOf("iam:PassRole"); (len(got) > 0) != register {
				t.Errorf("iam:PassRole granted = %v, want %v", got, register)
			}
			for _, r := range resourcesOf("logs:FilterLogEvents") {
				if !strings.Contains(r, ":log-group:"+s.Names.IngestorLogGroup) && !strings.Contains(r, ":log-group:"+s.Names.WorkerLogGroup) {
					t.Errorf("logs:FilterLogEvents on %s", r)
				}
			}
			var secrets []string
			for _, v := range s.secrets(fn) {
				secrets = append(secrets, a.secret(s.secretName(v)))
			}
			sort.Strings(secrets)
			if got := resourcesOf("secretsmanager:GetSecretValue"); !slices.Equal(got, secrets) {
				t.Errorf("secretsmanager:GetSecretValue on %v, want %v", got, secrets)
			}
			topic := ref(c.logicalID(t, "AWS::SNS::Topic", "TopicName", s.prefix()+"-reports"))
			if got := resourcesOf("sns:Publish"); len(got) != 1 || got[0] != mustJSON(topic) {
				t.Errorf("sns:Publish on %v, want only the report topic", got)
			}
			table := map[string]any{"Fn::GetAtt": getAtt(c.logicalID(t, "AWS::DynamoDB::Table", "TableName", s.prefix()+"-ledger"), "Arn")}
			for _, st := range stmts {
				for _, act := range asStrings(st["Action"]) {
					if strings.HasPrefix(act, "dynamodb:") && !jsonEq(st["Resource"], table) {
						t.Errorf("%s on %v, want only the ledger", act, st["Resource"])
					}
				}
			}
			// Every function reads metrics (dlq its DLQ's depth, at an incident's close).
			if got := resourcesOf("cloudwatch:GetMetricData"); len(got) != 1 || got[0] != "*" {
				t.Errorf("cloudwatch:GetMetricData on %v", got)
			}
		})
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestVariants covers what cdk.json does not exercise today: existing alarm topics, the
// raise-memory policy, webhooks off, e-mail subscribers.
func TestVariants(t *testing.T) {
	base := repoSettings(t, "staging")

	t.Run("existing alarm topics", func(t *testing.T) {
		s := base
		s.Alarms.Create = false
		s.Alarms.Topics = map[string][]string{}
		for _, fn := range functionNames {
			s.Alarms.Topics[fn] = []string{"arn:aws:sns:us-east-1:111111111111:arrakis-staging-alerts"}
		}
		s.Alarms.Topics[fnDLQ] = append(s.Alarms.Topics[fnDLQ], "arn:aws:sns:us-east-1:111111111111:arrakis-staging-dlq")
		if err := s.validate(); err != nil {
			t.Fatal(err)
		}
		c := synthSettings(t, s)
		checkStack(t, c)
		subs := map[string][]map[string]any{}
		for _, p := range c.resources("AWS::SNS::Subscription") {
			if p["Protocol"] == "lambda" {
				subs[mustJSON(p["Endpoint"])] = append(subs[mustJSON(p["Endpoint"])], p)
			}
		}
		for _, fn := range functionNames {
			id, _ := c.function(t, fn)
			got := subs[mustJSON(map[string]any{"Fn::GetAtt": getAtt(id, "Arn")})]
			if len(got) != len(s.Alarms.Topics[fn]) {
				t.Fatalf("%s: %d subscriptions, want %d", fn, len(got), len(s.Alarms.Topics[fn]))
			}
			var names []any
			for _, a := range alarmsOf(s.runbookAlarms(), fn) {
				names = append(names, a.Name)
			}
			var states []any
			for _, st := range functionSpecs[fn].States {
				states = append(states, st)
			}
			for i, sub := range got {
				if sub["FilterPolicyScope"] != "MessageBody" {
					t.Errorf("%s: filter scope %v", fn, sub["FilterPolicyScope"])
				}
				want := map[string]any{"AlarmName": names, "NewStateValue": states}
				if !jsonEq(sub["FilterPolicy"], want) {
					t.Errorf("%s: filter %v, want %v", fn, sub["FilterPolicy"], want)
				}
				if !slices.Contains(s.Alarms.Topics[fn], sub["TopicArn"].(string)) {
					t.Errorf("%s subscription %d to %v", fn, i, sub["TopicArn"])
				}
			}
		}
	})

	t.Run("raise memory with named roles, no webhooks, e-mails", func(t *testing.T) {
		s := base
		s.Policy.AllowRaiseMemory = true
		s.Policy.PassRoleARNs = []string{"arn:aws:iam::111111111111:role/arrakis-staging-ingestor-task", "arn:aws:iam::111111111111:role/arrakis-staging-ecs-exec"}
		s.Reports = Reports{Emails: []string{"oncall@example.com", "platform@example.com"}}
		s.Functions = map[string]FunctionSize{fnDLQ: {MemoryMiB: 1024, TimeoutSeconds: 600}}
		if err := s.validate(); err != nil {
			t.Fatal(err)
		}
		c := synthSettings(t, s)
		checkStack(t, c)
		_, dlq := c.function(t, fnDLQ)
		if dlq["MemorySize"] != float64(1024) || dlq["Timeout"] != float64(600) {
			t.Errorf("dlq size override: %v MiB, %v s", dlq["MemorySize"], dlq["Timeout"])
		}
		for _, fn := range functionNames {
			_, p := c.function(t, fn)
			vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			if _, ok := vars[config.EnvWebhooksSecret]; ok {
				t.Errorf("%s: %s set with no webhooks secret configured", fn, config.EnvWebhooksSecret)
			}
			if vars[config.EnvAllowRaiseMemory] != "true" {
				t.Errorf("%s: %s = %v", fn, config.EnvAllowRaiseMemory, vars[config.EnvAllowRaiseMemory])
			}
		}
	})
}

func TestUnknownOrMissingEnvironmentFails(t *testing.T) {
	for _, tc := range []struct{ name, env, want string }{
		{"unknown", "qa", `unknown environment "qa" (known: production, staging)`},
		{"missing", "", "no environment given: pass -c env=NAME (known: production, staging)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := cdkContext(t)
			if tc.env != "" {
				ctx["env"] = tc.env
			}
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
			stack, err := defineApp(app, buildDir)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if stack != nil || len(*app.Node().Children()) != 0 {
				t.Error("a stack was defined for a bad environment")
			}
		})
	}
}

func TestMissingBootstrapFails(t *testing.T) {
	dir := t.TempDir()
	for _, fn := range []string{fnNoTasks, fnDLQ, fnMemoryHigh, fnApprove} { // queue-depth not built
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx := cdkContext(t)
	ctx["env"] = "staging"
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	_, err := defineApp(app, dir)
	if err == nil {
		t.Fatal("synth succeeded without queue-depth's bootstrap")
	}
	want := filepath.Join(dir, fnQueueDepth, "bootstrap")
	if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, "make build") || strings.Contains(msg, filepath.Join(dir, fnDLQ)) {
		t.Errorf("error %q should name only %s and say to run make build", msg, want)
	}
}
