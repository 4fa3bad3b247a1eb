package sandbox_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/arrakis/gp-remediation/sandbox"
)

func describe(t *testing.T, c *clients, names ...string) []ecstypes.Service {
	t.Helper()
	out, err := c.ecs.DescribeServices(ctx(t), &ecs.DescribeServicesInput{Cluster: aws.String(c.names.Cluster), Services: names})
	if err != nil {
		t.Fatalf("DescribeServices: %v", err)
	}
	return out.Services
}

func describeOne(t *testing.T, c *clients, name string) ecstypes.Service {
	t.Helper()
	svcs := describe(t, c, name)
	if len(svcs) != 1 {
		t.Fatalf("DescribeServices %s: %d services", name, len(svcs))
	}
	return svcs[0]
}

func listTasks(t *testing.T, c *clients, service string, status ecstypes.DesiredStatus) []string {
	t.Helper()
	var arns []string
	p := ecs.NewListTasksPaginator(c.ecs, &ecs.ListTasksInput{Cluster: aws.String(c.names.Cluster),
		ServiceName: aws.String(service), DesiredStatus: status, MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("ListTasks: %v", err)
		}
		arns = append(arns, page.TaskArns...)
	}
	return arns
}

func describeTasks(t *testing.T, c *clients, arns []string) []ecstypes.Task {
	t.Helper()
	if len(arns) == 0 {
		return nil
	}
	out, err := c.ecs.DescribeTasks(ctx(t), &ecs.DescribeTasksInput{Cluster: aws.String(c.names.Cluster), Tasks: arns})
	if err != nil {
		t.Fatalf("DescribeTasks: %v", err)
	}
	return out.Tasks
}

func TestHealthyServicesDecodeCompletely(t *testing.T) {
	c := start(t, "healthy")
	svcs := describe(t, c, c.names.IngestorService, c.names.WorkerService)
	if len(svcs) != 2 {
		t.Fatalf("got %d services", len(svcs))
	}
	for _, svc := range svcs {
		name := aws.ToString(svc.ServiceName)
		if svc.DesiredCount != 1 || svc.RunningCount != 1 || svc.PendingCount != 0 {
			t.Errorf("%s: desired/running/pending %d/%d/%d, want 1/1/0", name, svc.DesiredCount, svc.RunningCount, svc.PendingCount)
		}
		if aws.ToString(svc.Status) != "ACTIVE" || svc.LaunchType != ecstypes.LaunchTypeFargate {
			t.Errorf("%s: status %q launch type %q", name, aws.ToString(svc.Status), svc.LaunchType)
		}
		if aws.ToString(svc.ClusterArn) != "arn:aws:ecs:us-east-1:123456789012:cluster/"+c.names.Cluster {
			t.Errorf("%s: cluster ARN %q", name, aws.ToString(svc.ClusterArn))
		}
		if len(svc.Deployments) != 1 {
			t.Fatalf("%s: %d deployments", name, len(svc.Deployments))
		}
		d := svc.Deployments[0]
		if aws.ToString(d.Status) != "PRIMARY" || d.RolloutState != ecstypes.DeploymentRolloutStateCompleted || d.RunningCount != 1 {
			t.Errorf("%s: deployment %+v", name, d)
		}
		if d.CreatedAt == nil || time.Since(*d.CreatedAt) < 24*time.Hour {
			t.Errorf("%s: deployment created %v, want days ago", name, d.CreatedAt)
		}
		if aws.ToString(d.TaskDefinition) != aws.ToString(svc.TaskDefinition) {
			t.Errorf("%s: deployment on %s, service on %s", name, aws.ToString(d.TaskDefinition), aws.ToString(svc.TaskDefinition))
		}
		nc := svc.NetworkConfiguration.AwsvpcConfiguration
		if len(nc.Subnets) != 2 || len(nc.SecurityGroups) != 1 || nc.AssignPublicIp != ecstypes.AssignPublicIpDisabled {
			t.Errorf("%s: network configuration %+v", name, nc)
		}
		if svc.DeploymentConfiguration == nil || svc.DeploymentConfiguration.DeploymentCircuitBreaker == nil || !svc.DeploymentConfiguration.DeploymentCircuitBreaker.Enable {
			t.Errorf("%s: deployment circuit breaker not enabled", name)
		}
		if len(svc.Events) == 0 || !strings.Contains(aws.ToString(svc.Events[0].Message), "has reached a steady state.") {
			t.Errorf("%s: newest event %v, want a steady state", name, svc.Events)
		}
		for i := 1; i < len(svc.Events); i++ {
			if svc.Events[i].CreatedAt.After(*svc.Events[i-1].CreatedAt) {
				t.Fatalf("%s: events not newest first at %d", name, i)
			}
		}
		tasks := describeTasks(t, c, listTasks(t, c, name, ecstypes.DesiredStatusRunning))
		if len(tasks) != 1 {
			t.Fatalf("%s: %d running tasks", name, len(tasks))
		}
		task := tasks[0]
		if aws.ToString(task.LastStatus) != "RUNNING" || task.StartedAt == nil || aws.ToString(task.Group) != "service:"+name {
			t.Errorf("%s: task %+v", name, task)
		}
		if len(task.Containers) != 1 || task.Containers[0].Image == nil || task.Containers[0].ExitCode != nil {
			t.Errorf("%s: containers %+v", name, task.Containers)
		}
		if !strings.HasPrefix(aws.ToString(task.StartedBy), "ecs-svc/") || aws.ToString(task.StartedBy) != aws.ToString(d.Id) {
			t.Errorf("%s: task startedBy %q, deployment %q", name, aws.ToString(task.StartedBy), aws.ToString(d.Id))
		}
	}
}

