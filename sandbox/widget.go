package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"maps"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// CloudWatch GetMetricWidgetImage over smithy-rpcv2-cbor.
//
// The widget JSON (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Metric-Widget-Structure.html)
// is parsed into metricWidget and drawn with gonum.org/v1/plot from the sandbox's own series,
// aggregated exactly as GetMetricData aggregates them, so the picture a function posts shows
// the numbers it read. What is served: view "timeSeries"; metric rows with "." and "..."
// shorthand and the rendering options stat, period, label, color, id, visible and yAxis;
// widget period, stat, start/end (ISO 8601 or relative "-PT3H"), width/height, title,
// timezone ("+0130"), yAxis.left min/max/label, legend position; horizontal and vertical
// annotations (single lines or two-value bands, fill). The sandbox draws one Y axis: rows on
// the right axis are drawn against it too. Metric math (expression rows) is not evaluated and
// is refused, as the other views (bar, pie, singleValue) and output formats other than png.

const (
	widgetDefaultWidth  = 600
	widgetDefaultHeight = 395
	widgetMaxSide       = 2000
	widgetDefaultPeriod = 300
	widgetDefaultStart  = "-PT3H"
	widgetDefaultStat   = "Average"
	// widgetMaxMetrics and widgetMaxPoints bound the work done while the sandbox's lock is
	// held: a 2000-pixel-wide picture cannot show more points than that usefully anyway.
	widgetMaxMetrics = 100
	widgetMaxPoints  = 20000
	// widgetDPI makes one vg.Inch exactly 96 pixels; fonts are sized in points on it.
	widgetDPI = 96
)

// metricWidget is a parsed, validated metric widget: everything the renderer needs and
// nothing it must interpret again.
type metricWidget struct {
	Metrics    []widgetMetric
	Start, End time.Time
	// UTCOffset is the timezone the time axis is labelled in (the widget's "timezone").
	UTCOffset  time.Duration
	Width      int
	Height     int
	Title      string
	YAxis      widgetYAxis
	Legend     string // "bottom", "right" or "hidden"
	Horizontal []horizontalAnnotation
	Vertical   []verticalAnnotation
}

// widgetMetric is one metric row with its shorthand resolved and its defaults applied.
type widgetMetric struct {
	Ref     MetricRef
	Stat    string
	Period  int64
	Label   string
	Color   color.Color // nil: the next palette color
	YAxis   string      // "left" or "right"
	ID      string
	Visible bool
}

// widgetYAxis is the widget's left Y axis; nil bounds are chosen from the data.
type widgetYAxis struct {
	Min, Max *float64
	Label    string
}

// horizontalAnnotation is a line at Value, or a band from Value to BandTo.
type horizontalAnnotation struct {
	Value  float64
	BandTo *float64
	Label  string
	Color  color.Color // nil: the annotation default
	Fill   string      // "", "above" or "below"
}

// verticalAnnotation is a line at At, or a band from At to BandTo.
type verticalAnnotation struct {
	At     time.Time
	BandTo *time.Time
	Label  string
	Color  color.Color
	Fill   string // "", "before" or "after"
}

// The widget JSON as CloudWatch documents it. Fields the sandbox does not draw with
// (region, liveData, stacked, ...) are ignored, as decoding into these structs ignores them.
type widgetJSON struct {
	Metrics  []json.RawMessage `json:"metrics"`
	Period   *int64            `json:"period"`
	Stat     *string           `json:"stat"`
	Start    string            `json:"start"`
	End      string            `json:"end"`
	Width    *int              `json:"width"`
	Height   *int              `json:"height"`
	Title    string            `json:"title"`
	Timezone string            `json:"timezone"`
	View     string            `json:"view"`
	YAxis    struct {
		Left  widgetYAxisJSON `json:"left"`
		Right widgetYAxisJSON `json:"right"`
	} `json:"yAxis"`
	Legend struct {
		Position string `json:"position"`
	} `json:"legend"`
	Annotations struct {
		Horizontal []annotationJSON[float64] `json:"horizontal"`
		Vertical   []annotationJSON[string]  `json:"vertical"`
	} `json:"annotations"`
}

type widgetYAxisJSON struct {
	Min   *float64 `json:"min"`
	Max   *float64 `json:"max"`
	Label string   `json:"label"`
}

