package queuedepth

import (
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/pg"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
	"github.com/arrakis/gp-remediation/pkg/report"
)

var (
	now    = time.Date(2026, 11, 27, 3, 13, 0, 0, time.UTC)
	target = playbook.Target{Service: "arrakis-staging-gp-worker", Role: "worker", Queue: "arrakis.interactions", Severity: report.SeverityWarning}
	policy = Policy{Queue: "arrakis.interactions", Database: "arrakis", MaxWorkers: 3, ScaleStep: 1, WorkerConnName: "gp-worker", IngestorConnName: "ingestor", SlowLogLines: 5, Saturation: 0.9}
)

func depth(f func(minAgo float64) float64) metrics.Series {
	s := metrics.Series{Period: time.Minute}
	for t := now.Add(-15 * time.Minute); t.Before(now); t = t.Add(time.Minute) {
		s.Points = append(s.Points, metrics.Point{T: t, V: f(now.Sub(t).Minutes())})
	}
	return s
}

var (
	growing  = depth(func(a float64) float64 { return 2400 - 150*a })
	draining = depth(func(a float64) float64 { return 400 + 170*a })
	flatHigh = depth(func(float64) float64 { return 1500 })
)

func worker(desired, running int) ecs.Service {
	return ecs.Service{Name: target.Service, Desired: desired, Running: running, TaskDefinition: "arn:aws:ecs:us-east-1:1:task-definition/arrakis-staging-gp-worker:41",
		Deployments: []ecs.Deployment{{ID: "ecs-svc/1", Status: "PRIMARY"}}}
}

func fullVisibility() *pg.SlowQueryReport {
	return &pg.SlowQueryReport{Over: 5 * time.Second, Visibility: pg.Visibility{Complete: true}}
}

