package sandbox_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go"

	"github.com/arrakis/gp-remediation/sandbox"
)

// widgetRef is the metric the widget tests draw: a noiseless ramp over the last three hours.
var widgetRef = sandbox.MetricRef{Namespace: "Test", Name: "Ramp", Dimensions: map[string]string{"K": "v"}}

const widgetMetrics = `"metrics":[["Test","Ramp","K","v",{"color":"#1f77b4"}]]`

// threshold is the annotation color the tests look for; no series uses it.
var threshold = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}

// startWidget serves an empty sandbox on a frozen clock with widgetRef ramping 0 -> 180.
func startWidget(t *testing.T) *clients {
	t.Helper()
	c := start(t, "", withClock(&fakeClock{t: loadTime}))
	c.sandbox.SetMetric(widgetRef, sandbox.Shape{Keys: []sandbox.Key{{At: -3 * time.Hour, V: 0}, {At: 0, V: 180}}})
	return c
}

// widgetImage asks the real SDK client for the widget and decodes the PNG.
func widgetImage(t *testing.T, c *clients, widget string) ([]byte, image.Image) {
	t.Helper()
	out, err := c.cw.GetMetricWidgetImage(ctx(t), &cloudwatch.GetMetricWidgetImageInput{MetricWidget: aws.String(widget)})
	if err != nil {
		t.Fatalf("GetMetricWidgetImage %s: %v", widget, err)
	}
	img, err := png.Decode(bytes.NewReader(out.MetricWidgetImage))
	if err != nil {
		t.Fatalf("decode the PNG (%d bytes): %v", len(out.MetricWidgetImage), err)
	}
	return out.MetricWidgetImage, img
}

// near says whether a is within tol of col in each channel. Lines are anti-aliased, so a
// one-point rule off the pixel grid has no pixel of exactly col; tol stays below half the
// spread of col's channels, so no gray (text, grid, axes) is near it.
func near(a, col color.Color, tol uint32) bool {
	r1, g1, b1, _ := a.RGBA()
	r2, g2, b2, _ := col.RGBA()
	diff := func(x, y uint32) bool { return max(x, y)-min(x, y) <= tol<<8 }
	return diff(r1, r2) && diff(g1, g2) && diff(b1, b2)
}

// countColor counts the pixels near col (within 60 in each channel).
func countColor(img image.Image, col color.Color) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(img.At(x, y), col, 60) {
				n++
			}
		}
	}
	return n
}

func TestGetMetricWidgetImageSize(t *testing.T) {
	c := startWidget(t)
	for _, tc := range []struct {
		name, size   string
		wantW, wantH int
	}{
		{"default", ``, 600, 395},
		{"wide", `,"width":800,"height":300`, 800, 300},
		{"largest", `,"width":2000,"height":2000`, 2000, 2000},
		{"odd", `,"width":333,"height":217`, 333, 217},
		{"tiny", `,"width":40,"height":30`, 40, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, img := widgetImage(t, c, `{`+widgetMetrics+tc.size+`}`)
			if got := img.Bounds(); got.Dx() != tc.wantW || got.Dy() != tc.wantH {
				t.Errorf("image is %dx%d, want %dx%d", got.Dx(), got.Dy(), tc.wantW, tc.wantH)
			}
		})
	}
}

func TestGetMetricWidgetImageAnnotations(t *testing.T) {
	c := startWidget(t)
	restart := loadTime.Add(-40 * time.Minute).Format(time.RFC3339)
	plain := `{` + widgetMetrics + `,"title":"Ramp"}`
	annotated := fmt.Sprintf(`{%s,"title":"Ramp","annotations":{
		"horizontal":[{"value":150,"label":"Threshold","color":"#d62728"}],
		"vertical":[{"value":%q,"label":"restart","color":"#d62728"}]}}`, widgetMetrics, restart)

	_, without := widgetImage(t, c, plain)
	_, with := widgetImage(t, c, annotated)
	if n := countColor(without, threshold); n != 0 {
		t.Fatalf("the plain widget already has %d pixels of the annotation color", n)
	}
	// Both rules are dashed lines across the data area: hundreds of pixels each.
	if n := countColor(with, threshold); n < 400 {
		t.Errorf("the annotated widget has %d pixels of the annotation color, want the two rules", n)
	}
	// The vertical rule is a column of that color; the horizontal one a row.
	column, row := false, false
	b := with.Bounds()
	for x := b.Min.X; x < b.Max.X && !column; x++ {
		n := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if near(with.At(x, y), threshold, 80) {
				n++
			}
		}
		column = n > b.Dy()/3
	}
	for y := b.Min.Y; y < b.Max.Y && !row; y++ {
		n := 0
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(with.At(x, y), threshold, 80) {
				n++
			}
		}
		row = n > b.Dx()/3
	}
	if !column || !row {
		t.Errorf("vertical rule drawn: %v, horizontal rule drawn: %v", column, row)
	}

	band := `{` + widgetMetrics + `,"annotations":{"horizontal":[[{"value":20,"label":"band","color":"#d62728"},{"value":40}]]}}`
	if _, img := widgetImage(t, c, band); countColor(img, threshold) == 0 {
		t.Error("the band annotation is not drawn")
	}
}

