package render

import (
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// PagerDuty limits and the bounds kept under them (the whole event may be 512 KB).
const (
	pdMaxSummary    = 1024
	pdMaxDedupKey   = 255
	pdEvidenceLines = 50
	pdTextCap       = 1000
	pdMaxLinks      = 10
	pdMaxActions    = 100
)

// PagerDutyEvent is an Events API v2 event.
type PagerDutyEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
	Images      []pdImage  `json:"images,omitempty"`
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

// pdImage is an image PagerDuty shows on the incident; src must be HTTPS.
type pdImage struct {
	Src string `json:"src"`
	Alt string `json:"alt,omitempty"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Trigger opens (or adds to) the incident with dedupKey for r: summary is the headline
// (cut to PagerDuty's 1024), source the alarm, component the first action's target,
// group the environment, class the finding code; custom_details carry the finding, the
// actions and the verification; links are the report's console links.
// PagerDutyResolve is the Events API v2 resolve event for dedupKey, without its routing key
// (the sender adds it).
func PagerDutyResolve(dedupKey string) PagerDutyEvent {
	return PagerDutyEvent{EventAction: "resolve", DedupKey: cutBytes(dedupKey, pdMaxDedupKey)}
}

// PagerDutyTrigger renders the report as an Events API v2 trigger event, without its routing
// key (the sender adds it): the headline as summary, the finding, actions and verification as
// custom details, the console links.
func PagerDutyTrigger(r report.Report, dedupKey string) PagerDutyEvent {
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
	ev := PagerDutyEvent{
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
	if p := v.picture; p != nil && strings.HasPrefix(p.url, "https://") {
		ev.Images = []pdImage{{Src: p.url, Alt: truncU16(p.title, 255)}}
	}
	return ev
}

// pdSeverity maps the report to PagerDuty's four severities: a failed action on a
// WARNING alarm is an "error".
func pdSeverity(v *view) string {
	switch v.sev {
	case report.SeverityCritical:
		return "critical"
	case report.SeverityWarning:
		for _, a := range v.actions {
			if a.Outcome == report.OutcomeFailed {
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
func pdActions(v *view) []report.Action {
	out := make([]report.Action, 0, min(len(v.actions), pdMaxActions))
	for _, a := range v.actions[:min(len(v.actions), pdMaxActions)] {
		out = append(out, report.Action{
			Kind:    truncU16(a.Kind, 100),
			Target:  truncU16(a.Target, 255),
			Outcome: a.Outcome,
			Reason:  truncU16(a.Reason, pdTextCap),
			Detail:  truncU16(a.Detail, pdTextCap),
		})
	}
	return out
}

func pdVerification(vf *report.Verification) *report.Verification {
	if vf == nil {
		return nil
	}
	return &report.Verification{Status: truncU16(vf.Status, 40), Detail: truncU16(vf.Detail, pdTextCap), MS: vf.MS}
}
