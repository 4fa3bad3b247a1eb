package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// CloudWatch GetMetricWidgetImage over smithy-rpcv2-cbor: a real PNG drawn with gonum/plot
// from the sandbox's own series, honouring the widget JSON's metrics (with "." repeats and
// the trailing rendering object: stat, period, label, color), period, stat, start/end (ISO
// 8601 or a relative "-PT3H"/"-P1D"), width/height, title and annotations (horizontal values,
// vertical ISO times, each labelled). Metric math rows are refused, as GetMetricData's
// expressions are. Only "png" output is served.

const (
	widgetMaxSide       = 2000
	widgetDefaultWidth  = 600
	widgetDefaultHeight = 395
)

type widgetSpec struct {
	Metrics     []json.RawMessage `json:"metrics"`
	Period      int64             `json:"period"`
	Stat        string            `json:"stat"`
	Start       string            `json:"start"`
	End         string            `json:"end"`
	Width       int               `json:"width"`
	Height      int               `json:"height"`
	Title       string            `json:"title"`
	View        string            `json:"view"`
	Annotations struct {
		Horizontal []widgetAnnotation `json:"horizontal"`
		Vertical   []widgetAnnotation `json:"vertical"`
	} `json:"annotations"`
}

type widgetAnnotation struct {
	Label string          `json:"label"`
	Value json.RawMessage `json:"value"`
	Color string          `json:"color"`
}

type widgetLine struct {
	ref    MetricRef
	stat   string
	period int64
	label  string
	color  string
}

func (s *Sandbox) cwGetMetricWidgetImage(c *awsCall) (any, *apiError) {
	v, err := cbor.Decode(c.body)
	if err != nil {
		return nil, errClient(400, "SerializationException", "could not decode the CBOR request: "+err.Error())
	}
	in, _ := v.(cbor.Map)
	raw, ok := cborStr(in, "MetricWidget")
	if !ok || raw == "" {
		return nil, cwMissing("The parameter MetricWidget is required.")
	}
	if f, ok := cborStr(in, "OutputFormat"); ok && f != "" && f != "png" {
		return nil, cwInvalid("The value " + f + " for parameter OutputFormat is not valid: the sandbox draws png only.")
	}
	png, aerr := s.drawWidget(raw, s.now())
	if aerr != nil {
		return nil, aerr
	}
	return cbor.Map{"MetricWidgetImage": cbor.Slice(png)}, nil
}

// drawWidget parses the widget JSON and draws it. Callers hold s.mu.
func (s *Sandbox) drawWidget(raw string, now time.Time) ([]byte, *apiError) {
	var w widgetSpec
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return nil, cwInvalid("The parameter MetricWidget is not valid JSON: " + err.Error())
	}
	if w.View != "" && w.View != "timeSeries" {
		return nil, cwInvalid("The sandbox draws view timeSeries only, not " + w.View + ".")
	}
	if len(w.Metrics) == 0 {
		return nil, cwMissing("The MetricWidget field metrics is required.")
	}
	width, height := orInt(w.Width, widgetDefaultWidth), orInt(w.Height, widgetDefaultHeight)
	if width > widgetMaxSide || height > widgetMaxSide || width < 1 || height < 1 {
		return nil, cwInvalid(fmt.Sprintf("The MetricWidget width and height must be between 1 and %d.", widgetMaxSide))
	}
	period := w.Period
	if period == 0 {
		period = 300
	}
	if period < 60 || period%60 != 0 {
		return nil, cwInvalid("The MetricWidget period must be a multiple of 60.")
	}
	stat := w.Stat
	if stat == "" {
		stat = "Average"
	}
	end, err := widgetTime(w.End, now, now)
	if err != nil {
		return nil, cwInvalid("The MetricWidget end is not valid: " + err.Error())
	}
	start, err := widgetTime(w.Start, end.Add(-3*time.Hour), now)
	if err != nil {
		return nil, cwInvalid("The MetricWidget start is not valid: " + err.Error())
	}
	if !end.After(start) {
		return nil, cwInvalid("The MetricWidget start must be before its end.")
	}
	lines, aerr := widgetLines(w.Metrics, stat, period)
	if aerr != nil {
		return nil, aerr
	}

	p := plot.New()
	p.Title.Text = w.Title
	p.X.Tick.Marker = plot.TimeTicks{Format: "15:04", Time: plot.UTCUnixTime}
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = true, true
	ymax := 1.0
	for i, l := range lines {
		var pts plotter.XYs
		if sr, ok := s.series[l.ref.key()]; ok {
			for _, d := range sr.aggregate(start, end, now, s.loadedAt, l.period, l.stat) {
				pts = append(pts, plotter.XY{X: float64(d.Time.Unix()), Y: d.Value})
				ymax = math.Max(ymax, d.Value)
			}
		}
		if len(pts) == 0 {
			continue // no data in the window: CloudWatch draws nothing for it either
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, &apiError{Status: 500, Code: "InternalFailure", Message: "sandbox: draw: " + err.Error(), Receiver: true}
		}
		line.Color = widgetColor(l.color, i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(l.label, line)
	}
	for _, h := range w.Annotations.Horizontal {
		var val float64
		if err := json.Unmarshal(h.Value, &val); err != nil {
			return nil, cwInvalid("A horizontal annotation's value must be a number.")
		}
		ymax = math.Max(ymax, val)
		hl, _ := plotter.NewLine(plotter.XYs{{X: float64(start.Unix()), Y: val}, {X: float64(end.Unix()), Y: val}})
		hl.Color, hl.Dashes = widgetColor(h.Color, 3), []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(hl)
		p.Legend.Add(h.Label, hl)
	}
	p.Y.Max = ymax * 1.15
	for _, a := range w.Annotations.Vertical {
		var iso string
		if err := json.Unmarshal(a.Value, &iso); err != nil {
			return nil, cwInvalid("A vertical annotation's value must be an ISO 8601 time.")
		}
		at, err := time.Parse(time.RFC3339, iso)
		if err != nil {
			return nil, cwInvalid("A vertical annotation's value must be an ISO 8601 time: " + err.Error())
		}
		x := float64(at.Unix())
		vl, _ := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: p.Y.Max}})
		vl.Color = widgetColor(a.Color, 2)
		p.Add(vl)
		if a.Label != "" {
			labels, err := plotter.NewLabels(plotter.XYLabels{XYs: []plotter.XY{{X: x, Y: p.Y.Max * 0.8}}, Labels: []string{" " + a.Label + " "}})
			if err == nil {
				// A mark in the right half is labelled to its left, so the text stays inside.
				if x > float64(start.Unix()+end.Unix())/2 {
					for i := range labels.TextStyle {
						labels.TextStyle[i].XAlign = draw.XRight
					}
				}
				p.Add(labels)
			}
		}
	}
	p.X.Min, p.X.Max = float64(start.Unix()), float64(end.Unix())

	// vgimg sizes in points at a DPI; 72 DPI makes one point one pixel, so the PNG is exactly
	// width x height.
	canvas := vgimg.NewWith(vgimg.UseWH(vg.Length(width), vg.Length(height)), vgimg.UseDPI(72))
	p.Draw(draw.New(canvas))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: canvas}).WriteTo(&buf); err != nil {
		return nil, &apiError{Status: 500, Code: "InternalFailure", Message: "sandbox: encode png: " + err.Error(), Receiver: true}
	}
	return buf.Bytes(), nil
}

