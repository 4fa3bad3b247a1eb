package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ECS task and deployment states, as ECS spells them.
const (
	statusRunning = "RUNNING"
	statusPending = "PENDING"
	statusStopped = "STOPPED"

	deployPrimary = "PRIMARY"
	deployActive  = "ACTIVE"

	rolloutInProgress = "IN_PROGRESS"
	rolloutCompleted  = "COMPLETED"
	rolloutFailed     = "FAILED"

	stopEssentialExited = "EssentialContainerExited"
	stopFailedToStart   = "TaskFailedToStart"
	stopScheduler       = "ServiceSchedulerInitiated"

	circuitBreakerReason = "ECS deployment circuit breaker: tasks failed to start."

	// launchWaves bounds how many times the simulated scheduler (re)starts tasks for one
	// change, so a crash loop never runs forever in the background.
	launchWaves = 3
	// maxServiceEvents is how many events ECS keeps per service.
	maxServiceEvents = 100
)

type service struct {
	name, arn string
	role      string // "ingestor" or "worker": which reactions and Discord budget apply
	status    string
	desired   int
	createdAt time.Time
	// deployments[0] is the PRIMARY one; the others are ACTIVE (being replaced).
	deployments []*deployment
	events      []serviceEvent // newest first
	breaker     bool           // deployment circuit breaker enabled (rollback is off)
	minHealthy  int
	maxPercent  int

	pendingSteady  bool // a change waits for its "reached a steady state" event
	scaled         bool // the desired count changed and the change has not settled yet
	scaleFrom      int  // desired count before that change
	exhaustedNoted bool // the "unable to consistently start tasks" event was added for this change
}

type deployment struct {
	id            string
	status        string
	taskDef       *taskDef
	desired       int
	failed        int
	createdAt     time.Time
	updatedAt     time.Time
	rollout       string
	rolloutReason string
	waves         int  // launch waves left for the current change
	restart       bool // created by UpdateService: its completion triggers restart reactions
}

type serviceEvent struct {
	id  string
	at  time.Time
	msg string
}

type containerInfo struct {
	name, image string
	memory      int
}

type taskDef struct {
	family       string
	revision     int
	arn          string
	status       string // ACTIVE or INACTIVE
	registeredAt time.Time
	registeredBy string
	body         map[string]any // the registration document, echoed back by Describe
	cpu, memory  string
	container    containerInfo
}

type task struct {
	id, arn     string
	service     *service
	deployment  string // deployment id (startedBy)
	td          *taskDef
	lastStatus  string
	desired     string
	createdAt   time.Time
	pullStart   time.Time
	pullStop    time.Time
	startedAt   time.Time
	stoppingAt  time.Time
	stoppedAt   time.Time
	stopCode    string
	stopReason  string
	exitCode    *int
	cReason     string // container reason
	az          string
	ip          string
	eni         string
	attachment  string
	imageDigest string
	version     int
}

func (t *task) stream() string { return "ecs/" + t.td.container.name + "/" + t.id }

// --- names and lookups -----------------------------------------------------------------

func (s *Sandbox) taskDefARN(family string, rev int) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", Region, AccountID, family, rev)
}

func (s *Sandbox) serviceARN(name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, AccountID, s.names.Cluster, name)
}

func (s *Sandbox) taskARN(id string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", Region, AccountID, s.names.Cluster, id)
}

// clusterOK says whether a cluster parameter (name or ARN; empty means "default") names the
// environment's cluster.
func (s *Sandbox) clusterOK(c string) bool {
	if c == "" {
		c = "default"
	}
	return c == s.names.Cluster || c == s.clusterARN
}

func errClusterNotFound() *apiError {
	return errClient(http.StatusBadRequest, "ClusterNotFoundException", "Cluster not found.")
}

func errInvalidParam(msg string) *apiError {
	return errClient(http.StatusBadRequest, "InvalidParameterException", msg)
}

// lookupService resolves a service name or ARN (long or short ARN format).
func (s *Sandbox) lookupService(ref string) *service {
	if svc, ok := s.services[ref]; ok {
		return svc
	}
	if strings.HasPrefix(ref, "arn:") {
		i := strings.LastIndex(ref, "/")
		if i >= 0 && strings.Contains(ref, ":service/") {
			if svc, ok := s.services[ref[i+1:]]; ok {
				return svc
			}
		}
	}
	return nil
}

