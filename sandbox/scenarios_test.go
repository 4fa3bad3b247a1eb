package sandbox_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/sandbox"
)

// stopped describes the STOPPED tasks of a service as the no-tasks probe would.
func stoppedTasks(t *testing.T, c *clients, service string) []ecstypes.Task {
	t.Helper()
	return describeTasks(t, c, listTasks(t, c, service, ecstypes.DesiredStatusStopped))
}

func TestEveryScenarioLoadsConsistently(t *testing.T) {
	s := sandbox.New(sandbox.Options{TaskStartDelay: testDelay})
	defer s.Close()
	list := sandbox.Scenarios()
	if len(list) != 21 { // a new scenario updates this count on purpose
		t.Fatalf("%d scenarios", len(list))
	}
	for _, sc := range list {
		t.Run(sc.Name, func(t *testing.T) {
			if sc.Description == "" {
				t.Error("no description")
			}
			if err := s.LoadScenario(sc.Name); err != nil {
				t.Fatal(err)
			}
			st := s.State()
			if st.Scenario != sc.Name || len(st.Services) != 2 {
				t.Fatalf("state %s with %d services", st.Scenario, len(st.Services))
			}
			deps := map[string]bool{}
			for _, svc := range st.Services {
				if len(svc.Deployments) == 0 || svc.Deployments[0].Status != "PRIMARY" || svc.TaskDefinition != svc.Deployments[0].TaskDefinition {
					t.Errorf("%s: deployments %+v", svc.Name, svc.Deployments)
				}
				if svc.Running > svc.Desired || svc.Pending != 0 {
					t.Errorf("%s: desired %d running %d pending %d", svc.Name, svc.Desired, svc.Running, svc.Pending)
				}
				for _, d := range svc.Deployments {
					deps[d.ID] = true
				}
				for i := 1; i < len(svc.Events); i++ {
					if svc.Events[i].CreatedAt.After(svc.Events[i-1].CreatedAt) {
						t.Errorf("%s: events out of order at %d", svc.Name, i)
					}
				}
				if len(svc.Events) == 0 || len(svc.Events) > 100 {
					t.Errorf("%s: %d events", svc.Name, len(svc.Events))
				}
			}
			for _, task := range st.Tasks {
				if !deps[task.Deployment] {
					t.Errorf("task %s of unknown deployment %s", task.ID, task.Deployment)
				}
				if task.LastStatus == "STOPPED" && (task.StoppedAt.IsZero() || task.StopCode == "") {
					t.Errorf("stopped task %s without stop data", task.ID)
				}
				if task.StoppedAt.After(st.Now.Add(time.Minute)) || task.CreatedAt.After(st.Now) {
					t.Errorf("task %s in the future", task.ID)
				}
			}
			for _, g := range []string{s.Names().IngestorLogGroup, s.Names().WorkerLogGroup} {
				for _, e := range s.Logs(g) {
					if e.Time.After(st.Now) || e.Time.Before(st.Now.Add(-7*24*time.Hour)) {
						t.Errorf("log event at %v", e.Time)
					}
				}
			}
		})
	}
	if err := s.LoadScenario("nope"); err == nil || !strings.Contains(err.Error(), "healthy") {
		t.Errorf("unknown scenario: %v", err)
	}
}

