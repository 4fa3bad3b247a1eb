package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Lister lists an environment's incidents opened in [from, to) (pkg/ledger IncidentHistory).
type Lister interface {
	List(ctx context.Context, env string, from, to time.Time) ([]incident.Incident, error)
}

// DefaultPeriod is the digest's period when a request names none: the week the schedule
// runs it for.
const DefaultPeriod = 7 * 24 * time.Hour

// Digester computes, posts and counts one environment's digest.
type Digester struct {
	Environment string
	Incidents   Lister
	// Deliver posts the report like any other (SNS, Slack, Discord); nil: not posted.
	Deliver func(ctx context.Context, r report.Report) []report.Sink
	Metrics io.Writer // EMF lines (stdout in Lambda); nil: none
	Log     *slog.Logger
	Now     func() time.Time
}

// Request is the digest function's input: an EventBridge scheduled event (whose "time" ends
// the period) or an on-demand {"from": …, "to": …}; whatever is absent defaults to the
// DefaultPeriod ending now.
type Request struct {
	Time time.Time `json:"time,omitzero"`
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
}

// Period is the request's [from, to).
func (q Request) Period(now time.Time) (time.Time, time.Time, error) {
	to := q.To
	if to.IsZero() {
		to = q.Time
	}
	if to.IsZero() {
		to = now
	}
	from := q.From
	if from.IsZero() {
		from = to.Add(-DefaultPeriod)
	}
	if !to.After(from) {
		return time.Time{}, time.Time{}, fmt.Errorf("digest period: from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

// Handle is the Lambda entry point body: the payload is a Request.
func (g Digester) Handle(ctx context.Context, payload json.RawMessage) (report.Result, error) {
	var q Request
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &q); err != nil {
			return report.Result{}, fmt.Errorf("digest request: %w", err)
		}
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	from, to, err := q.Period(now())
	if err != nil {
		return report.Result{}, err
	}
	rep, err := g.Run(ctx, from, to)
	return rep.Result, err
}

// Run computes the digest of [from, to), emits its metrics and posts it.
func (g Digester) Run(ctx context.Context, from, to time.Time) (report.Report, error) {
	incs, err := g.Incidents.List(ctx, g.Environment, from, to)
	if err != nil {
		return report.Report{}, fmt.Errorf("digest of %s: %w", g.Environment, err)
	}
	d := Compute(g.Environment, from, to, incs)
	rep := d.Report()
	if g.Metrics != nil {
		if err := d.EmitMetrics(g.Metrics); err != nil && g.Log != nil {
			g.Log.ErrorContext(ctx, "could not write the digest's metrics", "error", err.Error())
		}
	}
	if g.Deliver != nil {
		rep.Result.Sinks = append(rep.Result.Sinks, g.Deliver(ctx, rep)...)
	}
	if g.Log != nil {
		g.Log.InfoContext(ctx, "digest", "environment", g.Environment, "incidents", d.Incidents, "summary", rep.Result.Finding.Summary)
	}
	return rep, nil
}