// lookupTaskDef resolves "family", "family:revision" or a task definition ARN. A bare family
// means its latest ACTIVE revision.
func (s *Sandbox) lookupTaskDef(ref string) *taskDef {
	if strings.HasPrefix(ref, "arn:") {
		_, rest, ok := strings.Cut(ref, ":task-definition/")
		if !ok {
			return nil
		}
		ref = rest
	}
	family, revStr, hasRev := strings.Cut(ref, ":")
	defs := s.taskDefs[family]
	if !hasRev {
		for i := len(defs) - 1; i >= 0; i-- {
			if defs[i].status == "ACTIVE" {
				return defs[i]
			}
		}
		return nil
	}
	rev, err := strconv.Atoi(revStr)
	if err != nil {
		return nil
	}
	for _, td := range defs {
		if td.revision == rev {
			return td
		}
	}
	return nil
}

func (s *Sandbox) lookupTask(ref string) *task {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	return s.taskByID[ref]
}

// counts returns the RUNNING and PENDING tasks of one deployment.
func (s *Sandbox) counts(dep *deployment) (running, pending int) {
	for _, t := range s.tasks {
		if t.deployment != dep.id {
			continue
		}
		switch t.lastStatus {
		case statusRunning:
			running++
		case statusPending:
			pending++
		}
	}
	return running, pending
}

func (s *Sandbox) serviceCounts(svc *service) (running, pending int) {
	for _, t := range s.tasks {
		if t.service != svc {
			continue
		}
		switch t.lastStatus {
		case statusRunning:
			running++
		case statusPending:
			pending++
		}
	}
	return running, pending
}

// --- wire shapes -----------------------------------------------------------------------

type ecsFailure struct {
	Arn    string `json:"arn"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

type ecsAwsVpc struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups"`
	AssignPublicIP string   `json:"assignPublicIp"`
}

type ecsNetworkConfiguration struct {
	AwsvpcConfiguration ecsAwsVpc `json:"awsvpcConfiguration"`
}

func networkConfiguration() ecsNetworkConfiguration {
	return ecsNetworkConfiguration{AwsvpcConfiguration: ecsAwsVpc{
		Subnets:        []string{"subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"},
		SecurityGroups: []string{"sg-0123456789abcdef0"},
		AssignPublicIP: "DISABLED",
	}}
}

type ecsDeploymentJSON struct {
	ID                   string                  `json:"id"`
	Status               string                  `json:"status"`
	TaskDefinition       string                  `json:"taskDefinition"`
	DesiredCount         int                     `json:"desiredCount"`
	PendingCount         int                     `json:"pendingCount"`
	RunningCount         int                     `json:"runningCount"`
	FailedTasks          int                     `json:"failedTasks"`
	CreatedAt            *float64                `json:"createdAt,omitempty"`
	UpdatedAt            *float64                `json:"updatedAt,omitempty"`
	LaunchType           string                  `json:"launchType"`
	PlatformVersion      string                  `json:"platformVersion"`
	PlatformFamily       string                  `json:"platformFamily"`
	NetworkConfiguration ecsNetworkConfiguration `json:"networkConfiguration"`
	RolloutState         string                  `json:"rolloutState"`
	RolloutStateReason   string                  `json:"rolloutStateReason"`
}

type ecsEventJSON struct {
	ID        string   `json:"id"`
	CreatedAt *float64 `json:"createdAt"`
	Message   string   `json:"message"`
}

