package operation

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/deadletter"
)

// Kind is one of the runbook's manual operations.
type Kind string

// The operations, as a person types them.
const (
	KindHealth          Kind = "health"           // Check System Health: read only
	KindScale           Kind = "scale"            // scale <ingestor|worker> <count>
	KindRestart         Kind = "restart"          // restart <ingestor|worker>  (force new deployment)
	KindRollback        Kind = "rollback"         // rollback <ingestor|worker> <revision>  (41, "family:41" or a task definition ARN)
	KindRaiseMemory     Kind = "raise-memory"     // raise-memory <ingestor|worker> <MiB>  (a copy of the running task definition with more memory, deployed)
	KindCompleteRestart Kind = "complete-restart" // the runbook's Complete System Restart
	KindDisable         Kind = "disable"          // the runbook's Disable Gateway Proxy
	KindReplayDLQ       Kind = "replay-dlq"       // replay-dlq <bug|unknown|transient> [count]: dead letters of that class back to their queue
)

// Roles of the environment's two services.
const (
	RoleIngestor = "ingestor"
	RoleWorker   = "worker"
)

// Usage lists every form Parse accepts.
const Usage = `operations:
  health                              services, queue depths, DLQ, consumers, slow queries (read only)
  scale <ingestor|worker> <count>     set the desired task count (0 to 10, or GPR_MAX_WORKERS if higher)
  restart <ingestor|worker>           force a new deployment (rolling restart)
  rollback <ingestor|worker> <rev>    deploy an earlier revision: 41, family:41 or a task definition ARN
  raise-memory <ingestor|worker> <MiB>  deploy a copy of the running task definition with more memory
  complete-restart                    both to 0, wait, worker back up, then ingestor, then check the queue drains
  disable                             both to 0 (Sietch's USE_GATEWAY_PROXY=false is set by a person)
  replay-dlq <bug|unknown|transient> [count]  once the fix is out: up to count (1 to 1000; default
                                      GPR_MAX_REPLAYS_PER_RUN) dead letters of that class back to their queue`

// MinManualCount and MaxManualCount bound a person's scale: up to 10 tasks, or the automatic
// cap (GPR_MAX_WORKERS) when that is higher. A person may go past the automation's cap of 3,
// but a typo (30 for 3) must not start thirty tasks.
const (
	MaxManualCount = 10
	// MaxReplayMessages bounds one replay-dlq: a typo (10000 for 100) must not flood a
	// worker that has just been fixed.
	MaxReplayMessages = 1000
	// MinTaskMemoryMiB is the smallest task memory ECS accepts for a task definition.
	MinTaskMemoryMiB = 128
)

// Request is one operation a person asks for. It is plain data (JSON-tagged) so it can be
// stored in an offer and sent to an asynchronous invocation.
type Request struct {
	Kind      Kind   `json:"kind"`
	Role      string `json:"role,omitempty"`      // "ingestor" | "worker"
	Count     int    `json:"count,omitempty"`     // scale
	Revision  string `json:"revision,omitempty"`  // rollback
	MemoryMiB int    `json:"memoryMiB,omitempty"` // raise-memory
	// Class and Messages are a replay-dlq's: which dead letters, and at most how many (0: the
	// environment's per-run cap, GPR_MAX_REPLAYS_PER_RUN, see ReplayLimit).
	Class    deadletter.Class `json:"class,omitempty"`
	Messages int              `json:"messages,omitempty"`
}