// metricOptionsJSON is the trailing object of a metric row (or the only element of an
// expression row).
type metricOptionsJSON struct {
	Expression string  `json:"expression"`
	Stat       *string `json:"stat"`
	Period     *int64  `json:"period"`
	Label      string  `json:"label"`
	Color      string  `json:"color"`
	YAxis      string  `json:"yAxis"`
	ID         string  `json:"id"`
	Visible    *bool   `json:"visible"`
}

type annotationPointJSON[V any] struct {
	Value   *V     `json:"value"`
	Label   string `json:"label"`
	Color   string `json:"color"`
	Fill    string `json:"fill"`
	Visible *bool  `json:"visible"`
}

// annotationJSON is one annotation: an object, or a band written as an array of two.
type annotationJSON[V any] []annotationPointJSON[V]

func (a *annotationJSON[V]) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		var band []annotationPointJSON[V]
		if err := json.Unmarshal(t, &band); err != nil {
			return err
		}
		if len(band) != 2 {
			return fmt.Errorf("a band annotation is an array of exactly two objects, got %d", len(band))
		}
		*a = band
		return nil
	}
	var one annotationPointJSON[V]
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*a = annotationJSON[V]{one}
	return nil
}

func widgetInvalid(format string, args ...any) *apiError {
	return cwInvalid("The parameter MetricWidget is not valid: " + fmt.Sprintf(format, args...))
}

// validPeriod is CloudWatch's rule for a period in seconds.
func validPeriod(p int64) bool {
	return p > 0 && (p >= 60 && p%60 == 0 || slices.Contains([]int64{1, 5, 10, 30}, p))
}

