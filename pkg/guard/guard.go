// Package guard decides whether a remediation may go ahead: the environment's mode, the kill
// switch, idempotency per alarm transition, budgets and cooldowns per target, and a lock per
// target. Decisions propose actions; the guard disposes. Its state lives behind the Ledger
// interface (DynamoDB in production, in memory for local runs and unit tests).
package guard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arrakis/gp-remediation/pkg/config"
)

// Ledger is the durable memory the guard needs. Implementations must make Claim and Lock
// atomic across concurrent invocations (a conditional write in DynamoDB).
type Ledger interface {
	// Claim records an alarm transition the first time it is seen; false means seen before.
	Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// Lock takes an expiring lock on target for owner; ErrLocked if another owner holds it.
	Lock(ctx context.Context, target, owner string, ttl time.Duration) error
	// Unlock releases owner's lock on target (a no-op if it expired or was taken over).
	Unlock(ctx context.Context, target, owner string) error
	// History lists recorded actions on target of kind at or after since, newest first.
	History(ctx context.Context, target, kind string, since time.Time) ([]Entry, error)
	// Record stores what an action did.
	Record(ctx context.Context, e Entry) error
}

// Entry is one action the functions took (or tried), as the ledger keeps it.
type Entry struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	// FromCount and ToCount are the desired counts of a scale (the scale-back reads them);
	// HasCounts says they were recorded (a restart has none).
	FromCount int  `json:"fromCount,omitempty"`
	ToCount   int  `json:"toCount,omitempty"`
	HasCounts bool `json:"hasCounts,omitempty"`
	// Moved is how many messages a replay or a parking moved.
	Moved    int       `json:"moved,omitempty"`
	Outcome  Outcome   `json:"outcome"`
	AlarmKey string    `json:"alarmKey"`
	Function string    `json:"function"`
	At       time.Time `json:"at"`
}

// Outcome is what became of a recorded action.
type Outcome string

// Recorded outcomes. A failed action that still changed something (a replay cut after
// moving some messages) is recorded as partial: it counts against budgets and cooldowns.
const (
	OutcomeDone    Outcome = "done"
	OutcomePartial Outcome = "partial"
	OutcomeFailed  Outcome = "failed"
)

// Changed says whether the action changed the target (and so spends its budget).
func (o Outcome) Changed() bool { return o == OutcomeDone || o == OutcomePartial }

// ErrLocked says another invocation is acting on the target right now.
var ErrLocked = errors.New("target is locked by another invocation")

// KillSwitch is read on every invocation; when engaged, nothing acts anywhere.
type KillSwitch interface {
	Engaged(ctx context.Context) (bool, error)
}

// Budget bounds how often one kind of action may hit one target.
type Budget struct {
	Max      int           // at most Max actions per Window (0: never)
	Window   time.Duration // e.g. 24h
	Cooldown time.Duration // at least this long between two actions
}

// Guard holds the rules for one invocation.
type Guard struct {
	Mode     config.Mode
	Kill     KillSwitch
	Ledger   Ledger
	Budgets  map[string]Budget // by action kind; kinds without a budget are only locked
	LockTTL  time.Duration
	ClaimTTL time.Duration // how long a transition is remembered (SNS redelivers within hours)
	Owner    string        // this invocation (the Lambda request id)
	Function string
	Now      func() time.Time
}

// Admission is the guard's answer for one alarm transition.
type Admission struct {
	// Proceed false means: do not even diagnose (mode off, duplicate delivery).
	Proceed bool
	Code    string // "mode-off", "duplicate" when !Proceed
	Reason  string
	// Block, when set, is the rule that stops every action of this invocation while still
	// diagnosing and reporting (kill switch engaged or unreadable, ledger unreachable).
	Block Rule
}

// Admit checks mode, kill switch and idempotency for one alarm transition. key identifies the
// transition (alarm.Alarm.Key). Claiming is at-most-once: if the function dies after the
// claim, a retry is treated as a duplicate; for remediation, doing nothing twice is safer
// than acting twice, and the alarm staying in ALARM keeps humans informed.
func (g *Guard) Admit(ctx context.Context, key string) Admission {
	if g.Mode == config.ModeOff {
		return Admission{Code: "mode-off", Reason: "remediation is off in this environment (" + config.EnvMode + "=off)"}
	}
	adm := Admission{Proceed: true}
	if g.Ledger != nil {
		first, err := g.Ledger.Claim(ctx, key, g.Owner, g.claimTTL())
		switch {
		case err != nil:
			adm.Block = Rule{RuleLedgerUnavailable, err.Error()}
		case !first:
			return Admission{Code: "duplicate", Reason: "this alarm transition was already handled (duplicate delivery or retry)"}
		}
	}
	if g.Kill != nil {
		on, err := g.Kill.Engaged(ctx)
		switch {
		case err != nil:
			adm.Block = Rule{RuleKillSwitchUnreadable, err.Error()} // fail safe: cannot tell, do not act
		case on:
			adm.Block = Rule{RuleKillSwitch, "engaged"}
		}
	}
	return adm
}