type ecsServiceJSON struct {
	ServiceArn        string `json:"serviceArn"`
	ServiceName       string `json:"serviceName"`
	ClusterArn        string `json:"clusterArn"`
	LoadBalancers     []any  `json:"loadBalancers"`
	ServiceRegistries []any  `json:"serviceRegistries"`
	Status            string `json:"status"`
	DesiredCount      int    `json:"desiredCount"`
	RunningCount      int    `json:"runningCount"`
	PendingCount      int    `json:"pendingCount"`
	LaunchType        string `json:"launchType"`
	PlatformVersion   string `json:"platformVersion"`
	PlatformFamily    string `json:"platformFamily"`
	TaskDefinition    string `json:"taskDefinition"`
	DeploymentConfig  struct {
		DeploymentCircuitBreaker struct {
			Enable   bool `json:"enable"`
			Rollback bool `json:"rollback"`
		} `json:"deploymentCircuitBreaker"`
		MaximumPercent        int    `json:"maximumPercent"`
		MinimumHealthyPercent int    `json:"minimumHealthyPercent"`
		Strategy              string `json:"strategy"`
	} `json:"deploymentConfiguration"`
	Deployments                 []ecsDeploymentJSON     `json:"deployments"`
	RoleArn                     string                  `json:"roleArn"`
	Events                      []ecsEventJSON          `json:"events"`
	CreatedAt                   *float64                `json:"createdAt,omitempty"`
	PlacementConstraints        []any                   `json:"placementConstraints"`
	PlacementStrategy           []any                   `json:"placementStrategy"`
	NetworkConfiguration        ecsNetworkConfiguration `json:"networkConfiguration"`
	HealthCheckGracePeriod      int                     `json:"healthCheckGracePeriodSeconds"`
	SchedulingStrategy          string                  `json:"schedulingStrategy"`
	DeploymentController        map[string]string       `json:"deploymentController"`
	CreatedBy                   string                  `json:"createdBy"`
	EnableECSManagedTags        bool                    `json:"enableECSManagedTags"`
	PropagateTags               string                  `json:"propagateTags"`
	EnableExecuteCommand        bool                    `json:"enableExecuteCommand"`
	AvailabilityZoneRebalancing string                  `json:"availabilityZoneRebalancing"`
}

func (s *Sandbox) deploymentJSON(d *deployment) ecsDeploymentJSON {
	running, pending := s.counts(d)
	return ecsDeploymentJSON{
		ID: d.id, Status: d.status, TaskDefinition: d.taskDef.arn,
		DesiredCount: d.desired, PendingCount: pending, RunningCount: running, FailedTasks: d.failed,
		CreatedAt: epoch(d.createdAt), UpdatedAt: epoch(d.updatedAt),
		LaunchType: "FARGATE", PlatformVersion: "1.4.0", PlatformFamily: "Linux",
		NetworkConfiguration: networkConfiguration(),
		RolloutState:         d.rollout, RolloutStateReason: d.rolloutReason,
	}
}

func (s *Sandbox) serviceJSON(svc *service) ecsServiceJSON {
	running, pending := s.serviceCounts(svc)
	out := ecsServiceJSON{
		ServiceArn: svc.arn, ServiceName: svc.name, ClusterArn: s.clusterARN,
		LoadBalancers: []any{}, ServiceRegistries: []any{},
		Status: svc.status, DesiredCount: svc.desired, RunningCount: running, PendingCount: pending,
		LaunchType: "FARGATE", PlatformVersion: "LATEST", PlatformFamily: "Linux",
		TaskDefinition:       svc.deployments[0].taskDef.arn,
		RoleArn:              "arn:aws:iam::" + AccountID + ":role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
		CreatedAt:            epoch(svc.createdAt),
		PlacementConstraints: []any{}, PlacementStrategy: []any{},
		NetworkConfiguration: networkConfiguration(),
		SchedulingStrategy:   "REPLICA",
		DeploymentController: map[string]string{"type": "ECS"},
		CreatedBy:            "arn:aws:iam::" + AccountID + ":role/arrakis-" + s.opts.Env + "-deploy",
		EnableECSManagedTags: true, PropagateTags: "NONE",
		AvailabilityZoneRebalancing: "ENABLED",
	}
	out.DeploymentConfig.DeploymentCircuitBreaker.Enable = svc.breaker
	out.DeploymentConfig.MaximumPercent = svc.maxPercent
	out.DeploymentConfig.MinimumHealthyPercent = svc.minHealthy
	out.DeploymentConfig.Strategy = "ROLLING"
	for _, d := range svc.deployments {
		out.Deployments = append(out.Deployments, s.deploymentJSON(d))
	}
	out.Events = []ecsEventJSON{}
	for _, e := range svc.events {
		out.Events = append(out.Events, ecsEventJSON{ID: e.id, CreatedAt: epoch(e.at), Message: e.msg})
	}
	return out
}