// parseMetricWidget parses and validates the widget JSON; relative times count back from now.
func parseMetricWidget(src string, now time.Time) (*metricWidget, *apiError) {
	var in widgetJSON
	if err := json.Unmarshal([]byte(src), &in); err != nil {
		return nil, widgetInvalid("malformed JSON: %v", err)
	}
	if in.View != "" && in.View != "timeSeries" {
		return nil, widgetInvalid("view %q is not served: the sandbox draws only \"timeSeries\"", in.View)
	}
	if len(in.Metrics) == 0 {
		return nil, widgetInvalid("the field metrics is required and must list at least one metric")
	}
	if len(in.Metrics) > widgetMaxMetrics {
		return nil, widgetInvalid("metrics has %d rows; the sandbox draws at most %d", len(in.Metrics), widgetMaxMetrics)
	}
	w := &metricWidget{Width: widgetDefaultWidth, Height: widgetDefaultHeight, Title: in.Title, Legend: "bottom"}

	period := int64(widgetDefaultPeriod)
	if in.Period != nil {
		period = *in.Period
		if !validPeriod(period) {
			return nil, widgetInvalid("period %d must be 1, 5, 10, 30 or a multiple of 60", period)
		}
	}
	stat := widgetDefaultStat
	if in.Stat != nil {
		stat = *in.Stat
		if _, ok := statFunc(stat); !ok {
			return nil, widgetInvalid("stat %q is not served (Average, Maximum, Minimum, Sum, SampleCount and pNN are)", stat)
		}
	}

	var err error
	startText := orDefault(in.Start, widgetDefaultStart)
	if w.Start, err = parseWidgetTime(startText, now); err != nil {
		return nil, widgetInvalid("start: %v", err)
	}
	w.End = now
	if in.End != "" {
		if w.End, err = parseWidgetTime(in.End, now); err != nil {
			return nil, widgetInvalid("end: %v", err)
		}
	}
	if !w.End.After(w.Start) {
		return nil, widgetInvalid("start (%s) must be before end (%s)", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
	}
	if w.End.Sub(w.Start) > maxMinutes*time.Minute {
		return nil, widgetInvalid("the range from start to end is longer than the %d days the sandbox scans", maxMinutes/(24*60))
	}

	if in.Width != nil {
		w.Width = *in.Width
	}
	if in.Height != nil {
		w.Height = *in.Height
	}
	if w.Width < 1 || w.Width > widgetMaxSide || w.Height < 1 || w.Height > widgetMaxSide {
		return nil, widgetInvalid("width and height must be between 1 and %d pixels, got %dx%d", widgetMaxSide, w.Width, w.Height)
	}

	if in.Timezone != "" {
		if w.UTCOffset, err = parseWidgetTimezone(in.Timezone); err != nil {
			return nil, widgetInvalid("timezone: %v", err)
		}
	}

	w.YAxis = widgetYAxis{Min: in.YAxis.Left.Min, Max: in.YAxis.Left.Max, Label: in.YAxis.Left.Label}
	if w.YAxis.Min != nil && w.YAxis.Max != nil && *w.YAxis.Min >= *w.YAxis.Max {
		return nil, widgetInvalid("yAxis.left.min (%g) must be less than yAxis.left.max (%g)", *w.YAxis.Min, *w.YAxis.Max)
	}
	switch in.Legend.Position {
	case "":
	case "bottom", "right", "hidden":
		w.Legend = in.Legend.Position
	default:
		return nil, widgetInvalid("legend.position %q must be bottom, right or hidden", in.Legend.Position)
	}

	var prev []string
	for i, raw := range in.Metrics {
		m, fields, aerr := parseMetricRow(raw, i, prev, period, stat)
		if aerr != nil {
			return nil, aerr
		}
		prev = fields
		w.Metrics = append(w.Metrics, m)
	}
	labelMetrics(w.Metrics)

	for i, a := range in.Annotations.Horizontal {
		h, aerr := parseHorizontalAnnotation(a, i)
		if aerr != nil {
			return nil, aerr
		}
		if h != nil {
			w.Horizontal = append(w.Horizontal, *h)
		}
	}
	for i, a := range in.Annotations.Vertical {
		v, aerr := parseVerticalAnnotation(a, i, now)
		if aerr != nil {
			return nil, aerr
		}
		if v != nil {
			w.Vertical = append(w.Vertical, *v)
		}
	}
	return w, nil
}

// parseMetricRow parses metrics[i]; prev holds the previous row's resolved positional
// values, which "." (same position) and a leading "..." (all but the values given) repeat.
// It returns the row's own resolved values for the next row.
func parseMetricRow(raw json.RawMessage, i int, prev []string, period int64, stat string) (widgetMetric, []string, *apiError) {
	where := fmt.Sprintf("metrics[%d]", i)
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return widgetMetric{}, nil, widgetInvalid("%s must be an array: %v", where, err)
	}
	var fields []string
	var opts metricOptionsJSON
	for j, e := range elems {
		t := bytes.TrimSpace(e)
		switch {
		case len(t) > 0 && t[0] == '{':
			if j != len(elems)-1 {
				return widgetMetric{}, nil, widgetInvalid("%s: the options object must be the last element", where)
			}
			if err := json.Unmarshal(t, &opts); err != nil {
				return widgetMetric{}, nil, widgetInvalid("%s options: %v", where, err)
			}
		default:
			var s string
			if err := json.Unmarshal(t, &s); err != nil {
				return widgetMetric{}, nil, widgetInvalid("%s[%d] must be a string (namespace, metric name, dimension name or value)", where, j)
			}
			fields = append(fields, s)
		}
	}
	if opts.Expression != "" {
		return widgetMetric{}, nil, widgetInvalid("%s is a metric math expression (%q): the sandbox does not evaluate metric math", where, opts.Expression)
	}

	if len(fields) > 0 && fields[0] == "..." {
		given := fields[1:]
		if len(prev) < len(given) {
			return widgetMetric{}, nil, widgetInvalid("%s: \"...\" repeats the previous row, which has only %d values", where, len(prev))
		}
		fields = append(slices.Clone(prev[:len(prev)-len(given)]), given...)
	}
	for j, f := range fields {
		if f != "." {
			continue
		}
		if j >= len(prev) {
			return widgetMetric{}, nil, widgetInvalid("%s[%d] is \".\" but the previous row has no value at that position", where, j)
		}
		fields[j] = prev[j]
	}
	if len(fields) < 2 || fields[0] == "" || fields[1] == "" {
		return widgetMetric{}, nil, widgetInvalid("%s must start with a namespace and a metric name", where)
	}
	if len(fields)%2 != 0 {
		return widgetMetric{}, nil, widgetInvalid("%s: dimension %q has no value", where, fields[len(fields)-1])
	}

	m := widgetMetric{
		Ref:     MetricRef{Namespace: fields[0], Name: fields[1], Dimensions: map[string]string{}},
		Stat:    stat,
		Period:  period,
		Label:   opts.Label,
		YAxis:   "left",
		ID:      opts.ID,
		Visible: opts.Visible == nil || *opts.Visible,
	}
	for j := 2; j < len(fields); j += 2 {
		m.Ref.Dimensions[fields[j]] = fields[j+1]
	}
	if opts.Stat != nil {
		m.Stat = *opts.Stat
		if _, ok := statFunc(m.Stat); !ok {
			return widgetMetric{}, nil, widgetInvalid("%s: stat %q is not served (Average, Maximum, Minimum, Sum, SampleCount and pNN are)", where, m.Stat)
		}
	}
	if opts.Period != nil {
		m.Period = *opts.Period
		if !validPeriod(m.Period) {
			return widgetMetric{}, nil, widgetInvalid("%s: period %d must be 1, 5, 10, 30 or a multiple of 60", where, m.Period)
		}
	}
	switch opts.YAxis {
	case "", "left":
	case "right":
		m.YAxis = "right"
	default:
		return widgetMetric{}, nil, widgetInvalid("%s: yAxis %q must be left or right", where, opts.YAxis)
	}
	if m.ID != "" && !metricIDRe.MatchString(m.ID) {
		return widgetMetric{}, nil, widgetInvalid("%s: id %q must start with a lower-case letter and contain only letters, numbers and underscores", where, m.ID)
	}
	if opts.Color != "" {
		c, err := parseWidgetColor(opts.Color)
		if err != nil {
			return widgetMetric{}, nil, widgetInvalid("%s: %v", where, err)
		}
		m.Color = c
	}
	return m, fields, nil
}

