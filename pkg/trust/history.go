package trust

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/metrics"
)

// ServiceReader reads what the judge needs of one ECS service as it stands now
// (pkg/trust/trustecs reads it with pkg/ecs: this package does not link the ECS client, so a
// function that reads no service, dlq, does not pay for its start-up).
type ServiceReader interface {
	ServiceHistory(ctx context.Context, name string) (ServiceHistory, error)
}

// QueueDepths reads metric series (pkg/metrics Client.Fetch): the dead-letter queue's depth.
type QueueDepths interface {
	Fetch(ctx context.Context, start, end time.Time, qs ...metrics.Query) (map[string]metrics.Series, error)
}

// ECSHistories reads, at an incident's close, the history of each of its actions' targets:
// the ECS service as it stands (deployments, events, desired count) for a service the
// incident recorded a baseline of, and the dead-letter queue's depth over the incident (its
// drops are the moves out of it: nothing consumes a DLQ) when Depths and DLQ are set.
type ECSHistories struct {
	ECS ServiceReader // nil: the function does not read ECS, so service targets are unknown
	// Depths reads the DLQ's depth (AWS/AmazonMQ MessageCount of Broker, VirtualHost, DLQ).
	Depths                   QueueDepths
	Broker, VirtualHost, DLQ string
	// Timeout bounds all the reads together (default DefaultHistoryTimeout): the close runs
	// inside an invocation.
	Timeout time.Duration
}

// NewECSHistories is the judge at close a function wires: services read with svc (nil: this
// function does not read ECS), the environment's DLQ depth with depths.
func NewECSHistories(c config.Config, svc ServiceReader, depths QueueDepths) ECSHistories {
	return ECSHistories{ECS: svc, Depths: depths, Broker: c.Broker, VirtualHost: c.VirtualHost, DLQ: c.DLQ}
}

// DefaultHistoryTimeout bounds the reads of one close.
const DefaultHistoryTimeout = 3 * time.Second

// Agreements judges a closed incident's actions against their targets' histories, read now
// (playbook.Agreements).
func (h ECSHistories) Agreements(ctx context.Context, inc incident.Incident) []incident.Agreement {
	if len(Actions(inc)) == 0 {
		return nil
	}
	return Judge(inc, h.Histories(ctx, inc))
}

// Histories returns the history of each target of inc's judged actions; a read that fails
// or times out gives an unreadable history with the error.
func (h ECSHistories) Histories(ctx context.Context, inc incident.Incident) map[string]History {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHistoryTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := map[string]History{}
	for _, target := range Targets(inc) {
		if target == h.DLQ && h.DLQ != "" && h.Depths != nil {
			out[target] = h.queue(ctx, inc, target, timeout)
			continue
		}
		_, isService := Baseline(inc, target)
		switch {
		case !isService && target == h.DLQ:
			out[target] = History{Target: target, Unreadable: "the depth of " + target + " is not read by this function"}
			continue
		case !isService:
			out[target] = History{Target: target, Unreadable: "no diagnosis recorded the state of " + target + " to compare with"}
			continue
		case h.ECS == nil:
			out[target] = History{Target: target, Unreadable: "this function does not read ECS service " + target}
			continue
		}
		sh, err := h.ECS.ServiceHistory(ctx, target)
		if err != nil {
			why := err.Error()
			if errors.Is(err, context.DeadlineExceeded) {
				why = "reading service " + target + " took longer than " + timeout.String()
			}
			out[target] = History{Target: target, Unreadable: why}
			continue
		}
		out[target] = History{Target: target, Service: &sh}
	}
	return out
}

// queue reads the DLQ's depth from the incident's opening until now and turns its drops into
// moves.
func (h ECSHistories) queue(ctx context.Context, inc incident.Incident, target string, timeout time.Duration) History {
	end := time.Now()
	if !inc.ClosedAt.IsZero() {
		end = inc.ClosedAt
	}
	series, err := h.Depths.Fetch(ctx, inc.OpenedAt.Add(-time.Minute), end.Add(time.Minute), metrics.QueueDepth(h.Broker, h.VirtualHost, target))
	if err != nil {
		why := err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			why = "reading the depth of " + target + " took longer than " + timeout.String()
		}
		return History{Target: target, Unreadable: why}
	}
	depth := series["depth"]
	if depth.Present() < 2 {
		return History{Target: target, Unreadable: "CloudWatch has too few datapoints of " + target + "'s depth to see moves"}
	}
	return History{Target: target, Queue: &QueueHistory{Moves: MovesFromDepths(depth.Points)}}
}

// MovesFromDepths reads moves out of a dead-letter queue from its depth, one point a minute:
// nothing consumes a DLQ, so each drop is messages moved out (replayed, parked or purged, by
// us or by someone), at the time of the point that shows it. A gap compares the points around
// it. A minute in which messages both arrive and leave shows only its net drop, so moves are
// at least what is returned. Pure.
func MovesFromDepths(points []metrics.Point) []Move {
	var out []Move
	prev, have := 0.0, false
	for _, p := range points {
		if math.IsNaN(p.V) {
			continue
		}
		if have && p.V < prev {
			if n := int(math.Round(prev - p.V)); n > 0 {
				out = append(out, Move{At: p.T, Messages: n})
			}
		}
		prev, have = p.V, true
	}
	return out
}
