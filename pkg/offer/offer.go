// Package offer is an action a person must approve: a fix the decision found right but the
// environment's policy keeps from the functions (a rollback, more task memory, a worker past
// the cap), or an operation someone asked for with a slash command where two approvers are
// required. An offer is a one-time record in the ledger, bound to its incident, to the action
// and its target, to the state it was decided on, and to an expiry. A click is judged here by
// Consider, a pure function; the ledger applies the verdict with a conditional write, so two
// clicks at once make at most one execution.
package offer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/operation"
)

// DefaultTTL is how long an offer can be approved: long enough for a person to read the
// report and decide, short enough that the state it was decided on is still the state.
const DefaultTTL = 30 * time.Minute

// Expiry is when an offer made at now stops taking clicks: after ttl (GPR_OFFER_TTL), or
// DefaultTTL when none is set.
func Expiry(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return now.Add(ttl)
}

// Status is where an offer stands. Only an open offer takes clicks.
type Status string

const (
	StatusOpen         Status = "open"          // waiting for approvals
	StatusExecuting    Status = "executing"     // approved: one invocation is running it
	StatusDone         Status = "done"          // ran; Outcome says how it went
	StatusRejected     Status = "rejected"      // an approver turned it down
	StatusStateChanged Status = "state-changed" // the state it was bound to changed before it ran
)

// Binding is the state an offer was decided on, per service: what must still hold when it is
// approved. An empty field was not known when the offer was made and is not compared.
type Binding struct {
	Service        string `json:"service"`
	Desired        *int   `json:"desired,omitempty"`
	TaskDefinition string `json:"taskDefinition,omitempty"`
}

// Offer is one action waiting for a person.
type Offer struct {
	ID          string `json:"id"`
	Environment string `json:"environment"`
	Incident    string `json:"incident,omitempty"`
	// Alarm is the alarm whose decision made the offer ("" for a /gpr command): the incident's
	// timeline records the approved action under it.
	Alarm   string            `json:"alarm,omitempty"`
	Request operation.Request `json:"request"`
	// Reason is why the functions did not do it themselves (the rule that held it back), or
	// who asked for it.
	Reason    string    `json:"reason"`
	Bound     []Binding `json:"bound,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	// Required is how many different approvers it takes (1, or 2 where the environment says so).
	Required  int        `json:"required"`
	Approvals []Approval `json:"approvals,omitempty"`
	Status    Status     `json:"status"`
	// DecidedBy and DecidedAt say who moved it out of open (the last approver, the rejecter).
	DecidedBy string    `json:"decidedBy,omitempty"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	// Outcome is what running it did, one line (set with StatusDone or StatusStateChanged).
	Outcome string `json:"outcome,omitempty"`
}

// Title names what the offer does, for a button's message: "rollback worker 41".
func (o Offer) Title() string { return o.Request.String() }

// Approval is one approver's click.
type Approval struct {
	Platform string    `json:"platform"`
	UserID   string    `json:"userId"`
	Name     string    `json:"name,omitempty"`
	At       time.Time `json:"at"`
}

// Who names an approver for a message: the name when the platform gave one, and the id.
func (a Approval) Who() string {
	if a.Name != "" {
		return a.Name + " (" + a.Platform + " " + a.UserID + ")"
	}
	return a.Platform + " " + a.UserID
}

// Approvers is an environment's allowlist: Slack user ids, Discord user ids and Discord role
// ids. A name is never trusted; ids are what the signed request carries.
type Approvers struct {
	SlackUsers   []string
	DiscordUsers []string
	DiscordRoles []string
}

// ParseApprovers reads GPR_APPROVERS: comma-separated "slack:U…", "discord:user:…" and
// "discord:role:…". An entry in any other form is an error: a typo must not silently leave
// the list empty, nor let anyone in.
func ParseApprovers(s string) (Approvers, error) {
	var a Approvers
	for _, raw := range strings.Split(s, ",") {
		e := strings.TrimSpace(raw)
		if e == "" {
			continue
		}
		parts := strings.Split(e, ":")
		switch {
		case len(parts) == 2 && parts[0] == "slack" && validID(parts[1]):
			a.SlackUsers = append(a.SlackUsers, parts[1])
		case len(parts) == 3 && parts[0] == "discord" && parts[1] == "user" && snowflake(parts[2]):
			a.DiscordUsers = append(a.DiscordUsers, parts[2])
		case len(parts) == 3 && parts[0] == "discord" && parts[1] == "role" && snowflake(parts[2]):
			a.DiscordRoles = append(a.DiscordRoles, parts[2])
		default:
			return Approvers{}, fmt.Errorf("approver %q: want slack:<user id>, discord:user:<id> or discord:role:<id>", e)
		}
	}
	return a, nil
}

func validID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func snowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Empty says nobody may approve anything.
func (a Approvers) Empty() bool {
	return len(a.SlackUsers) == 0 && len(a.DiscordUsers) == 0 && len(a.DiscordRoles) == 0
}

// Allows says whether the person may approve: their id is listed for their platform, or on
// Discord one of their roles is.
func (a Approvers) Allows(p Person) bool {
	switch p.Platform {
	case "slack":
		return slices.Contains(a.SlackUsers, p.UserID)
	case "discord":
		if slices.Contains(a.DiscordUsers, p.UserID) {
			return true
		}
		for _, r := range p.Roles {
			if slices.Contains(a.DiscordRoles, r) {
				return true
			}
		}
	}
	return false
}

