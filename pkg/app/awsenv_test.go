package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// TestEndpointSettingsReachTheClients checks, through real SDK clients, that the settings are
// read the way the SDK documents them: a service's own AWS_ENDPOINT_URL_<SDK ID> wins over
// AWS_ENDPOINT_URL, an SDK ID with a space becomes an underscore, and
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns both off.
func TestEndpointSettingsReachTheClients(t *testing.T) {
	var global, ssmHits, logsHits atomic.Int32
	srv := func(n *atomic.Int32) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			_, _ = w.Write([]byte(`{}`))
		}))
		t.Cleanup(s.Close)
		return s
	}
	g, s, l := srv(&global), srv(&ssmHits), srv(&logsHits)
	env := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_ENDPOINT_URL": g.URL, "AWS_ENDPOINT_URL_SSM": s.URL, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": l.URL,
	}
	cfg, err := awsConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// The clients decide with os.LookupEnv whether a service-specific setting exists at all.
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	_, _ = ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("p")})
	_, _ = cloudwatchlogs.NewFromConfig(cfg).DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	if ssmHits.Load() == 0 || logsHits.Load() == 0 || global.Load() != 0 {
		t.Errorf("requests: ssm endpoint %d, logs endpoint %d, global endpoint %d; want the service endpoints only",
			ssmHits.Load(), logsHits.Load(), global.Load())
	}
}

func TestAWSSettingsReportEveryMissingValue(t *testing.T) {
	_, err := awsConfigFromEnv(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("error %v, want both the region and the keys named", err)
	}
	env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "maybe"}
	if _, err := awsConfigFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Fatal("a non-boolean AWS_IGNORE_CONFIGURED_ENDPOINT_URLS was accepted")
	}
	env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
	env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1"
	cfg, err := awsConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || cfg.BaseEndpoint != nil {
		t.Fatalf("ignored endpoints: base endpoint %v, err %v; want none", cfg.BaseEndpoint, err)
	}
}
