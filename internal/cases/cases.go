// Package cases runs the end-to-end cases written next to the sample events
// (events/<function>/cases.json): each names an event, a sandbox scenario, a mode, and what
// must come of it. `make demo` runs them to show the functions at work; the end-to-end tests
// run the same cases and check every expectation, so the demo cannot drift from what is tested.
package cases

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/internal/lambdarun"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/sandbox"
)

// Case is one end-to-end run.
type Case struct {
	Name     string            `json:"name"`
	Function string            `json:"-"` // from the folder
	Event    string            `json:"event"`
	Scenario string            `json:"scenario"`
	Mode     string            `json:"mode"`
	Env      map[string]string `json:"env,omitempty"`
	Broker   *Broker           `json:"broker,omitempty"`
	// Parameters and Secrets override the scenario's SSM parameters and secrets.
	Parameters map[string]string `json:"parameters,omitempty"`
	Secrets    map[string]string `json:"secrets,omitempty"`
	Expect     Expect            `json:"expect"`
	// Demo marks the cases `make demo` shows (all are tested).
	Demo bool `json:"demo"`
	// Faults are injected into the sandbox before the run (throttling, 5xx, latency,
	// timeouts, malformed answers); Latency is added to every AWS call.
	Faults  []Fault `json:"faults,omitempty"`
	Latency string  `json:"latency,omitempty"`
	// Timeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT, whole seconds; default 120 s).
	Timeout string `json:"timeout,omitempty"`
	// Ledger entries recorded before the run (needs Env.DynamoDB).
	Ledger []LedgerEntry `json:"ledger,omitempty"`
	// Then are later invocations in the same sandbox, broker and ledger (e.g. the alarm's
	// return to OK after a scale-up), each a fresh emulator: state carries over only through
	// the ledger, as between two Lambda invocations.
	Then []Step `json:"then,omitempty"`
}

// Fault is a sandbox fault in a case file.
type Fault struct {
	Op    string `json:"op"`
	Kind  string `json:"kind"`
	Times int    `json:"times,omitempty"`
	Delay string `json:"delay,omitempty"`
}

// Step is one later invocation of a case.
type Step struct {
	// Event is sent to the case's function; an OK notification first puts its alarm back to OK
	// in the sandbox (the transition it announces).
	Event string `json:"event,omitempty"`
	// Approve, instead of an event, approves the offer the previous invocation made.
	Approve *Approval `json:"approve,omitempty"`
	// Person, before the event, is what the on-call engineer does by hand.
	Person *Person `json:"person,omitempty"`
	Expect Expect  `json:"expect"`
}

// LedgerEntry is an action recorded before a case runs.
type LedgerEntry struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	// FromCount and ToCount are a scale's desired counts (a restart has none).
	FromCount *int   `json:"fromCount,omitempty"`
	ToCount   *int   `json:"toCount,omitempty"`
	Function  string `json:"function"`
	Ago       string `json:"ago"` // e.g. "2h"
}

// Expect is what a case must produce.
type Expect struct {
	Finding      string         `json:"finding"`
	Actions      []ActionExpect `json:"actions"`
	Verification string         `json:"verification,omitempty"`
	Paged        *bool          `json:"paged,omitempty"`
	// Changes maps a service to what must have happened to it: "none", "new-deployment"
	// (same task definition), "task-definition" (another revision deployed), "desired:N".
	Changes map[string]string `json:"changes,omitempty"`
	Reports *int              `json:"reports,omitempty"` // SNS publications
	Error   bool              `json:"error,omitempty"`   // Result.error set (unusable input)
	// Queues maps a queue of the case's broker to the ready count it must have afterwards.
	Queues map[string]int `json:"queues,omitempty"`
	// Detail is a substring the first action's detail or reason must contain.
	Detail string `json:"detail,omitempty"`
	// SinkFailures are the sinks expected to fail (a failing sink never fails the function).
	SinkFailures []string `json:"sinkFailures,omitempty"`
	// DiagnosticsFailed are probes expected to have failed (and be reported as such).
	DiagnosticsFailed []string `json:"diagnosticsFailed,omitempty"`
	// Conserved is the number of messages that must still exist across the case's queues
	// (DLQ, work queue, parking): none lost; duplicates (at most the replay window) allowed.
	Conserved int `json:"conserved,omitempty"`
}