// widgetLines reads the metrics rows: [namespace, name, dim, value, ..., {rendering}], a "."
// repeating the previous row's item at the same position.
func widgetLines(rows []json.RawMessage, stat string, period int64) ([]widgetLine, *apiError) {
	var prev []string
	var out []widgetLine
	for i, raw := range rows {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, cwInvalid(fmt.Sprintf("metrics[%d] must be an array.", i))
		}
		var strs []string
		opts := struct {
			Stat, Label, Color, Expression string
			Period                         int64
		}{}
		for j, it := range items {
			var sv string
			if err := json.Unmarshal(it, &sv); err == nil {
				if sv == "." && j < len(prev) {
					sv = prev[j]
				}
				strs = append(strs, sv)
				continue
			}
			if err := json.Unmarshal(it, &opts); err != nil || j != len(items)-1 {
				return nil, cwInvalid(fmt.Sprintf("metrics[%d][%d] must be a string, or the row's last item an object.", i, j))
			}
		}
		if opts.Expression != "" {
			return nil, cwInvalid("sandbox: metric math expressions are not evaluated")
		}
		if len(strs) < 2 || len(strs)%2 != 0 {
			return nil, cwInvalid(fmt.Sprintf("metrics[%d] must be namespace, metric name, then dimension name/value pairs.", i))
		}
		prev = strs
		l := widgetLine{ref: MetricRef{Namespace: strs[0], Name: strs[1], Dimensions: map[string]string{}},
			stat: stat, period: period, label: strs[1], color: opts.Color}
		for k := 2; k < len(strs); k += 2 {
			l.ref.Dimensions[strs[k]] = strs[k+1]
		}
		if opts.Stat != "" {
			l.stat = opts.Stat
		}
		if opts.Period > 0 {
			l.period = opts.Period
		}
		if opts.Label != "" {
			l.label = opts.Label
		}
		if _, ok := statFunc(l.stat); !ok {
			return nil, cwInvalid("The stat " + l.stat + " of metrics[" + strconv.Itoa(i) + "] is not valid.")
		}
		out = append(out, l)
	}
	return out, nil
}

// widgetTime reads an ISO 8601 time or a relative "-PT3H", "-PT15M", "-P1D" (before now);
// "" is def.
func widgetTime(v string, def, now time.Time) (time.Time, error) {
	switch {
	case v == "":
		return def, nil
	case strings.HasPrefix(v, "-P"):
		d, err := isoDuration(v[2:])
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339, v)
}

func isoDuration(s string) (time.Duration, error) {
	var d time.Duration
	inTime := false
	num := ""
	for _, r := range s {
		switch {
		case r == 'T':
			inTime = true
		case r >= '0' && r <= '9':
			num += string(r)
		default:
			n, err := strconv.Atoi(num)
			if err != nil {
				return 0, fmt.Errorf("%q is not an ISO 8601 duration", s)
			}
			unit := map[bool]map[rune]time.Duration{
				false: {'D': 24 * time.Hour, 'W': 7 * 24 * time.Hour},
				true:  {'H': time.Hour, 'M': time.Minute, 'S': time.Second},
			}[inTime][r]
			if unit == 0 {
				return 0, fmt.Errorf("%q is not an ISO 8601 duration", s)
			}
			d += time.Duration(n) * unit
			num = ""
		}
	}
	if num != "" || d <= 0 {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration", s)
	}
	return d, nil
}

// widgetColor is "#rrggbb", or the i-th colour of CloudWatch's palette.
func widgetColor(hex string, i int) color.Color {
	if len(hex) == 7 && hex[0] == '#' {
		if v, err := strconv.ParseUint(hex[1:], 16, 32); err == nil {
			return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
		}
	}
	palette := []color.RGBA{{0x1f, 0x77, 0xb4, 255}, {0xff, 0x7f, 0x0e, 255}, {0x2c, 0xa0, 0x2c, 255}, {0xd6, 0x27, 0x28, 255}, {0x94, 0x67, 0xbd, 255}}
	return palette[i%len(palette)]
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