// Parse reads an operation as typed, e.g. ["scale", "worker", "3"]. Kind and role are read
// case-insensitively; the error says what was wrong and shows the form expected.
func Parse(args []string) (Request, error) {
	if len(args) == 0 {
		return Request{}, errors.New("no operation given; " + Usage)
	}
	kind := Kind(strings.ToLower(args[0]))
	rest := args[1:]
	want := func(n int, form string) error {
		if len(rest) != n {
			return fmt.Errorf("%s takes %d argument(s), got %d: usage: %s", kind, n, len(rest), form)
		}
		return nil
	}
	r := Request{Kind: kind}
	var err error
	switch kind {
	case KindHealth, KindCompleteRestart, KindDisable:
		if err := want(0, string(kind)); err != nil {
			return Request{}, err
		}
		return r, nil
	case KindRestart:
		if err := want(1, "restart <ingestor|worker>"); err != nil {
			return Request{}, err
		}
		r.Role, err = parseRole(rest[0])
	case KindScale:
		if err := want(2, "scale <ingestor|worker> <count>"); err != nil {
			return Request{}, err
		}
		if r.Role, err = parseRole(rest[0]); err == nil {
			r.Count, err = parseNumber("count", rest[1])
		}
	case KindRollback:
		if err := want(2, "rollback <ingestor|worker> <revision>"); err != nil {
			return Request{}, err
		}
		if r.Role, err = parseRole(rest[0]); err == nil {
			r.Revision = rest[1]
			err = checkRevision(r.Revision)
		}
	case KindRaiseMemory:
		if err := want(2, "raise-memory <ingestor|worker> <MiB>"); err != nil {
			return Request{}, err
		}
		if r.Role, err = parseRole(rest[0]); err == nil {
			r.MemoryMiB, err = parseNumber("memory (MiB)", rest[1])
		}
	case KindReplayDLQ:
		const form = "replay-dlq <bug|unknown|transient> [count]"
		if len(rest) != 1 && len(rest) != 2 {
			return Request{}, fmt.Errorf("%s takes 1 or 2 argument(s), got %d: usage: %s", kind, len(rest), form)
		}
		if r.Class, err = parseClass(rest[0]); err == nil && len(rest) == 2 {
			// 0 is not typed for "the default": leaving the count out says that.
			if r.Messages, err = parseNumber("count", rest[1]); err == nil && r.Messages == 0 {
				err = fmt.Errorf("count 0: want 1 to %d, or leave it out for %s", MaxReplayMessages, config.EnvMaxReplaysPerRun)
			}
		}
	default:
		return Request{}, fmt.Errorf("unknown operation %q; %s", clip(args[0], 40), Usage)
	}
	if err != nil {
		return Request{}, err
	}
	return r, nil
}

func parseRole(s string) (string, error) {
	switch r := strings.ToLower(s); r {
	case RoleIngestor, RoleWorker:
		return r, nil
	}
	return "", fmt.Errorf("service %q: want ingestor or worker", clip(s, 40))
}

// parseClass reads the class of dead letters to replay. Bad data is not one: it fails again
// whatever happens, and the dlq function parks it.
func parseClass(s string) (deadletter.Class, error) {
	if c := deadletter.Class(strings.ToLower(s)); deadletter.Replayable(c) {
		return c, nil
	}
	return "", fmt.Errorf("class %q: want bug, unknown or transient (bad data is parked, never replayed)", clip(s, 40))
}

func parseNumber(what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: want a whole number", what, clip(s, 40))
	}
	return n, nil
}