// labelMetrics gives unlabelled rows CloudWatch's kind of default label: the metric name,
// followed by the dimension values when several rows share that name.
func labelMetrics(ms []widgetMetric) {
	names := map[string]int{}
	for _, m := range ms {
		names[m.Ref.Name]++
	}
	for i := range ms {
		m := &ms[i]
		if m.Label != "" {
			continue
		}
		m.Label = m.Ref.Name
		if names[m.Ref.Name] > 1 && len(m.Ref.Dimensions) > 0 {
			keys := slices.Sorted(maps.Keys(m.Ref.Dimensions))
			vals := make([]string, len(keys))
			for j, k := range keys {
				vals[j] = m.Ref.Dimensions[k]
			}
			m.Label += " " + strings.Join(vals, " ")
		}
	}
}

func parseHorizontalAnnotation(a annotationJSON[float64], i int) (*horizontalAnnotation, *apiError) {
	where := fmt.Sprintf("annotations.horizontal[%d]", i)
	first := a[0]
	if first.Visible != nil && !*first.Visible {
		return nil, nil
	}
	if first.Value == nil {
		return nil, widgetInvalid("%s: value is required", where)
	}
	h := &horizontalAnnotation{Value: *first.Value, Label: first.Label}
	if len(a) == 2 {
		if a[1].Value == nil {
			return nil, widgetInvalid("%s: the band's second value is required", where)
		}
		h.BandTo = a[1].Value
	}
	switch first.Fill {
	case "", "above", "below":
		h.Fill = first.Fill
	default:
		return nil, widgetInvalid("%s: fill %q must be above or below", where, first.Fill)
	}
	if first.Color != "" {
		c, err := parseWidgetColor(first.Color)
		if err != nil {
			return nil, widgetInvalid("%s: %v", where, err)
		}
		h.Color = c
	}
	return h, nil
}

