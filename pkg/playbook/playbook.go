// Package playbook is the pipeline every function shares:
//
//	event -> alarm.Decode -> guard.Admit -> Diagnose (probes in parallel) -> Decide (pure)
//	      -> guard.Check each action -> re-read state -> Act -> Verify -> Report -> Result
//
// A Playbook supplies the function-specific parts (what to look at, how to judge it, how to
// act and verify); this package owns the order, the guard rails and the reporting, so every
// function behaves the same way at 3 a.m.
package playbook

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/deadletter"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Target is what one alarm asks a function to look at.
type Target struct {
	Service  string          // the ECS service concerned, if any
	Role     string          // "ingestor" or "worker" (or "" when not a service)
	Queue    string          // the RabbitMQ queue concerned, if any
	Severity report.Severity // as the runbook grades the alarm
}

// ErrNotActionable wraps the reason an alarm is not for this function (another environment,
// an unknown alarm, a service this environment does not own). It is answered with a Result
// whose finding is "not-actionable", never with an error (Lambda would retry it forever).
var ErrNotActionable = errors.New("not actionable")

// Action kinds every function and the guard's budgets share.
const (
	KindForceNewDeployment = "force-new-deployment"
	KindRollback           = "rollback"
	KindRaiseTaskMemory    = "raise-task-memory"
	KindScaleService       = "scale-service"
	KindReplay             = "replay"
	KindPark               = "park"
)

// Action is a remediation step a decision proposes.
type Action struct {
	Kind   string // force-new-deployment, rollback, raise-task-memory, scale-service, replay, park
	Target string // what it acts on (a service name, a queue)
	Reason string // why, in a sentence
	// Change is what the action changes, typed as the decision saw it and asks for it.
	Change Change
	// Ref is the resource the action uses (the task definition to deploy or copy).
	Ref string
	// Expect is the state Precheck must still find right before acting (e.g. the primary
	// deployment the diagnosis saw); if it changed, someone else acted and we stand back.
	Expect string
	// Budget names the guard budget the action spends (default Kind). A scale-back spends
	// none: it undoes a scale-up and must not be stopped by that scale-up's cooldown.
	Budget string
	// Blocked is a rule the decision itself applied (a cap, a policy switch that is off); the
	// action is then reported as skipped with this rule and never executed.
	Blocked guard.Rule
}

// Change is what an action changes. Which fields are set depends on the kind; Describe
// renders them for the report, and nothing reads them back from text.
type Change struct {
	// FromCount and ToCount are desired task counts (scale-service).
	FromCount, ToCount int
	// FromMiB and ToMiB are task memory (raise-task-memory, which copies FromTaskDefinition).
	FromMiB, ToMiB int
	// FromTaskDefinition is the revision running now (a restart redeploys it); ToTaskDefinition
	// the one a rollback deploys.
	FromTaskDefinition, ToTaskDefinition string
	// MemoryPercent is the utilisation a leak restart was decided on (its verification
	// looks for the drop from it).
	MemoryPercent float64
	// Stalled is the number of running tasks that consume nothing (a restart of idle workers).
	Stalled int
	// Messages is how many messages a replay or a parking is about; Destination where they go
	// ("" for a replay: each to its original queue).
	Messages    int
	Destination string
	// Class is the class of dead letters a replay moves: the dlq function replays transient
	// ones itself; a replay of another class (bug) is a person's to approve (replay-dlq).
	Class deadletter.Class
	// Unseen is how many messages lie beyond the sample: a replay or a parking looks at them
	// too. Limit is the most messages this run may move (the per-run and per-hour paces).
	Unseen int
	Limit  int
}