// arnPattern is a task definition ARN. The family's length (1 to 255) is checked by validFamily,
// not by a counted repetition: {1,255} compiles to 255 copies, which every function paid for
// at start (2.8 ms and 7,100 allocations of package init).
var arnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/([A-Za-z0-9_-]+):([0-9]+)$`)

// validFamily says whether f can be a task definition family: 1 to 255 letters, digits,
// hyphens and underscores.
func validFamily(f string) bool {
	if f == "" || len(f) > 255 {
		return false
	}
	for _, c := range f {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// checkRevision accepts a revision number (41), family:revision or a task definition ARN.
func checkRevision(s string) error {
	_, _, err := SplitRevision(s)
	return err
}

// SplitRevision reads a revision as typed: a number, family:number, or a task definition ARN.
func SplitRevision(s string) (family string, revision int, err error) {
	bad := fmt.Errorf("revision %q: want a revision number (41), family:41 or a task definition ARN", clip(s, 80))
	positive := func(v string) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil && n > 0 && v[0] != '+' && v[0] != '0'
	}
	if m := arnPattern.FindStringSubmatch(s); m != nil {
		n, ok := positive(m[2])
		if !ok || !validFamily(m[1]) {
			return "", 0, bad
		}
		return m[1], n, nil
	}
	if f, rev, found := strings.Cut(s, ":"); found {
		n, ok := positive(rev)
		if !ok || !validFamily(f) {
			return "", 0, bad
		}
		return f, n, nil
	}
	n, ok := positive(s)
	if !ok {
		return "", 0, bad
	}
	return "", n, nil
}

// String is the canonical form, "scale worker 3": Parse(strings.Fields(r.String())) gives r
// back for every valid request.
func (r Request) String() string {
	switch r.Kind {
	case KindScale:
		return fmt.Sprintf("%s %s %d", r.Kind, r.Role, r.Count)
	case KindRestart:
		return fmt.Sprintf("%s %s", r.Kind, r.Role)
	case KindRollback:
		return fmt.Sprintf("%s %s %s", r.Kind, r.Role, r.Revision)
	case KindRaiseMemory:
		return fmt.Sprintf("%s %s %d", r.Kind, r.Role, r.MemoryMiB)
	case KindReplayDLQ:
		if r.Messages == 0 {
			return fmt.Sprintf("%s %s", r.Kind, r.Class)
		}
		return fmt.Sprintf("%s %s %d", r.Kind, r.Class, r.Messages)
	}
	return string(r.Kind)
}

// Mutates says whether the operation changes anything (false only for health).
func (r Request) Mutates() bool { return r.Kind != KindHealth }

// ReplayLimit is the most messages a replay-dlq moves in c: the count asked for, or the
// per-run cap (GPR_MAX_REPLAYS_PER_RUN, at most MaxReplayMessages) when none was given. 0
// when none was given and the cap is 0: Validate refuses that.
func (r Request) ReplayLimit(c config.Config) int {
	if r.Messages > 0 {
		return r.Messages
	}
	return min(max(c.MaxReplaysPerRun, 0), MaxReplayMessages)
}

// MaxCount is the most tasks a person may ask for in c.
func MaxCount(c config.Config) int { return max(MaxManualCount, c.MaxWorkers) }

// Validate checks a request against the environment's bounds: a known kind with exactly its
// own fields, a count from 0 to MaxCount, memory from 128 MiB to GPR_MAX_TASK_MEMORY_MIB, a
// well-formed revision, a replayable class and at most MaxReplayMessages messages. A request that arrives as JSON (an offer, an async invocation) is
// checked here as thoroughly as one typed.
func (r Request) Validate(c config.Config) error {
	hasRole := r.Kind == KindScale || r.Kind == KindRestart || r.Kind == KindRollback || r.Kind == KindRaiseMemory
	switch r.Kind {
	case KindHealth, KindCompleteRestart, KindDisable, KindScale, KindRestart, KindRollback, KindRaiseMemory, KindReplayDLQ:
	default:
		return fmt.Errorf("unknown operation %q", clip(string(r.Kind), 40))
	}
	if hasRole {
		if r.Role != RoleIngestor && r.Role != RoleWorker {
			return fmt.Errorf("%s: service %q: want ingestor or worker", r.Kind, clip(r.Role, 40))
		}
	} else if r.Role != "" && r.Kind == KindReplayDLQ {
		return fmt.Errorf("%s acts on the DLQ; it takes no service (got %q)", r.Kind, clip(r.Role, 40))
	} else if r.Role != "" {
		return fmt.Errorf("%s acts on both services; it takes no service (got %q)", r.Kind, clip(r.Role, 40))
	}
	if r.Kind != KindScale && r.Count != 0 {
		return fmt.Errorf("%s takes no count", r.Kind)
	}
	if r.Kind != KindRollback && r.Revision != "" {
		return fmt.Errorf("%s takes no revision", r.Kind)
	}
	if r.Kind != KindRaiseMemory && r.MemoryMiB != 0 {
		return fmt.Errorf("%s takes no memory size", r.Kind)
	}
	if r.Kind != KindReplayDLQ && (r.Class != "" || r.Messages != 0) {
		return fmt.Errorf("%s takes no message class or count", r.Kind)
	}
	switch r.Kind {
	case KindScale:
		if hi := MaxCount(c); r.Count < 0 || r.Count > hi {
			return fmt.Errorf("scale %s to %d: the count must be from 0 to %d", r.Role, r.Count, hi)
		}
	case KindRollback:
		return checkRevision(r.Revision)
	case KindRaiseMemory:
		if r.MemoryMiB < MinTaskMemoryMiB || r.MemoryMiB > c.MaxTaskMemoryMiB {
			return fmt.Errorf("raise-memory %s to %d MiB: the size must be from %d to %d MiB (%s)",
				r.Role, r.MemoryMiB, MinTaskMemoryMiB, c.MaxTaskMemoryMiB, config.EnvMaxTaskMemoryMiB)
		}
	case KindReplayDLQ:
		if !deadletter.Replayable(r.Class) {
			return fmt.Errorf("replay-dlq: class %q: want bug, unknown or transient (bad data is parked, never replayed)", clip(string(r.Class), 40))
		}
		if r.Messages < 0 || r.Messages > MaxReplayMessages {
			return fmt.Errorf("replay-dlq %s %d: the count must be from 1 to %d", r.Class, r.Messages, MaxReplayMessages)
		}
		if r.ReplayLimit(c) == 0 {
			return fmt.Errorf("replay-dlq %s: give a count (1 to %d): %s is 0 in %s, so there is no default", r.Class, MaxReplayMessages, config.EnvMaxReplaysPerRun, c.Environment)
		}
	}
	return nil
}

// clip bounds what an error repeats of a person's input.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
