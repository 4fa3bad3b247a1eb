package report

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// DefaultPagerDutyURL is the Events API v2 enqueue endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty limits and the bounds kept under them (the whole event may be 512 KB).
const (
	pdMaxSummary    = 1024
	pdMaxDedupKey   = 255
	pdEvidenceLines = 50
	pdTextCap       = 1000
	pdMaxLinks      = 10
	pdMaxActions    = 100
)

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

var _ Destination = (*PagerDutySink)(nil)

// Name implements Destination.
func (p *PagerDutySink) Name() string { return "pagerduty" }

func (p *PagerDutySink) secrets() []string { return p.hook.secrets }

// Send triggers an incident when r.Result.Escalation says paged, resolves it when it says
// resolved, and otherwise returns ErrNothingToSend. The dedup key is the escalation's, or
// DedupKey(r.Result) when it has none, so trigger and resolve of one alarm always meet.
func (p *PagerDutySink) Send(ctx context.Context, r Report) error {
	e := r.Result.Escalation
	if e == nil || (!e.Paged && !e.Resolved) {
		return ErrNothingToSend
	}
	key := e.DedupKey
	if key == "" {
		key = DedupKey(r.Result)
	}
	if e.Resolved {
		return p.Resolve(ctx, key)
	}
	return p.Trigger(ctx, r, key)
}

// DedupKey is the PagerDuty dedup key of an alarm: one incident per alarm and environment,
// which the alarm's ALARM transition opens and its OK transition resolves.
func DedupKey(res Result) string {
	name := res.Alarm.Name
	if name == "" {
		name = res.Function
	}
	return cutBytes("gp-remediation/"+res.Environment+"/"+name, pdMaxDedupKey)
}

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
	Client      string     `json:"client,omitempty"`
}

type pdPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Trigger opens (or adds to) the incident with dedupKey for r: summary is the headline
// (cut to PagerDuty's 1024), source the alarm, component the first action's target,
// group the environment, class the finding code; custom_details carry the finding, the
// actions and the verification; links are the report's console links.
func (p *PagerDutySink) Trigger(ctx context.Context, r Report, dedupKey string) error {
	if dedupKey == "" {
		return fmt.Errorf("pagerduty trigger: no dedup key")
	}
	body, err := json.Marshal(p.triggerEvent(r, dedupKey))
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
	body, err := json.Marshal(pdEvent{RoutingKey: p.routingKey, EventAction: "resolve", DedupKey: cutBytes(dedupKey, pdMaxDedupKey)})
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

func (p *PagerDutySink) triggerEvent(r Report, dedupKey string) pdEvent {
	v := newView(r)
	source := v.alarm.Name
	if source == "" {
		source = "gp-remediation " + v.fn
	}
	payload := &pdPayload{
		Summary:  truncU16(v.headline, pdMaxSummary),
		Source:   truncU16(source, 255),
		Severity: pdSeverity(v),
		Group:    truncU16(v.env, 255),
		Class:    truncU16(v.code, 255),
		CustomDetails: map[string]any{
			"finding":      pdFinding(v),
			"actions":      pdActions(v),
			"verification": pdVerification(v.verif),
			"function":     v.fn,
			"environment":  v.env,
			"mode":         v.mode,
		},
	}
	if n := len(v.actions) - pdMaxActions; n > 0 {
		payload.CustomDetails["actions_omitted"] = n
	}
	if v.escal != nil && v.escal.Reason != "" {
		payload.CustomDetails["escalation"] = truncU16(v.escal.Reason, pdTextCap)
	}
	if v.inputErr != "" {
		payload.CustomDetails["input_error"] = truncU16(v.inputErr, pdTextCap)
	}
	if len(v.actions) > 0 && v.actions[0].Target != "" {
		payload.Component = truncU16(v.actions[0].Target, 255)
	}
	if !v.alarm.ChangedAt.IsZero() {
		payload.Timestamp = v.alarm.ChangedAt.UTC().Format(time.RFC3339)
	}
	ev := pdEvent{
		RoutingKey:  p.routingKey,
		EventAction: "trigger",
		DedupKey:    cutBytes(dedupKey, pdMaxDedupKey),
		Payload:     payload,
		Client:      "gp-remediation",
	}
	for i, l := range v.links {
		if i == pdMaxLinks {
			break
		}
		ev.Links = append(ev.Links, pdLink{Href: l.URL, Text: truncU16(l.Title, 255)})
	}
	return ev
}

// pdSeverity maps the report to PagerDuty's four severities: a failed action on a
// WARNING alarm is an "error".
func pdSeverity(v *view) string {
	switch v.sev {
	case SeverityCritical:
		return "critical"
	case SeverityWarning:
		for _, a := range v.actions {
			if a.Outcome == OutcomeFailed {
				return "error"
			}
		}
		return "warning"
	default:
		return "info"
	}
}

// pdFinding is the finding with its evidence bounded, so an event stays far below 512 KB.
func pdFinding(v *view) map[string]any {
	ev := make([]string, 0, min(len(v.evidence), pdEvidenceLines+1))
	for i, e := range v.evidence {
		if i == pdEvidenceLines {
			ev = append(ev, trimNote(len(v.evidence)-i, i, "evidence line", "evidence lines"))
			break
		}
		ev = append(ev, truncU16(e, pdTextCap))
	}
	return map[string]any{"code": v.code, "summary": truncU16(v.summary, pdTextCap), "evidence": ev}
}

// pdActions are the actions with their text bounded; beyond pdMaxActions (never in
// practice) they are left out and counted in actions_omitted.
func pdActions(v *view) []Action {
	out := make([]Action, 0, min(len(v.actions), pdMaxActions))
	for _, a := range v.actions[:min(len(v.actions), pdMaxActions)] {
		out = append(out, Action{
			Kind:    truncU16(a.Kind, 100),
			Target:  truncU16(a.Target, 255),
			Outcome: a.Outcome,
			Reason:  truncU16(a.Reason, pdTextCap),
			Detail:  truncU16(a.Detail, pdTextCap),
		})
	}
	return out
}

func pdVerification(vf *Verification) *Verification {
	if vf == nil {
		return nil
	}
	return &Verification{Status: truncU16(vf.Status, 40), Detail: truncU16(vf.Detail, pdTextCap), MS: vf.MS}
}
