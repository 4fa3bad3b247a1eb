package picture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// WidgetAPI is the one CloudWatch operation the painter uses.
type WidgetAPI interface {
	GetMetricWidgetImage(ctx context.Context, in *cloudwatch.GetMetricWidgetImageInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricWidgetImageOutput, error)
}

var _ WidgetAPI = (*cloudwatch.Client)(nil)

// Keeper stores a picture where a link can reach it and returns that link.
type Keeper interface {
	Keep(ctx context.Context, key string, png []byte) (url string, err error)
}

// Painter draws a report's picture within its own time budget.
type Painter struct {
	CloudWatch WidgetAPI
	// Related names the metrics drawn beside the alarm's (see Related); nil: none.
	Related func(alarm.Alarm) []Metric
	// Keeper, when set, stores each picture for the sinks that can only link one (a Slack
	// incoming webhook, e-mail). Nil: those sinks go without.
	Keeper Keeper
	// Timeout bounds drawing and storing together (default DefaultTimeout).
	Timeout time.Duration
	// Reserve is the time left to the report after the picture (default DefaultReserve): a
	// picture is not started when less than Reserve plus a useful minimum remains.
	Reserve time.Duration
}

// Budget defaults. GetMetricWidgetImage answers in well under a second for a day of
// one-minute data; three seconds leaves room for a slow answer without holding the report.
const (
	DefaultTimeout = 3 * time.Second
	DefaultReserve = 2 * time.Second
	minBudget      = 300 * time.Millisecond
	// MaxBytes is the largest picture kept: Discord refuses webhook files over 10 MiB, and a
	// graph is tens of kilobytes, so anything near this is not a graph.
	MaxBytes = 8 << 20
	// FileName is the attachment's name in every sink.
	FileName = "graph.png"
)

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// Paint draws s. It never fails the report: without a picture it says why in the note.
func (p *Painter) Paint(ctx context.Context, s Subject) (*report.Picture, report.PictureNote) {
	start := time.Now()
	note := func(err error) report.PictureNote {
		return report.PictureNote{MS: time.Since(start).Milliseconds(), Error: err.Error()}
	}
	if s.Related == nil && p.Related != nil {
		s.Related = p.Related(s.Alarm)
	}
	spec, err := Plan(s)
	if err != nil {
		return nil, note(err)
	}
	widget, err := spec.WidgetJSON()
	if err != nil {
		return nil, note(fmt.Errorf("widget: %w", err))
	}
	budget, err := p.budget(ctx)
	if err != nil {
		return nil, note(err)
	}
	pctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	out, err := p.CloudWatch.GetMetricWidgetImage(pctx, &cloudwatch.GetMetricWidgetImageInput{
		MetricWidget: aws.String(string(widget)), OutputFormat: aws.String("png"),
	}, func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 }) // a retry would not fit the budget
	if err != nil {
		if pctx.Err() != nil && ctx.Err() == nil {
			return nil, note(fmt.Errorf("GetMetricWidgetImage: no answer within %s", budget))
		}
		return nil, note(fmt.Errorf("GetMetricWidgetImage: %w", err))
	}
	png := out.MetricWidgetImage
	switch {
	case len(png) > MaxBytes:
		return nil, note(fmt.Errorf("GetMetricWidgetImage: %d bytes is more than a graph (limit %d)", len(png), MaxBytes))
	case !bytes.HasPrefix(png, pngMagic):
		return nil, note(errors.New("GetMetricWidgetImage: the answer is not a PNG"))
	}
	pic := &report.Picture{PNG: png, Name: FileName, Title: spec.Describe()}
	res := report.PictureNote{Drawn: true, Bytes: len(png), Marks: len(spec.Marks)}
	if p.Keeper != nil {
		url, err := p.Keeper.Keep(pctx, Key(s), png)
		if err != nil {
			res.Error = "not stored for links: " + err.Error()
		} else {
			pic.URL, res.Stored = url, true
		}
	}
	res.MS = time.Since(start).Milliseconds()
	return pic, res
}

// budget is the time the picture may take: Timeout, cut so that Reserve is left before ctx's
// deadline; an error when too little is left to be worth starting.
func (p *Painter) budget(ctx context.Context) (time.Duration, error) {
	budget := p.Timeout
	if budget <= 0 {
		budget = DefaultTimeout
	}
	reserve := p.Reserve
	if reserve <= 0 {
		reserve = DefaultReserve
	}
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)-reserve)
	}
	if budget < minBudget {
		return 0, errors.New("too little time left before the report to draw the picture")
	}
	return budget, nil
}

// Key is where a picture is stored: by environment and incident (or alarm), then time, so a
// bucket listing reads as the incidents' history.
func Key(s Subject) string {
	group := safeKey(s.Alarm.Name)
	if s.Incident != nil && s.Incident.ID != "" {
		group = safeKey(s.Incident.ID)
	}
	env := safeKey(s.Environment)
	if env == "" {
		env = "unknown"
	}
	if group == "" {
		group = "no-alarm"
	}
	return "pictures/" + env + "/" + group + "/" + s.Now.UTC().Format("20060102T150405.000000000Z") + ".png"
}

// safeKey keeps the characters S3's guidelines call safe in object keys.
func safeKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, s)
}

// LazyWidgetAPI makes its client on the first picture rather than at cold start.
type LazyWidgetAPI struct {
	New    func() WidgetAPI
	once   sync.Once
	client WidgetAPI
}

// GetMetricWidgetImage implements WidgetAPI.
func (l *LazyWidgetAPI) GetMetricWidgetImage(ctx context.Context, in *cloudwatch.GetMetricWidgetImageInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricWidgetImageOutput, error) {
	l.once.Do(func() { l.client = l.New() })
	return l.client.GetMetricWidgetImage(ctx, in, optFns...)
}
