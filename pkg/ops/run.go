package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/dlq"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/operation"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/service"
)

// Step kinds a report shows besides the playbooks' action kinds.
const (
	// KindWaitStable is the runbook's `aws ecs wait services-stable` as a step of its own.
	KindWaitStable = "wait-stable"
)

// budgetRestore is the guard budget of a Complete System Restart's scale-ups: none is
// configured under this key, so they are only locked (see the package comment).
const budgetRestore = "restore-count"

// RuleModeOff is the rule that refuses every change when the environment's mode is off (the
// code of the guard's refusal to admit).
const RuleModeOff guard.RuleCode = "mode-off"

// step is one change (or wait) of an operation's plan.
type step struct {
	kind   string // the report's action kind
	target string // the service (or services) concerned
	reason string
	detail string // the planned change, "1 -> 0"
	// budget is the guard budget the change spends; record is the ledger kind it is recorded
	// under. A step without act (a wait) needs no guard.
	budget, record string
	from, to       int
	hasCounts      bool
	// moved, when set, is where act leaves how many messages it moved (recorded with the step).
	moved           *int
	act             func(ctx context.Context) (detail string, changed bool, err error)
	wait            func(ctx context.Context) report.Verification
	waitIsVerifying bool // the wait is the report's Verification; otherwise a wait not verified fails the step
}

// run is one operation being performed.
type run struct {
	o      *Operator
	req    Request
	by     Requester
	apply  bool
	expect *State
	id     string

	guard guard.Guard
	adm   guard.Admission

	before   State
	diags    []report.Diagnostic
	evidence []string
	// blocked, when set, skips every step (what they need could not be read, or a request
	// that makes no sense against the state read).
	blocked guard.Rule
	steps   []step

	actions  []report.Action
	verdicts []guard.Verdict
	verif    *report.Verification
	// stoppedAt is the 1-based number of the step that stopped the plan (0: none did).
	stoppedAt int
	// restore are the counts a Complete System Restart brings the services back to.
	restoreIngestor, restoreWorker int
}

// Run performs r for by. apply=false is a dry run: it reads and plans, asks the guard,
// changes nothing, and says what it would do. expect, when set, must equal the State read
// again right before the first change; otherwise nothing is done and the step is skipped
// with guard.RuleStateChanged. The report has one action per step, in order.
func (o *Operator) Run(ctx context.Context, r Request, by Requester, apply bool, expect *State) report.Report {
	if err := r.Validate(o.Config); err != nil {
		return o.rejected(r, by, err)
	}
	if !r.Mutates() {
		return o.health(ctx, by)
	}
	ru := &run{o: o, req: r, by: by, apply: apply, expect: expect, id: o.runID(), guard: o.Guard}
	ru.guard.Owner, ru.guard.Function = ru.id, Function
	// The locks a run takes are held until it ends: they must outlast its waits (three at
	// most, the drain check included), or another invocation could act between two steps.
	ru.guard.LockTTL = max(ru.guard.LockTTL, 3*o.stableTimeout()+time.Minute)
	if ru.guard.Now == nil {
		ru.guard.Now = o.now
	}
	if ru.guard.Mode != config.ModeOff {
		ru.guard.Mode = config.ModeDryRun
		if apply {
			ru.guard.Mode = config.ModeOn
		}
	}
	ru.adm = ru.guard.Admit(ctx, "gpr/"+ru.id)
	ru.evidence = append(ru.evidence, "asked by "+by.String()+": "+r.String())
	ru.plan(ctx)
	ru.perform(ctx)
	for _, v := range ru.verdicts {
		v.Release(context.WithoutCancel(ctx))
	}
	return ru.report(ctx)
}

// rejected answers a request that does not validate: nothing is read or changed.
func (o *Operator) rejected(r Request, by Requester, err error) report.Report {
	res := o.result(modeFor(o.Guard.Mode, false))
	res.Finding = report.Finding{Code: "manual-" + string(r.Kind), Summary: "bad request: " + err.Error(),
		Evidence: []string{"asked by " + by.String()}}
	res.Error = err.Error()
	o.log().Warn("operation refused: bad request", "request", r.String(), "by", by.String(), "error", err.Error())
	return report.Report{Result: res, Severity: report.SeverityInfo,
		Presentation: report.Presentation{Headline: "Not done: " + err.Error()}}
}

