package bench

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

// at builds a call from start and end in ms after t0.
func at(op string, start, end int) Call {
	return Call{Op: op, Start: t0.Add(time.Duration(start) * time.Millisecond), End: t0.Add(time.Duration(end) * time.Millisecond)}
}

// noTasksParallel is a recorded no-tasks ingestor dry-run under +100 ms (make bench, 2026-11-27).
func noTasksParallel() []Call {
	return []Call{
		at("dynamodb:PutItem", 0, 105),
		at("ssm:GetParameter", 129, 234),
		at("secretsmanager:GetSecretValue", 236, 337),
		at("ecs:DescribeServices", 236, 337),
		at("logs:FilterLogEvents", 236, 337),
		at("ecs:ListTasks", 236, 337),
		at("cloudwatch:GetMetricData", 236, 337),
		at("ecs:DescribeTasks", 340, 442),
		at("discord-api:GET", 341, 441),
		at("ecs:ListTaskDefinitions", 341, 441),
		at("ecs:DescribeTaskDefinition", 343, 444),
		at("dynamodb:Query", 447, 552),
		at("secretsmanager:GetSecretValue", 553, 654),
		at("pagerduty:POST", 664, 764),
		at("secretsmanager:GetSecretValue", 769, 869),
		at("discord:POST", 878, 978),
		at("slack:POST", 881, 981),
		at("sns:Publish", 881, 986),
	}
}

// noTasksSerial is the same invocation if the probes ran one after the other.
func noTasksSerial() []Call {
	return []Call{
		at("dynamodb:PutItem", 0, 100),
		at("ssm:GetParameter", 102, 202),
		at("ecs:DescribeServices", 204, 304),
		at("ecs:ListTaskDefinitions", 306, 406),
		at("ecs:DescribeTaskDefinition", 306, 406),
		at("ecs:ListTasks", 408, 508),
		at("ecs:DescribeTasks", 510, 610),
		at("logs:FilterLogEvents", 612, 712),
		at("cloudwatch:GetMetricData", 714, 814),
		at("secretsmanager:GetSecretValue", 816, 916),
		at("discord-api:GET", 918, 1018),
		at("dynamodb:Query", 1020, 1120),
		at("secretsmanager:GetSecretValue", 1122, 1222),
		at("pagerduty:POST", 1224, 1324),
		at("secretsmanager:GetSecretValue", 1326, 1426),
		at("sns:Publish", 1428, 1528),
		at("slack:POST", 1428, 1528),
	}
}

// queueDepth: three secret reads (broker twice, database) alongside the AWS probes.
func queueDepth() []Call {
	return []Call{
		at("dynamodb:PutItem", 0, 107),
		at("ssm:GetParameter", 110, 216),
		at("secretsmanager:GetSecretValue", 239, 340),
		at("secretsmanager:GetSecretValue", 239, 339),
		at("cloudwatch:GetMetricData", 239, 340),
		at("logs:FilterLogEvents", 239, 340),
		at("cloudwatch:GetMetricData", 239, 344),
		at("ecs:DescribeServices", 241, 342),
		at("secretsmanager:GetSecretValue", 241, 342),
		at("dynamodb:Query", 728, 843),
		at("secretsmanager:GetSecretValue", 845, 946),
		at("sns:Publish", 956, 1056),
	}
}

func TestAttribute(t *testing.T) {
	tests := []struct {
		name  string
		calls []Call
		want  map[int]string // index (after sorting by start) -> probe
	}{
		{"no-tasks: the token read joins the Discord probe; report secrets are pipeline steps", noTasksParallel(),
			map[int]string{0: "", 1: "", 2: "discord", 3: "ecs.service", 5: "ecs.tasks", 8: "discord", 11: "", 12: "", 14: ""}},
		{"queue-depth: secret reads during the diagnosis are a probe family of their own", queueDepth(),
			map[int]string{2: "secrets", 3: "secrets", 8: "secrets", 10: ""}},
		{"a secret read overlapping nothing is a pipeline step", []Call{at("ssm:GetParameter", 0, 100), at("secretsmanager:GetSecretValue", 102, 202)},
			map[int]string{0: "", 1: ""}},
		{"a Discord GET long after the read does not claim it", []Call{
			at("secretsmanager:GetSecretValue", 0, 100), at("ecs:DescribeServices", 0, 100), at("discord-api:GET", 300, 400)},
			map[int]string{0: "secrets", 2: "discord"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Attribute(tc.calls)
			if len(got) != len(tc.calls) {
				t.Fatalf("%d calls, want %d", len(got), len(tc.calls))
			}
			for i, want := range tc.want {
				if got[i].Probe != want {
					t.Errorf("call %d (%s at %v): probe %q, want %q", i, got[i].Op, got[i].Start.Sub(t0), got[i].Probe, want)
				}
			}
		})
	}
}