type ecsContainerJSON struct {
	ContainerArn      string `json:"containerArn"`
	TaskArn           string `json:"taskArn"`
	Name              string `json:"name"`
	Image             string `json:"image"`
	ImageDigest       string `json:"imageDigest,omitempty"`
	RuntimeID         string `json:"runtimeId,omitempty"`
	LastStatus        string `json:"lastStatus"`
	ExitCode          *int   `json:"exitCode,omitempty"`
	Reason            string `json:"reason,omitempty"`
	NetworkBindings   []any  `json:"networkBindings"`
	NetworkInterfaces []struct {
		AttachmentID       string `json:"attachmentId"`
		PrivateIpv4Address string `json:"privateIpv4Address"`
	} `json:"networkInterfaces"`
	HealthStatus string `json:"healthStatus"`
	CPU          string `json:"cpu"`
	Memory       string `json:"memory,omitempty"`
}

type ecsKeyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type ecsAttachment struct {
	ID      string        `json:"id"`
	Type    string        `json:"type"`
	Status  string        `json:"status"`
	Details []ecsKeyValue `json:"details"`
}

type ecsTaskJSON struct {
	Attachments          []ecsAttachment    `json:"attachments"`
	Attributes           []ecsKeyValue      `json:"attributes"`
	AvailabilityZone     string             `json:"availabilityZone"`
	ClusterArn           string             `json:"clusterArn"`
	Connectivity         string             `json:"connectivity,omitempty"`
	ConnectivityAt       *float64           `json:"connectivityAt,omitempty"`
	Containers           []ecsContainerJSON `json:"containers"`
	CPU                  string             `json:"cpu"`
	CreatedAt            *float64           `json:"createdAt,omitempty"`
	DesiredStatus        string             `json:"desiredStatus"`
	EnableExecuteCommand bool               `json:"enableExecuteCommand"`
	ExecutionStoppedAt   *float64           `json:"executionStoppedAt,omitempty"`
	Group                string             `json:"group"`
	HealthStatus         string             `json:"healthStatus"`
	LastStatus           string             `json:"lastStatus"`
	LaunchType           string             `json:"launchType"`
	Memory               string             `json:"memory"`
	Overrides            struct {
		ContainerOverrides []map[string]string `json:"containerOverrides"`
	} `json:"overrides"`
	PlatformVersion   string   `json:"platformVersion"`
	PlatformFamily    string   `json:"platformFamily"`
	PullStartedAt     *float64 `json:"pullStartedAt,omitempty"`
	PullStoppedAt     *float64 `json:"pullStoppedAt,omitempty"`
	StartedAt         *float64 `json:"startedAt,omitempty"`
	StartedBy         string   `json:"startedBy"`
	StopCode          string   `json:"stopCode,omitempty"`
	StoppedAt         *float64 `json:"stoppedAt,omitempty"`
	StoppedReason     string   `json:"stoppedReason,omitempty"`
	StoppingAt        *float64 `json:"stoppingAt,omitempty"`
	Tags              []any    `json:"tags"`
	TaskArn           string   `json:"taskArn"`
	TaskDefinitionArn string   `json:"taskDefinitionArn"`
	Version           int      `json:"version"`
	EphemeralStorage  struct {
		SizeInGiB int `json:"sizeInGiB"`
	} `json:"ephemeralStorage"`
}

