package sandbox

import (
	"image/color"
	"reflect"
	"testing"
	"time"
)

// TestParseMetricWidget checks the typed form of one representative widget: shorthand rows,
// per-row options over widget defaults, relative and absolute times, annotations and a band.
func TestParseMetricWidget(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	src := `{
		"view": "timeSeries",
		"title": "ingestor memory",
		"period": 60,
		"stat": "Maximum",
		"start": "-PT3H",
		"width": 800,
		"height": 400,
		"timezone": "+0130",
		"legend": {"position": "right"},
		"yAxis": {"left": {"min": 0, "max": 100, "label": "Percent"}},
		"metrics": [
			["AWS/ECS", "MemoryUtilization", "ClusterName", "arrakis-staging", "ServiceName", "ingestor", {"label": "memory", "color": "#1f77b4", "id": "m1"}],
			[".", "CPUUtilization", ".", ".", ".", ".", {"stat": "Average", "period": 300, "yAxis": "right", "visible": false}],
			["...", "worker"]
		],
		"annotations": {
			"horizontal": [{"value": 90, "label": "Threshold", "color": "#d62728"}, [{"value": 10, "label": "low"}, {"value": 20}]],
			"vertical": [{"value": "2026-12-05T10:14:00Z", "label": "restart 10:14", "fill": "after"}, {"value": "-PT1H", "visible": false}]
		}
	}`
	got, aerr := parseMetricWidget(src, now)
	if aerr != nil {
		t.Fatal(aerr)
	}
	zero, hundred, twenty := 0.0, 100.0, 20.0
	dims := func(service string) map[string]string {
		return map[string]string{"ClusterName": "arrakis-staging", "ServiceName": service}
	}
	want := &metricWidget{
		Metrics: []widgetMetric{
			{Ref: MetricRef{Namespace: "AWS/ECS", Name: "MemoryUtilization", Dimensions: dims("ingestor")},
				Stat: "Maximum", Period: 60, Label: "memory", Color: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, YAxis: "left", ID: "m1", Visible: true},
			{Ref: MetricRef{Namespace: "AWS/ECS", Name: "CPUUtilization", Dimensions: dims("ingestor")},
				Stat: "Average", Period: 300, Label: "CPUUtilization arrakis-staging ingestor", YAxis: "right", Visible: false},
			{Ref: MetricRef{Namespace: "AWS/ECS", Name: "CPUUtilization", Dimensions: dims("worker")},
				Stat: "Maximum", Period: 60, Label: "CPUUtilization arrakis-staging worker", YAxis: "left", Visible: true},
		},
		Start:     now.Add(-3 * time.Hour),
		End:       now,
		UTCOffset: 90 * time.Minute,
		Width:     800,
		Height:    400,
		Title:     "ingestor memory",
		YAxis:     widgetYAxis{Min: &zero, Max: &hundred, Label: "Percent"},
		Legend:    "right",
		Horizontal: []horizontalAnnotation{
			{Value: 90, Label: "Threshold", Color: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}},
			{Value: 10, BandTo: &twenty, Label: "low"},
		},
		Vertical: []verticalAnnotation{
			{At: time.Date(2026, 12, 5, 10, 14, 0, 0, time.UTC), Label: "restart 10:14", Fill: "after"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", *got, *want)
	}
}

func TestParseWidgetTime(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time // zero: an error
	}{
		{"-PT3H", now.Add(-3 * time.Hour)},
		{"-PT15M", now.Add(-15 * time.Minute)},
		{"-PT90S", now.Add(-90 * time.Second)},
		{"-P1D", now.Add(-24 * time.Hour)},
		{"-P1W", now.Add(-7 * 24 * time.Hour)},
		{"-P1DT2H30M", now.Add(-26*time.Hour - 30*time.Minute)},
		{"2026-12-05T10:14:00Z", time.Date(2026, 12, 5, 10, 14, 0, 0, time.UTC)},
		{"2026-12-05T11:14:00+01:00", time.Date(2026, 12, 5, 10, 14, 0, 0, time.UTC)},
		{"-P", time.Time{}},
		{"-PT", time.Time{}},
		{"-P1M", time.Time{}}, // months have no fixed length
		{"PT3H", time.Time{}},
		{"-PT3H-", time.Time{}},
		{"-P99999999999999W", time.Time{}},
		{"now", time.Time{}},
		{"2026-12-05 10:14", time.Time{}},
	} {
		got, err := parseWidgetTime(tc.in, now)
		switch {
		case tc.want.IsZero() && err == nil:
			t.Errorf("%q: %v, want an error", tc.in, got)
		case !tc.want.IsZero() && (err != nil || !got.Equal(tc.want)):
			t.Errorf("%q: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
}