func TestServiceErrorsAreTyped(t *testing.T) {
	c := start(t, "healthy")
	t.Run("unknown service is a failure, not an error", func(t *testing.T) {
		out, err := c.ecs.DescribeServices(ctx(t), &ecs.DescribeServicesInput{Cluster: aws.String(c.names.Cluster), Services: []string{"nope"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Services) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
			t.Fatalf("got %+v", out)
		}
		if !strings.HasSuffix(aws.ToString(out.Failures[0].Arn), ":service/"+c.names.Cluster+"/nope") {
			t.Errorf("failure ARN %q", aws.ToString(out.Failures[0].Arn))
		}
	})
	t.Run("unknown cluster", func(t *testing.T) {
		_, err := c.ecs.DescribeServices(ctx(t), &ecs.DescribeServicesInput{Cluster: aws.String("nope"), Services: []string{c.names.WorkerService}})
		var e *ecstypes.ClusterNotFoundException
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want ClusterNotFoundException", err, err)
		}
	})
	t.Run("update unknown service", func(t *testing.T) {
		_, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String("nope"), ForceNewDeployment: true})
		var e *ecstypes.ServiceNotFoundException
		if !errors.As(err, &e) || e.ErrorMessage() != "Service not found." {
			t.Fatalf("got %T %v, want ServiceNotFoundException", err, err)
		}
	})
	t.Run("update to unknown task definition", func(t *testing.T) {
		_, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(c.names.WorkerService), TaskDefinition: aws.String(c.names.WorkerService + ":999")})
		var e *ecstypes.InvalidParameterException
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want InvalidParameterException", err, err)
		}
	})
	t.Run("update to inactive revision", func(t *testing.T) {
		_, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(c.names.WorkerService), TaskDefinition: aws.String(c.names.WorkerService + ":2")})
		var e *ecstypes.InvalidParameterException
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want InvalidParameterException", err, err)
		}
	})
	t.Run("negative desired count", func(t *testing.T) {
		_, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(c.names.WorkerService), DesiredCount: aws.Int32(-1)})
		var e *ecstypes.InvalidParameterException
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want InvalidParameterException", err, err)
		}
	})
	t.Run("describe unknown task definition", func(t *testing.T) {
		_, err := c.ecs.DescribeTaskDefinition(ctx(t), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nope:1")})
		var e *ecstypes.ClientException
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want ClientException", err, err)
		}
	})
	t.Run("list tasks of unknown service", func(t *testing.T) {
		_, err := c.ecs.ListTasks(ctx(t), &ecs.ListTasksInput{Cluster: aws.String(c.names.Cluster), ServiceName: aws.String("nope")})
		var e *ecstypes.ServiceNotFoundException
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want ServiceNotFoundException", err, err)
		}
	})
	t.Run("describe unknown task", func(t *testing.T) {
		out, err := c.ecs.DescribeTasks(ctx(t), &ecs.DescribeTasksInput{Cluster: aws.String(c.names.Cluster), Tasks: []string{"0123"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
			t.Fatalf("got %+v", out)
		}
	})
}

func TestForceNewDeploymentStartsTasksAfterTheDelay(t *testing.T) {
	c := start(t, "memory-leak")
	name := c.names.IngestorService
	before := describeOne(t, c, name)
	oldDep := aws.ToString(before.Deployments[0].Id)
	remainingBefore, _ := c.sandbox.DiscordBudget()

	began := time.Now()
	out, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(name), ForceNewDeployment: true})
	if err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	got := out.Service
	if len(got.Deployments) != 2 {
		t.Fatalf("right after the update: %d deployments, want 2", len(got.Deployments))
	}
	primary, active := got.Deployments[0], got.Deployments[1]
	if aws.ToString(primary.Status) != "PRIMARY" || primary.RolloutState != ecstypes.DeploymentRolloutStateInProgress || primary.PendingCount != 1 || primary.RunningCount != 0 {
		t.Errorf("new deployment %+v", primary)
	}
	if aws.ToString(active.Status) != "ACTIVE" || aws.ToString(active.Id) != oldDep || active.RunningCount != 1 {
		t.Errorf("old deployment %+v", active)
	}
	if got.RunningCount != 1 || got.PendingCount != 1 {
		t.Errorf("service running/pending %d/%d, want 1/1 during the rollout", got.RunningCount, got.PendingCount)
	}

	var now ecstypes.Service
	waitFor(t, 5*time.Second, "the deployment to complete", func() bool {
		now = describeOne(t, c, name)
		return len(now.Deployments) == 1 && now.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
	})
	if took := time.Since(began); took < testDelay {
		t.Errorf("completed after %s, before the task start delay %s", took, testDelay)
	}
	if aws.ToString(now.Deployments[0].Id) != aws.ToString(primary.Id) || now.RunningCount != 1 || now.PendingCount != 0 {
		t.Errorf("after completion: %+v", now.Deployments[0])
	}
	msgs := []string{}
	for _, e := range now.Events[:4] {
		msgs = append(msgs, aws.ToString(e.Message))
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"has reached a steady state.", "deployment completed.", "has stopped 1 running tasks", "has started 1 tasks"} {
		if !strings.Contains(joined, want) {
			t.Errorf("latest events lack %q:\n%s", want, joined)
		}
	}
	stopped := describeTasks(t, c, listTasks(t, c, name, ecstypes.DesiredStatusStopped))
	if len(stopped) != 1 || stopped[0].StopCode != ecstypes.TaskStopCodeServiceSchedulerInitiated ||
		!strings.Contains(aws.ToString(stopped[0].StoppedReason), oldDep) {
		t.Errorf("replaced task: %+v", stopped)
	}
	remainingAfter, _ := c.sandbox.DiscordBudget()
	if remainingAfter != remainingBefore-1 {
		t.Errorf("Discord session starts %d -> %d, want one spent by the new ingestor task", remainingBefore, remainingAfter)
	}
}