func TestNoTasksScenarios(t *testing.T) {
	tests := []struct {
		scenario          string
		worker            bool
		desired, running  int32
		minStopped        int
		stopCode          ecstypes.TaskStopCode
		exitCode          int32 // -1: no exit code
		reasonContains    string
		containerContains string
	}{
		{"ingestor-oom", false, 1, 0, 3, ecstypes.TaskStopCodeEssentialContainerExited, 137, "Essential container in task exited", "OutOfMemoryError: Container killed due to memory usage"},
		{"worker-bad-deployment", true, 2, 0, 3, ecstypes.TaskStopCodeEssentialContainerExited, 2, "Essential container in task exited", ""},
		{"ingestor-token-invalid", false, 1, 0, 3, ecstypes.TaskStopCodeEssentialContainerExited, 1, "Essential container in task exited", ""},
		{"image-pull-network-error", true, 1, 0, 3, ecstypes.TaskStopCodeTaskFailedToStart, -1, "Error: ", ""},
		{"worker-crash-loop", true, 1, 0, 3, ecstypes.TaskStopCodeEssentialContainerExited, 1, "Essential container in task exited", ""},
		{"queue-workers-missing", true, 1, 0, 3, ecstypes.TaskStopCodeEssentialContainerExited, 1, "Essential container in task exited", ""},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			c := start(t, tc.scenario)
			name := c.names.IngestorService
			if tc.worker {
				name = c.names.WorkerService
			}
			svc := describeOne(t, c, name)
			if svc.DesiredCount != tc.desired || svc.RunningCount != tc.running {
				t.Errorf("desired/running %d/%d, want %d/%d", svc.DesiredCount, svc.RunningCount, tc.desired, tc.running)
			}
			stopped := stoppedTasks(t, c, name)
			if len(stopped) < tc.minStopped {
				t.Fatalf("%d stopped tasks, want ≥ %d", len(stopped), tc.minStopped)
			}
			var resInit, pull int
			for _, task := range stopped {
				ctr := task.Containers[0]
				if task.StopCode != tc.stopCode || !strings.Contains(aws.ToString(task.StoppedReason), tc.reasonContains) {
					t.Errorf("task stop %s %q", task.StopCode, aws.ToString(task.StoppedReason))
				}
				if tc.exitCode < 0 {
					if ctr.ExitCode != nil || task.StartedAt != nil {
						t.Errorf("a task that never started has exit code %v started %v", ctr.ExitCode, task.StartedAt)
					}
				} else if ctr.ExitCode == nil || *ctr.ExitCode != tc.exitCode {
					t.Errorf("exit code %v, want %d", ctr.ExitCode, tc.exitCode)
				}
				if !strings.Contains(aws.ToString(ctr.Reason), tc.containerContains) {
					t.Errorf("container reason %q", aws.ToString(ctr.Reason))
				}
				if time.Since(*task.StoppedAt) > 70*time.Minute {
					t.Errorf("stopped %v ago, want within the last hour", time.Since(*task.StoppedAt))
				}
				switch r := aws.ToString(task.StoppedReason); {
				case strings.HasPrefix(r, "ResourceInitializationError: unable to pull secrets or registry auth"):
					resInit++
				case strings.HasPrefix(r, "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref") && strings.Contains(r, "dial tcp 10.0.1.23:443: i/o timeout"):
					pull++
				}
			}
			if tc.scenario == "image-pull-network-error" && (resInit != 1 || pull < 3) {
				t.Errorf("%d ResourceInitializationError and %d CannotPullContainerError", resInit, pull)
			}
		})
	}
}

func TestScaledToZero(t *testing.T) {
	c := start(t, "scaled-to-zero")
	for _, name := range []string{c.names.IngestorService, c.names.WorkerService} {
		svc := describeOne(t, c, name)
		if svc.DesiredCount != 0 || svc.RunningCount != 0 || svc.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateCompleted {
			t.Errorf("%s: %d/%d %s", name, svc.DesiredCount, svc.RunningCount, svc.Deployments[0].RolloutState)
		}
		if !strings.Contains(aws.ToString(svc.Events[0].Message), "has reached a steady state.") || !strings.Contains(aws.ToString(svc.Events[1].Message), "has stopped 1 running tasks") {
			t.Errorf("%s: events %q / %q", name, aws.ToString(svc.Events[0].Message), aws.ToString(svc.Events[1].Message))
		}
		for _, task := range stoppedTasks(t, c, name) {
			if task.StopCode != ecstypes.TaskStopCodeServiceSchedulerInitiated || !strings.HasPrefix(aws.ToString(task.StoppedReason), "Scaling activity initiated by (deployment ecs-svc/") {
				t.Errorf("%s: a failure %s %q", name, task.StopCode, aws.ToString(task.StoppedReason))
			}
		}
	}
}