// ActionExpect is one expected action.
type ActionExpect struct {
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
}

// Load reads events/*/cases.json under root.
func Load(root string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(root, "*", "cases.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var all []Case
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var cs []Case
		if err := json.Unmarshal(b, &cs); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		fn := filepath.Base(filepath.Dir(f))
		for i := range cs {
			cs[i].Function = fn
			cs[i].Event = filepath.Join(filepath.Dir(f), cs[i].Event)
			for j := range cs[i].Then {
				if cs[i].Then[j].Event != "" {
					cs[i].Then[j].Event = filepath.Join(filepath.Dir(f), cs[i].Then[j].Event)
				}
			}
		}
		all = append(all, cs...)
	}
	return all, nil
}

// Env is where a case runs: the emulator binary, the bootstraps, and extra environment
// (e.g. the ledger table) that every case gets.
type Env struct {
	RIE        string
	Bootstraps string // folder with <function>/bootstrap
	Extra      map[string]string
	// TaskStartDelay is the sandbox's simulated task start time.
	TaskStartDelay time.Duration
	// DynamoDB is a dynalite endpoint: when set, every case gets a ledger table of its own
	// there (GPR_LEDGER_TABLE); without it the functions use an in-memory ledger.
	DynamoDB string
	// Customize, when set, is called with the loaded sandbox and the function's environment
	// just before the first invocation (tests plant values in secrets, messages, variables).
	Customize func(c Case, sb *sandbox.Sandbox, env map[string]string) error
}

// Outcome is what a case run produced.
type Outcome struct {
	Raw       []byte
	Result    report.Result
	Before    map[string]sandbox.ServiceSnapshot
	After     map[string]sandbox.ServiceSnapshot
	Published []sandbox.Publication
	Requests  map[string][]sandbox.Request
	Sandbox   *sandbox.Sandbox
	Output    string // the emulator's and the function's output
	// Started is when the event was sent to the emulator.
	Started time.Time
	Logs    []string
	Elapsed time.Duration
	Broker  *Broker
	// Queues are the ready counts of the case's queues right after the invocation (-1: the
	// queue does not exist), read before the case's vhost is deleted.
	Queues map[string]int
	// Steps are the outcomes of the case's Then steps, in order.
	Steps []*Outcome
	// Label names a step that is not an alarm ("approved in Slack by …"); Reply is the answer
	// the approve function posted where the person clicked.
	Label, Reply string
	// Environment and Table are the case's environment and ledger table ("" without
	// DynamoDB): where its incidents stay after the run.
	Environment, Table string
}

// Fixture is a case's world, set up and not yet invoked: the sandbox loaded with the
// scenario, the broker's vhost, the ledger table, and the function's environment.
type Fixture struct {
	Case    Case
	Sandbox *sandbox.Sandbox
	Env     map[string]string
	Timeout time.Duration
	// Shift moves the times in the case's events so that its first alarm fires at setup
	// (see SampleTime); every event of the case moves by the same amount.
	Shift   time.Duration
	cleanup []func()
	e       Env
}

// Close tears the fixture down (sandbox, broker vhost).
func (f *Fixture) Close() {
	for i := len(f.cleanup) - 1; i >= 0; i-- {
		f.cleanup[i]()
	}
}

// Invoke runs one event of the case's function through a fresh emulator.
func (f *Fixture) Invoke(ctx context.Context, event string) (*Outcome, error) {
	return f.InvokeFunction(ctx, f.Case.Function, event)
}

// InvokeFunction runs one event of any function in the case's world: the same sandbox, ledger,
// broker and environment, as when two alarms reach two functions at once.
func (f *Fixture) InvokeFunction(ctx context.Context, function, event string) (*Outcome, error) {
	out, err := invoke(ctx, f.e, function, event, f.Env, f.Sandbox, f.Timeout, f.Shift)
	if out != nil {
		out.Broker = f.Case.Broker
		out.Queues = f.Case.Broker.depths()
	}
	return out, err
}

