package sandbox

import (
	"slices"
	"time"
)

// Snapshots of the simulated state for tests, `make demo` and the admin API. They are copies:
// changing them changes nothing.

// ServiceSnapshot is one ECS service as DescribeServices would show it.
type ServiceSnapshot struct {
	Name           string               `json:"name"`
	ARN            string               `json:"arn"`
	Status         string               `json:"status"`
	Desired        int                  `json:"desired"`
	Running        int                  `json:"running"`
	Pending        int                  `json:"pending"`
	TaskDefinition string               `json:"taskDefinition"`
	Deployments    []DeploymentSnapshot `json:"deployments"`
	Events         []EventSnapshot      `json:"events"` // newest first
}

// DeploymentSnapshot is one ECS deployment.
type DeploymentSnapshot struct {
	ID                 string    `json:"id"`
	Status             string    `json:"status"` // PRIMARY or ACTIVE
	TaskDefinition     string    `json:"taskDefinition"`
	Desired            int       `json:"desired"`
	Running            int       `json:"running"`
	Pending            int       `json:"pending"`
	Failed             int       `json:"failed"`
	RolloutState       string    `json:"rolloutState"`
	RolloutStateReason string    `json:"rolloutStateReason"`
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

// EventSnapshot is one service event.
type EventSnapshot struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message"`
}