func TestLoadScenarioResets(t *testing.T) {
	c := start(t, "healthy")
	if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(c.names.WorkerService), DesiredCount: aws.Int32(3), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	c.sandbox.SetParameter(c.names.KillSwitchParam, "on")
	if err := c.sandbox.LoadScenario("healthy"); err != nil {
		t.Fatal(err)
	}
	// The timers of the old scenario's launch must not touch the new one.
	time.Sleep(2 * testDelay)
	svc := describeOne(t, c, c.names.WorkerService)
	if svc.DesiredCount != 1 || svc.RunningCount != 1 || len(svc.Deployments) != 1 {
		t.Errorf("after reload: %d/%d with %d deployments", svc.DesiredCount, svc.RunningCount, len(svc.Deployments))
	}
	if v, _ := c.sandbox.SecretValue(c.names.RabbitSecret); v == "" {
		t.Error("secrets gone")
	}
	if calls := c.sandbox.Calls(); len(calls) != 1 {
		t.Errorf("calls not reset: %d", len(calls))
	}
	if name, _ := c.sandbox.Scenario(); name != "healthy" {
		t.Errorf("scenario %q", name)
	}
}

func TestOtherEnvironment(t *testing.T) {
	c := start(t, "worker-bad-deployment", func(o *sandbox.Options) { o.Env = "production" })
	if c.names.WorkerService != "arrakis-production-gp-worker" || c.sandbox.EnvName() != "production" {
		t.Fatalf("names %+v", c.names)
	}
	svc := describeOne(t, c, "arrakis-production-gp-worker")
	if !strings.Contains(aws.ToString(svc.TaskDefinition), "task-definition/arrakis-production-gp-worker:42") {
		t.Errorf("task definition %s", aws.ToString(svc.TaskDefinition))
	}
	if _, err := c.ecs.DescribeServices(ctx(t), &ecs.DescribeServicesInput{Cluster: aws.String("arrakis-staging-cluster"), Services: []string{"x"}}); err == nil {
		t.Error("the staging cluster exists in production")
	}
	m, _ := secretJSON(t, c, "arrakis-production/rabbitmq")
	if m["username"] == nil {
		t.Error("no production rabbitmq secret")
	}
	if c.sandbox.ReportTopicARN() != "arn:aws:sns:us-east-1:123456789012:arrakis-production-gp-remediation-reports" {
		t.Errorf("topic %s", c.sandbox.ReportTopicARN())
	}
}

// TestEnvDrivesTheStandardSDKSettings is the functions' path: nothing but environment
// variables and config.LoadDefaultConfig.
func TestEnvDrivesTheStandardSDKSettings(t *testing.T) {
	s := sandbox.StartTest(t, sandbox.Options{TaskStartDelay: testDelay})
	env := s.Env()
	for k, v := range env {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := newClients(s, cfg)
	if got := describeOne(t, c, s.Names().IngestorService); got.RunningCount != 1 {
		t.Errorf("running %d", got.RunningCount)
	}
	conf, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the env does not satisfy config.Load: %v", err)
	}
	if conf.ReportTopicARN != s.ReportTopicARN() || conf.DiscordAPIURL != s.URL()+"/_sandbox/discord/api/v10" ||
		conf.PagerDutyURL != s.URL()+"/_sandbox/pagerduty/v2/enqueue" || conf.WebhooksSecret != s.WebhooksSecretName() ||
		conf.PagerDutySecret != s.PagerDutySecretName() || conf.LedgerTable != "" {
		t.Errorf("config %+v", conf)
	}
	if got := sandbox.EnvFor(s.URL(), "staging"); got["AWS_ENDPOINT_URL"] != s.URL() {
		t.Errorf("EnvFor %v", got)
	}
}

