package ops_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/brokerdb"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/ops"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/secrets"
	"github.com/arrakis/gp-remediation/sandbox"
)

// Dead letters as the broker writes them (published to the work queue, rejected): what the
// replay tests start from.
const (
	panicked = "panic: runtime error: invalid memory address or nil pointer dereference"
	timedOut = "upstream timeout after 30s calling discord.com"
)

func deadLetters(count int, errText string) cases.DeadLetters {
	return cases.DeadLetters{Count: count, Header: "x-error", Error: errText}
}

// replayFixture is an Operator with the real RabbitMQ behind BrokerDLQ (a virtual host of the
// test's own, built by internal/cases) and the sandbox's SSM kill switch and services.
type replayFixture struct {
	*fixture
	broker *cases.Broker
}

func setupReplay(t *testing.T, b *cases.Broker, env map[string]string) *replayFixture {
	t.Helper()
	cleanup, err := b.Prepare(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	f := setupWith(t, sandbox.Options{Rabbit: sandbox.RabbitOptions{AMQPURL: "amqp://127.0.0.1:5672/" + b.VirtualHost()}}, "healthy", env)
	awsCfg, err := f.sb.AWSConfig(context.Background(), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	conns := brokerdb.Connections{Secrets: &secrets.Store{API: secretsmanager.NewFromConfig(awsCfg)}, Config: f.cfg, Function: ops.Function, HTTP: http.DefaultClient}
	f.op.DLQ = ops.BrokerDLQ{Conns: conns, Config: f.cfg}
	return &replayFixture{fixture: f, broker: b}
}

// unreachable points the rabbit secret at ports where no broker listens.
func (f *replayFixture) unreachable() {
	f.sb.SetSecret(f.cfg.RabbitSecret, `{"username":"guest","password":"guest","amqp_url":"amqp://127.0.0.1:5999/","management_url":"http://127.0.0.1:15999"}`)
}

// depths reads the DLQ and the work queue (ready counts).
func (f *replayFixture) depths(t *testing.T) (dlq, work int) {
	t.Helper()
	var err error
	if dlq, err = f.broker.Depth(f.cfg.DLQ); err != nil {
		t.Fatal(err)
	}
	if work, err = f.broker.Depth(f.cfg.Queue); err != nil {
		t.Fatal(err)
	}
	return dlq, work
}

// moved is what the ledger recorded under the DLQ as replays: what the dlq function's hourly
// pace counts (pkg/dlq, ProbeLedger).
func (f *replayFixture) moved(t *testing.T) (entries []guard.Entry, total int) {
	t.Helper()
	hist, err := f.ledger.History(context.Background(), f.cfg.DLQ, playbook.KindReplay, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range hist {
		if e.Outcome.Changed() {
			total += e.Moved
		}
	}
	return hist, total
}

// Bug messages go back to the queue they died in; transient ones stay when bugs are asked for;
// the move is recorded under the DLQ with the count, and verified by the broker's confirms.
func TestReplayDLQMovesTheClassAskedFor(t *testing.T) {
	f := setupReplay(t, &cases.Broker{DeadLetters: []cases.DeadLetters{deadLetters(3, panicked), deadLetters(4, timedOut)}}, nil)
	r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 10"), alice, true, nil)
	body := renders(t, r)
	equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: done"})
	a := r.Result.Actions[0]
	for _, want := range []string{"replayed 3 message(s)", "looked at 7 of 7", "[bug] arrakis.interactions/rejected: 3"} {
		if !strings.Contains(a.Detail, want) {
			t.Errorf("detail lacks %q: %s", want, a.Detail)
		}
	}
	if v := r.Result.Verification; v == nil || v.Status != report.Verified || !strings.Contains(v.Detail, "3 message(s) confirmed by the broker") {
		t.Errorf("verification %+v", v)
	}
	if dlq, work := f.depths(t); dlq != 4 || work != 3 {
		t.Errorf("DLQ %d, work queue %d; want the 4 transient left and the 3 bugs back", dlq, work)
	}
	hist, total := f.moved(t)
	if len(hist) != 1 || total != 3 || hist[0].Function != ops.Function || hist[0].Outcome != guard.OutcomeDone {
		t.Errorf("ledger %+v (moved %d), want one done replay of 3 by gpr", hist, total)
	}
	if !strings.HasPrefix(r.Headline, "replay-dlq bug 10 done: replayed 3 message(s)") || r.Result.Finding.Code != "manual-replay-dlq" {
		t.Errorf("headline %q, finding %q", r.Headline, r.Result.Finding.Code)
	}
	if strings.Contains(body, "ecs.services") || len(r.Result.Diagnostics) != 0 {
		t.Errorf("a replay reads no service: diagnostics %+v", r.Result.Diagnostics)
	}
	// No ECS call at all: the replay acts on the DLQ only.
	for _, c := range f.sb.Calls() {
		if c.Service == "ecs" {
			t.Errorf("replay-dlq called ECS %s", c.Operation)
		}
	}
}

// N caps the run; the rest stays in the DLQ, and the report says why.
func TestReplayDLQStopsAtTheCount(t *testing.T) {
	f := setupReplay(t, &cases.Broker{DeadLetters: []cases.DeadLetters{deadLetters(5, panicked)}}, nil)
	r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 2"), alice, true, nil)
	renders(t, r)
	equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: done"})
	if d := r.Result.Actions[0].Detail; !strings.HasPrefix(d, "replayed 2 message(s)") || !strings.Contains(d, "stopped: cap") {
		t.Errorf("detail %q", d)
	}
	if dlq, work := f.depths(t); dlq != 3 || work != 2 {
		t.Errorf("DLQ %d, work queue %d; want 3 and 2", dlq, work)
	}
	if _, total := f.moved(t); total != 2 {
		t.Errorf("ledger moved %d, want 2", total)
	}
}

// Without a count the per-run cap applies (GPR_MAX_REPLAYS_PER_RUN).
func TestReplayDLQDefaultsToThePerRunCap(t *testing.T) {
	f := setupReplay(t, &cases.Broker{DeadLetters: []cases.DeadLetters{deadLetters(6, panicked)}}, map[string]string{config.EnvMaxReplaysPerRun: "4"})
	r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug"), alice, true, nil)
	if a := r.Result.Actions; len(a) != 1 || !strings.HasPrefix(a[0].Detail, "replayed 4 message(s)") {
		t.Errorf("actions %+v", a)
	}
	if dlq, _ := f.depths(t); dlq != 2 {
		t.Errorf("DLQ %d, want 2", dlq)
	}
}

// A dry run moves nothing, records nothing, says what it would do and how many messages the
// DLQ holds now.
func TestReplayDLQDryRun(t *testing.T) {
	f := setupReplay(t, &cases.Broker{DeadLetters: []cases.DeadLetters{deadLetters(3, panicked)}}, nil)
	r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 10"), alice, false, nil)
	body := renders(t, r)
	equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: dry-run"})
	if !strings.HasPrefix(r.Headline, "DRY-RUN replay-dlq bug 10: would replay arrakis.dlq up to 10 bug message(s) -> the queue(s) they died in; nothing was changed") {
		t.Errorf("headline %q", r.Headline)
	}
	const count = "arrakis.dlq holds 3 ready message(s) now, 0 consumer(s); their classes are read only by the replay"
	if !slices.Contains(r.Result.Finding.Evidence, count) || !strings.Contains(body, count) {
		t.Errorf("evidence %q lacks the DLQ's count", r.Result.Finding.Evidence)
	}
	if d := r.Result.Diagnostics; len(d) != 1 || d[0].Name != ops.ProbeDLQ || !d[0].OK {
		t.Errorf("diagnostics %+v, want the DLQ read", d)
	}
	if dlq, work := f.depths(t); dlq != 3 || work != 0 {
		t.Errorf("DLQ %d, work queue %d after a dry run", dlq, work)
	}
	if hist, _ := f.moved(t); len(hist) != 0 {
		t.Errorf("a dry run recorded %+v", hist)
	}
}

// The kill switch and mode off refuse: nothing moves.
func TestReplayDLQRefused(t *testing.T) {
	for _, tc := range []struct {
		name, rule string
		env        map[string]string
		kill       bool
	}{
		{"kill switch", "kill-switch", nil, true},
		{"mode off", "mode-off", map[string]string{config.EnvMode: "off"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setupReplay(t, &cases.Broker{DeadLetters: []cases.DeadLetters{deadLetters(3, panicked)}}, tc.env)
			if tc.kill {
				f.sb.SetParameter(f.cfg.KillSwitchParam, "on")
			}
			r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 10"), alice, true, nil)
			renders(t, r)
			equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: skipped (" + tc.rule + ")"})
			if dlq, work := f.depths(t); dlq != 3 || work != 0 {
				t.Errorf("DLQ %d, work queue %d; want nothing moved", dlq, work)
			}
			if hist, _ := f.moved(t); len(hist) != 0 {
				t.Errorf("recorded %+v", hist)
			}
		})
	}
}

// Another invocation acting on the DLQ (the dlq function's replay) holds its lock: the
// operation stands back.
func TestReplayDLQWaitsForTheLock(t *testing.T) {
	f := setupReplay(t, &cases.Broker{DeadLetters: []cases.DeadLetters{deadLetters(3, panicked)}}, nil)
	if err := f.ledger.Lock(context.Background(), f.cfg.DLQ, "dlq-invocation", time.Minute); err != nil {
		t.Fatal(err)
	}
	r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 10"), alice, true, nil)
	equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: skipped (lock)"})
	if dlq, _ := f.depths(t); dlq != 3 {
		t.Errorf("DLQ %d, want 3", dlq)
	}
}

// An empty DLQ (or none of the class) is nothing to replay, not a failure.
func TestReplayDLQNothingToReplay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dead  []cases.DeadLetters
		want  string
		depth int
	}{
		{"empty", nil, "nothing to replay: arrakis.dlq is empty", 0},
		{"only transient", []cases.DeadLetters{deadLetters(2, timedOut)}, "nothing to replay: no bug message that could move among the 2 looked at", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setupReplay(t, &cases.Broker{DeadLetters: tc.dead}, nil)
			r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 10"), alice, true, nil)
			renders(t, r)
			equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: done"})
			if d := r.Result.Actions[0].Detail; !strings.HasPrefix(d, tc.want) {
				t.Errorf("detail %q, want it to start %q", d, tc.want)
			}
			if v := r.Result.Verification; v == nil || v.Status != report.NotNeeded {
				t.Errorf("verification %+v", v)
			}
			if r.Severity != report.SeverityInfo || strings.Contains(r.Headline, "FAILED") {
				t.Errorf("severity %s, headline %q", r.Severity, r.Headline)
			}
			if dlq, _ := f.depths(t); dlq != tc.depth {
				t.Errorf("DLQ %d, want %d", dlq, tc.depth)
			}
		})
	}
}

