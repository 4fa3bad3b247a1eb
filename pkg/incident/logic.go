package incident

import (
	"time"
)

// ShouldClose decides whether an open incident closes now.
//
// It closes as recovered when every member's alarm reads OK, and at max age whatever the
// states (maxAge <= 0 means DefaultMaxAge). A member whose alarm is missing from states (it no
// longer exists: deleted, renamed by a deploy) counts as recovered: nothing can ever read it
// back OK, so waiting for it would hold the incident open until max age for no outage, and a
// deleted alarm is not one that is firing. INSUFFICIENT_DATA is not OK: no data is no proof of
// recovery. An incident with no members never closes as recovered (nothing was observed OK).
func ShouldClose(inc Incident, states map[string]AlarmState, now time.Time, maxAge time.Duration) (bool, CloseReason) {
	if inc.Status != StatusOpen {
		return false, ""
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if len(inc.Members) > 0 {
		allOK := true
		for _, m := range inc.Members {
			st, ok := states[m.Alarm]
			if ok && st.State != StateOK {
				allOK = false
				break
			}
		}
		if allOK {
			return true, CloseRecovered
		}
	}
	if !inc.OpenedAt.IsZero() && now.Sub(inc.OpenedAt) >= maxAge {
		return true, CloseMaxAge
	}
	return false, ""
}

// TimeToRecover is from opening to closing, for an incident that closed as recovered. A
// max-age close is no recovery, so it gives false, as does an open incident.
func TimeToRecover(inc Incident) (time.Duration, bool) {
	if inc.Status != StatusClosed || inc.CloseReason != CloseRecovered || inc.ClosedAt.IsZero() || inc.OpenedAt.IsZero() {
		return 0, false
	}
	return inc.ClosedAt.Sub(inc.OpenedAt), true
}

// Summary is the data of the closing report.
type Summary struct {
	ID          string
	Environment string
	OpenedAt    time.Time
	ClosedAt    time.Time
	CloseReason CloseReason
	// TimeToRecover is set when Recovered.
	TimeToRecover time.Duration
	Recovered     bool
	Members       []Member
	// Done are actions that completed; Verified the subset whose target a later verification
	// entry of the same alarm passed.
	Done     []Entry
	Verified []Entry
	// Failed are actions that failed; Skipped actions and decisions that were skipped.
	Failed      []Entry
	Skipped     []Entry
	Escalations []Entry
	// LeftForPerson: recommendations, skipped and failed work, escalations, verifications that
	// did not pass — what a person still has to look at.
	LeftForPerson     []Entry
	TimelineLen       int
	TimelineTruncated int
}

// Summarize gathers the closing report's data from the incident's timeline.
func Summarize(inc Incident) Summary {
	sum := Summary{
		ID: inc.ID, Environment: inc.Environment, OpenedAt: inc.OpenedAt, ClosedAt: inc.ClosedAt,
		CloseReason: inc.CloseReason, Members: inc.Members,
		TimelineLen: len(inc.Timeline), TimelineTruncated: inc.TimelineTruncated,
	}
	sum.TimeToRecover, sum.Recovered = TimeToRecover(inc)
	for i, e := range inc.Timeline {
		switch {
		case e.Kind == KindAction && e.Action != nil:
			switch e.Action.Outcome {
			case ActionDone:
				sum.Done = append(sum.Done, e)
				if verifiedLater(inc.Timeline[i+1:], e) {
					sum.Verified = append(sum.Verified, e)
				}
			case ActionFailed:
				sum.Failed = append(sum.Failed, e)
				sum.LeftForPerson = append(sum.LeftForPerson, e)
			case ActionSkipped:
				sum.Skipped = append(sum.Skipped, e)
				sum.LeftForPerson = append(sum.LeftForPerson, e)
			}
		case e.Kind == KindDecision && e.Decision != nil:
			switch e.Decision.Outcome {
			case DecisionRecommend:
				sum.LeftForPerson = append(sum.LeftForPerson, e)
			case DecisionSkip:
				sum.Skipped = append(sum.Skipped, e)
				sum.LeftForPerson = append(sum.LeftForPerson, e)
			}
		case e.Kind == KindEscalation && e.Escalation != nil:
			sum.Escalations = append(sum.Escalations, e)
			sum.LeftForPerson = append(sum.LeftForPerson, e)
		case e.Kind == KindVerification && e.Verification != nil && e.Verification.Status != VerificationPassed:
			sum.LeftForPerson = append(sum.LeftForPerson, e)
		}
	}
	return sum
}

// verifiedLater reports whether a passed verification of the same alarm (and target, when the
// verification names one) follows the action.
func verifiedLater(rest []Entry, action Entry) bool {
	for _, e := range rest {
		if e.Kind != KindVerification || e.Verification == nil || e.Alarm != action.Alarm {
			continue
		}
		if e.Verification.Target != "" && e.Verification.Target != action.Action.Target {
			continue
		}
		return e.Verification.Status == VerificationPassed
	}
	return false
}

// AppendCapped appends entries to inc's timeline up to MaxTimeline and counts the dropped
// ones. The Store calls it; it is here so the rule is tested once.
func AppendCapped(inc *Incident, entries ...Entry) {
	for _, e := range entries {
		if len(inc.Timeline) >= MaxTimeline {
			inc.TimelineTruncated++
			continue
		}
		inc.Timeline = append(inc.Timeline, e)
	}
}

// SetMember replaces the member with m.Alarm, or adds m.
func SetMember(inc *Incident, m Member) {
	for i := range inc.Members {
		if inc.Members[i].Alarm == m.Alarm {
			inc.Members[i] = m
			return
		}
	}
	inc.Members = append(inc.Members, m)
}