func TestScenarioOutcomesOfAForcedDeployment(t *testing.T) {
	tests := []struct {
		scenario string
		service  func(c *clients) string
		verified bool // the new tasks keep running
	}{
		{"ingestor-oom", func(c *clients) string { return c.names.IngestorService }, true},
		{"worker-crash-loop", func(c *clients) string { return c.names.WorkerService }, true},
		{"worker-bad-deployment", func(c *clients) string { return c.names.WorkerService }, false},
		{"ingestor-token-invalid", func(c *clients) string { return c.names.IngestorService }, false},
		{"image-pull-network-error", func(c *clients) string { return c.names.WorkerService }, false},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			c := start(t, tc.scenario)
			name := tc.service(c)
			before := describeOne(t, c, name)
			if before.RunningCount != 0 {
				t.Fatalf("scenario starts with %d running", before.RunningCount)
			}
			stoppedBefore := len(listTasks(t, c, name, ecstypes.DesiredStatusStopped))
			if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(name), ForceNewDeployment: true}); err != nil {
				t.Fatal(err)
			}
			if tc.verified {
				waitFor(t, 5*time.Second, "running tasks", func() bool {
					s := describeOne(t, c, name)
					return s.RunningCount == s.DesiredCount && len(s.Deployments) == 1 && s.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
				})
				return
			}
			// The new tasks crash like the old ones, wave after wave, until the circuit breaker
			// fails the deployment.
			var s ecstypes.Service
			waitFor(t, 5*time.Second, "the circuit breaker", func() bool {
				s = describeOne(t, c, name)
				return s.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateFailed
			})
			if s.RunningCount != 0 || aws.ToString(s.Deployments[0].RolloutStateReason) != "ECS deployment circuit breaker: tasks failed to start." {
				t.Errorf("after the failed rollout: running %d, %+v", s.RunningCount, s.Deployments[0])
			}
			stopped := describeTasks(t, c, listTasks(t, c, name, ecstypes.DesiredStatusStopped))
			if len(stopped) < stoppedBefore+3 {
				t.Errorf("%d stopped tasks after, %d before: want ≥ 3 new failures", len(stopped), stoppedBefore)
			}
		})
	}
}