// The queue the messages died in is gone, or the broker cannot be reached: a failed
// operation with the error, nothing lost.
func TestReplayDLQFails(t *testing.T) {
	t.Run("target queue missing", func(t *testing.T) {
		f := setupReplay(t, &cases.Broker{NoWorkQueue: true, DeadLetters: []cases.DeadLetters{deadLetters(3, panicked)}}, nil)
		r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 10"), alice, true, nil)
		renders(t, r)
		equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: failed"})
		if a := r.Result.Actions[0]; !strings.Contains(a.Reason, "target queue(s) arrakis.interactions do not exist; the messages stay in arrakis.dlq") {
			t.Errorf("reason %q", a.Reason)
		}
		if dlq, err := f.broker.Depth(f.cfg.DLQ); err != nil || dlq != 3 {
			t.Errorf("DLQ %d (%v), want the 3 still there", dlq, err)
		}
		if hist, total := f.moved(t); len(hist) != 1 || hist[0].Outcome != guard.OutcomeFailed || total != 0 {
			t.Errorf("ledger %+v", hist)
		}
		if r.Severity != report.SeverityWarning || !strings.HasPrefix(r.Headline, "FAILED replay-dlq bug 10") {
			t.Errorf("severity %s, headline %q", r.Severity, r.Headline)
		}
	})
	t.Run("broker unreachable", func(t *testing.T) {
		f := setupReplay(t, &cases.Broker{DeadLetters: []cases.DeadLetters{deadLetters(3, panicked)}}, nil)
		f.unreachable()
		r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 10"), alice, true, nil)
		renders(t, r)
		equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: failed"})
		if a := r.Result.Actions[0]; !strings.Contains(a.Reason, "127.0.0.1:5999") {
			t.Errorf("reason %q", a.Reason)
		}
		if dlq, _ := f.depths(t); dlq != 3 {
			t.Errorf("DLQ %d, want 3", dlq)
		}
	})
	t.Run("broker unreachable, dry run", func(t *testing.T) {
		f := setupReplay(t, &cases.Broker{DeadLetters: []cases.DeadLetters{deadLetters(3, panicked)}}, nil)
		f.unreachable()
		r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 10"), alice, false, nil)
		renders(t, r)
		// The count is unknown and says why; the dry run still says what it would do.
		equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: dry-run"})
		if d := r.Result.Diagnostics; len(d) != 1 || d[0].Name != ops.ProbeDLQ || d[0].OK || !strings.Contains(d[0].Error, "127.0.0.1:5999") || strings.Contains(d[0].Error, "guest:guest") {
			t.Errorf("diagnostics %+v, want the DLQ read failed", d)
		}
		for _, e := range r.Result.Finding.Evidence {
			if strings.Contains(e, "holds") {
				t.Errorf("evidence %q claims a count", e)
			}
		}
	})
	t.Run("no broker configured", func(t *testing.T) {
		f := setup(t, "healthy", nil)
		r := f.op.Run(ctx(t), mustParse(t, "replay-dlq bug 10"), alice, true, nil)
		equal(t, "actions", outcomes(r), []string{"replay arrakis.dlq: skipped (missing-evidence)"})
	})
}

// An offer of a replay is bound to no service state: the State an approval re-reads is the
// empty one, so it never counts as changed, and reading it calls nothing.
func TestReplayDLQHasNoServiceState(t *testing.T) {
	f := setup(t, "healthy", nil)
	st, err := f.op.State(ctx(t), mustParse(t, "replay-dlq bug 3"))
	if err != nil || st != (ops.State{}) {
		t.Errorf("state %+v, %v; want none", st, err)
	}
	if calls := f.sb.Calls(); len(calls) != 0 {
		t.Errorf("reading a replay's state called %+v", calls)
	}
}
