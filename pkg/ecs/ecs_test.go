package ecs

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// listAll answers ListTasks with every stopped task of the cluster, whatever the filter (an
// emulator not written here did): the client must still count only the service's own.
type listAll struct {
	API
	tasks []types.Task
}

func (l listAll) ListTasks(context.Context, *awsecs.ListTasksInput, ...func(*awsecs.Options)) (*awsecs.ListTasksOutput, error) {
	var arns []string
	for _, t := range l.tasks {
		arns = append(arns, aws.ToString(t.TaskArn))
	}
	return &awsecs.ListTasksOutput{TaskArns: arns}, nil
}

func (l listAll) DescribeTasks(context.Context, *awsecs.DescribeTasksInput, ...func(*awsecs.Options)) (*awsecs.DescribeTasksOutput, error) {
	return &awsecs.DescribeTasksOutput{Tasks: l.tasks}, nil
}

func TestStoppedTasksCountOnlyTheServiceGroup(t *testing.T) {
	now := time.Now()
	task := func(id, group string) types.Task {
		return types.Task{TaskArn: aws.String("arn:aws:ecs:eu-west-1:1:task/c/" + id), Group: aws.String(group), StoppedAt: aws.Time(now.Add(-time.Minute))}
	}
	c := Client{API: listAll{tasks: []types.Task{
		task("a", "service:arrakis-staging-ingestor"),
		task("b", "service:arrakis-staging-gp-worker"),
		task("c", "family:arrakis-staging-ingestor"), // a standalone run-task of the same family
		task("d", ""),
	}}, Cluster: "c"}
	got, err := c.StoppedTasks(context.Background(), "arrakis-staging-ingestor", now.Add(-time.Hour), 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID() != "a" {
		t.Fatalf("stopped tasks = %+v, want only task a (group service:arrakis-staging-ingestor)", got)
	}
}

func TestExitCodeIsKeptOnlyWhenReturned(t *testing.T) {
	got := fromTask(types.Task{Containers: []types.Container{{Name: aws.String("with"), ExitCode: aws.Int32(137)}, {Name: aws.String("without")}}})
	if got.Containers[0].ExitCode == nil || *got.Containers[0].ExitCode != 137 || got.Containers[1].ExitCode != nil {
		t.Fatalf("containers = %+v, want 137 and no exit code", got.Containers)
	}
}