func (o *Operator) result(mode string) report.Result {
	return report.Result{Function: Function, Environment: o.Config.Environment, Mode: mode,
		Actions: []report.Action{}, Recommendations: []string{}, Diagnostics: []report.Diagnostic{}, Sinks: []report.Sink{},
		Finding: report.Finding{Evidence: []string{}}}
}

// modeFor is the mode a run acts in: off, or on when asked to apply, else dry-run.
func modeFor(m config.Mode, apply bool) string {
	switch {
	case m == config.ModeOff:
		return string(config.ModeOff)
	case apply:
		return string(config.ModeOn)
	}
	return string(config.ModeDryRun)
}

// plan reads the services concerned and lays out the steps.
func (ru *run) plan(ctx context.Context) {
	o := ru.o
	if rs := roles(ru.req); len(rs) > 0 {
		start := time.Now()
		st, err := o.readState(ctx, rs)
		ru.before = st
		d := report.Diagnostic{Name: "ecs.services", OK: err == nil, MS: time.Since(start).Milliseconds()}
		if err != nil {
			d.Error = err.Error()
			ru.blocked = guard.Rule{Code: guard.RuleMissingEvidence, Detail: "could not read the services: " + err.Error()}
		} else {
			ru.evidence = append(ru.evidence, "before: "+st.String())
		}
		ru.diags = append(ru.diags, d)
	}
	switch ru.req.Kind {
	case KindScale:
		ru.planScale(ru.req.Role, ru.req.Count)
	case KindRestart:
		ru.planRestart()
	case KindRollback:
		ru.planRollback(ctx)
	case KindRaiseMemory:
		ru.planRaiseMemory(ctx)
	case KindCompleteRestart:
		ru.planCompleteRestart()
	case KindDisable:
		ru.planDisable()
	case KindReplayDLQ:
		ru.planReplay(ctx)
	}
	if !ru.blocked.Set() && ru.startsIngestor() {
		ru.checkDiscord(ctx)
	}
}

// ProbeDiscord is the diagnostic of the Discord session budget.
const ProbeDiscord = "discord.session-budget"

// startsIngestor says whether the plan starts ingestor tasks (new gateway sessions).
func (ru *run) startsIngestor() bool {
	switch ru.req.Kind {
	case KindCompleteRestart:
		return true
	case KindRestart, KindRollback, KindRaiseMemory:
		return ru.req.Role == RoleIngestor
	case KindScale:
		return ru.req.Role == RoleIngestor && ru.req.Count > ru.before.Ingestor.Desired
	}
	return false
}

// checkDiscord reads the session budget and blocks the plan when it is too low or unknown.
func (ru *run) checkDiscord(ctx context.Context) {
	o := ru.o
	start := time.Now()
	var d service.DiscordEvidence
	err := errors.New("no Discord token configured")
	if o.Discord != nil {
		d, err = o.Discord.SessionBudget(ctx)
	}
	diag := report.Diagnostic{Name: ProbeDiscord, OK: err == nil, MS: time.Since(start).Milliseconds()}
	probeErr := ""
	if err != nil {
		diag.Error, probeErr = err.Error(), err.Error()
	}
	ru.diags = append(ru.diags, diag)
	if line := service.DiscordLine(d); line != "" {
		ru.evidence = append(ru.evidence, line)
	}
	ru.blocked = service.DiscordBlock(d, probeErr, o.Config.MinDiscordSessions)
}

func (ru *run) desired(role string) int {
	if role == RoleIngestor {
		return ru.before.Ingestor.Desired
	}
	return ru.before.Worker.Desired
}

// scaleStep sets role's desired count to n; with wait, it then waits until the service is
// stable at n.
func (ru *run) scaleStep(role string, from, n int, budget, reason string, wait bool) step {
	o := ru.o
	name := o.serviceName(role)
	s := step{kind: playbook.KindScaleService, target: name, reason: reason, detail: fmt.Sprintf("%d -> %d", from, n),
		budget: budget, record: playbook.KindScaleService, from: from, to: n, hasCounts: true}
	var failedBefore int
	s.act = func(ctx context.Context) (string, bool, error) {
		svc, err := o.ECS.SetDesiredCount(ctx, name, n)
		if err != nil {
			return "", false, err
		}
		prim, _ := svc.Primary()
		failedBefore = prim.Failed
		return fmt.Sprintf("desired %d -> %d", from, n), true, nil
	}
	if wait {
		s.wait = func(ctx context.Context) report.Verification {
			return o.waitStable(ctx, name, n, "", failedBefore)
		}
	}
	return s
}

