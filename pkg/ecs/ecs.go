// Package ecs reads and changes the Gateway Proxy's ECS services through the aws-sdk-go-v2
// client, translating the SDK's pointer-heavy types into plain values the decisions can use.
package ecs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// API is the subset of the ECS client this package calls (same signatures as *ecs.Client).
type API interface {
	DescribeServices(ctx context.Context, in *awsecs.DescribeServicesInput, optFns ...func(*awsecs.Options)) (*awsecs.DescribeServicesOutput, error)
	UpdateService(ctx context.Context, in *awsecs.UpdateServiceInput, optFns ...func(*awsecs.Options)) (*awsecs.UpdateServiceOutput, error)
	ListTasks(ctx context.Context, in *awsecs.ListTasksInput, optFns ...func(*awsecs.Options)) (*awsecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *awsecs.DescribeTasksInput, optFns ...func(*awsecs.Options)) (*awsecs.DescribeTasksOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *awsecs.DescribeTaskDefinitionInput, optFns ...func(*awsecs.Options)) (*awsecs.DescribeTaskDefinitionOutput, error)
	ListTaskDefinitions(ctx context.Context, in *awsecs.ListTaskDefinitionsInput, optFns ...func(*awsecs.Options)) (*awsecs.ListTaskDefinitionsOutput, error)
	RegisterTaskDefinition(ctx context.Context, in *awsecs.RegisterTaskDefinitionInput, optFns ...func(*awsecs.Options)) (*awsecs.RegisterTaskDefinitionOutput, error)
}

var _ API = (*awsecs.Client)(nil)

// Client is one cluster's services.
type Client struct {
	API     API
	Cluster string
}

// ErrServiceNotFound says the service does not exist (or is INACTIVE) in the cluster.
var ErrServiceNotFound = errors.New("service not found")

// Service is what the decisions need of an ECS service.
type Service struct {
	Name           string
	ARN            string
	Status         string // ACTIVE, DRAINING, INACTIVE
	Desired        int
	Running        int
	Pending        int
	TaskDefinition string
	Deployments    []Deployment // PRIMARY first, then the others newest first
	Events         []Event      // newest first, as ECS returns them
	Network        *Network
}

// Primary returns the PRIMARY deployment (the one ECS is converging to).
func (s Service) Primary() (Deployment, bool) {
	for _, d := range s.Deployments {
		if d.Status == "PRIMARY" {
			return d, true
		}
	}
	return Deployment{}, false
}

// Deployment is one ECS deployment of a service.
type Deployment struct {
	ID             string
	Status         string // PRIMARY, ACTIVE, INACTIVE
	TaskDefinition string
	RolloutState   string // COMPLETED, IN_PROGRESS, FAILED
	RolloutReason  string
	Desired        int
	Running        int
	Pending        int
	Failed         int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Event is one service event message.
type Event struct {
	At      time.Time
	Message string
}

// Network is the service's awsvpc configuration: what the runbook says to check on a
// network error.
type Network struct {
	Subnets        []string
	SecurityGroups []string
	PublicIP       string // ENABLED or DISABLED
}

func (n Network) String() string {
	return fmt.Sprintf("subnets %s; security groups %s; public IP %s",
		strings.Join(n.Subnets, ", "), strings.Join(n.SecurityGroups, ", "), n.PublicIP)
}

// Task is a (stopped) task with why it stopped.
type Task struct {
	ARN            string
	TaskDefinition string
	// Group is the task group ECS gives it: "service:<name>" for a service's tasks.
	Group         string
	LastStatus    string
	StopCode      string
	StoppedReason string
	CreatedAt     time.Time
	StartedAt     time.Time
	StoppedAt     time.Time
	Containers    []Container
}

// OfService says whether the task belongs to service, by its group ("service:<name>").
func (t Task) OfService(service string) bool { return t.Group == "service:"+service }

// ID is the task's short id (the last part of its ARN).
func (t Task) ID() string { return t.ARN[strings.LastIndex(t.ARN, "/")+1:] }

// Container is one container of a task and how it ended.
type Container struct {
	Name     string
	ExitCode *int
	Reason   string
}

// TaskDefinition is what the decisions need of a task definition revision.
type TaskDefinition struct {
	ARN        string
	Family     string
	Revision   int
	MemoryMiB  int // task-level memory, 0 when only set per container
	Containers []ContainerDefinition
	raw        *types.TaskDefinition
}

// ContainerDefinition is one container's memory settings.
type ContainerDefinition struct {
	Name              string
	MemoryMiB         int // hard limit, 0 if unset
	MemoryReservation int
}

// Service reads one service.
func (c Client) Service(ctx context.Context, name string) (Service, error) {
	out, err := c.API.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: &c.Cluster, Services: []string{name}})
	if err != nil {
		return Service{}, fmt.Errorf("describe service %s: %w", name, err)
	}
	if len(out.Services) == 0 || aws.ToString(out.Services[0].Status) == "INACTIVE" {
		reason := "not in cluster " + c.Cluster
		for _, f := range out.Failures {
			reason = aws.ToString(f.Reason)
		}
		return Service{}, fmt.Errorf("describe service %s: %w (%s)", name, ErrServiceNotFound, reason)
	}
	return fromService(out.Services[0]), nil
}