func TestGetMetricWidgetImageFollowsSeries(t *testing.T) {
	c := startWidget(t)
	widget := `{` + widgetMetrics + `}`
	ramp, rampImg := widgetImage(t, c, widget)
	series := color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	if countColor(rampImg, series) < 100 {
		t.Fatal("the ramp's line is not drawn in its color")
	}

	c.sandbox.SetMetric(widgetRef, sandbox.Shape{Keys: []sandbox.Key{{At: -3 * time.Hour, V: 180}, {At: 0, V: 0}}})
	fall, _ := widgetImage(t, c, widget)
	if bytes.Equal(ramp, fall) {
		t.Error("the picture did not change when the series did")
	}

	// A metric the sandbox has no data for still draws: an empty plot, no line.
	// (The legend is hidden: its sample of the line has the line's color.)
	_, empty := widgetImage(t, c, `{"metrics":[["Test","Absent",{"color":"#1f77b4"}]],"legend":{"position":"hidden"}}`)
	if n := countColor(empty, series); n != 0 {
		t.Errorf("the widget of a metric without data has %d pixels of line color", n)
	}

	// Same with a series that has data, but not in the window.
	_, before := widgetImage(t, c, `{`+widgetMetrics+`,"start":"2020-01-01T00:00:00Z","end":"2020-01-01T03:00:00Z","legend":{"position":"hidden"}}`)
	if n := countColor(before, series); n != 0 {
		t.Errorf("a window before the data has %d pixels of line color", n)
	}
}

func TestGetMetricWidgetImageRelativeStart(t *testing.T) {
	c := startWidget(t)
	hour, hourImg := widgetImage(t, c, `{`+widgetMetrics+`,"start":"-PT1H"}`)
	threeHours, _ := widgetImage(t, c, `{`+widgetMetrics+`,"start":"-PT3H"}`)
	byDefault, _ := widgetImage(t, c, `{`+widgetMetrics+`}`)
	if bytes.Equal(hour, threeHours) {
		t.Error("start -PT1H drew the same picture as -PT3H")
	}
	if !bytes.Equal(threeHours, byDefault) {
		t.Error("start -PT3H is not the default")
	}
	absolute, _ := widgetImage(t, c, fmt.Sprintf(`{%s,"start":%q,"end":%q}`, widgetMetrics,
		loadTime.Add(-time.Hour).Format(time.RFC3339), loadTime.Format(time.RFC3339)))
	if !bytes.Equal(hour, absolute) {
		t.Error("start -PT1H differs from the same hour written as timestamps")
	}
	if hourImg.Bounds().Dx() != 600 {
		t.Errorf("width %d", hourImg.Bounds().Dx())
	}
}

func TestGetMetricWidgetImageErrors(t *testing.T) {
	c := startWidget(t)
	for _, tc := range []struct {
		name, widget, format string
		code, mention        string // mention: a word the message must name
	}{
		{"malformed JSON", `{"metrics":[`, "", "InvalidParameterValue", "JSON"},
		{"missing metrics", `{"title":"x"}`, "", "InvalidParameterValue", "metrics"},
		{"empty metrics", `{"metrics":[]}`, "", "InvalidParameterValue", "metrics"},
		{"expression row", `{"metrics":[[{"expression":"SUM(METRICS())","id":"e1"}]]}`, "", "InvalidParameterValue", "metric math"},
		{"svg", `{` + widgetMetrics + `}`, "svg", "InvalidParameterValue", "OutputFormat"},
		{"width 5000", `{` + widgetMetrics + `,"width":5000}`, "", "InvalidParameterValue", "width"},
		{"height 0", `{` + widgetMetrics + `,"height":0}`, "", "InvalidParameterValue", "height"},
		{"unknown stat", `{"metrics":[["Test","Ramp",{"stat":"Median"}]]}`, "", "InvalidParameterValue", "stat"},
		{"bad period", `{` + widgetMetrics + `,"period":90}`, "", "InvalidParameterValue", "period"},
		{"bad relative start", `{` + widgetMetrics + `,"start":"-PT3X"}`, "", "InvalidParameterValue", "start"},
		{"start after end", `{` + widgetMetrics + `,"start":"-PT1H","end":"-PT2H"}`, "", "InvalidParameterValue", "start"},
		{"pie view", `{` + widgetMetrics + `,"view":"pie"}`, "", "InvalidParameterValue", "view"},
		{"dot without a previous row", `{"metrics":[[".","Ramp"]]}`, "", "InvalidParameterValue", "metrics[0]"},
		{"dimension without value", `{"metrics":[["Test","Ramp","K"]]}`, "", "InvalidParameterValue", "dimension"},
		{"bad color", `{"metrics":[["Test","Ramp",{"color":"red"}]]}`, "", "InvalidParameterValue", "color"},
		{"vertical annotation not a time", `{` + widgetMetrics + `,"annotations":{"vertical":[{"value":"yesterday"}]}}`, "", "InvalidParameterValue", "annotations.vertical[0]"},
		{"too many points", `{` + widgetMetrics + `,"period":60,"start":"-P14D"}`, "", "InvalidParameterValue", "datapoints"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &cloudwatch.GetMetricWidgetImageInput{}
			in.MetricWidget = aws.String(tc.widget)
			if tc.format != "" {
				in.OutputFormat = aws.String(tc.format)
			}
			_, err := c.cw.GetMetricWidgetImage(ctx(t), in)
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tc.code {
				t.Fatalf("error %v, want an API error %s", err, tc.code)
			}
			if !strings.Contains(api.ErrorMessage(), tc.mention) {
				t.Errorf("message %q does not mention %q", api.ErrorMessage(), tc.mention)
			}
		})
	}
}