func (ru *run) planScale(role string, n int) {
	s := ru.scaleStep(role, ru.desired(role), n, playbook.KindScaleService, "asked for "+ru.req.String(), true)
	s.waitIsVerifying = true
	ru.steps = append(ru.steps, s)
}

// deployWait waits for the deployment the change started to be stable.
func (ru *run) deployWait(name string, deployment *string, want *int) func(ctx context.Context) report.Verification {
	return func(ctx context.Context) report.Verification {
		return ru.o.waitStable(ctx, name, *want, *deployment, 0)
	}
}

func (ru *run) planRestart() {
	o, role := ru.o, ru.req.Role
	name := o.serviceName(role)
	var deployment string
	var want int
	current := ru.before.stateOf(role).TaskDefinition
	ru.steps = append(ru.steps, step{kind: playbook.KindForceNewDeployment, target: name, reason: "asked for " + ru.req.String(),
		detail: ecs.Short(current) + " -> new deployment of " + ecs.Short(current), budget: playbook.KindForceNewDeployment, record: playbook.KindForceNewDeployment,
		act: func(ctx context.Context) (string, bool, error) {
			svc, err := o.ECS.ForceNewDeployment(ctx, name)
			if err != nil {
				return "", false, err
			}
			prim, _ := svc.Primary()
			deployment, want = prim.ID, svc.Desired
			return fmt.Sprintf("new deployment %s of %s", prim.ID, ecs.Short(prim.TaskDefinition)), true, nil
		},
		wait: ru.deployWait(name, &deployment, &want), waitIsVerifying: true})
}

func (s State) stateOf(role string) ServiceState {
	if role == RoleIngestor {
		return s.Ingestor
	}
	return s.Worker
}

func (ru *run) planRollback(ctx context.Context) {
	o, role := ru.o, ru.req.Role
	name := o.serviceName(role)
	current := ru.before.stateOf(role).TaskDefinition
	s := step{kind: playbook.KindRollback, target: name, reason: "asked for " + ru.req.String(),
		budget: playbook.KindRollback, record: playbook.KindRollback}
	defer func() { ru.steps = append(ru.steps, s) }()
	if ru.blocked.Set() {
		s.detail = ecs.Short(current) + " -> " + ru.req.Revision
		return
	}
	curFamily, _, _ := ecs.ParseRevision(current)
	family, rev, _ := operation.SplitRevision(ru.req.Revision)
	if family == "" {
		family = curFamily
	}
	ref := fmt.Sprintf("%s:%d", family, rev)
	s.detail = ecs.Short(current) + " -> " + ref
	if family != curFamily {
		ru.blocked = guard.Rule{Code: guard.RuleState, Detail: fmt.Sprintf("%s is not a revision of %s's task definition family %s", ref, name, curFamily)}
		return
	}
	if ref == ecs.Short(current) {
		ru.blocked = guard.Rule{Code: guard.RuleState, Detail: name + " already runs " + ref}
		return
	}
	start := time.Now()
	td, err := o.ECS.TaskDefinition(ctx, ref)
	d := report.Diagnostic{Name: "ecs.task-definition", OK: err == nil, MS: time.Since(start).Milliseconds()}
	if err != nil {
		d.Error = err.Error()
		ru.blocked = guard.Rule{Code: guard.RuleMissingEvidence, Detail: "could not read " + ref + ": " + err.Error()}
	}
	ru.diags = append(ru.diags, d)
	if err != nil {
		return
	}
	if strings.HasPrefix(ru.req.Revision, "arn:") && td.ARN != ru.req.Revision {
		ru.blocked = guard.Rule{Code: guard.RuleState, Detail: fmt.Sprintf("%s is not in this account and region (%s is)", ru.req.Revision, td.ARN)}
		return
	}
	target := td.ARN
	var deployment string
	var want int
	s.act = func(ctx context.Context) (string, bool, error) {
		svc, err := o.ECS.SetTaskDefinition(ctx, name, target)
		if err != nil {
			return "", false, err
		}
		prim, _ := svc.Primary()
		deployment, want = prim.ID, svc.Desired
		return fmt.Sprintf("%s -> %s (deployment %s)", ecs.Short(current), ecs.Short(target), prim.ID), true, nil
	}
	s.wait, s.waitIsVerifying = ru.deployWait(name, &deployment, &want), true
}