func fromService(s types.Service) Service {
	svc := Service{
		Name: aws.ToString(s.ServiceName), ARN: aws.ToString(s.ServiceArn), Status: aws.ToString(s.Status),
		Desired: int(s.DesiredCount), Running: int(s.RunningCount), Pending: int(s.PendingCount),
		TaskDefinition: aws.ToString(s.TaskDefinition),
	}
	for _, d := range s.Deployments {
		svc.Deployments = append(svc.Deployments, Deployment{
			ID: aws.ToString(d.Id), Status: aws.ToString(d.Status), TaskDefinition: aws.ToString(d.TaskDefinition),
			RolloutState: string(d.RolloutState), RolloutReason: aws.ToString(d.RolloutStateReason),
			Desired: int(d.DesiredCount), Running: int(d.RunningCount), Pending: int(d.PendingCount), Failed: int(d.FailedTasks),
			CreatedAt: aws.ToTime(d.CreatedAt), UpdatedAt: aws.ToTime(d.UpdatedAt),
		})
	}
	sort.SliceStable(svc.Deployments, func(i, j int) bool {
		pi, pj := svc.Deployments[i].Status == "PRIMARY", svc.Deployments[j].Status == "PRIMARY"
		if pi != pj {
			return pi
		}
		return svc.Deployments[i].CreatedAt.After(svc.Deployments[j].CreatedAt)
	})
	for _, e := range s.Events {
		svc.Events = append(svc.Events, Event{At: aws.ToTime(e.CreatedAt), Message: aws.ToString(e.Message)})
	}
	if nc := s.NetworkConfiguration; nc != nil && nc.AwsvpcConfiguration != nil {
		v := nc.AwsvpcConfiguration
		svc.Network = &Network{Subnets: v.Subnets, SecurityGroups: v.SecurityGroups, PublicIP: string(v.AssignPublicIp)}
	}
	return svc
}

// StoppedTasks returns the service's tasks that stopped at or after since, newest first, at
// most max. ECS keeps stopped tasks for about an hour, which is the runbook's window anyway.
func (c Client) StoppedTasks(ctx context.Context, service string, since time.Time, max int) ([]Task, error) {
	var arns []string
	var next *string
	for {
		out, err := c.API.ListTasks(ctx, &awsecs.ListTasksInput{Cluster: &c.Cluster, ServiceName: &service,
			DesiredStatus: types.DesiredStatusStopped, NextToken: next})
		if err != nil {
			return nil, fmt.Errorf("list stopped tasks of %s: %w", service, err)
		}
		arns = append(arns, out.TaskArns...)
		next = out.NextToken
		if next == nil || len(arns) >= 500 { // ECS keeps at most an hour of them; bound the work anyway
			break
		}
	}
	var tasks []Task
	for start := 0; start < len(arns); start += 100 { // DescribeTasks takes at most 100 ARNs
		end := min(start+100, len(arns))
		out, err := c.API.DescribeTasks(ctx, &awsecs.DescribeTasksInput{Cluster: &c.Cluster, Tasks: arns[start:end]})
		if err != nil {
			return nil, fmt.Errorf("describe stopped tasks of %s: %w", service, err)
		}
		for _, t := range out.Tasks {
			task := fromTask(t)
			if !task.StoppedAt.IsZero() && task.StoppedAt.Before(since) {
				continue
			}
			if !task.OfService(service) {
				continue // whatever the ListTasks filter returned, only the service's own tasks count
			}
			tasks = append(tasks, task)
		}
	}
	sort.SliceStable(tasks, func(i, j int) bool { return stopTime(tasks[i]).After(stopTime(tasks[j])) })
	if max > 0 && len(tasks) > max {
		tasks = tasks[:max]
	}
	return tasks, nil
}