func TestRollbackOfABadDeployment(t *testing.T) {
	c := start(t, "worker-bad-deployment")
	name := c.names.WorkerService
	svc := describeOne(t, c, name)
	if len(svc.Deployments) != 1 || svc.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateFailed {
		t.Fatalf("deployments %+v", svc.Deployments)
	}
	d := svc.Deployments[0]
	if !strings.HasSuffix(aws.ToString(d.TaskDefinition), name+":42") || time.Since(*d.CreatedAt) < 24*time.Minute || time.Since(*d.CreatedAt) > 26*time.Minute {
		t.Errorf("deployment %s created %v", aws.ToString(d.TaskDefinition), d.CreatedAt)
	}
	if svc.DesiredCount != 2 || svc.RunningCount != 0 {
		t.Errorf("desired/running %d/%d", svc.DesiredCount, svc.RunningCount)
	}
	// Before the deployment, a steady state on :41.
	sawSteadyBefore := false
	for _, e := range svc.Events {
		if strings.Contains(aws.ToString(e.Message), "has reached a steady state.") && e.CreatedAt.Before(*d.CreatedAt) {
			sawSteadyBefore = true
		}
	}
	if !sawSteadyBefore {
		t.Error("no steady-state event before the deployment")
	}
	stopped := describeTasks(t, c, listTasks(t, c, name, ecstypes.DesiredStatusStopped))
	if len(stopped) < 3 {
		t.Fatalf("%d stopped tasks", len(stopped))
	}
	for _, task := range stopped {
		if !strings.HasSuffix(aws.ToString(task.TaskDefinitionArn), ":42") || task.Containers[0].ExitCode == nil || *task.Containers[0].ExitCode != 2 {
			t.Errorf("stopped task on %s exit %v", aws.ToString(task.TaskDefinitionArn), task.Containers[0].ExitCode)
		}
	}
	// The runbook's rollback: the previous revision from ListTaskDefinitions.
	list, err := c.ecs.ListTaskDefinitions(ctx(t), &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(name), Sort: ecstypes.SortOrderDesc, MaxResults: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.TaskDefinitionArns) < 2 || !strings.HasSuffix(list.TaskDefinitionArns[0], ":42") || !strings.HasSuffix(list.TaskDefinitionArns[1], ":41") {
		t.Fatalf("task definitions %v", list.TaskDefinitionArns)
	}
	if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(name), TaskDefinition: aws.String(list.TaskDefinitionArns[1])}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the rollback to run", func() bool {
		s := describeOne(t, c, name)
		return s.RunningCount == 2 && len(s.Deployments) == 1 && s.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted &&
			strings.HasSuffix(aws.ToString(s.TaskDefinition), ":41")
	})
}