func (ru *run) planRaiseMemory(ctx context.Context) {
	o, role, mib := ru.o, ru.req.Role, ru.req.MemoryMiB
	name := o.serviceName(role)
	current := ru.before.stateOf(role).TaskDefinition
	s := step{kind: playbook.KindRaiseTaskMemory, target: name, reason: "asked for " + ru.req.String(),
		detail: fmt.Sprintf("%s -> %d MiB", ecs.Short(current), mib), budget: playbook.KindRaiseTaskMemory, record: playbook.KindRaiseTaskMemory}
	defer func() { ru.steps = append(ru.steps, s) }()
	if ru.blocked.Set() {
		return
	}
	start := time.Now()
	td, err := o.ECS.TaskDefinition(ctx, current)
	d := report.Diagnostic{Name: "ecs.task-definition", OK: err == nil, MS: time.Since(start).Milliseconds()}
	if err != nil {
		d.Error = err.Error()
		ru.blocked = guard.Rule{Code: guard.RuleMissingEvidence, Detail: "could not read " + ecs.Short(current) + ": " + err.Error()}
	}
	ru.diags = append(ru.diags, d)
	if err != nil {
		return
	}
	if td.MemoryMiB > 0 {
		s.detail = fmt.Sprintf("%d MiB (%s) -> %d MiB", td.MemoryMiB, ecs.Short(current), mib)
		ru.evidence = append(ru.evidence, fmt.Sprintf("%s: task memory %d MiB", ecs.Short(current), td.MemoryMiB))
	}
	if td.MemoryMiB >= mib {
		ru.blocked = guard.Rule{Code: guard.RuleState, Detail: fmt.Sprintf("%s already has %d MiB; raise-memory only raises", ecs.Short(current), td.MemoryMiB)}
		return
	}
	var deployment string
	var want int
	s.act = func(ctx context.Context) (string, bool, error) {
		next, err := o.ECS.RegisterWithMemory(ctx, td, mib)
		if err != nil {
			return "", false, err
		}
		svc, err := o.ECS.SetTaskDefinition(ctx, name, next.ARN)
		if err != nil {
			// A registered revision changes nothing that runs: the service is as it was.
			return fmt.Sprintf("registered %s with %d MiB but could not deploy it", ecs.Short(next.ARN), mib), false, err
		}
		prim, _ := svc.Primary()
		deployment, want = prim.ID, svc.Desired
		return fmt.Sprintf("registered %s with %d MiB (was %d MiB), deployment %s", ecs.Short(next.ARN), mib, td.MemoryMiB, prim.ID), true, nil
	}
	s.wait, s.waitIsVerifying = ru.deployWait(name, &deployment, &want), true
}

// waitBothAtZero is the runbook's wait for both services to be stable at 0.
func (ru *run) waitBothAtZero() step {
	o := ru.o
	return step{kind: KindWaitStable, target: o.Config.IngestorService + ", " + o.Config.WorkerService,
		reason: "the runbook waits for both services to drain (messages buffer in RabbitMQ)", detail: "both at 0 tasks",
		wait: func(ctx context.Context) report.Verification {
			start := time.Now()
			ctx, cancel := context.WithTimeout(ctx, o.stableTimeout())
			defer cancel()
			vi := o.waitStable(ctx, o.Config.IngestorService, 0, "", 0)
			if vi.Status != report.Verified {
				return vi
			}
			vw := o.waitStable(ctx, o.Config.WorkerService, 0, "", 0)
			if vw.Status != report.Verified {
				return vw
			}
			return report.Verification{Status: report.Verified, MS: time.Since(start).Milliseconds(), Detail: "both services stable at 0 tasks"}
		}}
}