func TestTuningHooks(t *testing.T) {
	clock := &fakeClock{t: loadTime}
	c := start(t, "healthy", withClock(clock))
	s := c.sandbox
	name := c.names.WorkerService

	// SetTaskOutcome: new tasks of every worker revision now crash.
	s.SetTaskOutcome(name, 0, sandbox.TaskOutcome{
		Failure: &sandbox.TaskFailure{StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited", ExitCode: sandbox.Int(3)},
		Logs:    []string{"fatal: tuned to fail"},
	})
	// AddReaction: a restart sends the worker's CPU to 77.
	s.AddReaction(sandbox.Reaction{On: sandbox.TriggerRestart, Service: "worker", Metric: s.ECSMetric(name, "CPUUtilization"), Level: 77})
	if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(name), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the tuned failure", func() bool {
		for _, task := range s.Tasks(name, "STOPPED") {
			if task.ExitCode != nil && *task.ExitCode == 3 {
				return true
			}
		}
		return false
	})
	found := false
	for _, e := range s.Logs(c.names.WorkerLogGroup) {
		found = found || e.Message == "fatal: tuned to fail" && strings.HasPrefix(e.Stream, "ecs/gp-worker/")
	}
	if !found {
		t.Error("the crashed task's log line is missing")
	}
	// The old task keeps running, so the failed restart does not fire the reaction...
	if v, ok := s.MetricValue(s.ECSMetric(name, "CPUUtilization"), clock.Now()); !ok || v > 40 {
		t.Errorf("worker CPU %v %v after a failed restart", v, ok)
	}
	// ...but a successful one does.
	s.SetTaskOutcome(name, 0, sandbox.TaskOutcome{})
	if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(name), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the restart", func() bool {
		v, ok := s.MetricValue(s.ECSMetric(name, "CPUUtilization"), clock.Now())
		return ok && v == 77
	})
	if v, ok := s.MetricValue(s.QueueMetric(c.names.Queue), clock.Now()); !ok || v < 0 || v > 30 {
		t.Errorf("healthy queue depth %v %v", v, ok)
	}
	if _, ok := s.MetricValue(s.QueueMetric(c.names.Queue), clock.Now().Add(time.Hour)); ok {
		t.Error("a value in the future")
	}
}

func TestCrashLoopGivesUpAfterBoundedRetries(t *testing.T) {
	c := start(t, "queue-workers-missing")
	name := c.names.WorkerService
	before := len(c.sandbox.Tasks(name, "STOPPED"))
	if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(name), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the scheduler to give up", func() bool {
		svc := describeOne(t, c, name)
		return strings.Contains(aws.ToString(svc.Events[0].Message), "is unable to consistently start tasks successfully")
	})
	svc := describeOne(t, c, name)
	if svc.RunningCount != 0 || svc.PendingCount != 0 || svc.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateCompleted {
		t.Errorf("running %d pending %d rollout %s", svc.RunningCount, svc.PendingCount, svc.Deployments[0].RolloutState)
	}
	// Three waves of two tasks, then nothing more.
	if got := len(c.sandbox.Tasks(name, "STOPPED")) - before; got != 6 {
		t.Errorf("%d new failed tasks, want 6", got)
	}
	time.Sleep(3 * testDelay)
	if got := len(c.sandbox.Tasks(name, "")); got != before+6 {
		t.Errorf("the scheduler kept launching: %d tasks", got)
	}
}

func TestDiscordBudgetResets(t *testing.T) {
	clock := &fakeClock{t: loadTime}
	c := start(t, "memory-leak-discord-budget-low", withClock(clock))
	if n, reset := c.sandbox.DiscordBudget(); n != 2 || reset != 3*time.Hour {
		t.Fatalf("budget %d reset %s", n, reset)
	}
	clock.Advance(3*time.Hour + time.Second)
	if n, reset := c.sandbox.DiscordBudget(); n != 1000 || reset <= 23*time.Hour {
		t.Errorf("after the reset: %d, next reset in %s", n, reset)
	}
	c.sandbox.SetDiscordValidToken("other")
	status, _, _ := do(t, http.MethodGet, c.sandbox.URL()+"/_sandbox/discord/api/v10/gateway/bot", "", "Authorization", "Bot "+sandbox.DiscordValidToken)
	if status != 401 {
		t.Errorf("old token after SetDiscordValidToken: %d", status)
	}
}