func parseVerticalAnnotation(a annotationJSON[string], i int, now time.Time) (*verticalAnnotation, *apiError) {
	where := fmt.Sprintf("annotations.vertical[%d]", i)
	first := a[0]
	if first.Visible != nil && !*first.Visible {
		return nil, nil
	}
	if first.Value == nil {
		return nil, widgetInvalid("%s: value is required", where)
	}
	at, err := parseWidgetTime(*first.Value, now)
	if err != nil {
		return nil, widgetInvalid("%s: value: %v", where, err)
	}
	v := &verticalAnnotation{At: at, Label: first.Label}
	if len(a) == 2 {
		if a[1].Value == nil {
			return nil, widgetInvalid("%s: the band's second value is required", where)
		}
		to, err := parseWidgetTime(*a[1].Value, now)
		if err != nil {
			return nil, widgetInvalid("%s: the band's second value: %v", where, err)
		}
		v.BandTo = &to
	}
	switch first.Fill {
	case "", "before", "after":
		v.Fill = first.Fill
	default:
		return nil, widgetInvalid("%s: fill %q must be before or after", where, first.Fill)
	}
	if first.Color != "" {
		c, err := parseWidgetColor(first.Color)
		if err != nil {
			return nil, widgetInvalid("%s: %v", where, err)
		}
		v.Color = c
	}
	return v, nil
}

// relativeTimeRe is the relative form of start and end: a negative ISO 8601 duration in
// weeks, days, hours, minutes and seconds ("-PT3H", "-P1D", "-P1DT12H").
var relativeTimeRe = regexp.MustCompile(`^-P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseWidgetTime reads an ISO 8601 timestamp or a relative duration counted back from now.
func parseWidgetTime(s string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(s, "-P") {
		m := relativeTimeRe.FindStringSubmatch(s)
		if m == nil || strings.HasSuffix(s, "T") || s == "-P" {
			return time.Time{}, fmt.Errorf("%q is not a relative time like -PT3H, -PT15M or -P1D", s)
		}
		// Seconds, each term bounded, so no spelling of a long duration overflows.
		const maxSeconds = 10 * 366 * 24 * 3600
		unitSeconds := []int64{7 * 24 * 3600, 24 * 3600, 3600, 60, 1}
		var secs int64
		for k, unit := range unitSeconds {
			if m[k+1] == "" {
				continue
			}
			n, err := strconv.ParseInt(m[k+1], 10, 64)
			if err != nil || n > maxSeconds {
				return time.Time{}, fmt.Errorf("%q is more than ten years back", s)
			}
			secs += n * unit
		}
		if secs > maxSeconds {
			return time.Time{}, fmt.Errorf("%q is more than ten years back", s)
		}
		return now.Add(-time.Duration(secs) * time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an ISO 8601 timestamp (2026-12-05T10:00:00Z) nor a relative time (-PT3H)", s)
	}
	return t.UTC(), nil
}

var timezoneRe = regexp.MustCompile(`^([+-])(\d{2})(\d{2})$`)

// parseWidgetTimezone reads CloudWatch's timezone form "+0130" / "-0800".
func parseWidgetTimezone(s string) (time.Duration, error) {
	m := timezoneRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q must be of the form +HHMM or -HHMM", s)
	}
	h, _ := strconv.Atoi(m[2])
	mm, _ := strconv.Atoi(m[3])
	if h > 14 || mm > 59 {
		return 0, fmt.Errorf("%q is not a UTC offset", s)
	}
	d := time.Duration(h)*time.Hour + time.Duration(mm)*time.Minute
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}

var hexColorRe = regexp.MustCompile(`^#([0-9a-fA-F]{6})$`)

func parseWidgetColor(s string) (color.Color, error) {
	m := hexColorRe.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("color %q must be of the form #rrggbb", s)
	}
	v, _ := strconv.ParseUint(m[1], 16, 32)
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}, nil
}

