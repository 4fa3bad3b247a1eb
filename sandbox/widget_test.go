package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go"

	"github.com/arrakis/gp-remediation/sandbox"
)

func widgetClient(t *testing.T, scenario string) (*sandbox.Sandbox, *cloudwatch.Client) {
	t.Helper()
	sb := sandbox.StartTest(t, sandbox.Options{})
	if err := sb.LoadScenario(scenario); err != nil {
		t.Fatal(err)
	}
	cfg, err := sb.AWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sb, cloudwatch.NewFromConfig(cfg)
}

const queueRow = `["AWS/AmazonMQ","MessageCount","Broker","arrakis-staging-rabbitmq","Queue","arrakis.interactions",{"stat":"Maximum","label":"queue"}]`

// GetMetricWidgetImage answers a real PNG of the requested size, through the SDK's client.
func TestMetricWidgetImage(t *testing.T) {
	_, cw := widgetClient(t, "queue-under-provisioned")
	tests := []struct {
		name          string
		widget        string
		width, height int
	}{
		{"default size", `{"metrics":[` + queueRow + `],"start":"-PT1H"}`, 600, 395},
		{"requested size, annotations, repeated items", `{"metrics":[` + queueRow + `,[".",".",".",".","Queue","arrakis.dlq"]],"period":60,"start":"-PT2H","width":800,"height":360,
			"title":"queue","annotations":{"horizontal":[{"label":"threshold 1000","value":1000}],"vertical":[{"label":"scale 03:14","value":"2026-12-05T03:14:00Z"}]}}`, 800, 360},
		{"a metric without data still draws", `{"metrics":[["AWS/ECS","CPUUtilization","ServiceName","none"]],"width":300,"height":200}`, 300, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cw.GetMetricWidgetImage(context.Background(), &cloudwatch.GetMetricWidgetImageInput{MetricWidget: aws.String(tc.widget)})
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(out.MetricWidgetImage))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.width || b.Dy() != tc.height {
				t.Errorf("%dx%d, want %dx%d", b.Dx(), b.Dy(), tc.width, tc.height)
			}
		})
	}
}

// The picture is drawn from the series: another scenario draws another picture.
func TestMetricWidgetImageFollowsTheSeries(t *testing.T) {
	widget := aws.String(`{"metrics":[` + queueRow + `],"start":"-PT1H","period":60}`)
	var images [][]byte
	for _, scenario := range []string{"healthy", "queue-under-provisioned"} {
		_, cw := widgetClient(t, scenario)
		out, err := cw.GetMetricWidgetImage(context.Background(), &cloudwatch.GetMetricWidgetImageInput{MetricWidget: widget})
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, out.MetricWidgetImage)
	}
	if bytes.Equal(images[0], images[1]) {
		t.Error("a healthy queue and a backlog drew the same picture")
	}
}

func TestMetricWidgetImageRefusesBadInput(t *testing.T) {
	_, cw := widgetClient(t, "healthy")
	tests := map[string]struct{ widget, format string }{
		"malformed JSON":   {`{"metrics":`, ""},
		"no metrics":       {`{"start":"-PT1H"}`, ""},
		"metric math":      {`{"metrics":[[{"expression":"m1*2","label":"x"}]]}`, ""},
		"too wide":         {`{"metrics":[` + queueRow + `],"width":5000}`, ""},
		"bad period":       {`{"metrics":[` + queueRow + `],"period":90}`, ""},
		"bad stat":         {`{"metrics":[["AWS/ECS","CPUUtilization",{"stat":"Median"}]]}`, ""},
		"bad start":        {`{"metrics":[` + queueRow + `],"start":"yesterday"}`, ""},
		"bad vertical":     {`{"metrics":[` + queueRow + `],"annotations":{"vertical":[{"value":12}]}}`, ""},
		"svg output":       {`{"metrics":[` + queueRow + `]}`, "svg"},
		"not a time chart": {`{"view":"pie","metrics":[` + queueRow + `]}`, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := &cloudwatch.GetMetricWidgetImageInput{MetricWidget: aws.String(tc.widget)}
			if tc.format != "" {
				in.OutputFormat = aws.String(tc.format)
			}
			_, err := cw.GetMetricWidgetImage(context.Background(), in)
			var api smithy.APIError
			if !errors.As(err, &api) {
				t.Fatalf("err = %v, want an API error", err)
			}
			if code := api.ErrorCode(); code != "InvalidParameterValue" && code != "MissingParameter" { // CloudWatch keeps its Query error codes
				t.Errorf("code %s: %s", code, fmt.Sprint(err))
			}
		})
	}
}
