package playbook

import (
	"strings"

	"github.com/arrakis/gp-remediation/pkg/incident"
)

// PendingFix is the newest action a function took on target in the incident that changed it
// (outcome done) and that no later verification of that function observed working: a fix
// still in flight, which other alarms' actions on the same service must wait for.
func PendingFix(inc incident.Incident, function, target string) (incident.Entry, bool) {
	var last incident.Entry
	pending := false
	for _, e := range inc.Timeline {
		switch {
		case e.Function != function:
		case e.Kind == incident.KindAction && e.Action != nil && e.Action.Target == target && e.Action.Outcome == incident.ActionDone:
			last, pending = e, true
		case e.Kind == incident.KindVerification && e.Verification != nil && pending &&
			e.Verification.Status == incident.VerificationPassed && !e.At.Before(last.At):
			pending = false
		}
	}
	return last, pending
}

// StillFiring is a member alarm of the incident, handled by function and named with one of
// words, that is in ALARM: as CloudWatch says now when the member's State was read, else as
// its last observation says, unless a verified fix of that function answered it since.
func StillFiring(inc incident.Incident, function string, words ...string) (string, bool) {
	for _, name := range inc.MemberAlarms() {
		m, _ := inc.Member(name)
		if m.Function != function || !containsAnyFold(name, words) {
			continue
		}
		if m.State != "" { // read from CloudWatch for this invocation: the alarm's own word
			if m.State == "ALARM" {
				return name, true
			}
			continue
		}
		firing := false
		for _, e := range inc.Timeline {
			switch {
			case e.Alarm != name:
			case e.Kind == incident.KindObservation && e.Observation != nil && e.Observation.State != "":
				firing = e.Observation.State == "ALARM"
			case e.Kind == incident.KindVerification && e.Verification != nil && e.Verification.Status == incident.VerificationPassed:
				firing = false
			}
		}
		if firing {
			return name, true
		}
	}
	return "", false
}

func containsAnyFold(s string, words []string) bool {
	s = strings.ToLower(s)
	for _, w := range words {
		if strings.Contains(s, strings.ToLower(w)) {
			return true
		}
	}
	return false
}