func (ru *run) planCompleteRestart() {
	ing, wrk := ru.desired(RoleIngestor), ru.desired(RoleWorker)
	ru.restoreIngestor, ru.restoreWorker = max(1, ing), max(1, wrk)
	if !ru.blocked.Set() {
		ru.evidence = append(ru.evidence, fmt.Sprintf("counts to restore (recorded before scaling down, at least 1): worker %d, ingestor %d", ru.restoreWorker, ru.restoreIngestor))
	}
	ru.steps = append(ru.steps,
		ru.scaleStep(RoleIngestor, ing, 0, playbook.KindScaleService, "Complete System Restart step 1: scale down both services (ingestor first: it stops publishing)", false),
		ru.scaleStep(RoleWorker, wrk, 0, playbook.KindScaleService, "Complete System Restart step 1: scale down both services", false),
		ru.waitBothAtZero(),
		ru.scaleStep(RoleWorker, 0, ru.restoreWorker, budgetRestore, "Complete System Restart step 3: worker back to its count before the restart, first", true),
		ru.scaleStep(RoleIngestor, 0, ru.restoreIngestor, budgetRestore, "Complete System Restart step 3: ingestor back to its count before the restart, after the worker", true),
	)
}

func (ru *run) planDisable() {
	ru.steps = append(ru.steps,
		ru.scaleStep(RoleIngestor, ru.desired(RoleIngestor), 0, playbook.KindScaleService, "Disable Gateway Proxy: scale down (Sietch handles the Discord gateway itself)", false),
		ru.scaleStep(RoleWorker, ru.desired(RoleWorker), 0, playbook.KindScaleService, "Disable Gateway Proxy: scale down", false),
		ru.waitBothAtZero(),
	)
	ru.evidence = append(ru.evidence, UseGatewayProxyLine)
}

// planReplay is the runbook's "if bug: fix code, replay": the messages of the class asked for,
// at most the count asked for (or the per-run cap), each back to the queue it died in. The
// replay reads the DLQ as it is when it runs: an empty DLQ is nothing to replay, not a failure.
func (ru *run) planReplay(ctx context.Context) {
	o := ru.o
	class, n := ru.req.Class, ru.req.ReplayLimit(o.Config)
	s := step{kind: playbook.KindReplay, target: o.Config.DLQ, reason: "asked for " + ru.req.String() + " (the person says the cause is fixed)",
		detail: fmt.Sprintf("up to %d %s message(s) -> the queue(s) they died in", n, class),
		budget: playbook.KindReplay, record: playbook.KindReplay}
	defer func() { ru.steps = append(ru.steps, s) }()
	if o.DLQ == nil {
		ru.blocked = guard.Rule{Code: guard.RuleMissingEvidence, Detail: "no broker configured: " + o.Config.DLQ + " cannot be read from here"}
		return
	}
	if !ru.apply {
		ru.countDLQ(ctx)
	}
	var res rabbit.ReplayResult
	var moved int
	s.moved = &moved
	s.act = func(ctx context.Context) (string, bool, error) {
		// The replay needs a deadline (it stops taking messages before it); the waits' bound is
		// the operation's.
		ctx, cancel := context.WithTimeout(ctx, o.stableTimeout())
		defer cancel()
		var err error
		res, err = o.DLQ.Replay(ctx, class, n)
		moved = res.Replayed
		if err == nil && res.Replayed == 0 && len(res.MissingTargets) > 0 {
			err = fmt.Errorf("target queue(s) %s do not exist; the messages stay in %s", strings.Join(res.MissingTargets, ", "), o.Config.DLQ)
		}
		detail := dlq.Describe(dlq.Replay, res)
		if err == nil && res.Replayed == 0 {
			detail = replayedNothing(class, res)
			if res.Seen > 0 {
				detail += "; " + strings.TrimPrefix(dlq.Describe(dlq.Replay, res), "replayed 0 message(s); ")
			}
		}
		if res.RunID != "" { // the run started: its depth was read
			ru.evidence = append(ru.evidence, fmt.Sprintf("%s held %d ready message(s) when the replay started", o.Config.DLQ, res.Depth))
		}
		return detail, res.Replayed > 0, err
	}
	s.wait, s.waitIsVerifying = func(context.Context) report.Verification {
		if res.Replayed == 0 {
			return report.Verification{Status: report.NotNeeded, Detail: "nothing was moved"}
		}
		// Every message counted as replayed had the broker's positive confirm for a mandatory
		// publish with no return: it is in its queue, and its DLQ copy was acknowledged after.
		return report.Verification{Status: report.Verified, MS: res.Duration.Milliseconds(),
			Detail: fmt.Sprintf("%d message(s) confirmed by the broker in their queue(s) (publisher confirms, no return) and removed from %s", res.Replayed, o.Config.DLQ)}
	}, true
}