// Setup builds a case's world.
func Setup(ctx context.Context, e Env, c Case) (*Fixture, error) {
	f := &Fixture{Case: c, e: e, Timeout: 120 * time.Second, Shift: time.Now().UTC().Truncate(time.Second).Sub(SampleTime)}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	delay := e.TaskStartDelay
	if delay <= 0 {
		delay = 300 * time.Millisecond
	}
	opts := sandbox.Options{TaskStartDelay: delay}
	if c.Broker != nil {
		cleanup, err := c.Broker.Prepare(ctx)
		if err != nil {
			return nil, fmt.Errorf("case %q: prepare broker: %w", c.Name, err)
		}
		f.cleanup = append(f.cleanup, cleanup)
		opts.Rabbit = sandbox.RabbitOptions{AMQPURL: "amqp://127.0.0.1:5672/" + url.PathEscape(c.Broker.VirtualHost())}
	}
	sb := sandbox.New(opts)
	f.Sandbox = sb
	if err := sb.LoadScenario(c.Scenario); err != nil {
		return nil, fmt.Errorf("case %q: %w", c.Name, err)
	}
	for k, v := range c.Parameters {
		sb.SetParameter(k, v)
	}
	for k, v := range c.Secrets {
		sb.SetSecret(k, v)
	}
	for _, flt := range c.Faults {
		var delay time.Duration
		if flt.Delay != "" {
			var err error
			if delay, err = time.ParseDuration(flt.Delay); err != nil {
				return nil, fmt.Errorf("case %q: fault delay: %w", c.Name, err)
			}
		}
		if _, err := sb.InjectFault(sandbox.Fault{Op: flt.Op, Kind: sandbox.FaultKind(flt.Kind), Times: flt.Times, Delay: delay}); err != nil {
			return nil, fmt.Errorf("case %q: %w", c.Name, err)
		}
	}
	if c.Latency != "" {
		d, err := time.ParseDuration(c.Latency)
		if err != nil {
			return nil, fmt.Errorf("case %q: latency: %w", c.Name, err)
		}
		sb.SetLatency(d)
	}
	_, stop, err := sb.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.cleanup = append(f.cleanup, stop)
	env := sb.Env()
	env[config.EnvVerifyInterval] = "500ms"
	env[config.EnvVerifyTimeout] = "10s"
	env[config.EnvMode] = c.Mode
	for k, v := range e.Extra {
		env[k] = v
	}
	if e.DynamoDB != "" {
		table, err := newLedger(ctx, e.DynamoDB, c.Ledger)
		if err != nil {
			return nil, fmt.Errorf("case %q: ledger: %w", c.Name, err)
		}
		env["AWS_ENDPOINT_URL_DYNAMODB"] = e.DynamoDB
		env[config.EnvLedgerTable] = table
	} else if len(c.Ledger) > 0 || len(c.Then) > 0 {
		return nil, fmt.Errorf("case %q needs a ledger shared between invocations: run with a DynamoDB (dynalite) endpoint", c.Name)
	}
	if c.Broker != nil {
		for k, v := range c.Broker.Env() {
			env[k] = v
		}
	}
	for k, v := range c.Env {
		env[k] = v
	}
	if e.Customize != nil {
		if err := e.Customize(c, sb, env); err != nil {
			return nil, fmt.Errorf("case %q: customize: %w", c.Name, err)
		}
	}
	if c.Timeout != "" {
		if f.Timeout, err = time.ParseDuration(c.Timeout); err != nil {
			return nil, fmt.Errorf("case %q: timeout: %w", c.Name, err)
		}
	}
	f.Env = env
	ok = true
	return f, nil
}