func (s *Sandbox) taskJSON(t *task) ecsTaskJSON {
	c := ecsContainerJSON{
		ContainerArn: fmt.Sprintf("arn:aws:ecs:%s:%s:container/%s/%s/%s", Region, AccountID, s.names.Cluster, t.id, containerUUID(t.id)),
		TaskArn:      t.arn, Name: t.td.container.name, Image: t.td.container.image,
		LastStatus: t.lastStatus, ExitCode: t.exitCode, Reason: t.cReason,
		NetworkBindings: []any{}, HealthStatus: "UNKNOWN", CPU: "0",
	}
	if t.td.container.memory > 0 {
		c.Memory = strconv.Itoa(t.td.container.memory)
	}
	if !t.pullStop.IsZero() {
		c.ImageDigest = t.imageDigest
	}
	if !t.startedAt.IsZero() {
		c.RuntimeID = t.id + "-" + containerRuntimeSuffix(t.id)
	}
	c.NetworkInterfaces = append(c.NetworkInterfaces, struct {
		AttachmentID       string `json:"attachmentId"`
		PrivateIpv4Address string `json:"privateIpv4Address"`
	}{t.attachment, t.ip})
	attStatus := "ATTACHED"
	if t.lastStatus == statusStopped {
		attStatus = "DELETED"
	}
	out := ecsTaskJSON{
		Attachments: []ecsAttachment{{ID: t.attachment, Type: "ElasticNetworkInterface", Status: attStatus, Details: []ecsKeyValue{
			{"subnetId", networkConfiguration().AwsvpcConfiguration.Subnets[azIndex(t.az)]},
			{"networkInterfaceId", t.eni},
			{"macAddress", macFor(t.id)},
			{"privateDnsName", "ip-" + strings.ReplaceAll(t.ip, ".", "-") + ".ec2.internal"},
			{"privateIPv4Address", t.ip},
		}}},
		Attributes:       []ecsKeyValue{{"ecs.cpu-architecture", "arm64"}},
		AvailabilityZone: t.az, ClusterArn: s.clusterARN,
		Containers: []ecsContainerJSON{c}, CPU: t.td.cpu, CreatedAt: epoch(t.createdAt),
		DesiredStatus: t.desired, Group: "service:" + t.service.name, HealthStatus: "UNKNOWN",
		LastStatus: t.lastStatus, LaunchType: "FARGATE", Memory: t.td.memory,
		PlatformVersion: "1.4.0", PlatformFamily: "Linux",
		PullStartedAt: epoch(t.pullStart), PullStoppedAt: epoch(t.pullStop),
		StartedAt: epoch(t.startedAt), StartedBy: t.deployment,
		StopCode: t.stopCode, StoppedAt: epoch(t.stoppedAt), StoppedReason: t.stopReason,
		StoppingAt: epoch(t.stoppingAt), ExecutionStoppedAt: epoch(t.stoppedAt),
		Tags: []any{}, TaskArn: t.arn, TaskDefinitionArn: t.td.arn, Version: t.version,
	}
	if !t.startedAt.IsZero() || t.lastStatus == statusRunning {
		out.Connectivity = "CONNECTED"
		out.ConnectivityAt = epoch(t.pullStart)
	}
	out.Overrides.ContainerOverrides = []map[string]string{{"name": t.td.container.name}}
	out.EphemeralStorage.SizeInGiB = 20
	return out
}

func azIndex(az string) int {
	if strings.HasSuffix(az, "b") {
		return 1
	}
	return 0
}

// containerUUID and friends derive stable, realistic-looking identifiers from a task id.
func containerUUID(taskID string) string {
	h := fnv64(taskID + "/container")
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(h>>32), uint16(h>>16), uint16(h)&0x0fff|0x4000, uint16(h>>48)&0x3fff|0x8000, h&0xffffffffffff)
}

func containerRuntimeSuffix(taskID string) string {
	return strconv.FormatUint(fnv64(taskID+"/runtime")%9000000000+1000000000, 10)
}

func macFor(taskID string) string {
	h := fnv64(taskID + "/mac")
	return fmt.Sprintf("0e:%02x:%02x:%02x:%02x:%02x", byte(h>>32), byte(h>>24), byte(h>>16), byte(h>>8), byte(h))
}