// countDLQ is a dry run's look at the DLQ: how many messages are there now. Which class each
// is only the replay reads (it takes each message to classify it), so a dry run does not say
// how many would move. A failed read is a failed diagnostic; the dry run still says what it
// would do.
func (ru *run) countDLQ(ctx context.Context) {
	o := ru.o
	start := time.Now()
	q, err := o.DLQ.Inspect(ctx)
	d := report.Diagnostic{Name: ProbeDLQ, OK: err == nil, MS: time.Since(start).Milliseconds()}
	if err != nil {
		d.Error = err.Error()
	} else {
		ru.evidence = append(ru.evidence, fmt.Sprintf("%s holds %d ready message(s) now, %d consumer(s); their classes are read only by the replay", o.Config.DLQ, q.Ready, q.Consumers))
	}
	ru.diags = append(ru.diags, d)
}

// replayedNothing says why a replay moved nothing: the DLQ was empty, or held none of class
// that could move.
func replayedNothing(class rabbit.Class, r rabbit.ReplayResult) string {
	if r.Depth == 0 && r.Seen == 0 {
		return "nothing to replay: " + r.DLQ + " is empty"
	}
	return fmt.Sprintf("nothing to replay: no %s message that could move among the %d looked at", class, r.Seen)
}

// UseGatewayProxyLine is what every Disable Gateway Proxy report says first: the runbook's
// first step is outside this system.
const UseGatewayProxyLine = "Sietch's USE_GATEWAY_PROXY=false must be set by a person in the Sietch deployment: it is outside this system, and gpr did not set it"

// perform runs the steps in order, stopping at the first that does not complete.
func (ru *run) perform(ctx context.Context) {
	var stop guard.Rule
	checkedExpect := false
	for i, s := range ru.steps {
		ra := report.Action{Kind: s.kind, Target: s.target, Reason: s.reason, Detail: s.detail}
		switch {
		case !ru.adm.Proceed:
			ru.actions = append(ru.actions, skipped(ra, guard.Rule{Code: guard.RuleCode(ru.adm.Code), Detail: ru.adm.Reason}))
			continue
		case ru.blocked.Set():
			ru.actions = append(ru.actions, skipped(ra, ru.blocked))
			continue
		case stop.Set():
			ru.actions = append(ru.actions, skipped(ra, stop))
			continue
		}
		if s.act != nil {
			v := ru.guard.Check(ctx, ru.adm, s.budget, s.target)
			if !v.Allowed && !v.DryRun {
				ru.actions = append(ru.actions, skipped(ra, v.Rule))
				stop = ru.stop(i, "skipped: "+v.Rule.String())
				continue
			}
			if v.Allowed {
				ru.verdicts = append(ru.verdicts, v)
			}
			if !checkedExpect && ru.expect != nil {
				checkedExpect = true
				if rule := ru.checkExpect(ctx); rule.Set() {
					ru.actions = append(ru.actions, skipped(ra, rule))
					stop = rule
					ru.stoppedAt = i + 1
					continue
				}
			}
			if v.DryRun {
				ra.Outcome = report.OutcomeDryRun
				ru.actions = append(ru.actions, ra)
				continue
			}
		} else if !ru.apply || ru.guard.Mode != config.ModeOn {
			ra.Outcome = report.OutcomeDryRun
			ru.actions = append(ru.actions, ra)
			continue
		}
		ra = ru.execute(ctx, s, ra)
		ru.actions = append(ru.actions, ra)
		if ra.Outcome == report.OutcomeFailed {
			stop = ru.stop(i, "failed: "+ra.Reason)
		}
	}
}

// stop marks step i as the one that stopped the plan and returns the rule the rest get.
func (ru *run) stop(i int, why string) guard.Rule {
	ru.stoppedAt = i + 1
	s := ru.steps[i]
	return guard.Rule{Code: guard.RulePreviousActionFailed, Detail: fmt.Sprintf("step %d (%s %s) %s", i+1, s.kind, s.target, why)}
}

// checkExpect re-reads the state the run was offered on; the zero Rule when it still holds.
func (ru *run) checkExpect(ctx context.Context) guard.Rule {
	now, err := ru.o.State(ctx, ru.req)
	switch {
	case err != nil:
		return guard.Rule{Code: guard.RuleMissingEvidence, Detail: "could not re-read the state before acting: " + err.Error()}
	case now != *ru.expect:
		return guard.Rule{Code: guard.RuleStateChanged, Detail: "offered on " + ru.expect.String() + "; now " + now.String()}
	}
	return guard.Rule{}
}