// TaskSnapshot is one ECS task.
type TaskSnapshot struct {
	ID              string    `json:"id"`
	ARN             string    `json:"arn"`
	Service         string    `json:"service"`
	Deployment      string    `json:"deployment"`
	TaskDefinition  string    `json:"taskDefinition"`
	LastStatus      string    `json:"lastStatus"`
	DesiredStatus   string    `json:"desiredStatus"`
	StopCode        string    `json:"stopCode,omitempty"`
	StoppedReason   string    `json:"stoppedReason,omitempty"`
	ExitCode        *int      `json:"exitCode,omitempty"`
	ContainerReason string    `json:"containerReason,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
	StartedAt       time.Time `json:"startedAt,omitzero"`
	StoppedAt       time.Time `json:"stoppedAt,omitzero"`
}

// TaskDefinitionSnapshot is one task-definition revision.
type TaskDefinitionSnapshot struct {
	ARN        string              `json:"arn"`
	Family     string              `json:"family"`
	Revision   int                 `json:"revision"`
	Status     string              `json:"status"`
	CPU        string              `json:"cpu"`
	Memory     string              `json:"memory"`
	Containers []ContainerSnapshot `json:"containers"`
}

// ContainerSnapshot is one container definition.
type ContainerSnapshot struct {
	Name   string `json:"name"`
	Image  string `json:"image"`
	Memory int    `json:"memory"`
}

// State is the whole simulated account, as GET /_sandbox/state answers.
type State struct {
	Scenario        string                   `json:"scenario"`
	Env             string                   `json:"env"`
	LoadedAt        time.Time                `json:"loadedAt"`
	Now             time.Time                `json:"now"`
	Cluster         string                   `json:"cluster"`
	Services        []ServiceSnapshot        `json:"services"`
	TaskDefinitions []TaskDefinitionSnapshot `json:"taskDefinitions"`
	Tasks           []TaskSnapshot           `json:"tasks"`
	DiscordSessions struct {
		Remaining    int   `json:"remaining"`
		ResetAfterMS int64 `json:"resetAfterMs"`
	} `json:"discordSessions"`
}

// Call is one AWS call the sandbox answered.
type Call struct {
	Service    string    `json:"service"`   // ecs, logs, cloudwatch, secretsmanager, ssm, sns, ...
	Operation  string    `json:"operation"` // DescribeServices, ...
	Time       time.Time `json:"time"`
	Status     int       `json:"status"`              // HTTP status; 0 when the client gave up first
	ErrorCode  string    `json:"errorCode,omitempty"` // the AWS error code answered
	Fault      string    `json:"fault,omitempty"`     // the injected fault kind, if any
	Attempt    int       `json:"attempt,omitempty"`   // the SDK's attempt number (amz-sdk-request)
	DurationMS int64     `json:"durationMs"`
}

func (s *Sandbox) snapshotService(svc *service) ServiceSnapshot {
	running, pending := s.serviceCounts(svc)
	out := ServiceSnapshot{
		Name: svc.name, ARN: svc.arn, Status: svc.status, Desired: svc.desired,
		Running: running, Pending: pending, TaskDefinition: svc.deployments[0].taskDef.arn,
	}
	for _, d := range svc.deployments {
		r, p := s.counts(d)
		out.Deployments = append(out.Deployments, DeploymentSnapshot{
			ID: d.id, Status: d.status, TaskDefinition: d.taskDef.arn, Desired: d.desired,
			Running: r, Pending: p, Failed: d.failed, RolloutState: d.rollout,
			RolloutStateReason: d.rolloutReason, CreatedAt: d.createdAt, UpdatedAt: d.updatedAt,
		})
	}
	for _, e := range svc.events {
		out.Events = append(out.Events, EventSnapshot{ID: e.id, CreatedAt: e.at, Message: e.msg})
	}
	return out
}

func snapshotTask(t *task) TaskSnapshot {
	return TaskSnapshot{
		ID: t.id, ARN: t.arn, Service: t.service.name, Deployment: t.deployment, TaskDefinition: t.td.arn,
		LastStatus: t.lastStatus, DesiredStatus: t.desired, StopCode: t.stopCode, StoppedReason: t.stopReason,
		ExitCode: t.exitCode, ContainerReason: t.cReason, CreatedAt: t.createdAt, StartedAt: t.startedAt, StoppedAt: t.stoppedAt,
	}
}

func snapshotTaskDef(td *taskDef) TaskDefinitionSnapshot {
	out := TaskDefinitionSnapshot{ARN: td.arn, Family: td.family, Revision: td.revision, Status: td.status, CPU: td.cpu, Memory: td.memory}
	defs, _ := td.body["containerDefinitions"].([]any)
	for _, raw := range defs {
		cd, _ := raw.(map[string]any)
		name, _ := cd["name"].(string)
		image, _ := cd["image"].(string)
		mem, _ := cd["memory"].(float64)
		out.Containers = append(out.Containers, ContainerSnapshot{Name: name, Image: image, Memory: int(mem)})
	}
	return out
}

// Service returns a snapshot of one service.
func (s *Sandbox) Service(name string) (ServiceSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.lookupService(name)
	if svc == nil {
		return ServiceSnapshot{}, false
	}
	return s.snapshotService(svc), true
}

// Deployments returns a service's deployments, PRIMARY first.
func (s *Sandbox) Deployments(service string) []DeploymentSnapshot {
	snap, _ := s.Service(service)
	return snap.Deployments
}

// Tasks returns a service's tasks ("" for all) with the given last status ("" for any),
// oldest first.
func (s *Sandbox) Tasks(service, lastStatus string) []TaskSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TaskSnapshot
	for _, t := range s.tasks {
		if (service == "" || t.service.name == service) && (lastStatus == "" || t.lastStatus == lastStatus) {
			out = append(out, snapshotTask(t))
		}
	}
	return out
}

// TaskDefinitions returns every revision of a family, ascending.
func (s *Sandbox) TaskDefinitions(family string) []TaskDefinitionSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TaskDefinitionSnapshot
	for _, td := range s.taskDefs[family] {
		out = append(out, snapshotTaskDef(td))
	}
	return out
}

// State returns a snapshot of everything.
func (s *Sandbox) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	st := State{Scenario: s.scenario, Env: s.opts.Env, LoadedAt: s.loadedAt, Now: now, Cluster: s.names.Cluster}
	for _, name := range []string{s.names.IngestorService, s.names.WorkerService} {
		if svc := s.services[name]; svc != nil {
			st.Services = append(st.Services, s.snapshotService(svc))
		}
	}
	for _, fam := range sortedKeysTD(s.taskDefs) {
		for _, td := range s.taskDefs[fam] {
			st.TaskDefinitions = append(st.TaskDefinitions, snapshotTaskDef(td))
		}
	}
	for _, t := range s.tasks {
		st.Tasks = append(st.Tasks, snapshotTask(t))
	}
	s.discord.refresh(now)
	st.DiscordSessions.Remaining = s.discord.remaining
	st.DiscordSessions.ResetAfterMS = max(s.discord.resetAt.Sub(now), 0).Milliseconds()
	return st
}

func sortedKeysTD(m map[string][]*taskDef) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Calls returns every AWS call answered since the scenario was loaded, oldest first.
func (s *Sandbox) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ClearRecords forgets the recorded calls, publications and stand-in requests (the simulated
// state stays).
func (s *Sandbox) ClearRecords() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.published, s.requests, s.updates = nil, nil, nil, nil
}

// Scenario returns the loaded scenario's name and load time.
func (s *Sandbox) Scenario() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scenario, s.loadedAt
}
