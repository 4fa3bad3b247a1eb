package ops_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/arrakis/gp-remediation/pkg/app"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/ops"
	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/secrets"
	"github.com/arrakis/gp-remediation/pkg/service"
	"github.com/arrakis/gp-remediation/sandbox"
)

// fixture is an Operator wired to a sandbox through the real SDK clients, with an in-memory
// ledger and the sandbox's SSM kill switch.
type fixture struct {
	sb     *sandbox.Sandbox
	op     *ops.Operator
	ecs    ecs.Client
	ledger *guard.MemoryLedger
	cfg    config.Config
}

func setup(t *testing.T, scenario string, env map[string]string) *fixture {
	t.Helper()
	return setupWith(t, sandbox.Options{}, scenario, env)
}

// setupWith is setup with the sandbox's options (its broker) given.
func setupWith(t *testing.T, opts sandbox.Options, scenario string, env map[string]string) *fixture {
	t.Helper()
	opts.TaskStartDelay = 50 * time.Millisecond
	sb := sandbox.StartTest(t, opts)
	if err := sb.LoadScenario(scenario); err != nil {
		t.Fatal(err)
	}
	vars := sb.Env()
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	awsCfg, err := sb.AWSConfig(context.Background(), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	client := ecs.Client{API: awsecs.NewFromConfig(awsCfg), Cluster: cfg.Cluster}
	ledger := guard.NewMemoryLedger()
	store := &secrets.Store{API: secretsmanager.NewFromConfig(awsCfg)}
	op := &ops.Operator{
		Config: cfg, ECS: client,
		Discord: service.SecretDiscord{Secrets: store, Secret: cfg.DiscordSecret, APIURL: cfg.DiscordAPIURL, HTTP: http.DefaultClient},
		Guard: guard.Guard{Mode: cfg.Mode, Kill: guard.SSMKillSwitch{Client: ssm.NewFromConfig(awsCfg), Name: cfg.KillSwitchParam},
			Ledger: ledger, Budgets: app.Budgets(cfg), LockTTL: time.Minute},
		StableTimeout: 20 * time.Second, PollInterval: 20 * time.Millisecond,
	}
	return &fixture{sb: sb, op: op, ecs: client, ledger: ledger, cfg: cfg}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

var alice = ops.Requester{Who: "U123 (alice)", Via: "cli"}

func mustParse(t *testing.T, s string) ops.Request {
	t.Helper()
	r, err := ops.Parse(strings.Fields(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// update is an UpdateService request in a form easy to compare: "worker desired 3".
func updates(f *fixture) []string {
	var out []string
	for _, u := range f.sb.ServiceUpdates() {
		role := strings.TrimPrefix(strings.TrimPrefix(u.Service, "arrakis-staging-"), "gp-")
		switch {
		case u.DesiredCount != nil:
			out = append(out, fmt.Sprintf("%s desired %d", role, *u.DesiredCount))
		case u.TaskDefinition != "":
			out = append(out, fmt.Sprintf("%s deploy %s", role, ecs.Short(u.TaskDefinition)))
		case u.ForceNewDeployment:
			out = append(out, role+" restart")
		}
	}
	return out
}

func outcomes(r report.Report) []string {
	var out []string
	for _, a := range r.Result.Actions {
		s := string(a.Outcome)
		if a.Rule != "" {
			s += " (" + a.Rule + ")"
		}
		out = append(out, a.Kind+" "+strings.TrimPrefix(a.Target, "arrakis-staging-")+": "+s)
	}
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func snapshot(t *testing.T, f *fixture, role string) sandbox.ServiceSnapshot {
	t.Helper()
	name := f.cfg.WorkerService
	if role == ops.RoleIngestor {
		name = f.cfg.IngestorService
	}
	s, ok := f.sb.Service(name)
	if !ok {
		t.Fatalf("no service %s", name)
	}
	return s
}

// Every report renders with the existing renderers, its headline first.
func renders(t *testing.T, r report.Report) string {
	t.Helper()
	_, body := render.Text(r)
	if !strings.HasPrefix(body, r.Headline) {
		t.Errorf("text rendering does not start with the headline %q:\n%s", r.Headline, body)
	}
	if _, err := render.Slack(r); err != nil {
		t.Errorf("slack: %v", err)
	}
	if _, err := render.Discord(r); err != nil {
		t.Errorf("discord: %v", err)
	}
	return body
}

func TestScale(t *testing.T) {
	f := setup(t, "healthy", nil)
	r := f.op.Run(ctx(t), mustParse(t, "scale worker 3"), alice, true, nil)
	renders(t, r)
	equal(t, "actions", outcomes(r), []string{"scale-service gp-worker: done"})
	equal(t, "updates", updates(f), []string{"worker desired 3"})
	if v := r.Result.Verification; v == nil || v.Status != report.Verified {
		t.Errorf("verification %+v; want verified", v)
	}
	if s := snapshot(t, f, ops.RoleWorker); s.Desired != 3 || s.Running != 3 {
		t.Errorf("worker desired %d running %d; want 3/3", s.Desired, s.Running)
	}
	if r.Result.Function != "gpr" || r.Result.Finding.Code != "manual-scale" || r.Result.Mode != "on" {
		t.Errorf("result %s %s mode %s", r.Result.Function, r.Result.Finding.Code, r.Result.Mode)
	}
	hist, _ := f.ledger.History(context.Background(), f.cfg.WorkerService, "scale-service", time.Time{})
	if len(hist) != 1 || hist[0].FromCount != 1 || hist[0].ToCount != 3 || hist[0].Function != "gpr" || hist[0].Outcome != guard.OutcomeDone {
		t.Errorf("ledger %+v; want one scale 1 -> 3 by gpr", hist)
	}
	// The scale cooldown now stands in the way of the next scale of the same service.
	again := f.op.Run(ctx(t), mustParse(t, "scale worker 2"), alice, true, nil)
	equal(t, "second scale", outcomes(again), []string{"scale-service gp-worker: skipped (cooldown)"})
	if !strings.HasPrefix(again.Headline, "NOT DONE scale worker 2: cooldown") {
		t.Errorf("headline %q", again.Headline)
	}
}

func TestRestart(t *testing.T) {
	f := setup(t, "healthy", nil)
	before := snapshot(t, f, ops.RoleWorker).Deployments[0].ID
	r := f.op.Run(ctx(t), mustParse(t, "restart worker"), alice, true, nil)
	renders(t, r)
	equal(t, "actions", outcomes(r), []string{"force-new-deployment gp-worker: done"})
	equal(t, "updates", updates(f), []string{"worker restart"})
	after := snapshot(t, f, ops.RoleWorker)
	if after.Deployments[0].ID == before || len(after.Deployments) != 1 || after.Running != 1 {
		t.Errorf("deployments %+v; want one new deployment running", after.Deployments)
	}
	if v := r.Result.Verification; v == nil || v.Status != report.Verified || !strings.Contains(v.Detail, after.Deployments[0].ID) {
		t.Errorf("verification %+v; want verified with deployment %s", v, after.Deployments[0].ID)
	}
}

func TestRollbackToANamedRevision(t *testing.T) {
	for _, rev := range []string{"39", "arrakis-staging-gp-worker:39", "arn:aws:ecs:us-east-1:123456789012:task-definition/arrakis-staging-gp-worker:39"} {
		t.Run(rev, func(t *testing.T) {
			f := setup(t, "healthy", nil)
			r := f.op.Run(ctx(t), mustParse(t, "rollback worker "+rev), alice, true, nil)
			renders(t, r)
			equal(t, "actions", outcomes(r), []string{"rollback gp-worker: done"})
			equal(t, "updates", updates(f), []string{"worker deploy arrakis-staging-gp-worker:39"})
			if s := snapshot(t, f, ops.RoleWorker); !strings.HasSuffix(s.TaskDefinition, ":39") || s.Running != 1 {
				t.Errorf("worker runs %s (%d tasks); want :39", s.TaskDefinition, s.Running)
			}
			if v := r.Result.Verification; v == nil || v.Status != report.Verified {
				t.Errorf("verification %+v", v)
			}
		})
	}
}

func TestRollbackRefusesWhatMakesNoSense(t *testing.T) {
	f := setup(t, "healthy", nil)
	for _, tc := range []struct{ req, rule, detail string }{
		{"rollback worker arrakis-staging-ingestor:3", "state", "is not a revision of arrakis-staging-gp-worker's task definition family"},
		{"rollback worker 41", "state", "already runs arrakis-staging-gp-worker:41"},
		{"rollback worker 99", "missing-evidence", "could not read arrakis-staging-gp-worker:99"},
	} {
		r := f.op.Run(ctx(t), mustParse(t, tc.req), alice, true, nil)
		a := r.Result.Actions
		if len(a) != 1 || a[0].Rule != tc.rule || !strings.Contains(a[0].Reason, tc.detail) {
			t.Errorf("%s: actions %+v; want skipped %s %q", tc.req, a, tc.rule, tc.detail)
		}
	}
	equal(t, "updates", updates(f), nil)
}

func TestRaiseMemory(t *testing.T) {
	f := setup(t, "healthy", nil)
	r := f.op.Run(ctx(t), mustParse(t, "raise-memory ingestor 1024"), alice, true, nil)
	renders(t, r)
	equal(t, "actions", outcomes(r), []string{"raise-task-memory ingestor: done"})
	equal(t, "updates", updates(f), []string{"ingestor deploy arrakis-staging-ingestor:18"})
	tds := f.sb.TaskDefinitions(f.cfg.IngestorService)
	if last := tds[len(tds)-1]; last.Revision != 18 || last.Memory != "1024" {
		t.Errorf("newest revision %d with %s MiB; want 18 with 1024", last.Revision, last.Memory)
	}
	// Lowering is not raising.
	r = f.op.Run(ctx(t), mustParse(t, "raise-memory ingestor 512"), alice, true, nil)
	if a := r.Result.Actions; len(a) != 1 || a[0].Rule != "state" || !strings.Contains(a[0].Reason, "only raises") {
		t.Errorf("actions %+v", a)
	}
}

// A dry run reads and plans and changes nothing, whatever the operation.
func TestDryRunChangesNothing(t *testing.T) {
	for _, req := range []string{"scale worker 3", "restart ingestor", "rollback worker 40", "raise-memory worker 2048", "complete-restart", "disable"} {
		t.Run(req, func(t *testing.T) {
			f := setup(t, "healthy", nil)
			r := f.op.Run(ctx(t), mustParse(t, req), alice, false, nil)
			renders(t, r)
			for _, a := range r.Result.Actions {
				if a.Outcome != report.OutcomeDryRun {
					t.Errorf("action %s %s: %s; want dry-run", a.Kind, a.Target, a.Outcome)
				}
			}
			for _, c := range f.sb.Calls() {
				if !strings.HasPrefix(c.Operation, "Describe") && !strings.HasPrefix(c.Operation, "Get") && !strings.HasPrefix(c.Operation, "List") {
					t.Errorf("dry run made a %s:%s call", c.Service, c.Operation)
				}
			}
			equal(t, "updates", updates(f), nil)
			if r.Result.Mode != "dry-run" || !strings.Contains(r.Headline, "DRY-RUN") {
				t.Errorf("mode %q headline %q", r.Result.Mode, r.Headline)
			}
			hist, _ := f.ledger.History(context.Background(), f.cfg.WorkerService, "scale-service", time.Time{})
			if len(hist) > 0 {
				t.Errorf("a dry run recorded %+v", hist)
			}
		})
	}
}

func TestKillSwitchRefuses(t *testing.T) {
	f := setup(t, "healthy", nil)
	f.sb.SetParameter(f.cfg.KillSwitchParam, "on")
	r := f.op.Run(ctx(t), mustParse(t, "complete-restart"), alice, true, nil)
	renders(t, r)
	equal(t, "actions", outcomes(r), []string{
		"scale-service ingestor: skipped (kill-switch)",
		"scale-service gp-worker: skipped (previous-action-failed)",
		"wait-stable ingestor, arrakis-staging-gp-worker: skipped (previous-action-failed)",
		"scale-service gp-worker: skipped (previous-action-failed)",
		"scale-service ingestor: skipped (previous-action-failed)",
	})
	equal(t, "updates", updates(f), nil)
	if strings.Contains(r.Headline, "SYSTEM DOWN") || !strings.HasPrefix(r.Headline, "NOT DONE complete-restart: kill-switch") {
		t.Errorf("headline %q", r.Headline)
	}
}

// "dry-run" mode does not stop a person's operation; "off" refuses everything.
func TestModes(t *testing.T) {
	f := setup(t, "healthy", map[string]string{config.EnvMode: "dry-run"})
	r := f.op.Run(ctx(t), mustParse(t, "restart worker"), alice, true, nil)
	equal(t, "dry-run mode, applied", outcomes(r), []string{"force-new-deployment gp-worker: done"})

	f = setup(t, "healthy", map[string]string{config.EnvMode: "off"})
	for _, apply := range []bool{true, false} {
		r = f.op.Run(ctx(t), mustParse(t, "restart worker"), alice, apply, nil)
		equal(t, fmt.Sprintf("off mode, apply %v", apply), outcomes(r), []string{"force-new-deployment gp-worker: skipped (mode-off)"})
		if r.Result.Mode != "off" {
			t.Errorf("mode %q", r.Result.Mode)
		}
	}
	equal(t, "updates in off mode", updates(f), nil)
}

// An offer is bound to the State it was made on: when the service changed since, nothing is
// done.
func TestExpectedStateNoLongerHolds(t *testing.T) {
	f := setup(t, "healthy", nil)
	req := mustParse(t, "restart worker")
	offered, err := f.op.State(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if offered.Worker.Desired != 1 || offered.Ingestor != (ops.ServiceState{}) {
		t.Fatalf("state %+v", offered)
	}
	if _, err := f.ecs.SetDesiredCount(ctx(t), f.cfg.WorkerService, 2); err != nil {
		t.Fatal(err)
	}
	f.sb.ClearRecords()
	r := f.op.Run(ctx(t), req, alice, true, &offered)
	renders(t, r)
	equal(t, "actions", outcomes(r), []string{"force-new-deployment gp-worker: skipped (state-changed)"})
	equal(t, "updates", updates(f), nil)
	if !strings.Contains(r.Result.Actions[0].Reason, "worker desired 1") || !strings.Contains(r.Result.Actions[0].Reason, "now worker desired 2") {
		t.Errorf("reason %q", r.Result.Actions[0].Reason)
	}

	// The State read now still holds: the restart goes ahead.
	now, err := f.op.State(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	r = f.op.Run(ctx(t), req, alice, true, &now)
	equal(t, "actions with the current state", outcomes(r), []string{"force-new-deployment gp-worker: done"})
}

// queues is a broker whose work queue drains as soon as the worker consumes.
type queues struct {
	mu    sync.Mutex
	ready int
}

func (q *queues) Queue(_ context.Context, name string) (ops.QueueStatus, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := ops.QueueStatus{Name: name, Ready: q.ready, Consumers: 1}
	q.ready = max(0, q.ready-10)
	return st, nil
}

func TestCompleteRestartFollowsTheRunbooksOrder(t *testing.T) {
	f := setup(t, "healthy", nil)
	f.op.Queues = &queues{ready: 100}
	// The worker runs 2 tasks before: the restart brings back 2, not the runbook's 1.
	if _, err := f.ecs.SetDesiredCount(ctx(t), f.cfg.WorkerService, 2); err != nil {
		t.Fatal(err)
	}
	f.sb.ClearRecords()
	r := f.op.Run(ctx(t), mustParse(t, "complete-restart"), alice, true, nil)
	renders(t, r)
	equal(t, "actions", outcomes(r), []string{
		"scale-service ingestor: done",
		"scale-service gp-worker: done",
		"wait-stable ingestor, arrakis-staging-gp-worker: done",
		"scale-service gp-worker: done",
		"scale-service ingestor: done",
	})
	equal(t, "updates", updates(f), []string{"ingestor desired 0", "worker desired 0", "worker desired 2", "ingestor desired 1"})
	// The worker came back only once both were at 0, and the ingestor only once the worker ran.
	ups := f.sb.ServiceUpdates()
	if len(ups) != 4 {
		t.Fatalf("%d updates", len(ups))
	}
	for _, role := range []string{ops.RoleIngestor, ops.RoleWorker} {
		for _, task := range f.sb.Tasks(snapshot(t, f, role).Name, "") {
			if task.CreatedAt.After(ups[1].Time) && task.CreatedAt.Before(ups[2].Time) {
				t.Errorf("task %s of %s started between the scale-down and the worker's scale-up", task.ID, role)
			}
		}
	}
	for _, task := range f.sb.Tasks(f.cfg.WorkerService, "RUNNING") {
		if !task.StartedAt.Before(ups[3].Time) {
			t.Errorf("worker task %s started at %s, after the ingestor's scale-up at %s", task.ID, task.StartedAt, ups[3].Time)
		}
	}
	if v := r.Result.Verification; v == nil || v.Status != report.Verified || !strings.Contains(v.Detail, "arrakis.interactions draining") {
		t.Errorf("verification %+v", v)
	}
	if s := snapshot(t, f, ops.RoleWorker); s.Desired != 2 || s.Running != 2 {
		t.Errorf("worker %d/%d; want 2/2", s.Running, s.Desired)
	}
	if r.Severity != report.SeverityInfo {
		t.Errorf("severity %s", r.Severity)
	}
	if !strings.Contains(strings.Join(r.Result.Finding.Evidence, "\n"), "counts to restore (recorded before scaling down, at least 1): worker 2, ingestor 1") {
		t.Errorf("evidence %q", r.Result.Finding.Evidence)
	}
}

func TestCompleteRestartStopsAtTheFirstFailingStep(t *testing.T) {
	f := setup(t, "healthy", nil)
	fail := sandbox.TaskFailure{StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited", ExitCode: sandbox.Int(1), Ran: time.Second}
	f.sb.SetTaskOutcome(f.cfg.WorkerService, 41, sandbox.TaskOutcome{Failure: &fail})
	r := f.op.Run(ctx(t), mustParse(t, "complete-restart"), alice, true, nil)
	body := renders(t, r)
	equal(t, "actions", outcomes(r), []string{
		"scale-service ingestor: done",
		"scale-service gp-worker: done",
		"wait-stable ingestor, arrakis-staging-gp-worker: done",
		"scale-service gp-worker: failed",
		"scale-service ingestor: skipped (previous-action-failed)",
	})
	equal(t, "updates", updates(f), []string{"ingestor desired 0", "worker desired 0", "worker desired 1"})
	if !strings.HasPrefix(r.Headline, "SYSTEM DOWN: arrakis-staging-ingestor (desired 0, running 0), arrakis-staging-gp-worker (desired 1, running 0) left at 0") ||
		!strings.Contains(r.Headline, "a person must act now") || !strings.Contains(r.Headline, "at step 4") {
		t.Errorf("headline %q", r.Headline)
	}
	if r.Severity != report.SeverityCritical {
		t.Errorf("severity %s", r.Severity)
	}
	if !strings.Contains(r.Result.Actions[3].Reason, "task(s) failed to start") {
		t.Errorf("failed step's reason %q", r.Result.Actions[3].Reason)
	}
	if !strings.Contains(body, "--desired-count 1") {
		t.Errorf("no command to bring the services back:\n%s", body)
	}
	hist, _ := f.ledger.History(context.Background(), f.cfg.WorkerService, "scale-service", time.Time{})
	if len(hist) != 2 || hist[0].Outcome != guard.OutcomePartial || hist[1].Outcome != guard.OutcomeDone {
		t.Errorf("ledger %+v; want the scale-down done and the failed scale-up partial", hist)
	}
}

func TestDisable(t *testing.T) {
	f := setup(t, "healthy", nil)
	r := f.op.Run(ctx(t), mustParse(t, "disable"), alice, true, nil)
	body := renders(t, r)
	equal(t, "actions", outcomes(r), []string{
		"scale-service ingestor: done",
		"scale-service gp-worker: done",
		"wait-stable ingestor, arrakis-staging-gp-worker: done",
	})
	equal(t, "updates", updates(f), []string{"ingestor desired 0", "worker desired 0"})
	if !strings.HasPrefix(r.Headline, "Set USE_GATEWAY_PROXY=false in Sietch yourself: gpr cannot and did not.") {
		t.Errorf("headline %q", r.Headline)
	}
	if strings.Count(body, "USE_GATEWAY_PROXY=false") < 2 {
		t.Errorf("the USE_GATEWAY_PROXY line is not in the evidence:\n%s", body)
	}
	for _, role := range []string{ops.RoleIngestor, ops.RoleWorker} {
		if s := snapshot(t, f, role); s.Desired != 0 || s.Running != 0 {
			t.Errorf("%s %d/%d; want 0/0", role, s.Running, s.Desired)
		}
	}
	if v := r.Result.Verification; v == nil || v.Status != report.Verified {
		t.Errorf("verification %+v", v)
	}
}

func TestBadRequestChangesNothing(t *testing.T) {
	f := setup(t, "healthy", nil)
	r := f.op.Run(ctx(t), ops.Request{Kind: ops.KindScale, Role: ops.RoleWorker, Count: 50}, alice, true, nil)
	renders(t, r)
	if r.Result.Error == "" || len(r.Result.Actions) != 0 || !strings.Contains(r.Headline, "the count must be from 0 to 10") {
		t.Errorf("result %+v headline %q", r.Result, r.Headline)
	}
	if calls := f.sb.Calls(); len(calls) != 0 {
		t.Errorf("a bad request made %d calls", len(calls))
	}
}

// Starting ingestor tasks opens Discord gateway sessions: with too few left, a Complete System
// Restart is refused before it scales anything down, and an unreadable budget refuses an
// ingestor restart but not a worker's.
func TestDiscordSessionBudget(t *testing.T) {
	f := setup(t, "memory-leak-discord-budget-low", nil)
	r := f.op.Run(ctx(t), mustParse(t, "complete-restart"), alice, true, nil)
	renders(t, r)
	for _, a := range r.Result.Actions {
		if a.Rule != "discord-budget" {
			t.Errorf("%s %s: %s %s; want skipped by discord-budget", a.Kind, a.Target, a.Outcome, a.Rule)
		}
	}
	if len(r.Result.Actions) != 5 || !strings.Contains(r.Headline, "only 2 gateway session starts left") {
		t.Errorf("headline %q", r.Headline)
	}
	// Scaling the ingestor down starts nothing.
	r = f.op.Run(ctx(t), mustParse(t, "scale ingestor 0"), alice, true, nil)
	equal(t, "scale down", outcomes(r), []string{"scale-service ingestor: done"})
	equal(t, "updates", updates(f), []string{"ingestor desired 0"})

	f = setup(t, "healthy", nil)
	f.op.Discord = nil
	r = f.op.Run(ctx(t), mustParse(t, "restart ingestor"), alice, true, nil)
	equal(t, "no budget reader", outcomes(r), []string{"force-new-deployment ingestor: skipped (discord-budget-unknown)"})
	r = f.op.Run(ctx(t), mustParse(t, "restart worker"), alice, true, nil)
	equal(t, "worker", outcomes(r), []string{"force-new-deployment gp-worker: done"})
}

// The runbook's case for a Complete System Restart: the worker crash-looped (its deployment
// counts earlier failures), a fresh start runs. Old failures do not fail the restart.
func TestCompleteRestartOfACrashLoopingWorker(t *testing.T) {
	f := setup(t, "worker-crash-loop", nil)
	f.op.Queues = &queues{ready: 700}
	if d := snapshot(t, f, ops.RoleWorker).Deployments[0]; d.Failed == 0 {
		t.Fatalf("the scenario's deployment has no failures: %+v", d)
	}
	r := f.op.Run(ctx(t), mustParse(t, "complete-restart"), alice, true, nil)
	renders(t, r)
	equal(t, "actions", outcomes(r), []string{
		"scale-service ingestor: done",
		"scale-service gp-worker: done",
		"wait-stable ingestor, arrakis-staging-gp-worker: done",
		"scale-service gp-worker: done",
		"scale-service ingestor: done",
	})
	if s := snapshot(t, f, ops.RoleWorker); s.Running != 1 {
		t.Errorf("worker runs %d tasks; want 1", s.Running)
	}
	if !strings.HasPrefix(r.Headline, "complete-restart done — verified: arrakis.interactions draining") {
		t.Errorf("headline %q", r.Headline)
	}
}

// A restart whose new tasks crash too is done, and said not to hold.
func TestRestartThatDoesNotHold(t *testing.T) {
	f := setup(t, "worker-crash-loop-relapse", nil)
	r := f.op.Run(ctx(t), mustParse(t, "restart worker"), alice, true, nil)
	renders(t, r)
	equal(t, "actions", outcomes(r), []string{"force-new-deployment gp-worker: done"})
	if v := r.Result.Verification; v == nil || v.Status != report.VerifyFailed || !strings.Contains(v.Detail, "failed") {
		t.Errorf("verification %+v", v)
	}
	if !strings.Contains(r.Headline, "NOT VERIFIED (failed)") || r.Severity != report.SeverityWarning {
		t.Errorf("%s %q", r.Severity, r.Headline)
	}
}

func TestRollbackRefusesAnotherAccountsARN(t *testing.T) {
	f := setup(t, "healthy", nil)
	r := f.op.Run(ctx(t), mustParse(t, "rollback worker arn:aws:ecs:eu-west-1:210987654321:task-definition/arrakis-staging-gp-worker:39"), alice, true, nil)
	if a := r.Result.Actions; len(a) != 1 || a[0].Rule != "state" || !strings.Contains(a[0].Reason, "is not in this account and region") {
		t.Errorf("actions %+v", a)
	}
	equal(t, "updates", updates(f), nil)
}

// brokenQueues cannot read any queue.
type brokenQueues struct{}

func (brokenQueues) Queue(context.Context, string) (ops.QueueStatus, error) {
	return ops.QueueStatus{}, fmt.Errorf("management API: queue not found")
}

// A drain that cannot be read is unknown, said after a few tries, not after the whole wait.
func TestCompleteRestartWithUnreadableQueues(t *testing.T) {
	f := setup(t, "healthy", nil)
	f.op.Queues = brokenQueues{}
	f.op.StableTimeout = 10 * time.Minute // a test that waited it out would time out first
	r := f.op.Run(ctx(t), mustParse(t, "complete-restart"), alice, true, nil)
	if v := r.Result.Verification; v == nil || v.Status != report.Unverified || !strings.Contains(v.Detail, "could not read arrakis.interactions 3 times in a row: management API: queue not found") {
		t.Errorf("verification %+v", v)
	}
	if !strings.HasPrefix(r.Headline, "complete-restart done — NOT VERIFIED (unverified)") || r.Severity != report.SeverityWarning {
		t.Errorf("%s %q", r.Severity, r.Headline)
	}
	f.op.Queues = nil
	r = f.op.Run(ctx(t), mustParse(t, "scale worker 0"), alice, true, nil)
	equal(t, "scale", outcomes(r), []string{"scale-service gp-worker: skipped (cooldown)"})
}

// A dry run the guard would refuse says both.
func TestDryRunRefused(t *testing.T) {
	f := setup(t, "healthy", nil)
	f.sb.SetParameter(f.cfg.KillSwitchParam, "on")
	r := f.op.Run(ctx(t), mustParse(t, "restart worker"), alice, false, nil)
	equal(t, "actions", outcomes(r), []string{"force-new-deployment gp-worker: skipped (kill-switch)"})
	if r.Headline != "DRY-RUN NOT DONE restart worker: kill-switch: engaged" {
		t.Errorf("headline %q", r.Headline)
	}
}
