package notasks

import (
	"github.com/arrakis/gp-remediation/pkg/service"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ecs"
	"github.com/arrakis/gp-remediation/pkg/logs"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
)

var now = time.Date(2026, 11, 27, 3, 13, 0, 0, time.UTC)

const (
	tdIngestor7 = "arn:aws:ecs:us-east-1:123456789012:task-definition/arrakis-staging-ingestor:7"
	tdIngestor6 = "arn:aws:ecs:us-east-1:123456789012:task-definition/arrakis-staging-ingestor:6"
	tdWorker42  = "arn:aws:ecs:us-east-1:123456789012:task-definition/arrakis-staging-gp-worker:42"
	tdWorker41  = "arn:aws:ecs:us-east-1:123456789012:task-definition/arrakis-staging-gp-worker:41"
)

var (
	ingestor = playbook.Target{Service: "arrakis-staging-ingestor", Role: "ingestor", Severity: report.SeverityCritical}
	worker   = playbook.Target{Service: "arrakis-staging-gp-worker", Role: "worker", Severity: report.SeverityCritical}
	policy   = Policy{MemoryFactor: 1.5, MaxTaskMemoryMiB: 4096, MinDiscordSessions: 5, BadDeploymentWindow: 24 * time.Hour}
	budgetOK = service.DiscordEvidence{Checked: true, Remaining: 900, Total: 1000, ResetAfter: 3 * time.Hour}
)

func exit(n int) *int { return &n }

func svc(name, td string, desired, running int, deployedAgo time.Duration, events ...ecs.Event) ecs.Service {
	return ecs.Service{Name: name, Status: "ACTIVE", Desired: desired, Running: running, TaskDefinition: td,
		Deployments: []ecs.Deployment{{ID: "ecs-svc/1111", Status: "PRIMARY", TaskDefinition: td, RolloutState: "FAILED",
			Desired: desired, CreatedAt: now.Add(-deployedAgo)}},
		Events:  events,
		Network: &ecs.Network{Subnets: []string{"subnet-a", "subnet-b"}, SecurityGroups: []string{"sg-1"}, PublicIP: "DISABLED"},
	}
}

func stopped(td string, ago time.Duration, code, reason string, c ecs.Container) ecs.Task {
	return ecs.Task{ARN: "arn:aws:ecs:us-east-1:123456789012:task/arrakis-staging-cluster/" + strings.Repeat("a", 8), TaskDefinition: td,
		StopCode: code, StoppedReason: reason, CreatedAt: now.Add(-ago - time.Minute), StoppedAt: now.Add(-ago), Containers: []ecs.Container{c}}
}

func oomTask(ago time.Duration) ecs.Task {
	return stopped(tdIngestor7, ago, "EssentialContainerExited", "Essential container in task exited",
		ecs.Container{Name: "ingestor", ExitCode: exit(137), Reason: "OutOfMemoryError: Container killed due to memory usage"})
}

func crashTask(td string, ago time.Duration, code int) ecs.Task {
	return stopped(td, ago, "EssentialContainerExited", "Essential container in task exited", ecs.Container{Name: "app", ExitCode: exit(code)})
}

func pullTask(ago time.Duration) ecs.Task {
	return stopped(tdWorker42, ago, "TaskFailedToStart",
		"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/gp-worker:staging: dial tcp 10.0.1.23:443: i/o timeout",
		ecs.Container{Name: "app"})
}

func lines(msgs ...string) logs.Excerpt {
	ex := logs.Excerpt{}
	for i, m := range msgs {
		ex.Lines = append(ex.Lines, logs.Line{At: now.Add(-time.Duration(len(msgs)-i) * time.Minute), Message: m})
	}
	return ex
}