func TestDesiredCountChanges(t *testing.T) {
	c := start(t, "queue-under-provisioned")
	name := c.names.WorkerService
	if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(name), DesiredCount: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	s := describeOne(t, c, name)
	if s.DesiredCount != 3 || s.RunningCount != 1 || s.PendingCount != 2 || len(s.Deployments) != 1 {
		t.Fatalf("right after scale-up: desired/running/pending %d/%d/%d, %d deployments", s.DesiredCount, s.RunningCount, s.PendingCount, len(s.Deployments))
	}
	waitFor(t, 5*time.Second, "3 running", func() bool { return describeOne(t, c, name).RunningCount == 3 })
	s = describeOne(t, c, name)
	if !strings.Contains(aws.ToString(s.Events[0].Message), "has reached a steady state.") || !strings.Contains(aws.ToString(s.Events[1].Message), "has started 2 tasks") {
		t.Errorf("events after scale-up: %q, %q", aws.ToString(s.Events[0].Message), aws.ToString(s.Events[1].Message))
	}
	// Scale back in: the surplus stops at once.
	if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(name), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	s = describeOne(t, c, name)
	if s.RunningCount != 1 || s.DesiredCount != 1 || !strings.Contains(aws.ToString(s.Events[1].Message), "has stopped 2 running tasks") {
		t.Errorf("after scale-in: running %d desired %d, events %q / %q", s.RunningCount, s.DesiredCount, aws.ToString(s.Events[0].Message), aws.ToString(s.Events[1].Message))
	}
	if got := len(listTasks(t, c, name, ecstypes.DesiredStatusStopped)); got != 2 {
		t.Errorf("%d stopped tasks, want 2", got)
	}
}

func TestListTasksPaginationAndFilters(t *testing.T) {
	c := start(t, "ingestor-token-invalid")
	name := c.names.IngestorService
	stopped := listTasks(t, c, name, ecstypes.DesiredStatusStopped) // pages of 2
	if len(stopped) < 3 {
		t.Fatalf("%d stopped tasks", len(stopped))
	}
	if !slices.IsSorted(stopped) && len(slices.Compact(slices.Clone(stopped))) != len(stopped) {
		t.Errorf("duplicates across pages: %v", stopped)
	}
	seen := map[string]bool{}
	for _, a := range stopped {
		if seen[a] {
			t.Fatalf("duplicate %s", a)
		}
		seen[a] = true
	}
	if running := listTasks(t, c, name, ecstypes.DesiredStatusRunning); len(running) != 0 {
		t.Errorf("running tasks %v", running)
	}
	tasks := describeTasks(t, c, stopped)
	for _, task := range tasks {
		ctr := task.Containers[0]
		if task.StopCode != ecstypes.TaskStopCodeEssentialContainerExited || ctr.ExitCode == nil || *ctr.ExitCode != 1 ||
			aws.ToString(task.StoppedReason) != "Essential container in task exited" || task.StoppedAt == nil {
			t.Errorf("task %s: stop %s %q exit %v", aws.ToString(task.TaskArn), task.StopCode, aws.ToString(task.StoppedReason), ctr.ExitCode)
		}
	}
	_, err := c.ecs.ListTasks(ctx(t), &ecs.ListTasksInput{Cluster: aws.String(c.names.Cluster), NextToken: aws.String("garbage")})
	var e *ecstypes.InvalidParameterException
	if !errors.As(err, &e) {
		t.Errorf("bad token: got %T %v", err, err)
	}
}

