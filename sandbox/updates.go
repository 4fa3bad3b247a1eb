package sandbox

import "time"

// ServiceUpdate is one UpdateService request the sandbox accepted, with what it asked for:
// tests assert the order in which a runbook operation changed the services (the recorded
// Calls say only which operation ran).
type ServiceUpdate struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service"`
	// DesiredCount is the count asked for (nil: unchanged).
	DesiredCount *int `json:"desiredCount,omitempty"`
	// TaskDefinition is the revision asked for ("" : unchanged).
	TaskDefinition     string `json:"taskDefinition,omitempty"`
	ForceNewDeployment bool   `json:"forceNewDeployment,omitempty"`
}

// recordUpdate keeps an accepted UpdateService request. Callers hold s.mu.
func (s *Sandbox) recordUpdate(u ServiceUpdate) {
	if u.DesiredCount != nil {
		n := *u.DesiredCount
		u.DesiredCount = &n
	}
	s.updates = append(s.updates, u)
}

// ServiceUpdates returns the UpdateService requests accepted since the scenario was loaded
// (or ClearRecords), oldest first.
func (s *Sandbox) ServiceUpdates() []ServiceUpdate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ServiceUpdate(nil), s.updates...)
}