func TestDecide(t *testing.T) {
	slow := &pg.SlowQueryReport{Over: 5 * time.Second, Visibility: pg.Visibility{Complete: true},
		Queries: []pg.SlowQuery{{PID: 42, Database: "arrakis", Duration: 8 * time.Second, State: "active", Query: "SELECT ..."}}}
	otherDB := &pg.SlowQueryReport{Over: 5 * time.Second, Visibility: pg.Visibility{Complete: true},
		Queries: []pg.SlowQuery{{PID: 43, Database: "analytics", Duration: 80 * time.Second, State: "active"}}}
	tests := []struct {
		name     string
		ev       Evidence
		failed   map[string]string
		ok       bool
		want     string
		actions  []string
		missing  bool
		inDetail int
	}{
		{name: "growing with busy consumers: scale up", ev: Evidence{Queue: rabbit.QueueState{Ready: 2400, Consumers: 1}, Depth: growing, Worker: worker(1, 1), Slow: fullVisibility()},
			want: UnderProvisioned, actions: []string{ScaleService}},
		{name: "flat but high: scale up", ev: Evidence{Queue: rabbit.QueueState{Ready: 1500, Consumers: 2}, Depth: flatHigh, Worker: worker(2, 2), Slow: fullVisibility()},
			want: UnderProvisioned, actions: []string{ScaleService}},
		{name: "at the cap: blocked", ev: Evidence{Queue: rabbit.QueueState{Ready: 2400, Consumers: 3}, Depth: growing, Worker: worker(3, 3), Slow: fullVisibility()},
			want: UnderProvisioned, actions: []string{ScaleService + "!"}},
		{name: "database unreadable: do not add load blind", ev: Evidence{Queue: rabbit.QueueState{Ready: 2400, Consumers: 1}, Depth: growing, Worker: worker(1, 1)},
			failed: map[string]string{ProbeDatabase: "connection refused"}, want: UnderProvisioned, actions: []string{ScaleService}, missing: true},
		{name: "slow queries: database bottleneck, no scale", ev: Evidence{Queue: rabbit.QueueState{Ready: 2400, Consumers: 2}, Depth: growing, Worker: worker(2, 2), Slow: slow},
			want: DatabaseBottleneck},
		{name: "slow queries in another database do not count", ev: Evidence{Queue: rabbit.QueueState{Ready: 2400, Consumers: 2}, Depth: growing, Worker: worker(2, 2), Slow: otherDB},
			want: UnderProvisioned, actions: []string{ScaleService}},
		{name: "connections saturated: database bottleneck", ev: Evidence{Queue: rabbit.QueueState{Ready: 2400, Consumers: 2}, Depth: growing, Worker: worker(2, 2), Slow: fullVisibility(),
			Conns: &pg.ConnectionReport{Saturation: 0.95, Available: 97, Clients: 92}}, want: DatabaseBottleneck},
		{name: "slow/timeout log lines: database bottleneck", ev: func() Evidence {
			e := Evidence{Queue: rabbit.QueueState{Ready: 2400, Consumers: 2}, Depth: growing, Worker: worker(2, 2), Slow: fullVisibility()}
			for i := 0; i < 6; i++ {
				e.Logs.Lines = append(e.Logs.Lines, logs.Line{At: now, Message: "slow query took 8.2s"})
			}
			return e
		}(), want: DatabaseBottleneck},
		{name: "workers down: leave it to no-tasks", ev: Evidence{Queue: rabbit.QueueState{Ready: 900}, Depth: growing, Worker: worker(1, 0)}, want: WorkersMissing},
		{name: "scaled to zero on purpose", ev: Evidence{Queue: rabbit.QueueState{Ready: 900}, Depth: growing, Worker: worker(0, 0)}, want: WorkersMissing},
		{name: "running but no consumer: restart", ev: Evidence{Queue: rabbit.QueueState{Ready: 900}, Depth: growing, Worker: worker(2, 2)},
			want: ConsumersMissing, actions: []string{ForceNewDeployment}},
		{name: "draining: nothing", ev: Evidence{Queue: rabbit.QueueState{Ready: 400, Consumers: 3}, Depth: draining, Worker: worker(3, 3)}, want: Draining},
		{name: "worker unreadable: nothing", ev: Evidence{Depth: growing}, failed: map[string]string{ProbeWorker: "throttled"}, want: Unknown, missing: true},
		{name: "queue unreadable both ways: nothing", ev: Evidence{Worker: worker(1, 1)}, failed: map[string]string{ProbeQueue: "refused", ProbeDepth: "throttled"}, want: Unknown, missing: true},
		{name: "broker unreachable both ways: nothing", ev: Evidence{Depth: growing, Worker: worker(1, 1), Slow: fullVisibility()},
			failed: map[string]string{ProbeQueue: "dial tcp: connection refused", ProbeManagement: "connection refused"}, want: Unknown, missing: true},
		{name: "AMQP down, CloudWatch and management still decide", ev: Evidence{Depth: growing, Worker: worker(1, 1), Slow: fullVisibility(),
			Mgmt: &rabbit.QueueInfo{Consumers: 1}}, failed: map[string]string{ProbeQueue: "refused"}, want: UnderProvisioned, actions: []string{ScaleService}},
		// The alarm's return to OK.
		{name: "OK after our scale-up: back to the recorded count", ok: true, ev: Evidence{Worker: worker(2, 2),
			ScaleUps: []guard.Entry{{Kind: ScaleService, FromCount: 1, ToCount: 2, HasCounts: true, Outcome: guard.OutcomeDone, At: now.Add(-20 * time.Minute)}}},
			want: ScaledBack, actions: []string{ScaleService}, inDetail: 1},
		{name: "OK: our last entry was a scale-back, the one before a scale-up", ok: true, ev: Evidence{Worker: worker(1, 1),
			ScaleUps: []guard.Entry{{FromCount: 2, ToCount: 1, HasCounts: true, Outcome: guard.OutcomeDone}, {FromCount: 1, ToCount: 2, HasCounts: true, Outcome: guard.OutcomeDone}}}, want: NothingToScaleBack},
		{name: "OK: someone changed the count since", ok: true, ev: Evidence{Worker: worker(3, 3),
			ScaleUps: []guard.Entry{{FromCount: 1, ToCount: 2, HasCounts: true, Outcome: guard.OutcomeDone}}}, want: NothingToScaleBack},
		{name: "OK: a failed scale-up is not undone", ok: true, ev: Evidence{Worker: worker(1, 1),
			ScaleUps: []guard.Entry{{FromCount: 1, ToCount: 2, HasCounts: true, Outcome: guard.OutcomeFailed}}}, want: NothingToScaleBack},
		{name: "OK: never below the recorded count", ok: true, ev: Evidence{Worker: worker(2, 2),
			ScaleUps: []guard.Entry{{FromCount: 2, ToCount: 3, HasCounts: true, Outcome: guard.OutcomeDone}}}, want: NothingToScaleBack},
		{name: "OK: ledger unreadable, nothing", ok: true, ev: Evidence{Worker: worker(2, 2)}, failed: map[string]string{ProbeLedger: "throttled"}, want: Unknown, missing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.Now = now
			if tc.failed == nil {
				tc.failed = map[string]string{}
			}
			d := Decide(Input{Target: target, Evidence: tc.ev, Failed: tc.failed, Policy: policy, Recovered: tc.ok})
			if d.Finding.Code != tc.want {
				t.Fatalf("finding = %s (%s), want %s", d.Finding.Code, d.Finding.Summary, tc.want)
			}
			var got []string
			for _, a := range d.Actions {
				k := a.Kind
				if a.Blocked.Set() {
					k += "!"
				}
				got = append(got, k)
				if tc.inDetail != 0 && a.Change.ToCount != tc.inDetail {
					t.Errorf("action to %d, want %d", a.Change.ToCount, tc.inDetail)
				}
				if n := a.Change.ToCount; a.Kind == ScaleService && !a.Blocked.Set() && (n <= 0 || n > 3) {
					t.Errorf("scale target %d beyond the cap", n)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.actions, ",") {
				t.Errorf("actions = %v, want %v", got, tc.actions)
			}
			if (len(d.Missing) > 0) != tc.missing {
				t.Errorf("missing = %v", d.Missing)
			}
			if d.Finding.Summary == "" {
				t.Error("empty summary")
			}
		})
	}
}

func TestScaleBackSpendsNoScaleBudget(t *testing.T) {
	d := Decide(Input{Target: target, Recovered: true, Failed: map[string]string{}, Policy: policy,
		Evidence: Evidence{Worker: worker(2, 2), ScaleUps: []guard.Entry{{FromCount: 1, ToCount: 2, HasCounts: true, Outcome: guard.OutcomeDone}}}})
	if len(d.Actions) != 1 || d.Actions[0].BudgetKey() != ScaleBack {
		t.Fatalf("scale-back budget = %+v", d.Actions)
	}
}

func TestIncompleteVisibilityIsSaid(t *testing.T) {
	ev := Evidence{Now: now, Queue: rabbit.QueueState{Ready: 2400, Consumers: 1}, Depth: growing, Worker: worker(1, 1),
		Slow: &pg.SlowQueryReport{Over: 5 * time.Second, Visibility: pg.Visibility{Complete: false, Note: "grant pg_read_all_stats"}}}
	d := Decide(Input{Target: target, Evidence: ev, Failed: map[string]string{}, Policy: policy})
	all := strings.Join(d.Finding.Evidence, "\n")
	if !strings.Contains(all, "could not all be seen") || strings.Contains(all, "no statement running") {
		t.Errorf("evidence must say the slow queries could not be seen, never 'none':\n%s", all)
	}
}

func TestConsumerHealthAndPrefetch(t *testing.T) {
	ev := Evidence{Now: now, Queue: rabbit.QueueState{Ready: 2400, Consumers: 2}, Depth: growing, Worker: worker(3, 3), Slow: fullVisibility(),
		Connections: []rabbit.Connection{{ClientName: "gp-worker-1", Channels: 1}, {ClientName: "gp-worker-2", Channels: 1}},
		Mgmt:        &rabbit.QueueInfo{Unacked: 20, ConsumerDetails: []rabbit.Consumer{{PrefetchCount: 10}, {PrefetchCount: 10}}}}
	d := Decide(Input{Target: target, Evidence: ev, Failed: map[string]string{}, Policy: policy})
	all := strings.Join(d.Finding.Evidence, "\n")
	if !strings.Contains(all, "no ingestor connection") || !strings.Contains(all, "2 worker connection(s) but 3 running") {
		t.Errorf("consumer health not reported:\n%s", all)
	}
	if !strings.Contains(strings.Join(d.Recommendations, " "), "prefetch") {
		t.Errorf("prefetch advice missing: %v", d.Recommendations)
	}
}