// Run runs one case in a fresh sandbox and a fresh emulator (a cold start every time), then
// its Then steps in the same world.
func Run(ctx context.Context, e Env, c Case) (*Outcome, error) {
	f, err := Setup(ctx, e, c)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := f.Invoke(ctx, c.Event)
	if err != nil {
		return out, fmt.Errorf("case %q: %w", c.Name, err)
	}
	out.Environment, out.Table = f.Env[config.EnvEnvironment], f.Env[config.EnvLedgerTable]
	for _, st := range c.Then {
		f.Sandbox.ClearRecords()
		if st.Approve != nil {
			prev := out
			if n := len(out.Steps); n > 0 {
				prev = out.Steps[n-1]
			}
			next, err := f.Approve(ctx, prev, *st.Approve)
			if err != nil {
				return out, fmt.Errorf("case %q, then approve: %w", c.Name, err)
			}
			out.Steps = append(out.Steps, next)
			continue
		}
		label := ""
		if st.Person != nil {
			if label, err = f.act(ctx, *st.Person); err != nil {
				return out, fmt.Errorf("case %q, then: %w", c.Name, err)
			}
		}
		if err := f.alarmsReturn(st.Event); err != nil {
			return out, fmt.Errorf("case %q, then %s: %w", c.Name, filepath.Base(st.Event), err)
		}
		next, err := f.Invoke(ctx, st.Event)
		if err != nil {
			return out, fmt.Errorf("case %q, then %s: %w", c.Name, filepath.Base(st.Event), err)
		}
		if label != "" {
			next.Label = label + ", then " + string(next.Result.Alarm.State)
		}
		out.Steps = append(out.Steps, next)
	}
	return out, nil
}

