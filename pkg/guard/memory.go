package guard

import (
	"context"
	"sort"
	"sync"
	"time"
)

// MemoryLedger keeps the ledger in process memory. It is for local runs without a table and
// for unit tests of callers; it has the same semantics as the DynamoDB ledger (atomic claims
// and locks with expiry) but forgets everything when the process ends.
type MemoryLedger struct {
	mu      sync.Mutex
	Now     func() time.Time
	claims  map[string]time.Time // key -> expiry
	locks   map[string]lockEntry
	entries []Entry
}

type lockEntry struct {
	owner  string
	expiry time.Time
}

var _ Ledger = (*MemoryLedger)(nil)

// NewMemoryLedger returns an empty in-memory ledger.
func NewMemoryLedger() *MemoryLedger {
	return &MemoryLedger{claims: map[string]time.Time{}, locks: map[string]lockEntry{}}
}

func (m *MemoryLedger) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Claim implements Ledger.
func (m *MemoryLedger) Claim(_ context.Context, key, _ string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, ok := m.claims[key]; ok && now.Before(exp) {
		return false, nil
	}
	m.claims[key] = now.Add(ttl)
	return true, nil
}

// Lock implements Ledger.
func (m *MemoryLedger) Lock(_ context.Context, target, owner string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if l, ok := m.locks[target]; ok && l.owner != owner && now.Before(l.expiry) {
		return ErrLocked
	}
	m.locks[target] = lockEntry{owner: owner, expiry: now.Add(ttl)}
	return nil
}

// Unlock implements Ledger.
func (m *MemoryLedger) Unlock(_ context.Context, target, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.locks[target]; ok && l.owner == owner {
		delete(m.locks, target)
	}
	return nil
}

// History implements Ledger.
func (m *MemoryLedger) History(_ context.Context, target, kind string, since time.Time) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for _, e := range m.entries {
		if e.Target == target && e.Kind == kind && !e.At.Before(since) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out, nil
}

// Record implements Ledger.
func (m *MemoryLedger) Record(_ context.Context, e Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}
