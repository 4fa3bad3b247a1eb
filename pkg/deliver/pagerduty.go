package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// DefaultPagerDutyURL is the Events API v2 enqueue endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDutySink sends Events API v2 events: a trigger when a report escalates, a resolve
// when the alarm it paged for has recovered. The pipeline may call Trigger and Resolve
// itself, or use it as a Destination, where Send follows r.Result.Escalation.
type PagerDutySink struct {
	hook       webhook
	routingKey string
}

// NewPagerDutySink sends with the integration's routing key (a secret: it never appears in
// an error) to eventsURL; an empty eventsURL means DefaultPagerDutyURL. A nil client means a
// plain &http.Client{}; deadlines come from the context.
func NewPagerDutySink(routingKey, eventsURL string, client *http.Client) *PagerDutySink {
	if eventsURL == "" {
		eventsURL = DefaultPagerDutyURL
	}
	return &PagerDutySink{
		hook:       webhook{what: "pagerduty event", url: eventsURL, client: client, secrets: []string{routingKey}},
		routingKey: routingKey,
	}
}

// Trigger opens (or adds to) the PagerDuty incident with dedupKey.
func (p *PagerDutySink) Trigger(ctx context.Context, r report.Report, dedupKey string) error {
	if dedupKey == "" {
		return fmt.Errorf("pagerduty trigger: no dedup key")
	}
	ev := render.PagerDutyTrigger(r, dedupKey)
	ev.RoutingKey = p.routingKey
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("pagerduty trigger: encode event: %w", err)
	}
	if err := p.send(ctx, body); err != nil {
		return fmt.Errorf("pagerduty trigger: %w", err)
	}
	return nil
}

// Resolve resolves the incident with dedupKey.
func (p *PagerDutySink) Resolve(ctx context.Context, dedupKey string) error {
	if dedupKey == "" {
		return fmt.Errorf("pagerduty resolve: no dedup key")
	}
	ev := render.PagerDutyResolve(dedupKey)
	ev.RoutingKey = p.routingKey
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("pagerduty resolve: encode event: %w", err)
	}
	if err := p.send(ctx, body); err != nil {
		return fmt.Errorf("pagerduty resolve: %w", err)
	}
	return nil
}

func (p *PagerDutySink) send(ctx context.Context, body []byte) error {
	if p.routingKey == "" {
		return fmt.Errorf("no routing key configured")
	}
	return p.hook.post(ctx, body)
}
