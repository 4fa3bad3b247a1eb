// Package picture draws the alarm's metric for a report: CloudWatch's GetMetricWidgetImage
// over the incident's window, the alarm's threshold as a horizontal line and every action of
// the incident (restart, scale, replay, park, approval) as a labelled vertical line. A graph
// that falls after "restart 03:14" is the proof of a fix at a glance; one that keeps climbing
// says the fix did not hold.
//
// The picture is an extra: it has its own time budget, and a picture that cannot be drawn in
// time (or at all) leaves the report as it was, with its text sparkline. Plan is pure and
// golden-tested; Painter does the calls.
package picture

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Spec is one graph: what to draw, over which window, and what to mark on it.
type Spec struct {
	Title   string
	Metrics []Metric
	Start   time.Time
	End     time.Time
	// Period is the seconds per datapoint (a multiple of 60).
	Period    int64
	Threshold *Threshold
	Marks     []Mark
	Width     int
	Height    int
}

// Metric is one line on the graph.
type Metric struct {
	Namespace  string
	Name       string
	Dimensions map[string]string
	Stat       string
	Label      string
	// Right puts the line on the right axis: an explaining metric of another unit or scale
	// (running tasks beside memory %, the work queue beside the DLQ).
	Right bool
}

// Threshold is the alarm's threshold, drawn as a horizontal line.
type Threshold struct {
	Value float64
	Label string
}

// Mark is an action of the incident at a moment, drawn as a vertical line.
type Mark struct {
	At    time.Time
	Label string
}

// Default picture size: wide enough for Discord's and Slack's inline images, short enough
// to leave the report's text in view.
const (
	DefaultWidth  = 800
	DefaultHeight = 360
)

// widget is CloudWatch's metric widget JSON (the "Metric Widget Structure" of the
// CloudWatch API reference), the input of GetMetricWidgetImage.
type widget struct {
	View        string       `json:"view"`
	Stacked     bool         `json:"stacked"`
	Title       string       `json:"title,omitempty"`
	Metrics     [][]any      `json:"metrics"`
	Period      int64        `json:"period"`
	Start       string       `json:"start"`
	End         string       `json:"end"`
	Width       int          `json:"width"`
	Height      int          `json:"height"`
	Timezone    string       `json:"timezone"`
	Annotations *annotations `json:"annotations,omitempty"`
	YAxis       yAxes        `json:"yAxis"`
	Legend      legend       `json:"legend"`
}

type annotations struct {
	Horizontal []horizontal `json:"horizontal,omitempty"`
	Vertical   []vertical   `json:"vertical,omitempty"`
}

type horizontal struct {
	Label string  `json:"label"`
	Value float64 `json:"value"`
	Color string  `json:"color,omitempty"`
}

type vertical struct {
	Label string `json:"label"`
	Value string `json:"value"` // ISO 8601
	Color string `json:"color,omitempty"`
}

type yAxes struct {
	Left  axis  `json:"left"`
	Right *axis `json:"right,omitempty"`
}

type axis struct {
	Min       float64 `json:"min"`
	ShowUnits bool    `json:"showUnits"`
}

type legend struct {
	Position string `json:"position"`
}

type rendering struct {
	Stat  string `json:"stat"`
	Label string `json:"label,omitempty"`
	YAxis string `json:"yAxis"`
	Color string `json:"color,omitempty"`
}

// Colours: the alarm's metric in CloudWatch's first palette colour, the explaining metric in
// grey so the eye goes to the alarm; threshold red, actions green.
const (
	colorPrimary   = "#1f77b4"
	colorRelated   = "#7f7f7f"
	colorThreshold = "#d62728"
	colorAction    = "#2ca02c"
)

// WidgetJSON is the GetMetricWidgetImage input for s. Dimensions are written in name order,
// so the same spec always gives the same bytes.
func (s Spec) WidgetJSON() ([]byte, error) {
	w := widget{
		View: "timeSeries", Title: s.Title, Period: s.Period,
		Start: s.Start.UTC().Format(time.RFC3339), End: s.End.UTC().Format(time.RFC3339),
		Width: orDefault(s.Width, DefaultWidth), Height: orDefault(s.Height, DefaultHeight),
		Timezone: "+0000", // the reports speak UTC
		YAxis:    yAxes{Left: axis{Min: 0, ShowUnits: false}},
		Legend:   legend{Position: "bottom"},
		Metrics:  [][]any{},
	}
	for i, m := range s.Metrics {
		row := []any{m.Namespace, m.Name}
		for _, k := range slices.Sorted(maps.Keys(m.Dimensions)) {
			row = append(row, k, m.Dimensions[k])
		}
		r := rendering{Stat: m.Stat, Label: m.Label, YAxis: "left", Color: colorPrimary}
		if m.Right {
			r.YAxis, r.Color = "right", colorRelated
			w.YAxis.Right = &axis{Min: 0}
		} else if i > 0 {
			r.Color = "" // CloudWatch's palette tells further left-axis lines apart
		}
		w.Metrics = append(w.Metrics, append(row, r))
	}
	var ann annotations
	if s.Threshold != nil {
		ann.Horizontal = append(ann.Horizontal, horizontal{Label: s.Threshold.Label, Value: s.Threshold.Value, Color: colorThreshold})
	}
	for _, m := range s.Marks {
		ann.Vertical = append(ann.Vertical, vertical{Label: m.Label, Value: m.At.UTC().Format(time.RFC3339), Color: colorAction})
	}
	if len(ann.Horizontal)+len(ann.Vertical) > 0 {
		w.Annotations = &ann
	}
	return json.Marshal(w)
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
