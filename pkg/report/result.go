// Package report holds the contract: the Result every function returns (docs/design.md,
// "Result and report") and the Report a person receives, which is the Result plus a headline,
// commands, links and the key metric. Rendering is pkg/render's job, delivery pkg/deliver's.
package report

import "time"

// Outcome of one action, as the Result contract spells it.
type Outcome string

const (
	OutcomeDone    Outcome = "done"
	OutcomeDryRun  Outcome = "dry-run"
	OutcomeSkipped Outcome = "skipped" // a guard rule said no; Reason names the rule
	OutcomeFailed  Outcome = "failed"
)

// Result is what every function returns and logs. Field names are a contract shared with
// tests, `make invoke` and anyone's checks: change them only together with docs/design.md ("Result and report").
type Result struct {
	Function    string `json:"function"`
	Environment string `json:"environment"`
	Mode        string `json:"mode,omitempty"`
	// Incident is the id of the environment's incident the alarm belongs to (none when the
	// function keeps no incident record, or the input was not an alarm).
	Incident        string        `json:"incident,omitempty"`
	Alarm           AlarmRef      `json:"alarm"`
	Finding         Finding       `json:"finding"`
	Actions         []Action      `json:"actions"`
	Recommendations []string      `json:"recommendations"`
	Diagnostics     []Diagnostic  `json:"diagnostics"`
	Verification    *Verification `json:"verification,omitempty"`
	Escalation      *Escalation   `json:"escalation,omitempty"`
	Sinks           []Sink        `json:"sinks"`
	// Picture says whether the report carried a graph of the alarm's metric, and if not why.
	Picture *PictureNote `json:"picture,omitempty"`
	// Error is set when the input itself was unusable (not SNS, not an alarm); the function
	// then returns this Result without an error so Lambda does not retry the same bad input.
	Error string `json:"error,omitempty"`
	// More holds the Results of the other records when one event carried several alarms.
	More []Result `json:"more,omitempty"`
}

// PictureNote is what became of a report's picture: drawn (its size, how long it took,
// whether it was stored for a link) or not (Error says why; the report went out without it).
type PictureNote struct {
	Drawn  bool   `json:"drawn"`
	Bytes  int    `json:"bytes,omitempty"`
	MS     int64  `json:"ms"`
	Stored bool   `json:"stored,omitempty"`
	Marks  int    `json:"marks,omitempty"` // actions marked on it
	Error  string `json:"error,omitempty"`
}

// AlarmRef identifies the alarm transition a Result answers.
type AlarmRef struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// ChangedAt is left out when not known (bad input, a person's operation, a closing's
	// stub): an absent time says unknown, where the zero time would claim year 1.
	ChangedAt time.Time `json:"changedAt,omitzero"`
	ARN       string    `json:"arn,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// Finding is the decision's diagnosis: a stable code, one human sentence, and the evidence
// lines that led to it (trimmed first when a sink has a size limit).
type Finding struct {
	Code     string   `json:"code"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence"`
}

// Action is one remediation step and what became of it.
type Action struct {
	Kind    string  `json:"kind"`
	Target  string  `json:"target"`
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason"`
	// Rule is the code of the rule that skipped the action (cooldown, cap, policy, …).
	Rule string `json:"rule,omitempty"`
	// Detail says what changed (e.g. "desired 1 -> 2", "task definition :41 -> :40").
	Detail string `json:"detail,omitempty"`
	// Offer is set when the skipped action was offered to a person to approve.
	Offer *OfferRef `json:"offer,omitempty"`
}

// OfferRef is an action offered for approval: which offer, until when, how many approvers.
type OfferRef struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expiresAt"`
	Required  int       `json:"required"`
	// Error says why the offer could not be made (then ID is empty).
	Error string `json:"error,omitempty"`
}

// Diagnostic is one probe of the diagnose step: whether it worked and how long it took.
type Diagnostic struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	MS    int64  `json:"ms"`
	Error string `json:"error,omitempty"`
}

// Verification status values.
const (
	Verified     = "verified"   // the effect was observed
	Pending      = "pending"    // still starting when the bounded wait ended
	VerifyFailed = "failed"     // the new tasks failed too
	Unverified   = "unverified" // the effect was not observed, or could not be read
	NotNeeded    = "not-needed" // nothing was done that needs checking
)

// Verification says whether the effect of the actions was observed within the bounded wait.
type Verification struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
	MS     int64  `json:"ms"`
}

// Escalation records whether a human was paged and why, or, when Resolution is set, that
// the page of an earlier transition was resolved (the alarm is OK again, or a fix verified).
type Escalation struct {
	Paged      bool   `json:"paged"`
	Reason     string `json:"reason"`
	DedupKey   string `json:"dedupKey,omitempty"`
	Resolution bool   `json:"resolution,omitempty"`
	Resolved   bool   `json:"resolved,omitempty"`
}

// Sink is the delivery status of the report to one destination.
type Sink struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}