func (s *Sandbox) taskDefJSON(td *taskDef) map[string]any {
	out := maps.Clone(td.body)
	out["taskDefinitionArn"] = td.arn
	out["family"] = td.family
	out["revision"] = td.revision
	out["status"] = td.status
	out["registeredAt"] = epoch(td.registeredAt)
	out["registeredBy"] = td.registeredBy
	out["compatibilities"] = []string{"EC2", "FARGATE"}
	out["requiresAttributes"] = []map[string]string{
		{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
		{"name": "ecs.capability.execution-role-awslogs"},
		{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
		{"name": "ecs.capability.task-eni"},
	}
	if td.status == "INACTIVE" {
		out["deregisteredAt"] = epoch(td.registeredAt.Add(24 * time.Hour))
	}
	return out
}

// --- operations ------------------------------------------------------------------------

func (s *Sandbox) ecsDescribeServices(c *awsCall) (any, *apiError) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if !s.clusterOK(in.Cluster) {
		return nil, errClusterNotFound()
	}
	found, failures, e := describe(in.Services, "Services", 10, s.lookupService, s.serviceARN, s.serviceJSON)
	if e != nil {
		return nil, e
	}
	return struct {
		Services []ecsServiceJSON `json:"services"`
		Failures []ecsFailure     `json:"failures"`
	}{found, failures}, nil
}

// describe is what DescribeServices and DescribeTasks share: 1 to max references (names,
// ids or ARNs), each found or reported as a MISSING failure under its ARN.
func describe[T, J any](refs []string, param string, max int, lookup func(string) *T, arnOf func(string) string, render func(*T) J) ([]J, []ecsFailure, *apiError) {
	if len(refs) == 0 {
		return nil, nil, errInvalidParam(param + " cannot be empty.")
	}
	if len(refs) > max {
		return nil, nil, errInvalidParam(fmt.Sprintf("%s cannot contain more than %d entries.", param, max))
	}
	found, failures := []J{}, []ecsFailure{}
	for _, ref := range refs {
		v := lookup(ref)
		if v == nil {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = arnOf(ref)
			}
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		found = append(found, render(v))
	}
	return found, failures, nil
}

func (s *Sandbox) ecsUpdateService(c *awsCall) (any, *apiError) {
	var in struct {
		Cluster            string  `json:"cluster"`
		Service            string  `json:"service"`
		DesiredCount       *int    `json:"desiredCount"`
		TaskDefinition     *string `json:"taskDefinition"`
		ForceNewDeployment bool    `json:"forceNewDeployment"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if !s.clusterOK(in.Cluster) {
		return nil, errClusterNotFound()
	}
	svc := s.lookupService(in.Service)
	if svc == nil {
		return nil, errClient(http.StatusBadRequest, "ServiceNotFoundException", "Service not found.")
	}
	if svc.status != "ACTIVE" {
		return nil, errClient(http.StatusBadRequest, "ServiceNotActiveException", "Service was not ACTIVE.")
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, errInvalidParam("Desired count must be greater than or equal to 0.")
	}
	primary := svc.deployments[0]
	td := primary.taskDef
	if in.TaskDefinition != nil {
		td = s.lookupTaskDef(*in.TaskDefinition)
		if td == nil {
			return nil, errInvalidParam("TaskDefinition not found.")
		}
		if td.status != "ACTIVE" {
			return nil, errInvalidParam("TaskDefinition is inactive")
		}
	}
	at := s.now()
	u := ServiceUpdate{Time: at, Service: svc.name, DesiredCount: in.DesiredCount, ForceNewDeployment: in.ForceNewDeployment}
	if in.TaskDefinition != nil {
		u.TaskDefinition = td.arn
	}
	s.recordUpdate(u)
	if in.DesiredCount != nil && *in.DesiredCount != svc.desired {
		if !svc.scaled {
			svc.scaleFrom = svc.desired
		}
		svc.scaled = true
		svc.desired = *in.DesiredCount
		primary.desired = svc.desired
		primary.waves = launchWaves
		primary.updatedAt = at
		svc.pendingSteady = true
		svc.exhaustedNoted = false
	}
	if in.ForceNewDeployment || td != primary.taskDef {
		primary.status = deployActive
		primary.updatedAt = at
		d := &deployment{
			id: s.deploymentID(), status: deployPrimary, taskDef: td, desired: svc.desired,
			createdAt: at, updatedAt: at, rollout: rolloutInProgress,
			waves: launchWaves, restart: true,
		}
		d.rolloutReason = "ECS deployment " + d.id + " in progress."
		svc.deployments = append([]*deployment{d}, svc.deployments...)
		svc.pendingSteady = true
		svc.exhaustedNoted = false
	}
	s.reconcile(svc)
	return struct {
		Service ecsServiceJSON `json:"service"`
	}{s.serviceJSON(svc)}, nil
}

// pageToken encodes an offset into an opaque token tied to the query it pages.
func pageToken(query string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%x", offset, fnv64(query))))
}

func parsePageToken(tok, query string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	off, sum, ok := strings.Cut(string(raw), ":")
	if !ok || sum != fmt.Sprintf("%x", fnv64(query)) {
		return 0, false
	}
	n, err := strconv.Atoi(off)
	return n, err == nil && n >= 0
}

func (s *Sandbox) ecsListTasks(c *awsCall) (any, *apiError) {
	var in struct {
		Cluster       string `json:"cluster"`
		ServiceName   string `json:"serviceName"`
		Family        string `json:"family"`
		StartedBy     string `json:"startedBy"`
		DesiredStatus string `json:"desiredStatus"`
		MaxResults    *int   `json:"maxResults"`
		NextToken     string `json:"nextToken"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if !s.clusterOK(in.Cluster) {
		return nil, errClusterNotFound()
	}
	var svc *service
	if in.ServiceName != "" {
		if svc = s.lookupService(in.ServiceName); svc == nil {
			return nil, errClient(http.StatusBadRequest, "ServiceNotFoundException", "Service not found.")
		}
	}
	want := in.DesiredStatus
	if want == "" {
		want = statusRunning
	}
	if want != statusRunning && want != statusStopped && want != statusPending {
		return nil, errInvalidParam("Invalid desiredStatus: " + want)
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, errInvalidParam("maxResults must be between 1 and 100.")
		}
		limit = *in.MaxResults
	}
	var arns []string
	for _, t := range s.tasks {
		if svc != nil && t.service != svc {
			continue
		}
		if in.Family != "" && t.td.family != in.Family {
			continue
		}
		if in.StartedBy != "" && t.deployment != in.StartedBy {
			continue
		}
		if t.desired != want {
			continue
		}
		arns = append(arns, t.arn)
	}
	query := fmt.Sprintf("ListTasks|%s|%s|%s|%s", in.ServiceName, in.Family, in.StartedBy, want)
	start := 0
	if in.NextToken != "" {
		n, ok := parsePageToken(in.NextToken, query)
		if !ok {
			return nil, errInvalidParam("Invalid nextToken.")
		}
		start = min(n, len(arns))
	}
	end := min(start+limit, len(arns))
	out := struct {
		TaskArns  []string `json:"taskArns"`
		NextToken string   `json:"nextToken,omitempty"`
	}{TaskArns: append([]string{}, arns[start:end]...)}
	if end < len(arns) {
		out.NextToken = pageToken(query, end)
	}
	return out, nil
}

func (s *Sandbox) ecsDescribeTasks(c *awsCall) (any, *apiError) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if !s.clusterOK(in.Cluster) {
		return nil, errClusterNotFound()
	}
	found, failures, e := describe(in.Tasks, "Tasks", 100, s.lookupTask, s.taskARN, s.taskJSON)
	if e != nil {
		return nil, e
	}
	return struct {
		Tasks    []ecsTaskJSON `json:"tasks"`
		Failures []ecsFailure  `json:"failures"`
	}{found, failures}, nil
}