func TestDecide(t *testing.T) {
	steady := ecs.Event{At: now.Add(-3 * time.Hour), Message: "(service arrakis-staging-gp-worker) has reached a steady state."}
	allow := policy
	allow.AllowRollback, allow.AllowRaiseMemory = true, true
	tests := []struct {
		name        string
		target      playbook.Target
		ev          Evidence
		failed      map[string]string
		policy      Policy
		wantCode    string
		wantActions []string // kind, or kind! when Blocked
		wantMissing bool
		wantBenign  bool
		wantEsc     bool
		wantInSum   string
	}{
		{name: "service unreadable: nothing acts", target: ingestor, failed: map[string]string{ProbeService: "throttled"},
			wantCode: Unknown, wantMissing: true, wantEsc: true},
		{name: "scaled to zero is deliberate", target: ingestor, ev: Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 0, 0, time.Hour)},
			wantCode: ScaledToZero, wantBenign: true},
		{name: "already running again", target: worker, ev: Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 2, 1, time.Hour)},
			wantCode: Recovered, wantBenign: true},
		{name: "stopped tasks unreadable: nothing acts", target: worker, ev: Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 1, 0, time.Hour)},
			failed: map[string]string{ProbeStoppedTasks: "AccessDenied"}, wantCode: Unknown, wantMissing: true, wantEsc: true},
		{name: "oom: restart, memory raise blocked by policy", target: ingestor,
			ev: Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{oomTask(2 * time.Minute), oomTask(9 * time.Minute)},
				TaskDef: ecs.TaskDefinition{ARN: tdIngestor7, MemoryMiB: 512}, Discord: budgetOK},
			wantCode: OOMKilled, wantActions: []string{ForceNewDeployment, RaiseTaskMemory + "!"}, wantInSum: "512 MiB"},
		{name: "oom with exit 137 reported: says so", target: ingestor,
			ev: Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{oomTask(2 * time.Minute)},
				TaskDef: ecs.TaskDefinition{ARN: tdIngestor7, MemoryMiB: 512}, Discord: budgetOK},
			wantCode: OOMKilled, wantActions: []string{ForceNewDeployment, RaiseTaskMemory + "!"}, wantInSum: "(exit 137)"},
		{name: "oom without any exit code returned: never says exit 137", target: ingestor,
			ev: Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour),
				Stopped: []ecs.Task{stopped(tdIngestor7, 2*time.Minute, "EssentialContainerExited", "OutOfMemoryError: Container killed due to memory usage", ecs.Container{Name: "ingestor"})},
				TaskDef: ecs.TaskDefinition{ARN: tdIngestor7, MemoryMiB: 512}, Discord: budgetOK},
			wantCode: OOMKilled, wantActions: []string{ForceNewDeployment, RaiseTaskMemory + "!"}, wantInSum: "no container exit code was returned"},
		{name: "oom with policy on: raise memory replaces the restart", target: ingestor, policy: allow,
			ev: Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{oomTask(2 * time.Minute)},
				TaskDef: ecs.TaskDefinition{ARN: tdIngestor7, MemoryMiB: 512}, Discord: budgetOK},
			wantCode: OOMKilled, wantActions: []string{RaiseTaskMemory}},
		{name: "oom at the memory cap: restart only", target: ingestor, policy: allow,
			ev: Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{oomTask(2 * time.Minute)},
				TaskDef: ecs.TaskDefinition{ARN: tdIngestor7, MemoryMiB: 4096}, Discord: budgetOK},
			wantCode: OOMKilled, wantActions: []string{ForceNewDeployment, RaiseTaskMemory + "!"}},
		{name: "137 without OOM evidence is a crash, not oom", target: worker,
			ev:       Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 1, 0, 48*time.Hour), Stopped: []ecs.Task{crashTask(tdWorker42, time.Minute, 137)}},
			wantCode: CrashLoop, wantActions: []string{ForceNewDeployment}},
		{name: "137 with out-of-memory log is oom", target: worker,
			ev: Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 1, 0, 48*time.Hour), Stopped: []ecs.Task{crashTask(tdWorker42, time.Minute, 137)},
				Logs: lines("fatal error: runtime: out of memory")},
			wantCode: OOMKilled, wantActions: []string{ForceNewDeployment, RaiseTaskMemory + "!"}},
		{name: "token rejected in logs: no restart", target: ingestor,
			ev: Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{crashTask(tdIngestor7, time.Minute, 1)},
				Logs: lines("Shard 0 closed: 4004 Authentication failed"), Discord: budgetOK},
			wantCode: DiscordTokenInvalid, wantEsc: true},
		{name: "token rejected by Discord API", target: ingestor,
			ev: Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{crashTask(tdIngestor7, time.Minute, 1)},
				Discord: service.DiscordEvidence{Checked: true, Unauthorized: true}},
			wantCode: DiscordTokenInvalid, wantEsc: true},
		{name: "4004 in worker logs is not a token problem", target: worker,
			ev: Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 1, 0, 48*time.Hour), Stopped: []ecs.Task{crashTask(tdWorker42, time.Minute, 1)},
				Logs: lines("order 4004 failed")},
			wantCode: CrashLoop, wantActions: []string{ForceNewDeployment}},
		{name: "image pull network error: no restart", target: worker,
			ev:       Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 1, 0, 48*time.Hour), Stopped: []ecs.Task{pullTask(time.Minute), pullTask(5 * time.Minute)}},
			wantCode: NetworkError, wantEsc: true, wantInSum: "2 of 2"},
		{name: "bad deployment: rollback blocked by policy", target: worker,
			ev: Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 2, 0, 25*time.Minute, steady), Previous: tdWorker41,
				Stopped: []ecs.Task{crashTask(tdWorker42, time.Minute, 2), crashTask(tdWorker42, 10*time.Minute, 2)}},
			wantCode: BadDeployment, wantActions: []string{Rollback + "!"}, wantInSum: "arrakis-staging-gp-worker:41"},
		{name: "bad deployment with rollback allowed", target: worker, policy: allow,
			ev: Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 2, 0, 25*time.Minute, steady), Previous: tdWorker41,
				Stopped: []ecs.Task{crashTask(tdWorker42, time.Minute, 2)}},
			wantCode: BadDeployment, wantActions: []string{Rollback}},
		{name: "old deployment without a steady state before: crash loop", target: worker,
			ev: Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 2, 0, 25*time.Minute), Previous: tdWorker41,
				Stopped: []ecs.Task{crashTask(tdWorker42, time.Minute, 2)}},
			wantCode: CrashLoop, wantActions: []string{ForceNewDeployment}},
		{name: "deployment older than the window: crash loop", target: worker,
			ev: Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 2, 0, 72*time.Hour, ecs.Event{At: now.Add(-80 * time.Hour), Message: "has reached a steady state."}), Previous: tdWorker41,
				Stopped: []ecs.Task{crashTask(tdWorker42, time.Minute, 2)}},
			wantCode: CrashLoop, wantActions: []string{ForceNewDeployment}},
		{name: "ingestor crash loop with budget: restart", target: ingestor,
			ev:       Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{crashTask(tdIngestor7, time.Minute, 1)}, Discord: budgetOK},
			wantCode: CrashLoop, wantActions: []string{ForceNewDeployment}},
		{name: "ingestor restart blocked: Discord budget low", target: ingestor,
			ev: Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{crashTask(tdIngestor7, time.Minute, 1)},
				Discord: service.DiscordEvidence{Checked: true, Remaining: 2, Total: 1000, ResetAfter: 3 * time.Hour}},
			wantCode: CrashLoop, wantActions: []string{ForceNewDeployment + "!"}},
		{name: "ingestor restart blocked: Discord budget unreadable", target: ingestor,
			ev:     Evidence{Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{crashTask(tdIngestor7, time.Minute, 1)}},
			failed: map[string]string{ProbeDiscord: "timeout"}, wantCode: CrashLoop, wantActions: []string{ForceNewDeployment + "!"}},
		{name: "no stopped task explains it", target: worker,
			ev:       Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 1, 0, 48*time.Hour, ecs.Event{At: now, Message: "(service x) was unable to place a task because no container instance met all of its requirements."})},
			wantCode: Unknown, wantEsc: true},
		{name: "logs unreadable still decides from tasks", target: worker,
			ev:     Evidence{Service: svc("arrakis-staging-gp-worker", tdWorker42, 1, 0, 48*time.Hour), Stopped: []ecs.Task{crashTask(tdWorker42, time.Minute, 1)}},
			failed: map[string]string{ProbeLogs: "throttled"}, wantCode: CrashLoop, wantActions: []string{ForceNewDeployment}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p.MaxTaskMemoryMiB == 0 {
				p = policy
			}
			tc.ev.Now = now
			if tc.failed == nil {
				tc.failed = map[string]string{}
			}
			d := Decide(Input{Target: tc.target, Evidence: tc.ev, Failed: tc.failed, Policy: p})
			if d.Finding.Code != tc.wantCode {
				t.Fatalf("finding = %s (%s), want %s", d.Finding.Code, d.Finding.Summary, tc.wantCode)
			}
			var got []string
			for _, a := range d.Actions {
				k := a.Kind
				if a.Blocked.Set() {
					k += "!"
				}
				got = append(got, k)
			}
			if strings.Join(got, ",") != strings.Join(tc.wantActions, ",") {
				t.Errorf("actions = %v, want %v (%+v)", got, tc.wantActions, d.Actions)
			}
			if (len(d.Missing) > 0) != tc.wantMissing {
				t.Errorf("missing = %v, want %v", d.Missing, tc.wantMissing)
			}
			if d.Benign != tc.wantBenign {
				t.Errorf("benign = %v", d.Benign)
			}
			if (d.Escalate != "") != tc.wantEsc {
				t.Errorf("escalate = %q, want %v", d.Escalate, tc.wantEsc)
			}
			if strings.Contains(d.Finding.Summary, "exit 137") && tc.wantInSum == "no container exit code was returned" {
				t.Errorf("summary %q claims an exit code no container returned", d.Finding.Summary)
			}
			if !strings.Contains(d.Finding.Summary, tc.wantInSum) {
				t.Errorf("summary %q lacks %q", d.Finding.Summary, tc.wantInSum)
			}
			if d.Finding.Summary == "" || d.Finding.Evidence == nil {
				t.Errorf("finding without summary or evidence: %+v", d.Finding)
			}
			for _, a := range d.Actions {
				if a.Target != tc.target.Service || a.Reason == "" {
					t.Errorf("action %+v lacks target or reason", a)
				}
			}
		})
	}
}

