// Package bench holds the measurements behind `make bench` that no single package owns: cold
// init of the built functions under the Lambda emulator against a hello-world baseline, the
// dependent-call chain of one invocation under added network latency, and the table that puts
// every benchmark's ratio and target side by side (cmd/benchtable renders it).
package bench

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Call is one network call of an invocation that carried the added latency: an AWS call or
// an HTTP stand-in request answered by the sandbox, or a DynamoDB call through DelayProxy.
type Call struct {
	Op    string    `json:"op"` // "ecs:DescribeServices", "dynamodb:PutItem", "discord-api:GET"
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Probe is the diagnostic probe family the call belongs to (see ProbeOf), "" for a
	// pipeline step (guard, report, paging). Set by Attribute.
	Probe string `json:"probe,omitempty"`
	// Estimated says End was not recorded but derived (start + added latency).
	Estimated bool `json:"estimated,omitempty"`
}

// Duration is the call's recorded (or estimated) time.
func (c Call) Duration() time.Duration { return c.End.Sub(c.Start) }

// Dependency model. The chain is the longest path through the invocation's calls where an
// edge a -> b exists when b started after a ended (within Tolerance) and the two may depend on
// each other. Only one kind of pair is declared independent: two calls of different
// diagnostic probe families. That is the design's claim (docs/design.md, "The pipeline": probes run in
// parallel); everything else that ran one after the other is counted as a dependent step
// (the guard's claim and kill-switch read, the budget check, paging, the report), whether or
// not it had to be sequential. So the ratio wall ÷ (chain × per-call time) stays near 1 when
// the probes really overlap, and grows with every probe that waited for another one.

// probeFamily maps an operation to the diagnostic probe family that makes it. Calls of one
// family are counted as dependent when sequential (a task-definition read needs the service's
// current revision; DescribeTasks needs ListTasks' ARNs; pages follow pages). Two probes of
// one family (no-tasks' memory and queue-depth GetMetricData) are not told apart: if they
// ever ran one after the other they would count as dependent, which lengthens the chain and
// flatters the ratio; the recorded timeline (docs/benchmarks.md) shows they overlap.
var probeFamily = map[string]string{
	"ecs:DescribeServices":       "ecs.service",
	"ecs:DescribeTaskDefinition": "ecs.service",
	"ecs:ListTaskDefinitions":    "ecs.service",
	"ecs:ListTasks":              "ecs.tasks",
	"ecs:DescribeTasks":          "ecs.tasks",
	"logs:FilterLogEvents":       "logs",
	"cloudwatch:GetMetricData":   "metrics",
	"discord-api:GET":            "discord",
}

// secretRead is the one operation both probes and pipeline steps make (the Discord token,
// the broker and database credentials; the webhooks and PagerDuty keys for the report).
const secretRead = "secretsmanager:GetSecretValue"

// Tolerance absorbs the recording's granularity (milliseconds) and the gap between a
// response and the next request; parallel calls overlap by the whole added latency.
const Tolerance = 10 * time.Millisecond

// followGap is how soon after a secret read the call that uses it starts (the Discord
// probe's GET /gateway/bot after reading the bot token).
const followGap = 60 * time.Millisecond

// ProbeOf returns the probe family of an operation, "" for a pipeline step or a secret read.
func ProbeOf(op string) string { return probeFamily[op] }

// Attribute returns the calls sorted by start with Probe set: by operation (ProbeOf); a
// secret read joins the Discord probe when GET /gateway/bot follows it at once, the
// "secrets" family when it overlaps a probe's call (broker and database credentials read
// while the other probes run), and is a pipeline step otherwise.
func Attribute(calls []Call) []Call {
	out := slices.Clone(calls)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	for i := range out {
		out[i].Probe = ProbeOf(out[i].Op)
	}
	for i := range out {
		if out[i].Op != secretRead {
			continue
		}
		c := out[i]
		for _, d := range out {
			if d.Op == "discord-api:GET" && !d.Start.Before(c.End.Add(-Tolerance)) && d.Start.Sub(c.End) <= followGap {
				out[i].Probe = "discord"
				break
			}
		}
		if out[i].Probe != "" {
			continue
		}
		for _, d := range out {
			if d.Probe != "" && d.Op != secretRead && overlaps(c, d) {
				out[i].Probe = "secrets"
				break
			}
		}
	}
	return out
}

func overlaps(a, b Call) bool {
	return a.Start.Before(b.End.Add(-Tolerance)) && b.Start.Before(a.End.Add(-Tolerance))
}

// dependent says whether b may depend on a (a earlier): both in one probe family, or either a
// pipeline step.
func dependent(a, b Call) bool {
	return a.Probe == "" || b.Probe == "" || a.Probe == b.Probe
}

// Chain returns the longest chain of dependent calls, in order (calls as Attribute returns
// them).
func Chain(calls []Call) []Call {
	n := len(calls)
	if n == 0 {
		return nil
	}
	depth := make([]int, n)
	prev := make([]int, n)
	best := 0
	for i := range calls {
		depth[i], prev[i] = 1, -1
		for j := range i {
			if calls[j].End.After(calls[i].Start.Add(Tolerance)) || !dependent(calls[j], calls[i]) {
				continue
			}
			if depth[j]+1 > depth[i] {
				depth[i], prev[i] = depth[j]+1, j
			}
		}
		if depth[i] > depth[best] {
			best = i
		}
	}
	var path []Call
	for i := best; i >= 0; i = prev[i] {
		path = append(path, calls[i])
	}
	slices.Reverse(path)
	return path
}

// Depth is the longest run of calls that followed one another regardless of probes: what the
// invocation actually waited for. Compared with len(Chain), it shows how many steps were
// sequential only because the code made them so.
func Depth(calls []Call) int {
	all := slices.Clone(calls)
	for i := range all {
		all[i].Probe = ""
	}
	return len(Chain(all))
}

// MedianDuration is the median recorded duration of the calls whose end was recorded.
func MedianDuration(calls []Call) time.Duration {
	var ds []float64
	for _, c := range calls {
		if !c.Estimated {
			ds = append(ds, float64(c.Duration()))
		}
	}
	return time.Duration(Median(ds))
}

// Ops lists the operations of calls joined by arrows, e.g. for a chain.
func Ops(calls []Call) string {
	s := make([]string, len(calls))
	for i, c := range calls {
		s[i] = c.Op
	}
	return strings.Join(s, " → ")
}

// Timeline renders the calls one per line: start and end relative to the first call, the
// operation and the probe family.
func Timeline(calls []Call) string {
	if len(calls) == 0 {
		return ""
	}
	t0 := calls[0].Start
	for _, c := range calls {
		if c.Start.Before(t0) {
			t0 = c.Start
		}
	}
	var b strings.Builder
	for _, c := range calls {
		probe := c.Probe
		if probe == "" {
			probe = "(pipeline)"
		}
		est := ""
		if c.Estimated {
			est = " (end estimated)"
		}
		fmt.Fprintf(&b, "%6d–%-6d %-34s %s%s\n", c.Start.Sub(t0).Milliseconds(), c.End.Sub(t0).Milliseconds(), c.Op, probe, est)
	}
	return b.String()
}

// Median of xs (0 for none); xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
