package sandbox_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/arrakis/gp-remediation/sandbox"
)

func secretJSON(t *testing.T, c *clients, id string) (map[string]any, *secretsmanager.GetSecretValueOutput) {
	t.Helper()
	out, err := c.sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetSecretValue %s: %v", id, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		t.Fatalf("secret %s is not JSON: %v", id, err)
	}
	return m, out
}

func TestSecrets(t *testing.T) {
	c := start(t, "healthy", func(o *sandbox.Options) { o.Database.Password = "s3cret" })
	base := c.sandbox.URL()

	rabbit, out := secretJSON(t, c, c.names.RabbitSecret)
	if rabbit["username"] != "guest" || rabbit["password"] != "guest" || rabbit["amqp_url"] != "amqp://127.0.0.1:5672/" || rabbit["management_url"] != "http://127.0.0.1:15672" {
		t.Errorf("rabbitmq secret %v", rabbit)
	}
	if aws.ToString(out.Name) != c.names.RabbitSecret || !strings.HasPrefix(aws.ToString(out.ARN), "arn:aws:secretsmanager:us-east-1:123456789012:secret:"+c.names.RabbitSecret+"-") ||
		len(out.VersionStages) != 1 || out.VersionStages[0] != "AWSCURRENT" || out.CreatedDate == nil || aws.ToString(out.VersionId) == "" {
		t.Errorf("secret metadata %+v", out)
	}
	db, _ := secretJSON(t, c, c.names.DatabaseSecret)
	if db["host"] != "127.0.0.1" || db["port"] != float64(5432) || db["username"] != "postgres" || db["password"] != "s3cret" || db["dbname"] != "arrakis" {
		t.Errorf("database secret %v", db)
	}
	discord, _ := secretJSON(t, c, c.names.DiscordSecret)
	if discord["token"] != sandbox.DiscordValidToken {
		t.Errorf("discord secret %v", discord)
	}
	hooks, _ := secretJSON(t, c, c.sandbox.WebhooksSecretName())
	if hooks["slack_webhook_url"] != base+"/_sandbox/hooks/slack/"+sandbox.SlackHookPath ||
		hooks["discord_webhook_url"] != base+"/_sandbox/hooks/discord/"+sandbox.DiscordHookPath {
		t.Errorf("webhooks secret %v (templates must expand to %s)", hooks, base)
	}
	pd, _ := secretJSON(t, c, c.sandbox.PagerDutySecretName())
	if pd["routing_key"] != sandbox.PagerDutyRoutingKey || len(sandbox.PagerDutyRoutingKey) != 32 {
		t.Errorf("pagerduty secret %v", pd)
	}

	t.Run("by full and partial ARN", func(t *testing.T) {
		arn := aws.ToString(out.ARN)
		for _, id := range []string{arn, arn[:len(arn)-7]} {
			m, _ := secretJSON(t, c, id)
			if m["username"] != "guest" {
				t.Errorf("%s: %v", id, m)
			}
		}
	})
	t.Run("missing secrets are ResourceNotFoundException", func(t *testing.T) {
		for _, id := range []string{"arrakis-staging/nope", "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"} {
			_, err := c.sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
			var e *smtypes.ResourceNotFoundException
			if !errors.As(err, &e) || e.ErrorMessage() != "Secrets Manager can't find the specified secret." {
				t.Errorf("%s: got %T %v", id, err, err)
			}
		}
		c.sandbox.DeleteSecret(c.names.DiscordSecret)
		_, err := c.sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.names.DiscordSecret)})
		var e *smtypes.ResourceNotFoundException
		if !errors.As(err, &e) {
			t.Errorf("deleted secret: got %T %v", err, err)
		}
	})
	t.Run("SetSecret", func(t *testing.T) {
		c.sandbox.SetSecret("custom", `{"url":"{{sandbox}}/x"}`)
		m, _ := secretJSON(t, c, "custom")
		if m["url"] != base+"/x" {
			t.Errorf("custom secret %v", m)
		}
		if v, ok := c.sandbox.SecretValue("custom"); !ok || !strings.Contains(v, base) {
			t.Errorf("SecretValue %q %v", v, ok)
		}
	})
}

