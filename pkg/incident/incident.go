// Package incident is one outage seen as one record: the first ALARM of an environment opens an
// incident, every alarm of that environment joins it while it is open, and it closes when every
// member alarm is back to OK (read from CloudWatch, not inferred) or when it reaches a maximum
// age. It keeps a timeline of typed entries (observations, decisions, actions, verifications,
// escalations, reports), so later analysis computes numbers from data instead of parsing prose
// (docs/design.md, "Incidents": record observations, not conclusions).
//
// This package holds the types and the pure decisions; the Store that keeps incidents with
// conditional writes lives in pkg/ledger.
package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status is an incident's life-cycle state.
type Status string

const (
	StatusOpen   Status = "open"
	StatusClosed Status = "closed"
)

// CloseReason says why an incident closed.
type CloseReason string

const (
	CloseRecovered CloseReason = "recovered" // every member alarm read back OK
	CloseMaxAge    CloseReason = "max-age"   // open longer than the maximum age
)

// DefaultMaxAge bounds an incident's life: an alarm that stays in ALARM for a day is a standing
// problem for a person, not one outage to keep joining.
const DefaultMaxAge = 24 * time.Hour

// MaxTimeline caps the timeline so an incident stays well under DynamoDB's 400 KB item limit
// (an entry is a few hundred bytes as JSON). Entries past the cap are dropped and
// Incident.TimelineTruncated counts them, so a reader knows the timeline is incomplete.
const MaxTimeline = 300

// Incident is one outage of one environment.
type Incident struct {
	ID          string      `json:"id"`
	Environment string      `json:"environment"`
	Status      Status      `json:"status"`
	OpenedAt    time.Time   `json:"openedAt"`
	UpdatedAt   time.Time   `json:"updatedAt"`
	ClosedAt    time.Time   `json:"closedAt,omitzero"`
	CloseReason CloseReason `json:"closeReason,omitempty"`
	Members     []Member    `json:"members"`
	Timeline    []Entry     `json:"timeline"`
	// TimelineTruncated counts entries dropped because the timeline was at MaxTimeline.
	TimelineTruncated int          `json:"timelineTruncated,omitempty"`
	Conversation      Conversation `json:"conversation,omitzero"`
	Page              Page         `json:"page,omitzero"`
}

// Member returns the member for alarm.
func (inc Incident) Member(alarm string) (Member, bool) {
	for _, m := range inc.Members {
		if m.Alarm == alarm {
			return m, true
		}
	}
	return Member{}, false
}

// MemberAlarms returns the member alarm names in joining order.
func (inc Incident) MemberAlarms() []string {
	out := make([]string, len(inc.Members))
	for i, m := range inc.Members {
		out[i] = m.Alarm
	}
	return out
}

// Conversation is where the incident is discussed: the first report opens it, later reports
// reply in it.
type Conversation struct {
	SlackChannel     string `json:"slackChannel,omitempty"`
	SlackTS          string `json:"slackTs,omitempty"`
	DiscordMessageID string `json:"discordMessageId,omitempty"`
}

// IsZero reports whether no conversation has been recorded.
func (c Conversation) IsZero() bool { return c == Conversation{} }

// Page is the incident's one PagerDuty page.
type Page struct {
	DedupKey    string    `json:"dedupKey,omitempty"`
	Triggered   bool      `json:"triggered,omitempty"`
	TriggeredAt time.Time `json:"triggeredAt,omitzero"`
	Resolved    bool      `json:"resolved,omitempty"`
	ResolvedAt  time.Time `json:"resolvedAt,omitzero"`
}

// FollowUp is whether a member's function keeps working on its alarm.
type FollowUp string

const (
	FollowUpActive  FollowUp = "active"
	FollowUpStopped FollowUp = "stopped"
)

// StopReason says why a follow-up stopped.
type StopReason string

const (
	StopOK          StopReason = "ok"           // the alarm read back OK
	StopBudgetSpent StopReason = "budget-spent" // the guard's action budget is used up
	StopNothingLeft StopReason = "nothing-left" // the playbook has no further step
	StopMaxAge      StopReason = "max-age"      // the incident reached its maximum age
)