func (s *Sandbox) cwGetMetricWidgetImage(c *awsCall) (any, *apiError) {
	in, aerr := cborRequest(c)
	if aerr != nil {
		return nil, aerr
	}
	src, ok := cborStr(in, "MetricWidget")
	if !ok || src == "" {
		return nil, cwMissing("The parameter MetricWidget is required.")
	}
	if format, ok := cborStr(in, "OutputFormat"); ok && format != "" && format != "png" {
		return nil, cwInvalid(fmt.Sprintf("The value %s for parameter OutputFormat is not served: the sandbox draws only png.", format))
	}
	now := s.now()
	w, aerr := parseMetricWidget(src, now)
	if aerr != nil {
		return nil, aerr
	}
	total := 0
	for _, m := range w.Metrics {
		if m.Visible {
			total += int(w.End.Sub(w.Start) / (time.Duration(m.Period) * time.Second))
		}
	}
	if total > widgetMaxPoints {
		return nil, widgetInvalid("the metrics would draw about %d datapoints; the sandbox draws at most %d (raise period or shorten the range)", total, widgetMaxPoints)
	}
	series := make([][]Datapoint, len(w.Metrics))
	for i, m := range w.Metrics {
		if sr, ok := s.series[m.Ref.key()]; ok && m.Visible {
			series[i] = sr.aggregate(w.Start, w.End, now, s.loadedAt, m.Period, m.Stat)
		}
	}
	// Drawing a large picture takes a while (a few hundred milliseconds at 2000x2000) and
	// reads nothing of the sandbox's state: the datapoints above are copies. Let the other
	// calls and the simulation go on meanwhile; serveAWS unlocks after this handler returns.
	s.mu.Unlock()
	img, err := renderWidget(w, series)
	s.mu.Lock()
	if err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Code: "InternalServiceFault", QueryCode: "InternalServiceError",
			Message: "sandbox: draw the metric widget: " + err.Error(), Receiver: true}
	}
	return cbor.Map{"MetricWidgetImage": cbor.Slice(img)}, nil
}

// widgetPalette is CloudWatch's default series colors, in order.
var widgetPalette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

// annotationDefaultColor is what CloudWatch uses for annotations without a color.
var annotationDefaultColor = color.RGBA{0x7f, 0x7f, 0x7f, 0xff}

func widgetFont(size vg.Length) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
}

func widgetTextStyle(size vg.Length, c color.Color) text.Style {
	return text.Style{Color: c, Font: widgetFont(size), Handler: plot.DefaultTextHandler}
}