func stopTime(t Task) time.Time {
	if !t.StoppedAt.IsZero() {
		return t.StoppedAt
	}
	return t.CreatedAt
}

func fromTask(t types.Task) Task {
	task := Task{
		ARN: aws.ToString(t.TaskArn), TaskDefinition: aws.ToString(t.TaskDefinitionArn), Group: aws.ToString(t.Group), LastStatus: aws.ToString(t.LastStatus),
		StopCode: string(t.StopCode), StoppedReason: aws.ToString(t.StoppedReason),
		CreatedAt: aws.ToTime(t.CreatedAt), StartedAt: aws.ToTime(t.StartedAt), StoppedAt: aws.ToTime(t.StoppedAt),
	}
	for _, c := range t.Containers {
		ct := Container{Name: aws.ToString(c.Name), Reason: aws.ToString(c.Reason)}
		if c.ExitCode != nil {
			code := int(*c.ExitCode)
			ct.ExitCode = &code
		}
		task.Containers = append(task.Containers, ct)
	}
	return task
}

// TaskDefinition reads one revision (ARN or family:revision).
func (c Client) TaskDefinition(ctx context.Context, ref string) (TaskDefinition, error) {
	out, err := c.API.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: &ref})
	if err != nil {
		return TaskDefinition{}, fmt.Errorf("describe task definition %s: %w", Short(ref), err)
	}
	if out.TaskDefinition == nil {
		return TaskDefinition{}, fmt.Errorf("describe task definition %s: empty answer", Short(ref))
	}
	return fromTaskDefinition(out.TaskDefinition), nil
}

func fromTaskDefinition(td *types.TaskDefinition) TaskDefinition {
	out := TaskDefinition{ARN: aws.ToString(td.TaskDefinitionArn), Family: aws.ToString(td.Family), Revision: int(td.Revision), raw: td}
	out.MemoryMiB, _ = strconv.Atoi(aws.ToString(td.Memory))
	for _, c := range td.ContainerDefinitions {
		out.Containers = append(out.Containers, ContainerDefinition{Name: aws.ToString(c.Name),
			MemoryMiB: int(aws.ToInt32(c.Memory)), MemoryReservation: int(aws.ToInt32(c.MemoryReservation))})
	}
	return out
}

