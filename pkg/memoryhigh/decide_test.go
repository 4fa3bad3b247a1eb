package memoryhigh

import (
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/metrics"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/service"
)

var (
	now      = time.Date(2026, 11, 27, 3, 13, 0, 0, time.UTC)
	ingestor = playbook.Target{Service: "arrakis-staging-ingestor", Role: "ingestor", Severity: report.SeverityWarning}
	policy   = Policy{HighPct: 85, MemoryFactor: 1.5, MaxTaskMemoryMiB: 4096, MinDiscordSessions: 5}
	budgetOK = service.DiscordEvidence{Checked: true, Remaining: 900, Total: 1000}
	td       = "arn:aws:ecs:us-east-1:123456789012:task-definition/arrakis-staging-ingestor:17"
)

// series builds a 1-minute (or 5-minute) series over the last hour from f(minutesAgo).
func series(step time.Duration, f func(ago float64) float64) metrics.Series {
	s := metrics.Series{Period: step}
	for t := now.Add(-time.Hour); t.Before(now); t = t.Add(step) {
		s.Points = append(s.Points, metrics.Point{T: t, V: f(now.Sub(t).Minutes())})
	}
	return s
}

func evidence(f func(ago float64) float64) Evidence {
	svc := ecs.Service{Name: ingestor.Service, Desired: 1, Running: 1, TaskDefinition: td,
		Deployments: []ecs.Deployment{{ID: "ecs-svc/1", Status: "PRIMARY", TaskDefinition: td, CreatedAt: now.Add(-6 * 24 * time.Hour)}}}
	return Evidence{Now: now, Service: svc, TaskDef: ecs.TaskDefinition{ARN: td, MemoryMiB: 512},
		Memory1m: series(time.Minute, f), Memory5m: series(5*time.Minute, f), Discord: budgetOK}
}

func noisy(seed int64, amp float64, f func(float64) float64) func(float64) float64 {
	r := rand.New(rand.NewSource(seed))
	return func(ago float64) float64 { return f(ago) + (r.Float64()*2-1)*amp }
}

func TestDecide(t *testing.T) {
	leak := func(ago float64) float64 { return 82 - 42*ago/60 } // 40 % -> 82 % over the hour
	spike := func(ago float64) float64 {
		if ago < 4 {
			return 88
		}
		return 45
	}
	high := func(ago float64) float64 { return 90 + 3*math.Sin(ago/5) }
	recovering := func(ago float64) float64 {
		if ago > 30 {
			return 90
		}
		return 60 + ago
	}
	allow := policy
	allow.AllowRaiseMemory = true
	gaps := func(f func(float64) float64) func(float64) float64 {
		return func(ago float64) float64 {
			if int(ago)%7 == 3 {
				return math.NaN()
			}
			return f(ago)
		}
	}
	tests := []struct {
		name     string
		ev       Evidence
		failed   map[string]string
		policy   Policy
		want     string
		actions  []string // kind, kind! when blocked
		inRule   string
		missing  bool
		inSumOrR string
	}{
		{name: "leak: restart", ev: evidence(leak), want: "leak", actions: []string{playbook.KindForceNewDeployment}, inSumOrR: "%/h"},
		{name: "noisy leak with gaps: restart", ev: evidence(gaps(noisy(1, 1.5, leak))), want: "leak", actions: []string{playbook.KindForceNewDeployment}},
		{name: "leak but Discord budget low: blocked", ev: func() Evidence {
			e := evidence(leak)
			e.Discord = service.DiscordEvidence{Checked: true, Remaining: 2, Total: 1000, ResetAfter: 3 * time.Hour}
			return e
		}(), want: "leak", actions: []string{playbook.KindForceNewDeployment + "!"}, inRule: "discord-budget"},
		{name: "leak but Discord unreadable: blocked", ev: evidence(leak), failed: map[string]string{ProbeDiscord: "timeout"},
			want: "leak", actions: []string{playbook.KindForceNewDeployment + "!"}, inRule: "discord-budget-unknown"},
		{name: "leak with no task running: leave it to no-tasks", ev: func() Evidence {
			e := evidence(leak)
			e.Service.Running = 0
			return e
		}(), want: "leak", actions: []string{playbook.KindForceNewDeployment + "!"}, inRule: "no task is running"},
		{name: "spike: nothing", ev: evidence(spike), want: "spike"},
		{name: "sustained high: raise blocked by policy", ev: evidence(high), want: "sustained-high", actions: []string{playbook.KindRaiseTaskMemory + "!"}, inRule: "policy"},
		{name: "sustained high, policy on: raise", ev: evidence(high), policy: allow, want: "sustained-high", actions: []string{playbook.KindRaiseTaskMemory}},
		{name: "sustained high at the cap", ev: func() Evidence { e := evidence(high); e.TaskDef.MemoryMiB = 4096; return e }(), policy: allow,
			want: "sustained-high", actions: []string{playbook.KindRaiseTaskMemory + "!"}, inRule: "cap"},
		{name: "recovering: nothing", ev: evidence(recovering), want: "recovering"},
		{name: "flat and low: normal", ev: evidence(func(float64) float64 { return 40 }), want: "normal"},
		{name: "no data: insufficient", ev: evidence(func(float64) float64 { return math.NaN() }), want: "insufficient-data"},
		{name: "metrics unreadable: nothing acts", ev: evidence(leak), failed: map[string]string{ProbeMemory: "Throttling"}, want: Unknown, missing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p.HighPct == 0 {
				p = policy
			}
			if tc.failed == nil {
				tc.failed = map[string]string{}
			}
			d := Decide(Input{Target: ingestor, Evidence: tc.ev, Failed: tc.failed, Policy: p})
			if d.Finding.Code != tc.want {
				t.Fatalf("finding = %s (%s), want %s", d.Finding.Code, d.Finding.Summary, tc.want)
			}
			var got []string
			for _, a := range d.Actions {
				k := a.Kind
				if a.Blocked.Set() {
					k += "!"
					if tc.inRule != "" && !strings.Contains(a.Blocked.String(), tc.inRule) {
						t.Errorf("rule %q lacks %q", a.Blocked.String(), tc.inRule)
					}
				}
				got = append(got, k)
			}
			if strings.Join(got, ",") != strings.Join(tc.actions, ",") {
				t.Errorf("actions = %v, want %v", got, tc.actions)
			}
			if (len(d.Missing) > 0) != tc.missing {
				t.Errorf("missing = %v", d.Missing)
			}
			all := d.Finding.Summary + strings.Join(d.Recommendations, " ")
			if tc.inSumOrR != "" && !strings.Contains(all, tc.inSumOrR) {
				t.Errorf("summary/recommendations lack %q: %s", tc.inSumOrR, all)
			}
			if d.Finding.Summary == "" {
				t.Error("empty summary")
			}
		})
	}
}

func TestLeakAsksForABugWithTheNumbers(t *testing.T) {
	d := Decide(Input{Target: ingestor, Evidence: evidence(func(ago float64) float64 { return 82 - 42*ago/60 }), Failed: map[string]string{}, Policy: policy})
	rec := strings.Join(d.Recommendations, " ")
	if !strings.Contains(rec, "File a bug") || !strings.Contains(rec, "%/h") || !strings.Contains(rec, "100 %") {
		t.Errorf("recommendations: %s", rec)
	}
}