// renderWidget draws w with series[i] the datapoints of w.Metrics[i] and returns the PNG.
func renderWidget(w *metricWidget, series [][]Datapoint) (encoded []byte, err error) {
	// The plot library panics on geometry it cannot lay out (a canvas too small for its
	// labels); the handler runs with the sandbox's lock held, so a panic must become an error.
	defer func() {
		if r := recover(); r != nil {
			encoded, err = nil, fmt.Errorf("%v", r)
		}
	}()
	zone := time.FixedZone(w.zoneName(), int(w.UTCOffset/time.Second))

	p := plot.New()
	p.Title.Text = w.Title
	p.Title.TextStyle.Font = widgetFont(11)
	p.Title.Padding = vg.Points(6)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Tick.Label.Font = widgetFont(8)
		ax.Label.TextStyle.Font = widgetFont(9)
		ax.Tick.Label.Color = color.Gray{0x40}
	}
	p.Y.Label.Text = w.YAxis.Label
	p.Add(plotter.NewGrid())

	legend := plot.NewLegend()
	legend.TextStyle = widgetTextStyle(8, color.Black)
	legend.Top, legend.Left = true, true
	legend.Padding = vg.Points(2)
	legendEntries := 0

	hasData := false
	for i, m := range w.Metrics {
		if !m.Visible {
			continue
		}
		lineStyle := draw.LineStyle{Color: m.Color, Width: vg.Points(1.5)}
		if lineStyle.Color == nil {
			lineStyle.Color = widgetPalette[i%len(widgetPalette)]
		}
		for _, seg := range segments(series[i], m.Period) {
			hasData = true
			if len(seg) == 1 {
				sc, err := plotter.NewScatter(seg)
				if err != nil {
					return nil, err
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: lineStyle.Color, Radius: vg.Points(1.5), Shape: draw.CircleGlyph{}}
				p.Add(sc)
				continue
			}
			l, err := plotter.NewLine(seg)
			if err != nil {
				return nil, err
			}
			l.LineStyle = lineStyle
			p.Add(l)
		}
		legend.Add(m.Label, &plotter.Line{LineStyle: lineStyle})
		legendEntries++
	}
	for _, h := range w.Horizontal {
		r := horizontalRule{a: h, color: orColor(h.Color, annotationDefaultColor)}
		p.Add(r)
		if h.Label != "" {
			legend.Add(h.Label, r)
			legendEntries++
		}
	}
	for _, v := range w.Vertical {
		p.Add(verticalRule{a: v, color: orColor(v.Color, annotationDefaultColor)})
	}
	if !hasData {
		p.Add(noDataNote{})
		if math.IsInf(p.Y.Min, 0) {
			p.Y.Min, p.Y.Max = 0, 1
		}
	}

	// The window, not the data, is the X range: a metric that starts late still shows where
	// the window begins.
	p.X.Min, p.X.Max = float64(w.Start.Unix()), float64(w.End.Unix())
	// Headroom, so a line or annotation at the extreme does not sit on the frame with its
	// label cut off.
	if span := p.Y.Max - p.Y.Min; span > 0 && !math.IsInf(span, 0) {
		p.Y.Min -= span * 0.04
		p.Y.Max += span * 0.06
	}
	if w.YAxis.Min != nil {
		p.Y.Min = *w.YAxis.Min
	}
	if w.YAxis.Max != nil {
		p.Y.Max = *w.YAxis.Max
	}
	if p.Y.Min > p.Y.Max { // only one bound given, on the far side of the data
		p.Y.Min, p.Y.Max = p.Y.Max, p.Y.Min
	}
	layout := "15:04"
	if w.End.Sub(w.Start) > 24*time.Hour {
		layout = "01/02 15:04"
	}
	p.X.Tick.Marker = plot.TimeTicks{
		Ticker: timeTicker{zone: zone, maxLabels: max(2, w.Width/90)},
		Format: layout,
		Time:   func(t float64) time.Time { return time.Unix(int64(t), 0).In(zone) },
	}

	img := image.NewRGBA(image.Rect(0, 0, w.Width, w.Height))
	canvas := vgimg.NewWith(vgimg.UseImage(img), vgimg.UseDPI(widgetDPI))
	whole := draw.New(canvas)
	area := draw.Crop(whole, vg.Points(3), -vg.Points(9), vg.Points(3), -vg.Points(4))
	if w.Legend != "hidden" && legendEntries > 0 {
		box := legend.Rectangle(area).Size()
		switch w.Legend {
		case "right":
			width := min(box.X+vg.Points(8), area.Size().X/2)
			strip := area
			strip.Min.X = area.Max.X - width + vg.Points(8)
			area.Max.X -= width
			legend.Draw(strip)
		default:
			height := min(box.Y+vg.Points(6), area.Size().Y/2)
			strip := area
			strip.Max.Y = area.Min.Y + height
			area.Min.Y += height
			legend.Draw(strip)
		}
	}
	p.Draw(area)

	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: canvas}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (w *metricWidget) zoneName() string {
	if w.UTCOffset == 0 {
		return "UTC"
	}
	sign, d := "+", w.UTCOffset
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("UTC%s%02d%02d", sign, int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func orColor(c, def color.Color) color.Color {
	if c == nil {
		return def
	}
	return c
}

// segments splits datapoints into runs of consecutive periods, so a gap in the data shows as
// a gap in the line rather than a straight line across it.
func segments(points []Datapoint, period int64) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	var last time.Time
	for _, d := range points {
		if len(cur) > 0 && d.Time.Sub(last) > time.Duration(period)*time.Second {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, plotter.XY{X: float64(d.Time.Unix()), Y: d.Value})
		last = d.Time
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// timeTicker puts time-axis ticks on round clock times (every 5, 10, 15, 30 minutes, hours,
// ...) in zone, rather than on round numbers of Unix seconds.
type timeTicker struct {
	zone      *time.Location
	maxLabels int
}

var tickSteps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour,
}

func (t timeTicker) Ticks(lo, hi float64) []plot.Tick {
	span := time.Duration((hi - lo) * float64(time.Second))
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= time.Duration(t.maxLabels) {
			step = s
			break
		}
	}
	_, offset := time.Unix(int64(lo), 0).In(t.zone).Zone()
	stepSec := int64(step / time.Second)
	// The first tick at or after lo on a multiple of step in local time.
	first := int64(math.Ceil(lo))
	first += floorMod(-(first + int64(offset)), stepSec)
	var ticks []plot.Tick
	for u := first; float64(u) <= hi; u += stepSec {
		// The label is filled in by plot.TimeTicks; a non-empty placeholder marks it major.
		ticks = append(ticks, plot.Tick{Value: float64(u), Label: "major"})
	}
	return ticks
}

// horizontalRule draws a horizontal annotation across the data area.
type horizontalRule struct {
	a     horizontalAnnotation
	color color.Color
}

func (r horizontalRule) lineStyle() draw.LineStyle {
	return draw.LineStyle{Color: r.color, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
}

func (r horizontalRule) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	y := trY(r.a.Value)
	switch {
	case r.a.BandTo != nil:
		fillRect(c, c.Min.X, c.Max.X, y, trY(*r.a.BandTo), r.color)
		if y2 := trY(*r.a.BandTo); c.ContainsY(y2) {
			c.StrokeLine2(r.lineStyle(), c.Min.X, y2, c.Max.X, y2)
		}
	case r.a.Fill == "above":
		fillRect(c, c.Min.X, c.Max.X, y, c.Max.Y, r.color)
	case r.a.Fill == "below":
		fillRect(c, c.Min.X, c.Max.X, c.Min.Y, y, r.color)
	}
	if !c.ContainsY(y) {
		return
	}
	c.StrokeLine2(r.lineStyle(), c.Min.X, y, c.Max.X, y)
	if r.a.Label != "" {
		sty := widgetTextStyle(7, r.color)
		// At the left edge: the marks of recent actions, labelled at the top, sit on the right.
		sty.XAlign, sty.YAlign = draw.XLeft, draw.YBottom
		c.FillText(sty, vg.Point{X: c.Min.X + vg.Points(2), Y: y + vg.Points(1)}, r.a.Label)
	}
}

// DataRange makes the Y axis reach the annotation, as CloudWatch's does: a threshold far
// above the data is still drawn.
func (r horizontalRule) DataRange() (xmin, xmax, ymin, ymax float64) {
	lo, hi := r.a.Value, r.a.Value
	if r.a.BandTo != nil {
		lo, hi = min(lo, *r.a.BandTo), max(hi, *r.a.BandTo)
	}
	return math.Inf(1), math.Inf(-1), lo, hi
}

func (r horizontalRule) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(r.lineStyle(), c.Min.X, y, c.Max.X, y)
}