// invoke runs one event through a fresh emulator against the sandbox.
func invoke(ctx context.Context, e Env, function, event string, env map[string]string, sb *sandbox.Sandbox, timeout, shift time.Duration) (*Outcome, error) {
	payload, err := os.ReadFile(event)
	if err != nil {
		return nil, err
	}
	payload = Retime(payload, shift)
	out := &Outcome{Sandbox: sb, Before: services(sb)}
	emu, err := lambdarun.Start(ctx, lambdarun.Options{RIE: e.RIE, Bootstrap: filepath.Join(e.Bootstraps, function, "bootstrap"), Env: env, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
	start := time.Now()
	out.Started = start
	out.Raw, err = emu.Invoke(ctx, payload)
	out.Elapsed = time.Since(start)
	out.Output, out.Logs = emu.Output(), emu.LogLines()
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(out.Raw, &out.Result); err != nil {
		return out, fmt.Errorf("the function did not return a Result: %w: %s", err, out.Raw)
	}
	out.After = services(sb)
	out.Published = sb.Published()
	out.Requests = map[string][]sandbox.Request{}
	for _, k := range []string{"slack", "discord", "pagerduty", "discord-api"} {
		out.Requests[k] = sb.Requests(k)
	}
	return out, nil
}

func services(sb *sandbox.Sandbox) map[string]sandbox.ServiceSnapshot {
	m := map[string]sandbox.ServiceSnapshot{}
	for _, s := range sb.State().Services {
		m[s.Name] = s
	}
	return m
}

// Check compares an outcome with the case's expectations and lists every mismatch.
func Check(c Case, o *Outcome) []string {
	var bad []string
	r, e := o.Result, c.Expect
	if r.Finding.Code != e.Finding {
		bad = append(bad, fmt.Sprintf("finding %q (%s), want %q", r.Finding.Code, r.Finding.Summary, e.Finding))
	}
	if got, want := actionList(r.Actions), expectList(e.Actions); got != want {
		bad = append(bad, fmt.Sprintf("actions [%s], want [%s]", got, want))
	}
	if e.Verification != "" {
		got := ""
		if r.Verification != nil {
			got = r.Verification.Status
		}
		if got != e.Verification {
			bad = append(bad, fmt.Sprintf("verification %q, want %q", got, e.Verification))
		}
	}
	if e.Paged != nil {
		paged := r.Escalation != nil && r.Escalation.Paged
		if paged != *e.Paged {
			bad = append(bad, fmt.Sprintf("paged %v, want %v (%+v)", paged, *e.Paged, r.Escalation))
		}
		if paged && len(o.Requests["pagerduty"]) == 0 {
			bad = append(bad, "paged, but PagerDuty received nothing")
		}
	}
	if pic := r.Picture; pic != nil && pic.Drawn {
		// A drawn picture reaches Discord as the file its embed shows.
		if reqs := o.Requests["discord"]; len(reqs) > 0 {
			carried := false
			for _, req := range reqs {
				for _, f := range req.Files {
					carried = carried || (f.Name == "graph.png" && f.Size == pic.Bytes)
				}
			}
			if !carried {
				bad = append(bad, fmt.Sprintf("picture drawn (%d bytes) but no Discord request carried it", pic.Bytes))
			}
		}
	}
	if e.Reports != nil && len(o.Published) != *e.Reports {
		bad = append(bad, fmt.Sprintf("%d SNS reports, want %d", len(o.Published), *e.Reports))
	}
	if e.Error != (r.Error != "") {
		bad = append(bad, fmt.Sprintf("error %q, want error=%v", r.Error, e.Error))
	}
	for svc, want := range e.Changes {
		if got := change(o.Before[svc], o.After[svc]); got != want {
			bad = append(bad, fmt.Sprintf("%s: %s, want %s", svc, got, want))
		}
	}
	for _, sink := range r.Sinks {
		expected := slices.Contains(e.SinkFailures, sink.Name)
		if !sink.OK && !expected {
			bad = append(bad, fmt.Sprintf("sink %s failed: %s", sink.Name, sink.Error))
		}
		if sink.OK && expected {
			bad = append(bad, fmt.Sprintf("sink %s should have failed", sink.Name))
		}
	}
	for _, name := range e.DiagnosticsFailed {
		found := false
		for _, d := range r.Diagnostics {
			if d.Name == name && !d.OK && d.Error != "" {
				found = true
			}
		}
		if !found {
			bad = append(bad, fmt.Sprintf("diagnostic %s should be reported as failed: %+v", name, r.Diagnostics))
		}
	}
	if e.Conserved > 0 {
		total := 0
		for _, n := range o.Queues {
			if n > 0 {
				total += n
			}
		}
		if total < e.Conserved {
			bad = append(bad, fmt.Sprintf("messages lost: %d across the queues %v, want at least %d", total, o.Queues, e.Conserved))
		}
	}
	if e.Detail != "" && (len(r.Actions) == 0 || !strings.Contains(r.Actions[0].Detail+" "+r.Actions[0].Reason, e.Detail)) {
		bad = append(bad, fmt.Sprintf("first action's detail lacks %q: %+v", e.Detail, r.Actions))
	}
	for q, want := range e.Queues {
		got, ok := o.Queues[q]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("queue %s was not read (no broker in the case?)", q))
		case got != want:
			bad = append(bad, fmt.Sprintf("queue %s holds %d ready, want %d", q, got, want))
		}
	}
	for i, st := range c.Then {
		if i >= len(o.Steps) {
			bad = append(bad, fmt.Sprintf("step %d (%s) did not run", i+1, filepath.Base(st.Event)))
			continue
		}
		sub := c
		sub.Expect, sub.Then = st.Expect, nil
		for _, b := range Check(sub, o.Steps[i]) {
			bad = append(bad, fmt.Sprintf("then %s: %s", filepath.Base(st.Event), b))
		}
	}
	return bad
}

// change describes what happened to a service between two snapshots.
func change(before, after sandbox.ServiceSnapshot) string {
	switch {
	case after.Desired != before.Desired:
		return fmt.Sprintf("desired:%d", after.Desired)
	case after.TaskDefinition != before.TaskDefinition:
		return "task-definition"
	case newDeployments(before, after) > 0:
		return "new-deployment"
	}
	return "none"
}

func newDeployments(before, after sandbox.ServiceSnapshot) int {
	seen := map[string]bool{}
	for _, d := range before.Deployments {
		seen[d.ID] = true
	}
	n := 0
	for _, d := range after.Deployments {
		if !seen[d.ID] {
			n++
		}
	}
	return n
}

func actionList(as []report.Action) string {
	var s []string
	for _, a := range as {
		s = append(s, a.Kind+"="+string(a.Outcome))
	}
	return strings.Join(s, ", ")
}

func expectList(as []ActionExpect) string {
	var s []string
	for _, a := range as {
		s = append(s, a.Kind+"="+a.Outcome)
	}
	return strings.Join(s, ", ")
}