func TestChain(t *testing.T) {
	tests := []struct {
		name      string
		calls     []Call
		wantLen   int
		wantDepth int
		wantOps   []string // a prefix of the chain's operations
	}{
		{"no-tasks with parallel probes: claim, kill switch, two diagnosis levels, five report steps",
			noTasksParallel(), 9, 9, []string{"dynamodb:PutItem", "ssm:GetParameter"}},
		{"no-tasks with serial probes: same chain, many more sequential calls",
			noTasksSerial(), 9, 15, []string{"dynamodb:PutItem", "ssm:GetParameter"}},
		{"queue-depth: one diagnosis level", queueDepth(), 6, 6, []string{"dynamodb:PutItem", "ssm:GetParameter"}},
		{"pagination in one probe is dependent", []Call{
			at("logs:FilterLogEvents", 0, 100), at("logs:FilterLogEvents", 102, 202), at("ecs:DescribeServices", 0, 100)},
			2, 2, []string{"logs:FilterLogEvents", "logs:FilterLogEvents"}},
		{"different probes in sequence are not", []Call{
			at("logs:FilterLogEvents", 0, 100), at("ecs:DescribeServices", 102, 202), at("cloudwatch:GetMetricData", 204, 304)},
			1, 3, nil},
		{"a call starting within the tolerance of the previous end follows it", []Call{
			at("ssm:GetParameter", 0, 100), at("sns:Publish", 95, 195)}, 2, 2, nil},
		{"overlapping pipeline calls are parallel", []Call{
			at("ssm:GetParameter", 0, 100), at("sns:Publish", 50, 150)}, 1, 1, nil},
		{"no calls", nil, 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := Attribute(tc.calls)
			chain := Chain(calls)
			if len(chain) != tc.wantLen {
				t.Errorf("chain of %d: %s; want %d", len(chain), Ops(chain), tc.wantLen)
			}
			if d := Depth(calls); d != tc.wantDepth {
				t.Errorf("depth %d, want %d", d, tc.wantDepth)
			}
			for i, op := range tc.wantOps {
				if i >= len(chain) || chain[i].Op != op {
					t.Fatalf("chain %s does not start with %s", Ops(chain), strings.Join(tc.wantOps, " → "))
				}
			}
			for i := 1; i < len(chain); i++ {
				if chain[i].Start.Add(Tolerance).Before(chain[i-1].End) {
					t.Errorf("chain step %d (%s) starts before step %d (%s) ends", i, chain[i].Op, i-1, chain[i-1].Op)
				}
			}
		})
	}
}

func TestInvocationRatio(t *testing.T) {
	tests := []struct {
		name  string
		iv    Invocation
		ratio float64
	}{
		{"the wall time of the chain alone is 1", Invocation{Wall: 200 * time.Millisecond, Calls: Attribute([]Call{
			at("ssm:GetParameter", 0, 100), at("sns:Publish", 100, 200)})}, 1},
		{"serial probes take longer than their chain", Invocation{Wall: 300 * time.Millisecond, Calls: Attribute([]Call{
			at("logs:FilterLogEvents", 0, 100), at("ecs:DescribeServices", 100, 200), at("cloudwatch:GetMetricData", 200, 300)})}, 3},
		{"no calls: no ratio", Invocation{Wall: time.Second}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.iv.Ratio(); got < tc.ratio-1e-9 || got > tc.ratio+1e-9 {
				t.Errorf("ratio %v, want %v", got, tc.ratio)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"none", nil, 0},
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.xs...)
			if got := Median(tc.xs); got != tc.want {
				t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.xs[i] {
					t.Fatal("Median reordered its input")
				}
			}
		})
	}
}

func TestMedianDurationSkipsEstimates(t *testing.T) {
	calls := []Call{at("ssm:GetParameter", 0, 100), at("sns:Publish", 0, 104), {Op: "slack:POST", Start: t0, End: t0.Add(time.Second), Estimated: true}}
	if got := MedianDuration(calls); got != 102*time.Millisecond {
		t.Errorf("MedianDuration = %v, want 102ms", got)
	}
}

func TestTimeline(t *testing.T) {
	calls := Attribute([]Call{at("ssm:GetParameter", 10, 110), {Op: "slack:POST", Start: t0.Add(120 * time.Millisecond), End: t0.Add(220 * time.Millisecond), Estimated: true}})
	got := Timeline(calls)
	for _, want := range []string{"0–100", "ssm:GetParameter", "(pipeline)", "110–210", "slack:POST", "(end estimated)"} {
		if !strings.Contains(got, want) {
			t.Errorf("timeline lacks %q:\n%s", want, got)
		}
	}
}