func TestDecideIsPure(t *testing.T) {
	ev := Evidence{Now: now, Service: svc("arrakis-staging-ingestor", tdIngestor7, 1, 0, 48*time.Hour), Stopped: []ecs.Task{oomTask(time.Minute)},
		TaskDef: ecs.TaskDefinition{ARN: tdIngestor7, MemoryMiB: 512}, Discord: budgetOK}
	in := Input{Target: ingestor, Evidence: ev, Failed: map[string]string{}, Policy: policy}
	a, b := Decide(in), Decide(in)
	if a.Finding.Summary != b.Finding.Summary || len(a.Actions) != len(b.Actions) || strings.Join(a.Finding.Evidence, "\n") != strings.Join(b.Finding.Evidence, "\n") {
		t.Fatal("Decide gave different answers for the same input")
	}
}

func TestLogEvidenceSkipsStackFrames(t *testing.T) {
	ex := lines("panic: runtime error: invalid memory address or nil pointer dereference",
		"goroutine 1 [running]:", "\t/usr/local/go/src/runtime/panic.go:1101 +0x48", "main.main()", "fatal: cannot connect to database")
	got := strings.Join(logEvidence(ex, 5), "\n")
	if strings.Contains(got, "panic.go") || strings.Contains(got, "goroutine 1") || !strings.Contains(got, "nil pointer") || !strings.Contains(got, "cannot connect") {
		t.Errorf("log evidence:\n%s", got)
	}
}