func TestParameters(t *testing.T) {
	c := start(t, "healthy")
	get := func(name string) (*ssm.GetParameterOutput, error) {
		return c.ssm.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String(name)})
	}
	out, err := get(c.names.KillSwitchParam)
	if err != nil {
		t.Fatal(err)
	}
	p := out.Parameter
	if aws.ToString(p.Value) != "off" || p.Version != 1 || p.Type != ssmtypes.ParameterTypeString || p.LastModifiedDate == nil ||
		aws.ToString(p.ARN) != "arn:aws:ssm:us-east-1:123456789012:parameter"+c.names.KillSwitchParam {
		t.Errorf("kill switch %+v", p)
	}
	c.sandbox.SetParameter(c.names.KillSwitchParam, "on")
	out, err = get(c.names.KillSwitchParam)
	if err != nil || aws.ToString(out.Parameter.Value) != "on" || out.Parameter.Version != 2 {
		t.Errorf("after SetParameter: %+v %v", out, err)
	}
	if out, err := get(aws.ToString(p.ARN)); err != nil || aws.ToString(out.Parameter.Value) != "on" {
		t.Errorf("by ARN: %v", err)
	}
	for _, name := range []string{"/nope", c.names.KillSwitchParam + ":7"} {
		_, err := get(name)
		var e *ssmtypes.ParameterNotFound
		if !errors.As(err, &e) {
			t.Errorf("%s: got %T %v, want ParameterNotFound", name, err, err)
		}
	}
	c.sandbox.DeleteParameter(c.names.KillSwitchParam)
	if _, err := get(c.names.KillSwitchParam); err == nil {
		t.Error("deleted parameter still served")
	}
}

func TestSNSPublish(t *testing.T) {
	c := start(t, "healthy")
	topic := c.sandbox.ReportTopicARN()
	if topic != "arn:aws:sns:us-east-1:123456789012:arrakis-staging-gp-remediation-reports" {
		t.Fatalf("topic %s", topic)
	}
	out, err := c.sns.Publish(ctx(t), &sns.PublishInput{
		TopicArn: aws.String(topic), Subject: aws.String("[CRITICAL] staging no-tasks: oom-killed, restarted"),
		Message: aws.String("Ingestor OOM-killed; restarted.\n\nünïcödé ✓"),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"severity": {DataType: aws.String("String"), StringValue: aws.String("CRITICAL")},
			"attempt":  {DataType: aws.String("Number"), StringValue: aws.String("2")},
			"blob":     {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		},
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	pubs := c.sandbox.Published()
	if len(pubs) != 1 {
		t.Fatalf("%d publications", len(pubs))
	}
	p := pubs[0]
	if p.MessageID != aws.ToString(out.MessageId) || p.TopicARN != topic || p.Subject != "[CRITICAL] staging no-tasks: oom-killed, restarted" ||
		p.Message != "Ingestor OOM-killed; restarted.\n\nünïcödé ✓" {
		t.Errorf("publication %+v", p)
	}
	if a := p.MessageAttributes; a["severity"].StringValue != "CRITICAL" || a["severity"].DataType != "String" ||
		a["attempt"].StringValue != "2" || string(a["blob"].BinaryValue) != "\x00\x01\x02" || len(a) != 3 {
		t.Errorf("attributes %+v", a)
	}

	invalid := func(err error) bool { var e *snstypes.InvalidParameterException; return errors.As(err, &e) }
	tests := []struct {
		name  string
		in    *sns.PublishInput
		check func(error) bool
	}{
		{"subject of 101 characters", &sns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String(strings.Repeat("s", 101)), Message: aws.String("m")}, invalid},
		{"non-ASCII subject", &sns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String("naïve"), Message: aws.String("m")}, invalid},
		{"subject with a line break", &sns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String("a\nb"), Message: aws.String("m")}, invalid},
		{"message over 256 KiB", &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("m", 256*1024+1))}, invalid},
		{"message plus attributes over 256 KiB", &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("m", 256*1024-5)),
			MessageAttributes: map[string]snstypes.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("value")}}}, invalid},
		{"empty message", &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("")}, invalid},
		{"unknown topic", &sns.PublishInput{TopicArn: aws.String(topic + "-nope"), Message: aws.String("m")},
			func(err error) bool { var e *snstypes.NotFoundException; return errors.As(err, &e) }},
		{"bad attribute type", &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"),
			MessageAttributes: map[string]snstypes.MessageAttributeValue{"k": {DataType: aws.String("Float"), StringValue: aws.String("1")}}},
			func(err error) bool { var e *snstypes.InvalidParameterValueException; return errors.As(err, &e) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.sns.Publish(ctx(t), tc.in)
			if !tc.check(err) {
				t.Fatalf("got %T %v", err, err)
			}
		})
	}
	if n := len(c.sandbox.Published()); n != 1 {
		t.Errorf("%d publications after the rejected ones, want 1", n)
	}
	t.Run("exactly 100 characters and 256 KiB are accepted", func(t *testing.T) {
		if _, err := c.sns.Publish(ctx(t), &sns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String(strings.Repeat("s", 100)), Message: aws.String(strings.Repeat("m", 256*1024))}); err != nil {
			t.Fatal(err)
		}
	})
}