// execute acts, records and waits for one step.
func (ru *run) execute(ctx context.Context, s step, ra report.Action) report.Action {
	o := ru.o
	ra.Outcome = report.OutcomeDone
	changed := false
	if s.act != nil {
		detail, ch, err := s.act(ctx)
		changed = ch
		if detail != "" {
			ra.Detail = detail
		}
		recorded := guard.OutcomeDone
		if err != nil {
			ra.Outcome, recorded = report.OutcomeFailed, guard.OutcomeFailed
			ra.Reason = s.reason + "; failed: " + err.Error()
			if changed { // a replay cut short after moving some: it counts, as the functions record it
				recorded = guard.OutcomePartial
			}
		}
		if err == nil && s.wait != nil && !s.waitIsVerifying {
			v := s.wait(ctx)
			if v.Status == report.Verified {
				ra.Detail += "; " + v.Detail
			} else {
				ra.Outcome, recorded = report.OutcomeFailed, guard.OutcomePartial
				ra.Reason = s.reason + "; not stable (" + v.Status + "): " + v.Detail
			}
		}
		rec := guard.Entry{Target: s.target, Kind: s.record, Outcome: recorded, AlarmKey: "gpr/" + ru.id,
			FromCount: s.from, ToCount: s.to, HasCounts: s.hasCounts}
		if s.moved != nil {
			rec.Moved = *s.moved
		}
		if rerr := ru.guard.Record(context.WithoutCancel(ctx), rec); rerr != nil {
			o.log().ErrorContext(ctx, "could not record the operation's step in the ledger", "kind", s.kind, "target", s.target, "error", rerr.Error())
			ra.Detail = strings.TrimSpace(ra.Detail + " (not recorded in the ledger: " + rerr.Error() + ")")
		}
		// A step that failed after changing something (a replay cut short) is verified too: what
		// it changed must be said.
		if (err == nil || changed) && s.wait != nil && s.waitIsVerifying {
			v := s.wait(ctx)
			ru.verif = &v
		}
	} else if s.wait != nil {
		v := s.wait(ctx)
		if v.Status == report.Verified {
			ra.Detail = v.Detail
		} else {
			ra.Outcome = report.OutcomeFailed
			ra.Reason = s.reason + "; not stable (" + v.Status + "): " + v.Detail
		}
		if ru.req.Kind == KindDisable {
			ru.verif = &v
		}
	}
	o.log().InfoContext(ctx, "operation step", "run", ru.id, "request", ru.req.String(), "by", ru.by.String(),
		"kind", s.kind, "target", s.target, "outcome", string(ra.Outcome), "changed", changed, "detail", ra.Detail)
	return ra
}

func skipped(ra report.Action, rule guard.Rule) report.Action {
	ra.Outcome, ra.Reason, ra.Rule = report.OutcomeSkipped, rule.String(), string(rule.Code)
	return ra
}

