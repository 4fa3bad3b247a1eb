package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// FaultKind is what an injected fault does to a call.
type FaultKind string

const (
	// FaultThrottle answers with the protocol's throttling error (ThrottlingException for
	// awsJson, Throttling for CloudWatch and SNS; 429 for the HTTP stand-ins), which the SDK
	// retryer treats as a throttle.
	FaultThrottle FaultKind = "throttle"
	// FaultUnavailable answers 503 ServiceUnavailable.
	FaultUnavailable FaultKind = "unavailable"
	// FaultInternal answers 500 InternalFailure.
	FaultInternal FaultKind = "internal"
	// FaultLatency delays the call by Fault.Delay, then answers normally.
	FaultLatency FaultKind = "latency"
	// FaultTimeout holds the call until the client gives up (or Fault.Delay passes, default
	// 5 minutes, after which it answers normally).
	FaultTimeout FaultKind = "timeout"
	// FaultMalformed answers 200 with the response document cut in half (truncated
	// JSON/CBOR/XML), which the SDK reports as a deserialization error.
	FaultMalformed FaultKind = "malformed"
)

func (k FaultKind) valid() bool {
	switch k {
	case FaultThrottle, FaultUnavailable, FaultInternal, FaultLatency, FaultTimeout, FaultMalformed:
		return true
	}
	return false
}

// Fault is one injected failure.
type Fault struct {
	// Op selects the calls: "ecs:DescribeServices", "logs:FilterLogEvents",
	// "cloudwatch:GetMetricData", "sns:Publish", a whole service ("ecs:*"), every AWS call
	// ("*"), or one of the HTTP stand-ins by request kind ("slack", "discord", "pagerduty",
	// "discord-api"; "*" does not match those).
	Op   string    `json:"op"`
	Kind FaultKind `json:"kind"`
	// Times is how many calls the fault applies to before it stops; 0 means always.
	Times int `json:"times,omitempty"`
	// Delay is the added latency (FaultLatency) or the longest hold (FaultTimeout).
	Delay time.Duration `json:"-"`
}

// FaultStatus is an injected fault and how often it has applied.
type FaultStatus struct {
	ID      int    `json:"id"`
	Op      string `json:"op"`
	Kind    string `json:"kind"`
	Times   int    `json:"times,omitempty"`
	DelayMS int64  `json:"delayMs,omitempty"`
	Applied int    `json:"applied"`
	Active  bool   `json:"active"`
}

type faultState struct {
	Fault
	id      int
	applied int
}

func (f *faultState) active() bool { return f.Times == 0 || f.applied < f.Times }

func (f *faultState) matches(op string, aws bool) bool {
	switch {
	case f.Op == op:
		return true
	case f.Op == "*":
		return aws
	case strings.HasSuffix(f.Op, ":*"):
		return aws && strings.HasPrefix(op, strings.TrimSuffix(f.Op, "*"))
	}
	return false
}

// InjectFault adds a fault and returns its id. Faults survive LoadScenario; ClearFaults
// removes them.
func (s *Sandbox) InjectFault(f Fault) (int, error) {
	if strings.TrimSpace(f.Op) == "" {
		return 0, errors.New("fault needs an op (e.g. ecs:DescribeServices, ecs:*, *)")
	}
	if !f.Kind.valid() {
		return 0, fmt.Errorf("fault kind %q: want throttle, unavailable, internal, latency, timeout or malformed", f.Kind)
	}
	if f.Times < 0 {
		return 0, fmt.Errorf("fault times %d: want 0 (always) or more", f.Times)
	}
	if f.Kind == FaultLatency && f.Delay <= 0 {
		return 0, errors.New("a latency fault needs a positive delay")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := len(s.faults) + 1
	if n := len(s.faults); n > 0 {
		id = s.faults[n-1].id + 1
	}
	s.faults = append(s.faults, &faultState{Fault: f, id: id})
	return id, nil
}

// ClearFaults removes every injected fault and the global latency.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.latency = 0
}

// Faults lists the injected faults with how often each applied.
func (s *Sandbox) Faults() []FaultStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]FaultStatus, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, FaultStatus{ID: f.id, Op: f.Op, Kind: string(f.Kind), Times: f.Times,
			DelayMS: f.Delay.Milliseconds(), Applied: f.applied, Active: f.active()})
	}
	return out
}

// SetLatency adds d to every call (AWS and the HTTP stand-ins, not the admin API), as a
// network between a Lambda function and AWS would.
func (s *Sandbox) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = max(d, 0)
}

// matchFault picks the fault for one call: every active latency fault adds its delay, and
// the first active fault of another kind applies. It counts the applications. It returns the
// total wait (global latency included).
func (s *Sandbox) matchFault(op string, aws bool) (*Fault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait := s.latency
	var chosen *Fault
	for _, f := range s.faults {
		if !f.active() || !f.matches(op, aws) {
			continue
		}
		if f.Kind == FaultLatency {
			f.applied++
			wait += f.Delay
			continue
		}
		if chosen == nil {
			f.applied++
			c := f.Fault
			chosen = &c
		}
	}
	return chosen, wait
}