func TestTaskDefinitions(t *testing.T) {
	c := start(t, "healthy")
	fam := c.names.IngestorService
	cur, err := c.ecs.DescribeTaskDefinition(ctx(t), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(fam)})
	if err != nil {
		t.Fatal(err)
	}
	td := cur.TaskDefinition
	if td.Revision != 17 || aws.ToString(td.Memory) != "512" || td.Status != ecstypes.TaskDefinitionStatusActive || td.NetworkMode != ecstypes.NetworkModeAwsvpc {
		t.Fatalf("latest: revision %d memory %q status %s mode %s", td.Revision, aws.ToString(td.Memory), td.Status, td.NetworkMode)
	}
	if len(td.ContainerDefinitions) != 1 || aws.ToString(td.ContainerDefinitions[0].Name) != "ingestor" || aws.ToInt32(td.ContainerDefinitions[0].Memory) != 512 ||
		td.ContainerDefinitions[0].LogConfiguration.Options["awslogs-group"] != c.names.IngestorLogGroup {
		t.Fatalf("container %+v", td.ContainerDefinitions)
	}
	if td.RegisteredAt == nil || td.RegisteredAt.IsZero() {
		t.Error("no registeredAt")
	}

	t.Run("list ASC and DESC, ACTIVE and INACTIVE", func(t *testing.T) {
		asc, err := c.ecs.ListTaskDefinitions(ctx(t), &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(fam)})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{}
		for rev := 14; rev <= 17; rev++ {
			want = append(want, fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task-definition/%s:%d", fam, rev))
		}
		if !slices.Equal(asc.TaskDefinitionArns, want) {
			t.Errorf("ASC %v, want %v", asc.TaskDefinitionArns, want)
		}
		desc, err := c.ecs.ListTaskDefinitions(ctx(t), &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(fam), Sort: ecstypes.SortOrderDesc, MaxResults: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		if len(desc.TaskDefinitionArns) != 2 || desc.TaskDefinitionArns[0] != want[3] || desc.NextToken == nil {
			t.Errorf("DESC page %v token %v", desc.TaskDefinitionArns, desc.NextToken)
		}
		next, err := c.ecs.ListTaskDefinitions(ctx(t), &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(fam), Sort: ecstypes.SortOrderDesc, MaxResults: aws.Int32(2), NextToken: desc.NextToken})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(next.TaskDefinitionArns, []string{want[1], want[0]}) || next.NextToken != nil {
			t.Errorf("DESC second page %v token %v", next.TaskDefinitionArns, next.NextToken)
		}
		inactive, err := c.ecs.ListTaskDefinitions(ctx(t), &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(fam), Status: ecstypes.TaskDefinitionStatusInactive})
		if err != nil {
			t.Fatal(err)
		}
		if len(inactive.TaskDefinitionArns) != 13 {
			t.Errorf("%d inactive revisions, want 13", len(inactive.TaskDefinitionArns))
		}
	})

	t.Run("register makes the next revision and a deployment of it runs", func(t *testing.T) {
		in := &ecs.RegisterTaskDefinitionInput{
			Family:                  td.Family,
			ContainerDefinitions:    td.ContainerDefinitions,
			Cpu:                     td.Cpu,
			Memory:                  aws.String("1024"),
			NetworkMode:             td.NetworkMode,
			RequiresCompatibilities: td.RequiresCompatibilities,
			ExecutionRoleArn:        td.ExecutionRoleArn,
			TaskRoleArn:             td.TaskRoleArn,
			RuntimePlatform:         td.RuntimePlatform,
		}
		in.ContainerDefinitions[0].Memory = aws.Int32(1024)
		reg, err := c.ecs.RegisterTaskDefinition(ctx(t), in)
		if err != nil {
			t.Fatal(err)
		}
		if reg.TaskDefinition.Revision != 18 || aws.ToString(reg.TaskDefinition.Memory) != "1024" || aws.ToInt32(reg.TaskDefinition.ContainerDefinitions[0].Memory) != 1024 {
			t.Fatalf("registered revision %d memory %q", reg.TaskDefinition.Revision, aws.ToString(reg.TaskDefinition.Memory))
		}
		snap := c.sandbox.TaskDefinitions(fam)
		if last := snap[len(snap)-1]; last.Revision != 18 || last.Memory != "1024" || last.Containers[0].Memory != 1024 {
			t.Errorf("snapshot %+v", last)
		}
		if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(fam), TaskDefinition: reg.TaskDefinition.TaskDefinitionArn}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the new revision to run", func() bool {
			s := describeOne(t, c, fam)
			return s.RunningCount == 1 && len(s.Deployments) == 1 && strings.HasSuffix(aws.ToString(s.TaskDefinition), ":18")
		})
	})

	t.Run("register without containers", func(t *testing.T) {
		_, err := c.ecs.RegisterTaskDefinition(ctx(t), &ecs.RegisterTaskDefinitionInput{Family: aws.String(fam), ContainerDefinitions: []ecstypes.ContainerDefinition{}})
		var e *ecstypes.ClientException
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want ClientException", err, err)
		}
	})
}

func TestSnapshotsFollowTheAPI(t *testing.T) {
	c := start(t, "healthy")
	if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(c.names.WorkerService), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	snap, ok := c.sandbox.Service(c.names.WorkerService)
	if !ok || snap.Desired != 2 || snap.Pending != 1 || snap.Running != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	if deps := c.sandbox.Deployments(c.names.WorkerService); len(deps) != 1 || deps[0].Desired != 2 {
		t.Errorf("deployments %+v", deps)
	}
	if _, ok := c.sandbox.Service("nope"); ok {
		t.Error("unknown service found")
	}
	if got := c.sandbox.Tasks(c.names.WorkerService, "PENDING"); len(got) != 1 {
		t.Errorf("pending tasks %+v", got)
	}
	_ = sandbox.Int(0)
}