// PreviousRevision returns the ACTIVE revision of the family just before current, as the
// runbook finds it (`list-task-definitions --family-prefix … --sort DESC`).
func (c Client) PreviousRevision(ctx context.Context, current string) (string, error) {
	family, rev, ok := ParseRevision(current)
	if !ok {
		return "", fmt.Errorf("previous revision of %s: not a family:revision reference", Short(current))
	}
	var next *string
	for pages := 0; pages < 10; pages++ {
		out, err := c.API.ListTaskDefinitions(ctx, &awsecs.ListTaskDefinitionsInput{FamilyPrefix: &family,
			Sort: types.SortOrderDesc, Status: types.TaskDefinitionStatusActive, NextToken: next})
		if err != nil {
			return "", fmt.Errorf("list task definitions of %s: %w", family, err)
		}
		for _, arn := range out.TaskDefinitionArns {
			f, r, ok := ParseRevision(arn)
			if ok && f == family && r < rev {
				return arn, nil
			}
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	return "", nil
}

// ForceNewDeployment starts a rolling restart of the service with its current task definition.
func (c Client) ForceNewDeployment(ctx context.Context, service string) (Service, error) {
	out, err := c.API.UpdateService(ctx, &awsecs.UpdateServiceInput{Cluster: &c.Cluster, Service: &service, ForceNewDeployment: true})
	if err != nil {
		return Service{}, fmt.Errorf("force new deployment of %s: %w", service, err)
	}
	return fromService(*out.Service), nil
}

// SetDesiredCount changes the service's desired count.
func (c Client) SetDesiredCount(ctx context.Context, service string, n int) (Service, error) {
	count := int32(n)
	out, err := c.API.UpdateService(ctx, &awsecs.UpdateServiceInput{Cluster: &c.Cluster, Service: &service, DesiredCount: &count})
	if err != nil {
		return Service{}, fmt.Errorf("set desired count of %s to %d: %w", service, n, err)
	}
	return fromService(*out.Service), nil
}

// SetTaskDefinition deploys a task definition revision to the service (a rollback, or a new
// revision with more memory).
func (c Client) SetTaskDefinition(ctx context.Context, service, taskDefinition string) (Service, error) {
	out, err := c.API.UpdateService(ctx, &awsecs.UpdateServiceInput{Cluster: &c.Cluster, Service: &service, TaskDefinition: &taskDefinition})
	if err != nil {
		return Service{}, fmt.Errorf("deploy %s to %s: %w", Short(taskDefinition), service, err)
	}
	return fromService(*out.Service), nil
}

// RegisterWithMemory registers a new revision of td with task memory set to memMiB and every
// container's hard limit scaled by the same factor. Everything else is copied unchanged.
func (c Client) RegisterWithMemory(ctx context.Context, td TaskDefinition, memMiB int) (TaskDefinition, error) {
	if td.raw == nil {
		return TaskDefinition{}, fmt.Errorf("register %s with more memory: task definition was not read through this client", Short(td.ARN))
	}
	in := RegisterInput(td.raw, td.MemoryMiB, memMiB)
	out, err := c.API.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return TaskDefinition{}, fmt.Errorf("register %s with %d MiB: %w", td.Family, memMiB, err)
	}
	return fromTaskDefinition(out.TaskDefinition), nil
}

// RegisterInput copies a task definition into a registration with new memory settings.
func RegisterInput(td *types.TaskDefinition, oldMiB, newMiB int) *awsecs.RegisterTaskDefinitionInput {
	containers := make([]types.ContainerDefinition, len(td.ContainerDefinitions))
	copy(containers, td.ContainerDefinitions)
	for i := range containers {
		if m := aws.ToInt32(containers[i].Memory); m > 0 && oldMiB > 0 {
			scaled := int32(int64(m) * int64(newMiB) / int64(oldMiB))
			containers[i].Memory = &scaled
		}
	}
	mem := strconv.Itoa(newMiB)
	return &awsecs.RegisterTaskDefinitionInput{
		Family: td.Family, ContainerDefinitions: containers, Cpu: td.Cpu, Memory: &mem,
		ExecutionRoleArn: td.ExecutionRoleArn, TaskRoleArn: td.TaskRoleArn, NetworkMode: td.NetworkMode,
		RequiresCompatibilities: td.RequiresCompatibilities, RuntimePlatform: td.RuntimePlatform,
		Volumes: td.Volumes, PlacementConstraints: td.PlacementConstraints, PidMode: td.PidMode, IpcMode: td.IpcMode,
		ProxyConfiguration: td.ProxyConfiguration, EphemeralStorage: td.EphemeralStorage,
	}
}

// ParseRevision splits "arn:…:task-definition/family:12" or "family:12".
func ParseRevision(ref string) (family string, revision int, ok bool) {
	s := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(s, ":")
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return "", 0, false
	}
	return s[:i], n, true
}

// Short renders a task definition ARN as family:revision.
func Short(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }
