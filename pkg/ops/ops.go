// Package ops performs the runbook's manual operations for a person: Check System Health,
// scale, restart, roll back or raise the memory of a service, the Complete System Restart,
// Disable Gateway Proxy, and the DLQ's "if bug: fix code, replay" once the fix is out
// (replay-dlq). The approve function (a button offer), the slash commands and the
// engineers' CLI (cmd/gpr) all call Operator.Run, so an operation behaves the same whichever
// way it was asked for, and each returns one report.Report that pkg/render renders unchanged.
//
// Every change goes through the guard, as the functions' own actions do: the kill switch is
// read once per run (Admit, with a key unique to the run), then every step is checked for
// its lock, budget and cooldown, and what it did is recorded in the ledger. The environment's
// mode is read differently from the functions', because a person asked: "dry-run" (the
// functions only say what they would do) does not stop a person's operation run with
// apply=true, but "off" refuses every operation that changes something, dry runs included
// (health, which only reads, still answers). apply=false is a dry run whatever the mode: it
// reads, plans, asks the guard, and changes nothing.
//
// A replay-dlq acts on the DLQ, not on a service: it is locked and recorded with the DLQ as
// its target and kind replay, with the messages moved, so the dlq function's hourly pace
// counts them. It reads no service state (an offer of it is bound to none): the replay reads
// the DLQ itself and moves only the messages of the class asked for that are there, with the
// dlq function's no-loss protocol.
//
// Every step that starts ingestor tasks (a restart, rollback or memory raise of the
// ingestor, a scale-up of it, a Complete System Restart) first needs enough Discord gateway
// session starts left (GPR_MIN_DISCORD_SESSIONS), as the functions' ingestor restarts do; a
// Complete System Restart is refused before its first step, so it never scales down what it
// could not bring back.
//
// A Complete System Restart's scale-ups restore the counts its own scale-downs recorded a
// minute earlier: like the queue-depth scale-back, they spend no scale budget (the scale
// cooldown would otherwise forbid them), but they take the lock and are recorded.
package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/pg"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
	"github.com/arrakis/gp-remediation/pkg/service"
)

// Function is the name the operations' Results and ledger records carry.
const Function = "gpr"

// ECS is what the operations need of the cluster (pkg/ecs.Client).
type ECS interface {
	Service(ctx context.Context, name string) (ecs.Service, error)
	ForceNewDeployment(ctx context.Context, service string) (ecs.Service, error)
	SetDesiredCount(ctx context.Context, service string, n int) (ecs.Service, error)
	SetTaskDefinition(ctx context.Context, service, taskDefinition string) (ecs.Service, error)
	TaskDefinition(ctx context.Context, ref string) (ecs.TaskDefinition, error)
	RegisterWithMemory(ctx context.Context, td ecs.TaskDefinition, memMiB int) (ecs.TaskDefinition, error)
}

var _ ECS = ecs.Client{}

// QueueStatus is one queue as the broker reports it.
type QueueStatus struct {
	Name      string `json:"name"`
	Ready     int    `json:"ready"`
	Unacked   int    `json:"unacked"`
	Consumers int    `json:"consumers"`
}

// Queues reads a queue of the environment's broker (BrokerQueues: the management API).
type Queues interface {
	Queue(ctx context.Context, name string) (QueueStatus, error)
}

// DLQ replays the dead letters of one class to the queues they died in, at most max of them
// (BrokerDLQ: pkg/rabbit's no-loss replay), and reads the DLQ's depth as the broker counts it
// now (a dry run's evidence).
type DLQ interface {
	Replay(ctx context.Context, class rabbit.Class, max int) (rabbit.ReplayResult, error)
	Inspect(ctx context.Context) (rabbit.QueueState, error)
}

// SlowQueries reads the statements running longer than the runbook's 5 seconds
// (DatabaseSlowQueries: pkg/pg).
type SlowQueries interface {
	SlowQueries(ctx context.Context) (pg.SlowQueryReport, error)
}

// Requester is who asked and through what: Who "U123 (alice), U456 (bob)", Via "slack",
// "discord" or "cli".
type Requester struct {
	Who string `json:"who"`
	Via string `json:"via"`
}

func (r Requester) String() string {
	who, via := r.Who, r.Via
	if who == "" {
		who = "someone unnamed"
	}
	if via == "" {
		via = "an unnamed channel"
	}
	return who + " via " + via
}