// Describe renders the change for a report ("1 -> 2", "84 % -> fresh tasks").
func (a Action) Describe() string {
	c := a.Change
	switch a.Kind {
	case KindScaleService:
		return fmt.Sprintf("%d -> %d", c.FromCount, c.ToCount)
	case KindRollback:
		return shortRef(c.FromTaskDefinition) + " -> " + shortRef(c.ToTaskDefinition)
	case KindRaiseTaskMemory:
		if c.FromMiB == 0 {
			return ""
		}
		return fmt.Sprintf("%d MiB (%s) -> %d MiB", c.FromMiB, shortRef(c.FromTaskDefinition), c.ToMiB)
	case KindForceNewDeployment:
		switch {
		case c.MemoryPercent > 0:
			return fmt.Sprintf("%.0f %% -> fresh tasks", c.MemoryPercent)
		case c.Stalled > 0:
			return fmt.Sprintf("%d running, 0 consumers -> new deployment of %s", c.Stalled, shortRef(c.FromTaskDefinition))
		case c.FromTaskDefinition != "":
			return shortRef(c.FromTaskDefinition) + " -> new deployment of " + shortRef(c.FromTaskDefinition)
		}
	case KindReplay:
		if c.Unseen > 0 {
			return fmt.Sprintf("%d %s, and any among %d unseen -> their original queue(s)", c.Messages, c.Class, c.Unseen)
		}
		return fmt.Sprintf("%d %s -> their original queue(s)", c.Messages, c.Class)
	case KindPark:
		if c.Unseen > 0 {
			return fmt.Sprintf("%d bad-data, and any among %d unseen -> %s", c.Messages, c.Unseen, c.Destination)
		}
		return fmt.Sprintf("%d bad-data -> %s", c.Messages, c.Destination)
	}
	return ""
}

// shortRef is the last part of an ARN ("family:revision" of a task definition).
func shortRef(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

// Effect is what acting did. Changed is true when the target changed, even if the action
// then failed (a replay cut after moving some messages): such an action is verified and
// recorded like a done one, and the report says what it changed.
type Effect struct {
	Changed bool
	Detail  string // what changed, for the report
	Moved   int    // messages moved (replay, park)
}

// BudgetKey is the guard budget an action spends.
func (a Action) BudgetKey() string {
	if a.Budget != "" {
		return a.Budget
	}
	return a.Kind
}

// Decision is the pure judgement over the evidence.
type Decision struct {
	Finding         report.Finding
	Actions         []Action
	Recommendations []string
	// Missing names decisive evidence that could not be collected. With any, nothing acts.
	Missing []string
	// Escalate, when set, is why a human must look now even if actions were taken.
	Escalate string
	// Benign marks a state that is intended (scaled to zero on purpose): never page for it.
	Benign bool
}

// Playbook is one function's knowledge. E is its evidence type.
type Playbook[E any] interface {
	// Scope says what the alarm is about, or wraps ErrNotActionable with the reason.
	Scope(a alarm.Alarm) (Target, error)
	// Diagnose collects the evidence, running independent probes concurrently (see Probe);
	// a failed probe is reported in the diagnostics and leaves its part of E empty.
	Diagnose(ctx context.Context, a alarm.Alarm, t Target) (E, []report.Diagnostic)
	// Decide is pure: the same inputs always give the same Decision, no I/O. failed maps the
	// name of each probe that failed to its error (see Failed).
	Decide(a alarm.Alarm, t Target, e E, failed map[string]string) Decision
	// Precheck re-reads the state an action depends on right before acting; an error means
	// the world changed and the action is skipped with that reason.
	Precheck(ctx context.Context, act Action) error
	// Act performs one action and says what changed (also when it fails part-way).
	Act(ctx context.Context, act Action) (Effect, error)
	// Verify waits (bounded by ctx) for the effect of the actions that were done.
	Verify(ctx context.Context, t Target, done []Action) report.Verification
	// Present builds the headline, runbook commands, links and key metric for the report.
	Present(a alarm.Alarm, t Target, e E, r report.Result) report.Presentation
}

// OKHandler is implemented by playbooks that act on an alarm's return to OK (queue-depth
// scales back). Others only report the recovery.
type OKHandler interface {
	HandlesOK() bool
}