// Verdict is the guard's answer for one action.
type Verdict struct {
	Allowed bool // act now; call Release afterwards
	DryRun  bool // would act, but the mode is dry-run
	Rule    Rule // why not, when neither Allowed nor DryRun
	release func(context.Context)
}

// Release frees what Check took (the target's lock).
func (v Verdict) Release(ctx context.Context) {
	if v.release != nil {
		v.release(ctx)
	}
}

// Check applies the per-action rules: the admission's block, budget and cooldown, the mode,
// and the lock. In dry-run the budget is still evaluated (read-only, no lock), so a report
// says truthfully whether the action would have been allowed.
func (g *Guard) Check(ctx context.Context, adm Admission, kind, target string) Verdict {
	if adm.Block.Set() {
		return Verdict{Rule: adm.Block}
	}
	if rule := g.budget(ctx, kind, target); rule.Set() {
		return Verdict{Rule: rule}
	}
	if g.Mode != config.ModeOn {
		return Verdict{DryRun: true}
	}
	if g.Ledger == nil {
		return Verdict{Allowed: true}
	}
	if err := g.Ledger.Lock(ctx, target, g.Owner, g.lockTTL()); err != nil {
		if errors.Is(err, ErrLocked) {
			return Verdict{Rule: Rule{RuleLock, "another invocation is acting on " + target}}
		}
		return Verdict{Rule: Rule{RuleLedgerUnavailable, err.Error()}}
	}
	// Re-check the budget under the lock: another invocation may have acted between the
	// first read and taking the lock.
	if rule := g.budget(ctx, kind, target); rule.Set() {
		_ = g.Ledger.Unlock(ctx, target, g.Owner)
		return Verdict{Rule: rule}
	}
	return Verdict{Allowed: true, release: func(ctx context.Context) { _ = g.Ledger.Unlock(ctx, target, g.Owner) }}
}

// budget returns the rule an action would break, or "". A budget keyed "<function>/<kind>"
// applies to that function's actions only (memory-high restarts a leaking ingestor at most
// every 6 h) and comes on top of the kind's budget, which counts every function's actions.
func (g *Guard) budget(ctx context.Context, kind, target string) Rule {
	if g.Function != "" {
		if rule := g.checkBudget(ctx, g.Function+"/"+kind, kind, target, g.Function); rule.Set() {
			return rule
		}
	}
	return g.checkBudget(ctx, kind, kind, target, "")
}

func (g *Guard) checkBudget(ctx context.Context, key, kind, target, function string) Rule {
	b, ok := g.Budgets[key]
	if !ok || g.Ledger == nil {
		return Rule{}
	}
	if b.Max <= 0 {
		return Rule{RuleBudget, fmt.Sprintf("%s is disabled for %s (budget 0)", key, target)}
	}
	now := g.now()
	since := now.Add(-maxDur(b.Window, b.Cooldown))
	hist, err := g.Ledger.History(ctx, target, kind, since)
	if err != nil {
		return Rule{RuleLedgerUnavailable, err.Error()}
	}
	inWindow := 0
	for _, e := range hist {
		if !e.Outcome.Changed() || (function != "" && e.Function != function) {
			continue
		}
		if b.Cooldown > 0 && now.Sub(e.At) < b.Cooldown {
			return Rule{RuleCooldown, fmt.Sprintf("last %s on %s was %s ago (minimum %s)", key, target, now.Sub(e.At).Round(time.Second), b.Cooldown)}
		}
		if now.Sub(e.At) < b.Window {
			inWindow++
		}
	}
	if b.Window > 0 && inWindow >= b.Max {
		return Rule{RuleBudget, fmt.Sprintf("%d %s on %s in the last %s (maximum %d)", inWindow, key, target, b.Window, b.Max)}
	}
	return Rule{}
}

// Record writes what an action did to the ledger (nothing without a ledger).
func (g *Guard) Record(ctx context.Context, e Entry) error {
	if g.Ledger == nil {
		return nil
	}
	if e.At.IsZero() {
		e.At = g.now()
	}
	if e.Function == "" {
		e.Function = g.Function
	}
	return g.Ledger.Record(ctx, e)
}

// History exposes the ledger's history (e.g. the desired count before a scale-up).
func (g *Guard) History(ctx context.Context, target, kind string, since time.Time) ([]Entry, error) {
	if g.Ledger == nil {
		return nil, nil
	}
	return g.Ledger.History(ctx, target, kind, since)
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Guard) lockTTL() time.Duration {
	if g.LockTTL > 0 {
		return g.LockTTL
	}
	return 5 * time.Minute
}

func (g *Guard) claimTTL() time.Duration {
	if g.ClaimTTL > 0 {
		return g.ClaimTTL
	}
	return 7 * 24 * time.Hour
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