// waitStable polls service until it is stable at want tasks (desired and running want, none
// pending, one deployment, which is deployment when given), its tasks fail to start, or ctx
// (bounded by StableTimeout) ends. failedBefore is the primary deployment's failed-task count
// before the change (a new deployment counts from 0); failures count only when tasks are to
// start (want > 0). A service with tasks must be seen stable on two polls in a row: a
// crash-looping task can run for a few seconds.
func (o *Operator) waitStable(ctx context.Context, service string, want int, deployment string, failedBefore int) report.Verification {
	ctx, cancel := context.WithTimeout(ctx, o.stableTimeout())
	defer cancel()
	start := time.Now()
	seen := 0
	var last ecs.Service
	var lastErr error
	read, errs := false, 0
	for {
		svc, err := o.ECS.Service(ctx, service)
		if err != nil {
			lastErr = err
			if errs++; errs >= maxReadErrors {
				return report.Verification{Status: report.Unverified, MS: ms(start), Detail: fmt.Sprintf("could not read %s %d times in a row: %v", service, errs, err)}
			}
		} else {
			last, lastErr, read, errs = svc, nil, true, 0
			prim, _ := svc.Primary()
			failed := prim.Failed - failedBefore
			if deployment != "" {
				failed = prim.Failed
			}
			switch {
			case deployment != "" && prim.ID != "" && prim.ID != deployment:
				return report.Verification{Status: report.VerifyFailed, MS: ms(start),
					Detail: fmt.Sprintf("%s: another deployment (%s) replaced %s", service, prim.ID, deployment)}
			case prim.RolloutState == "FAILED":
				return report.Verification{Status: report.VerifyFailed, MS: ms(start),
					Detail: fmt.Sprintf("%s: deployment %s failed (%s)", service, prim.ID, prim.RolloutReason)}
			case want > 0 && failed >= failureThreshold(want): // tasks stopping on a scale-down are no failure
				return report.Verification{Status: report.VerifyFailed, MS: ms(start),
					Detail: fmt.Sprintf("%s: %d task(s) failed to start (desired %d, running %d)", service, failed, svc.Desired, svc.Running)}
			case svc.Desired == want && svc.Running == want && svc.Pending == 0 && len(svc.Deployments) <= 1 &&
				(prim.RolloutState == "" || prim.RolloutState == "COMPLETED"):
				seen++
				if want == 0 || seen >= 2 {
					detail := fmt.Sprintf("%s stable: %d of %d task(s) running", service, svc.Running, want)
					if prim.ID != "" {
						detail += fmt.Sprintf(" (deployment %s, %s)", prim.ID, ecs.Short(prim.TaskDefinition))
					}
					return report.Verification{Status: report.Verified, MS: ms(start), Detail: detail}
				}
			default:
				seen = 0
			}
		}
		select {
		case <-ctx.Done():
			if !read || lastErr != nil {
				return report.Verification{Status: report.Unverified, MS: ms(start), Detail: fmt.Sprintf("could not read %s: %v", service, lastErr)}
			}
			return report.Verification{Status: report.Pending, MS: ms(start), Detail: fmt.Sprintf("%s not stable after %s: desired %d, running %d, pending %d, %d deployment(s)",
				service, time.Since(start).Round(time.Second), last.Desired, last.Running, last.Pending, len(last.Deployments))}
		case <-time.After(o.pollInterval()):
		}
	}
}

// failureThreshold is how many failed task starts end a wait: the ECS deployment circuit
// breaker's threshold (half the desired count, at least 3, at most 200).
func failureThreshold(desired int) int { return min(max((desired+1)/2, 3), 200) }

// waitDrain is the runbook's last step: the work queue drains (its ready count falls, or is
// 0) with consumers on it, within StableTimeout.
func (o *Operator) waitDrain(ctx context.Context) report.Verification {
	q := o.Config.Queue
	if o.Queues == nil {
		return report.Verification{Status: report.Unverified, Detail: "the queues cannot be read (no broker configured): check the dashboard for " + q + " decreasing"}
	}
	ctx, cancel := context.WithTimeout(ctx, o.stableTimeout())
	defer cancel()
	start := time.Now()
	first, errs := -1, 0
	var last QueueStatus
	var lastErr error
	for {
		st, err := o.Queues.Queue(ctx, q)
		if err != nil {
			lastErr = err
			if errs++; errs >= maxReadErrors {
				return report.Verification{Status: report.Unverified, MS: ms(start), Detail: fmt.Sprintf("could not read %s %d times in a row: %v", q, errs, err)}
			}
		} else {
			last, lastErr, errs = st, nil, 0
			if first < 0 {
				first = st.Ready
			}
			if st.Consumers > 0 && (st.Ready == 0 || st.Ready < first) {
				return report.Verification{Status: report.Verified, MS: ms(start),
					Detail: fmt.Sprintf("%s draining: ready %d -> %d, %d consumer(s)", q, first, st.Ready, st.Consumers)}
			}
		}
		select {
		case <-ctx.Done():
			if lastErr != nil || first < 0 {
				return report.Verification{Status: report.Unverified, MS: ms(start), Detail: fmt.Sprintf("could not read %s: %v", q, lastErr)}
			}
			return report.Verification{Status: report.Pending, MS: ms(start),
				Detail: fmt.Sprintf("%s not draining after %s: ready %d -> %d, %d consumer(s)", q, time.Since(start).Round(time.Second), first, last.Ready, last.Consumers)}
		case <-time.After(o.pollInterval()):
		}
	}
}

// maxReadErrors ends a wait whose reads keep failing (each already retried by the SDK): the
// report then says the effect is unknown instead of waiting out the whole bound.
const maxReadErrors = 3

func ms(start time.Time) int64 { return time.Since(start).Milliseconds() }