// ServiceState is what an operation acts on in one service, as ECS reported it.
type ServiceState struct {
	Role           string `json:"role"`
	Service        string `json:"service"`
	Desired        int    `json:"desired"`
	Running        int    `json:"running"`
	TaskDefinition string `json:"taskDefinition"` // the PRIMARY deployment's
}

func (s ServiceState) String() string {
	return fmt.Sprintf("%s desired %d running %d (%s)", s.Role, s.Desired, s.Running, ecs.Short(s.TaskDefinition))
}

// State is what an operation would act on: for each service concerned its desired and
// running counts and primary task definition (a service not concerned is the zero value). It
// is comparable with ==, so an offer can be bound to the State it was made on.
type State struct {
	Ingestor ServiceState `json:"ingestor,omitzero"`
	Worker   ServiceState `json:"worker,omitzero"`
}

// Equal says whether two States are the same (s == o).
func (s State) Equal(o State) bool { return s == o }

// Services are the services concerned, in the runbook's order (ingestor, worker).
func (s State) Services() []ServiceState {
	var out []ServiceState
	for _, st := range []ServiceState{s.Ingestor, s.Worker} {
		if st != (ServiceState{}) {
			out = append(out, st)
		}
	}
	return out
}

func (s State) String() string {
	var parts []string
	for _, st := range s.Services() {
		parts = append(parts, st.String())
	}
	if len(parts) == 0 {
		return "no service"
	}
	return strings.Join(parts, "; ")
}

// Operator performs operations on one environment.
type Operator struct {
	Config config.Config
	ECS    ECS
	Queues Queues      // nil: health and the drain check say the queues are unknown
	DB     SlowQueries // nil: health says the slow queries are unknown
	DLQ    DLQ         // nil: replay-dlq is refused (no broker to replay from)
	// Discord reads the ingestor's gateway session budget, checked before any step that
	// starts ingestor tasks (each opens gateway sessions, and Discord allows only so many a
	// day). nil: such steps are refused, as the functions refuse them, since the budget
	// cannot be checked.
	Discord service.DiscordBudget
	Guard   guard.Guard // kill switch, ledger (locks, budgets, cooldowns, records)
	Now     func() time.Time
	Log     *slog.Logger
	// StableTimeout bounds each wait for services-stable and for the queue to drain
	// (default 5 min); PollInterval is how often they look (default 5 s).
	StableTimeout, PollInterval time.Duration
}

func (o *Operator) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Operator) log() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (o *Operator) stableTimeout() time.Duration {
	if o.StableTimeout > 0 {
		return o.StableTimeout
	}
	return 5 * time.Minute
}

func (o *Operator) pollInterval() time.Duration {
	if o.PollInterval > 0 {
		return o.PollInterval
	}
	return 5 * time.Second
}

// serviceName is the environment's ECS service of role.
func (o *Operator) serviceName(role string) string {
	if role == RoleIngestor {
		return o.Config.IngestorService
	}
	return o.Config.WorkerService
}

// roles are the services r concerns, in the runbook's order: none for a replay-dlq, which
// acts on the DLQ.
func roles(r Request) []string {
	switch {
	case r.Kind == KindReplayDLQ:
		return nil
	case r.Role != "":
		return []string{r.Role}
	}
	return []string{RoleIngestor, RoleWorker}
}

// State reads what r would act on.
func (o *Operator) State(ctx context.Context, r Request) (State, error) {
	return o.readState(ctx, roles(r))
}

// readState reads the services of roles.
func (o *Operator) readState(ctx context.Context, rs []string) (State, error) {
	var st State
	var errs []error
	for _, role := range rs {
		svc, err := o.ECS.Service(ctx, o.serviceName(role))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ss := stateOf(role, svc)
		if role == RoleIngestor {
			st.Ingestor = ss
		} else {
			st.Worker = ss
		}
	}
	return st, errors.Join(errs...)
}

func stateOf(role string, svc ecs.Service) ServiceState {
	td := svc.TaskDefinition
	if prim, ok := svc.Primary(); ok && prim.TaskDefinition != "" {
		td = prim.TaskDefinition
	}
	return ServiceState{Role: role, Service: svc.Name, Desired: svc.Desired, Running: svc.Running, TaskDefinition: td}
}

// runID names one run: the guard's lock owner and its admission key.
func (o *Operator) runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("gpr-%d-%s", o.now().UnixNano(), hex.EncodeToString(b[:]))
}
