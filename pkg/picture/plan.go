package picture

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Subject is what a report's picture is about: the alarm, its incident (nil: the alarm
// alone) and the actions of the invocation that reports, which the incident's timeline does
// not hold yet (they are recorded after the report).
type Subject struct {
	Environment string
	Alarm       alarm.Alarm
	Incident    *incident.Incident
	Actions     []report.Action
	// Related are the metrics that explain the alarm's, drawn on the right axis.
	Related []Metric
	Now     time.Time
}

// Window bounds.
const (
	// lead is how much of the metric before the alarm fired the graph shows: the climb that
	// led to it.
	lead = 30 * time.Minute
	// minWindow keeps a fresh alarm's graph from being a few points wide.
	minWindow = time.Hour
	// maxWindow is the longest graph: an incident's default maximum age.
	maxWindow = 24 * time.Hour
	// maxPoints bounds the datapoints per line; the period grows to stay under it.
	maxPoints = 360
	// maxMarks keeps the graph readable: the latest actions are marked.
	maxMarks = 12
)

// ErrNoMetric says the alarm names no metric to draw (a composite alarm, or a notification
// without its trigger).
var ErrNoMetric = errors.New("the alarm names no metric to draw")

// Plan is the graph for s: the alarm's metric (each metric the alarm reads, for a metric-math
// alarm) and the related ones, from a little before the alarm or its incident began until
// now, the threshold, and a mark per action taken, tried or (dry-run) proposed.
func Plan(s Subject) (Spec, error) {
	a := s.Alarm
	var lines []Metric
	for _, m := range a.Metrics {
		if m.Expression != "" || m.MetricName == "" {
			continue
		}
		lines = append(lines, Metric{Namespace: m.Namespace, Name: m.MetricName, Dimensions: m.Dimensions, Stat: orStat(m.Stat), Label: m.MetricName})
	}
	if len(lines) == 0 && a.MetricName != "" {
		lines = append(lines, Metric{Namespace: a.Namespace, Name: a.MetricName, Dimensions: a.Dimensions, Stat: "Average", Label: a.MetricName})
	}
	if a.Composite || len(lines) == 0 {
		return Spec{}, ErrNoMetric
	}
	for _, r := range s.Related {
		r.Right = true
		lines = append(lines, r)
	}

	end := s.Now.UTC().Truncate(time.Minute).Add(time.Minute) // the current minute included
	begin := a.ChangedAt
	if s.Incident != nil && !s.Incident.OpenedAt.IsZero() && (begin.IsZero() || s.Incident.OpenedAt.Before(begin)) {
		begin = s.Incident.OpenedAt
	}
	if begin.IsZero() || begin.After(end) {
		begin = end
	}
	start := begin.UTC().Truncate(time.Minute).Add(-lead)
	if end.Sub(start) < minWindow {
		start = end.Add(-minWindow)
	}
	if end.Sub(start) > maxWindow {
		start = end.Add(-maxWindow)
	}

	spec := Spec{
		Title:   a.Name,
		Metrics: lines,
		Start:   start, End: end,
		Period:    period(a.Period, end.Sub(start)),
		Threshold: &Threshold{Value: a.Threshold, Label: "threshold " + strconv.FormatFloat(a.Threshold, 'f', -1, 64)},
		Marks:     marks(s, start, end),
		Width:     DefaultWidth, Height: DefaultHeight,
	}
	return spec, nil
}

// period is the alarm's own period (at least a minute, in whole minutes), longer when the
// window would otherwise hold more than maxPoints datapoints.
func period(alarmPeriod int64, window time.Duration) int64 {
	p := max(alarmPeriod, 60)
	p = (p + 59) / 60 * 60
	for int64(window/time.Second)/p > maxPoints {
		p += 60
	}
	return p
}

// marks are the incident's actions in the window, then this invocation's (at Now): the ones
// that ran (done, failed part-way or not) and the ones a dry-run proposed. Skipped actions
// changed nothing and are not marked.
func marks(s Subject, start, end time.Time) []Mark {
	var out []Mark
	add := func(at time.Time, kind, target, outcome string) {
		verb, ok := markVerb(outcome)
		if !ok || at.Before(start) || at.After(end) {
			return
		}
		label := strings.TrimSpace(verb + " " + KindWord(kind) + " " + shortTarget(s.Environment, target) + " " + at.UTC().Format("15:04"))
		out = append(out, Mark{At: at.UTC(), Label: label})
	}
	if s.Incident != nil {
		for _, e := range s.Incident.Timeline {
			if e.Kind == incident.KindAction && e.Action != nil {
				add(e.At, e.Action.Kind, e.Action.Target, e.Action.Outcome)
			}
		}
	}
	for _, act := range s.Actions {
		add(s.Now, act.Kind, act.Target, string(act.Outcome))
	}
	if len(out) > maxMarks {
		out = out[len(out)-maxMarks:]
	}
	return out
}

// markVerb is the prefix an outcome gives its mark ("" for one that ran), and whether the
// outcome is marked at all.
func markVerb(outcome string) (string, bool) {
	switch outcome {
	case string(report.OutcomeDone):
		return "", true
	case string(report.OutcomeFailed):
		return "failed", true
	case string(report.OutcomeDryRun):
		return "would", true
	}
	return "", false
}

// KindWord is the short word an action kind is marked with.
func KindWord(kind string) string {
	switch kind {
	case "force-new-deployment":
		return "restart"
	case "rollback":
		return "rollback"
	case "raise-task-memory":
		return "raise memory"
	case "scale-service":
		return "scale"
	case "replay":
		return "replay"
	case "park":
		return "park"
	case "approval":
		return "approved"
	}
	return kind
}

// shortTarget drops the environment's naming prefix ("arrakis-staging-ingestor" is
// "ingestor" on staging's graph).
func shortTarget(env, target string) string {
	if env != "" {
		if rest, ok := strings.CutPrefix(target, "arrakis-"+env+"-"); ok && rest != "" {
			return rest
		}
	}
	return target
}

func orStat(stat string) string {
	if stat == "" {
		return "Average"
	}
	return stat
}

// Describe is the picture's one-line title for a report: what it shows.
func (s Spec) Describe() string {
	out := s.Title
	if s.Threshold != nil {
		out += ", threshold " + strconv.FormatFloat(s.Threshold.Value, 'f', -1, 64)
	}
	switch n := len(s.Marks); n {
	case 0:
	case 1:
		out += ", 1 action marked"
	default:
		out += fmt.Sprintf(", %d actions marked", n)
	}
	return out + fmt.Sprintf(" (%s to %s UTC)", s.Start.UTC().Format("15:04"), s.End.UTC().Format("15:04"))
}