func (s *Sandbox) ecsDescribeTaskDefinition(c *awsCall) (any, *apiError) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	td := s.lookupTaskDef(in.TaskDefinition)
	if td == nil {
		return nil, errClient(http.StatusBadRequest, "ClientException", "Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": s.taskDefJSON(td)}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = []any{}
	}
	return out, nil
}

func (s *Sandbox) ecsListTaskDefinitions(c *awsCall) (any, *apiError) {
	var in struct {
		FamilyPrefix string `json:"familyPrefix"`
		Status       string `json:"status"`
		Sort         string `json:"sort"`
		MaxResults   *int   `json:"maxResults"`
		NextToken    string `json:"nextToken"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	status := in.Status
	if status == "" {
		status = "ACTIVE"
	}
	if status != "ACTIVE" && status != "INACTIVE" && status != "DELETE_IN_PROGRESS" {
		return nil, errInvalidParam("Invalid status: " + status)
	}
	order := in.Sort
	if order == "" {
		order = "ASC"
	}
	if order != "ASC" && order != "DESC" {
		return nil, errInvalidParam("Invalid sort: " + order)
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, errInvalidParam("maxResults must be between 1 and 100.")
		}
		limit = *in.MaxResults
	}
	// familyPrefix is, despite its name, the full family name (as ECS documents it).
	families := slices.Sorted(maps.Keys(s.taskDefs))
	var arns []string
	for _, fam := range families {
		if in.FamilyPrefix != "" && fam != in.FamilyPrefix {
			continue
		}
		for _, td := range s.taskDefs[fam] {
			if td.status == status {
				arns = append(arns, td.arn)
			}
		}
	}
	if order == "DESC" {
		slices.Reverse(arns)
	}
	query := fmt.Sprintf("ListTaskDefinitions|%s|%s|%s", in.FamilyPrefix, status, order)
	start := 0
	if in.NextToken != "" {
		n, ok := parsePageToken(in.NextToken, query)
		if !ok {
			return nil, errInvalidParam("Invalid nextToken.")
		}
		start = min(n, len(arns))
	}
	end := min(start+limit, len(arns))
	out := struct {
		TaskDefinitionArns []string `json:"taskDefinitionArns"`
		NextToken          string   `json:"nextToken,omitempty"`
	}{TaskDefinitionArns: append([]string{}, arns[start:end]...)}
	if end < len(arns) {
		out.NextToken = pageToken(query, end)
	}
	return out, nil
}

var familyRe = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

func (s *Sandbox) ecsRegisterTaskDefinition(c *awsCall) (any, *apiError) {
	var body map[string]any
	if e := decodeJSON(c, &body); e != nil {
		return nil, e
	}
	if body == nil {
		body = map[string]any{}
	}
	family, _ := body["family"].(string)
	if !familyRe.MatchString(family) {
		return nil, errClient(http.StatusBadRequest, "ClientException",
			"Family contains invalid characters: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.")
	}
	tags := body["tags"]
	delete(body, "tags")
	td, msg := s.buildTaskDef(family, body)
	if msg != "" {
		return nil, errClient(http.StatusBadRequest, "ClientException", msg)
	}
	td.registeredAt = s.now()
	td.registeredBy = "arn:aws:sts::" + AccountID + ":assumed-role/arrakis-" + s.opts.Env + "-gp-remediation/gp-remediation"
	s.addTaskDef(td)
	if tags == nil {
		tags = []any{}
	}
	return map[string]any{"taskDefinition": s.taskDefJSON(td), "tags": tags}, nil
}

// buildTaskDef validates a registration document and derives what tasks need from it; a
// non-empty message is ECS's ClientException text. The revision is assigned by addTaskDef.
func (s *Sandbox) buildTaskDef(family string, body map[string]any) (*taskDef, string) {
	defs, _ := body["containerDefinitions"].([]any)
	if len(defs) == 0 {
		return nil, "Container list cannot be empty."
	}
	td := &taskDef{family: family, status: "ACTIVE", body: body}
	td.cpu, _ = body["cpu"].(string)
	td.memory, _ = body["memory"].(string)
	taskMem := 0
	if td.memory != "" {
		n, err := strconv.Atoi(strings.TrimSpace(td.memory))
		if err != nil || n <= 0 {
			return nil, fmt.Sprintf("Invalid 'memory' setting for task: %q", td.memory)
		}
		taskMem = n
	}
	for i, raw := range defs {
		cd, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Sprintf("Container definition %d is not an object.", i)
		}
		name, _ := cd["name"].(string)
		image, _ := cd["image"].(string)
		if name == "" {
			return nil, "Container.name should not be null or empty."
		}
		if image == "" {
			return nil, "Container.image should not be null or empty."
		}
		mem := 0
		if v, ok := cd["memory"].(float64); ok {
			mem = int(v)
		}
		if mem < 0 || (taskMem > 0 && mem > taskMem) {
			return nil, fmt.Sprintf("Invalid setting for container '%s'. The 'memory' setting (%d) must not exceed the task memory (%d).", name, mem, taskMem)
		}
		if taskMem == 0 && mem == 0 {
			if _, ok := cd["memoryReservation"]; !ok {
				return nil, fmt.Sprintf("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", name)
			}
		}
		if i == 0 || cd["essential"] == true {
			td.container = containerInfo{name: name, image: image, memory: mem}
		}
	}
	if td.container.memory == 0 {
		td.container.memory = taskMem
	}
	return td, ""
}

// addTaskDef gives td the family's next revision and stores it.
func (s *Sandbox) addTaskDef(td *taskDef) {
	rev := 1
	if defs := s.taskDefs[td.family]; len(defs) > 0 {
		rev = defs[len(defs)-1].revision + 1
	}
	td.revision = rev
	td.arn = s.taskDefARN(td.family, rev)
	s.taskDefs[td.family] = append(s.taskDefs[td.family], td)
}

// jsonClone deep-copies a JSON-shaped value (maps, slices, scalars).
func jsonClone(v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}