// verticalRule draws a vertical annotation with its label near the top.
type verticalRule struct {
	a     verticalAnnotation
	color color.Color
}

func (r verticalRule) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(float64(r.a.At.Unix()))
	switch {
	case r.a.BandTo != nil:
		fillRect(c, x, trX(float64(r.a.BandTo.Unix())), c.Min.Y, c.Max.Y, r.color)
	case r.a.Fill == "before":
		fillRect(c, c.Min.X, x, c.Min.Y, c.Max.Y, r.color)
	case r.a.Fill == "after":
		fillRect(c, x, c.Max.X, c.Min.Y, c.Max.Y, r.color)
	}
	if !c.ContainsX(x) {
		return
	}
	style := draw.LineStyle{Color: r.color, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	c.StrokeLine2(style, x, c.Min.Y, x, c.Max.Y)
	if r.a.Label != "" {
		sty := widgetTextStyle(7, r.color)
		sty.XAlign, sty.YAlign = draw.XLeft, draw.YTop
		// Past the middle the label would run off the right edge: put it left of the line.
		pos := x + vg.Points(2)
		if x > c.Center().X {
			sty.XAlign = draw.XRight
			pos = x - vg.Points(2)
		}
		c.FillText(sty, vg.Point{X: pos, Y: c.Max.Y - vg.Points(1)}, r.a.Label)
	}
}

// fillRect shades the part of [x0,x1]x[y0,y1] inside c with a translucent col.
func fillRect(c draw.Canvas, x0, x1, y0, y1 vg.Length, col color.Color) {
	r, g, b, _ := col.RGBA()
	shade := color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 0x30}
	pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
	if clipped := c.ClipPolygonXY(pts); len(clipped) > 0 {
		c.FillPolygon(shade, clipped)
	}
}

// noDataNote says so in the middle of an empty plot, as CloudWatch does.
type noDataNote struct{}

func (noDataNote) Plot(c draw.Canvas, _ *plot.Plot) {
	sty := widgetTextStyle(10, color.Gray{0x60})
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
	c.FillText(sty, c.Center(), "No data available.")
}