// Person is who clicked or typed, as the verified request says.
type Person struct {
	Platform string
	UserID   string
	Name     string
	Roles    []string
}

// Click is one press of an offer's button.
type Click struct {
	By      Person
	Approve bool // false: reject
	At      time.Time
}

// Outcome is what a click leads to.
type Outcome string

const (
	Refuse  Outcome = "refuse"  // nothing changes; Reason says why
	Record  Outcome = "record"  // an approval is recorded; more are needed
	Execute Outcome = "execute" // the last approval: run it now (exactly once)
	Reject  Outcome = "reject"  // an approver turned it down
)

// Refusal codes, for the Result and for tests.
const (
	RefuseNotApprover  = "not-approver"
	RefuseExpired      = "expired"
	RefuseNotOpen      = "not-open"
	RefuseSameApprover = "same-approver"
)

// Verdict is Consider's answer.
type Verdict struct {
	Outcome Outcome
	Code    string // for Refuse
	Reason  string // a sentence for the person who clicked
	// Offer is the offer as it stands after the click (unchanged for Refuse).
	Offer Offer
}

// Consider judges a click on an offer: who may, whether it is still open and in time, and
// whether it completes the approvals. It is pure; the ledger writes the new offer only if
// nobody changed it in between.
func Consider(o Offer, c Click, allow Approvers) Verdict {
	refuse := func(code, why string) Verdict { return Verdict{Outcome: Refuse, Code: code, Reason: why, Offer: o} }
	switch {
	case !allow.Allows(c.By):
		return refuse(RefuseNotApprover, fmt.Sprintf("%s %s is not an approver in %s: nothing done", c.By.Platform, c.By.UserID, o.Environment))
	case o.Status != StatusOpen:
		who := ""
		if o.DecidedBy != "" {
			who = " by " + o.DecidedBy + " at " + o.DecidedAt.UTC().Format("15:04:05Z")
		}
		return refuse(RefuseNotOpen, fmt.Sprintf("this offer is %s%s: nothing more to do", o.Status, who))
	case !c.At.Before(o.ExpiresAt):
		return refuse(RefuseExpired, fmt.Sprintf("this offer expired at %s: nothing done (the state may have moved on; ask again with /gpr %s)", o.ExpiresAt.UTC().Format("15:04Z"), o.Request))
	}
	for _, a := range o.Approvals {
		if a.Platform == c.By.Platform && a.UserID == c.By.UserID && c.Approve {
			return refuse(RefuseSameApprover, fmt.Sprintf("you approved this already; it needs %d different approvers", o.Required))
		}
	}
	next := o
	next.Approvals = slices.Clone(o.Approvals)
	approval := Approval{Platform: c.By.Platform, UserID: c.By.UserID, Name: c.By.Name, At: c.At.UTC()}
	if !c.Approve {
		next.Status, next.DecidedBy, next.DecidedAt = StatusRejected, approval.Who(), approval.At
		return Verdict{Outcome: Reject, Reason: "rejected by " + approval.Who(), Offer: next}
	}
	next.Approvals = append(next.Approvals, approval)
	if len(next.Approvals) < max(o.Required, 1) {
		return Verdict{Outcome: Record, Reason: fmt.Sprintf("approved by %s (%d of %d): waiting for another approver", approval.Who(), len(next.Approvals), o.Required), Offer: next}
	}
	next.Status, next.DecidedBy, next.DecidedAt = StatusExecuting, approval.Who(), approval.At
	return Verdict{Outcome: Execute, Reason: "approved by " + next.ApprovedBy(), Offer: next}
}

// ApprovedBy lists the approvers, in the order they clicked.
func (o Offer) ApprovedBy() string {
	names := make([]string, len(o.Approvals))
	for i, a := range o.Approvals {
		names[i] = a.Who()
	}
	return strings.Join(names, " and ")
}

// StateChange says what differs between the state an offer was bound to and the state read
// now (nil: the same). A service not read now is a change: unknown is not the same.
func StateChange(bound []Binding, now []Binding) error {
	var diffs []string
	for _, b := range bound {
		i := slices.IndexFunc(now, func(n Binding) bool { return n.Service == b.Service })
		if i < 0 {
			diffs = append(diffs, b.Service+" could not be read")
			continue
		}
		n := now[i]
		if b.Desired != nil && (n.Desired == nil || *n.Desired != *b.Desired) {
			diffs = append(diffs, fmt.Sprintf("%s desired count was %d, is %s", b.Service, *b.Desired, intOrUnknown(n.Desired)))
		}
		if b.TaskDefinition != "" && n.TaskDefinition != b.TaskDefinition {
			diffs = append(diffs, fmt.Sprintf("%s runs %s, not %s", b.Service, orUnknown(n.TaskDefinition), b.TaskDefinition))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return errors.New("the state changed since the offer: " + strings.Join(diffs, "; "))
}

func intOrUnknown(p *int) string {
	if p == nil {
		return "unknown"
	}
	return fmt.Sprint(*p)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// NewID makes a random offer id: 16 hex digits, unguessable, short enough for a button's value.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