// Member is one alarm that joined the incident, and the function that handles it.
type Member struct {
	Alarm        string    `json:"alarm"`
	Function     string    `json:"function"`
	FirstAlarmAt time.Time `json:"firstAlarmAt"`
	LastSeenAt   time.Time `json:"lastSeenAt"`
	// State is the alarm's last observed CloudWatch state (ALARM, OK, INSUFFICIENT_DATA).
	State      string     `json:"state"`
	FollowUp   FollowUp   `json:"followUp"`
	StopReason StopReason `json:"stopReason,omitempty"`
}

// AlarmState is an alarm's state as CloudWatch reports it now.
type AlarmState struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// CloudWatch's alarm states, as DescribeAlarms spells them.
const (
	StateAlarm            = "ALARM"
	StateOK               = "OK"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// Kind is the type of a timeline entry.
type Kind string

const (
	KindObservation  Kind = "observation"
	KindDecision     Kind = "decision"
	KindAction       Kind = "action"
	KindVerification Kind = "verification"
	KindEscalation   Kind = "escalation"
	KindReport       Kind = "report"
	KindFollowUp     Kind = "follow-up"
	KindClose        Kind = "close"
	// KindAgreement is the verdict, written at the close, on one action the functions took or
	// would have taken (dry-run), against what happened to its target meanwhile (pkg/trust).
	KindAgreement Kind = "agreement"
)

// Entry is one timeline entry. Kind says which of the payload fields is set; every payload is
// typed data so later analysis (agreement with on-call, effectiveness) reads fields, not text.
type Entry struct {
	At       time.Time `json:"at"`
	Kind     Kind      `json:"kind"`
	Function string    `json:"function,omitempty"`
	Alarm    string    `json:"alarm,omitempty"`

	Observation  *Observation  `json:"observation,omitempty"`
	Decision     *Decision     `json:"decision,omitempty"`
	Action       *Action       `json:"action,omitempty"`
	Verification *Verification `json:"verification,omitempty"`
	Escalation   *Escalation   `json:"escalation,omitempty"`
	Report       *Report       `json:"report,omitempty"`
	FollowUp     *FollowUpNote `json:"followUp,omitempty"`
	Close        *CloseNote    `json:"close,omitempty"`
	Agreement    *Agreement    `json:"agreement,omitempty"`
}

// Observation is what was read: an alarm state, a finding with its measured value.
type Observation struct {
	// Finding is a machine-readable code (e.g. "queue-depth-high", "task-oom-killed").
	Finding string `json:"finding,omitempty"`
	// State is an alarm state read from CloudWatch, when the observation is one.
	State  string   `json:"state,omitempty"`
	Value  *float64 `json:"value,omitempty"`
	Unit   string   `json:"unit,omitempty"`
	Source string   `json:"source,omitempty"` // where it was read (metric, log group, API)
	Detail string   `json:"detail,omitempty"`
	// Services are the ECS services the diagnosis read, as it found them: the baseline the
	// close compares what happened to them with (pkg/trust).
	Services []ServiceState `json:"services,omitempty"`
}

// ServiceState is an ECS service as a diagnosis read it.
type ServiceState struct {
	Name           string `json:"name"`
	TaskDefinition string `json:"taskDefinition,omitempty"`
	Desired        int    `json:"desired"`
	// Deployment is the PRIMARY deployment's id.
	Deployment string `json:"deployment,omitempty"`
}

// Decision is what a playbook chose to do, before doing it.
type Decision struct {
	// Outcome is the decision's code: act, recommend, skip, escalate.
	Outcome        string `json:"outcome"`
	Code           string `json:"code,omitempty"` // why, as a code
	Recommendation string `json:"recommendation,omitempty"`
	Detail         string `json:"detail,omitempty"`
}

// Decision outcomes that Summary reads.
const (
	DecisionAct       = "act"
	DecisionRecommend = "recommend"
	DecisionSkip      = "skip"
	DecisionEscalate  = "escalate"
)

// Action is one change made (or attempted) to the system.
type Action struct {
	Kind      string `json:"kind"`   // e.g. "scale", "force-new-deployment", "redrive"
	Target    string `json:"target"` // e.g. a service or queue name
	Outcome   string `json:"outcome"`
	FromCount *int64 `json:"fromCount,omitempty"`
	ToCount   *int64 `json:"toCount,omitempty"`
	Detail    string `json:"detail,omitempty"`
	// Rule is the code of the guard rule that skipped the action (pkg/guard RuleCode).
	Rule string `json:"rule,omitempty"`
}

// Action outcomes that Summary reads.
const (
	ActionDone    = "done"
	ActionFailed  = "failed"
	ActionSkipped = "skipped"
	ActionDryRun  = "dry-run"
)

// Verification is whether an action's effect was observed afterwards.
type Verification struct {
	Status string `json:"status"` // VerificationPassed, VerificationFailed, VerificationUnknown
	Target string `json:"target,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Verification statuses.
const (
	VerificationPassed  = "passed"
	VerificationFailed  = "failed"
	VerificationUnknown = "unknown"
)

// Escalation is a hand-over to a person.
type Escalation struct {
	Reason string `json:"reason"`
	Paged  bool   `json:"paged"`
}

// Report is one report delivered (or attempted) to sinks.
type Report struct {
	Closing bool     `json:"closing,omitempty"`
	Sinks   []Sink   `json:"sinks,omitempty"`
	Refs    []string `json:"refs,omitempty"` // message ids, timestamps the sinks returned
}

// Sink is one delivery of a report.
type Sink struct {
	Name      string `json:"name"` // slack, discord, pagerduty, sns
	Delivered bool   `json:"delivered"`
	Error     string `json:"error,omitempty"`
}

// FollowUpNote records a follow-up starting or stopping.
type FollowUpNote struct {
	Status     FollowUp   `json:"status"`
	StopReason StopReason `json:"stopReason,omitempty"`
}

// CloseNote records the close.
type CloseNote struct {
	Reason CloseReason `json:"reason"`
	// States are the member alarm states read when closing.
	States []AlarmState `json:"states,omitempty"`
}

// Verdict is how an action compares with what a person did (pkg/trust defines each one).
type Verdict string

const (
	VerdictAgreed           Verdict = "agreed"
	VerdictOther            Verdict = "other"             // a person did something else
	VerdictNothingRecovered Verdict = "nothing-recovered" // nobody acted and it recovered
	VerdictUnknown          Verdict = "unknown"           // the evidence cannot tell; Why says why
)

// Agreement is the verdict on one action of the incident.
type Agreement struct {
	// ActionAt, Kind, Target and Outcome identify the action entry judged.
	ActionAt time.Time `json:"actionAt"`
	Kind     string    `json:"kind"`
	Target   string    `json:"target"`
	Outcome  string    `json:"outcome"` // done or dry-run
	Verdict  Verdict   `json:"verdict"`
	// Changes are what others did to the target meanwhile (set for other, and for agreed
	// dry-runs: the person's matching change).
	Changes []Change `json:"changes,omitempty"`
	Why     string   `json:"why,omitempty"`
}

// ChangeKind is what someone did to a target.
type ChangeKind string

const (
	ChangeRestart  ChangeKind = "restart"  // a new deployment of the same task definition
	ChangeRollback ChangeKind = "rollback" // a deployment of an older revision
	ChangeDeploy   ChangeKind = "deploy"   // a deployment of a newer revision
	ChangeScale    ChangeKind = "scale"    // a desired-count change
	ChangeDLQMove  ChangeKind = "dlq-move" // messages moved out of a dead-letter queue
)

// Change is one change made to a target by someone other than the functions.
type Change struct {
	Kind   ChangeKind `json:"kind"`
	Target string     `json:"target"`
	At     time.Time  `json:"at"`
	// Deployment and TaskDefinition are set for deployments (restart, rollback, deploy).
	Deployment     string `json:"deployment,omitempty"`
	TaskDefinition string `json:"taskDefinition,omitempty"`
	// FromCount and ToCount are set for a scale; Messages for a DLQ move.
	FromCount int `json:"fromCount,omitempty"`
	ToCount   int `json:"toCount,omitempty"`
	Messages  int `json:"messages,omitempty"`
}

// Line renders the verdict for the closing report: the action, the verdict, and what the
// person did or why it is unknown.
func (a Agreement) Line() string {
	head := fmt.Sprintf("%s %s %s (%s): %s", a.ActionAt.UTC().Format(time.TimeOnly), a.Kind, a.Target, a.Outcome, a.Verdict)
	switch a.Verdict {
	case VerdictUnknown:
		return head + ": " + a.Why
	case VerdictNothingRecovered:
		return head + ": nobody acted and it recovered"
	case VerdictOther, VerdictAgreed:
		if len(a.Changes) == 0 {
			return head + ": nobody else acted and it recovered"
		}
		s := head + ": a person "
		for i, c := range a.Changes {
			if i > 0 {
				s += ", "
			}
			s += c.Text()
		}
		return s
	}
	return head
}

// Text says what a person did.
func (c Change) Text() string {
	switch c.Kind {
	case ChangeRestart:
		return "restarted " + c.Target + " (deployment " + c.Deployment + ")"
	case ChangeRollback:
		return "rolled " + c.Target + " back to " + shortRef(c.TaskDefinition)
	case ChangeDeploy:
		return "deployed " + shortRef(c.TaskDefinition) + " to " + c.Target
	case ChangeScale:
		return fmt.Sprintf("scaled %s from %d to %d", c.Target, c.FromCount, c.ToCount)
	case ChangeDLQMove:
		return fmt.Sprintf("moved %d message(s) out of %s", c.Messages, c.Target)
	}
	return string(c.Kind) + " " + c.Target
}

// shortRef renders a task definition ARN as family:revision.
func shortRef(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

// JoinResult says what OpenOrJoin did.
type JoinResult string

const (
	Opened        JoinResult = "opened"         // no incident was open: this alarm opened one
	Joined        JoinResult = "joined"         // an open incident gained this alarm as a member
	AlreadyMember JoinResult = "already-member" // the alarm was a member already (LastSeenAt updated)
)

// ErrNotFound is returned (wrapped) for an unknown incident id.
var ErrNotFound = errors.New("incident not found")

// Store keeps incidents durably with conditional writes, so concurrent functions agree: two
// opening at once make one incident, exactly one closes it, exactly one triggers its page.
type Store interface {
	// OpenOrJoin returns the environment's open incident with alarm as a member, opening one
	// if none is open (an open incident past maxAge still counts as open until closed).
	OpenOrJoin(ctx context.Context, env, alarm, function string, at time.Time) (Incident, JoinResult, error)
	// Current returns the environment's latest incident (open or closed), false if none.
	Current(ctx context.Context, env string) (Incident, bool, error)
	// Get returns an incident by id; an unknown id gives an error matching ErrNotFound.
	Get(ctx context.Context, id string) (Incident, error)
	// Append adds entries to the timeline (up to MaxTimeline, counting what was dropped).
	Append(ctx context.Context, id string, entries ...Entry) error
	// SetMember replaces the member with the same Alarm (adds it if absent).
	SetMember(ctx context.Context, id string, m Member) error
	// SetConversation records conv if the incident has none yet and returns the one recorded
	// (conv if this call won, the earlier one otherwise).
	SetConversation(ctx context.Context, id string, conv Conversation) (Conversation, error)
	// TriggerPage records the page with key; first is true for exactly one caller per incident.
	TriggerPage(ctx context.Context, id, key string, at time.Time) (first bool, err error)
	// ResolvePage records the page as resolved; first is true for exactly one caller.
	ResolvePage(ctx context.Context, id string, at time.Time) (first bool, err error)
	// Close closes an open incident; closedByMe is true for exactly one caller.
	Close(ctx context.Context, id string, reason CloseReason, at time.Time) (closedByMe bool, inc Incident, err error)
}
