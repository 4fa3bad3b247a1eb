package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/ledger"
)

func (e env) incidents(t testing.TB) *ledger.Incidents {
	t.Helper()
	s, err := ledger.NewIncidents(e.client, e.table, ledger.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run starts n goroutines at once and collects their errors.
func run(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := f(i); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIncidentOpenJoinConcurrent(t *testing.T) {
	e := newEnv(t)
	s := e.incidents(t)
	ctx := context.Background()
	at := e.clock.Now()
	alarms := []string{"arrakis-dev worker memory high", "arrakis-dev queue depth high", "arrakis-dev dlq growing"}
	var ids sync.Map
	var opened atomic.Int64
	run(t, 8, func(i int) error {
		inc, res, err := s.OpenOrJoin(ctx, "dev", alarms[i%3], fmt.Sprintf("fn-%d", i%3), at.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			return err
		}
		ids.Store(inc.ID, true)
		if res == incident.Opened {
			opened.Add(1)
		}
		if _, ok := inc.Member(alarms[i%3]); !ok {
			return fmt.Errorf("OpenOrJoin returned %s without its own alarm as member", inc.ID)
		}
		return nil
	})
	n := 0
	ids.Range(func(any, any) bool { n++; return true })
	if n != 1 || opened.Load() != 1 {
		t.Fatalf("8 concurrent OpenOrJoin made %d incident ids, %d opened; want 1 and 1", n, opened.Load())
	}
	cur, ok, err := s.Current(ctx, "dev")
	if err != nil || !ok {
		t.Fatalf("Current: %v %v", ok, err)
	}
	got := cur.MemberAlarms()
	slices.Sort(got)
	want := slices.Clone(alarms)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	if cur.Status != incident.StatusOpen || cur.OpenedAt.Before(at) || cur.OpenedAt.After(at.Add(7*time.Millisecond)) {
		t.Fatalf("status %s opened %s; want open, opened by one of the callers", cur.Status, cur.OpenedAt)
	}
	// The same alarm again is already a member.
	_, res, err := s.OpenOrJoin(ctx, "dev", alarms[0], "fn-0", at.Add(time.Minute))
	if err != nil || res != incident.AlreadyMember {
		t.Fatalf("repeat OpenOrJoin: %s, %v; want already-member", res, err)
	}
	inc, err := s.Get(ctx, cur.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := inc.Member(alarms[0]); !m.LastSeenAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("LastSeenAt %s, want %s", m.LastSeenAt, at.Add(time.Minute))
	}
	// Another environment has its own incident.
	other, res, err := s.OpenOrJoin(ctx, "prod", alarms[0], "fn-0", at)
	if err != nil || res != incident.Opened || other.ID == cur.ID {
		t.Fatalf("other environment: %s %s %v", other.ID, res, err)
	}
}

func TestIncidentCloseConcurrentAndReopen(t *testing.T) {
	e := newEnv(t)
	s := e.incidents(t)
	ctx := context.Background()
	at := e.clock.Now()
	first, _, err := s.OpenOrJoin(ctx, "dev", "a", "f", at)
	if err != nil {
		t.Fatal(err)
	}
	var closers atomic.Int64
	run(t, 8, func(int) error {
		mine, inc, err := s.Close(ctx, first.ID, incident.CloseRecovered, at.Add(10*time.Minute))
		if err != nil {
			return err
		}
		if inc.Status != incident.StatusClosed {
			return fmt.Errorf("Close returned status %s", inc.Status)
		}
		if mine {
			closers.Add(1)
		}
		return nil
	})
	if closers.Load() != 1 {
		t.Fatalf("%d closers, want 1", closers.Load())
	}
	// After the close a new ALARM opens a new incident; the old one stays readable by id and
	// still takes entries (the closing report comes after the close).
	second, res, err := s.OpenOrJoin(ctx, "dev", "a", "f", at.Add(20*time.Minute))
	if err != nil || res != incident.Opened || second.ID == first.ID {
		t.Fatalf("after close: %s %s %v; want a new incident", second.ID, res, err)
	}
	if err := s.Append(ctx, first.ID, incident.Entry{At: at.Add(21 * time.Minute), Kind: incident.KindReport,
		Report: &incident.Report{Closing: true, Sinks: []incident.Sink{{Name: "slack", Delivered: true}}}}); err != nil {
		t.Fatal(err)
	}
	old, err := s.Get(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if old.Status != incident.StatusClosed || old.CloseReason != incident.CloseRecovered || len(old.Timeline) != 1 || !old.Timeline[0].Report.Closing {
		t.Fatalf("archived incident: %+v", old)
	}
	if d, ok := incident.TimeToRecover(old); !ok || d != 10*time.Minute {
		t.Fatalf("TimeToRecover %s %v", d, ok)
	}
	if _, err := s.Get(ctx, "dev.20260101T000000Z.deadbeef"); !errors.Is(err, incident.ErrNotFound) {
		t.Fatalf("Get unknown: %v, want ErrNotFound", err)
	}
}

func TestIncidentPageConversationAppend(t *testing.T) {
	e := newEnv(t)
	s := e.incidents(t)
	ctx := context.Background()
	at := e.clock.Now()
	inc, _, err := s.OpenOrJoin(ctx, "dev", "a", "f", at)
	if err != nil {
		t.Fatal(err)
	}
	var firsts atomic.Int64
	var convs sync.Map
	run(t, 8, func(i int) error {
		first, err := s.TriggerPage(ctx, inc.ID, inc.ID, at)
		if err != nil {
			return err
		}
		if first {
			firsts.Add(1)
		}
		conv, err := s.SetConversation(ctx, inc.ID, incident.Conversation{SlackChannel: "C1", SlackTS: fmt.Sprintf("1.%d", i)})
		if err != nil {
			return err
		}
		convs.Store(conv, true)
		return s.Append(ctx, inc.ID, incident.Entry{At: at, Kind: incident.KindObservation, Function: fmt.Sprint(i),
			Observation: &incident.Observation{Finding: "queue-depth-high"}})
	})
	if firsts.Load() != 1 {
		t.Fatalf("%d first page triggers, want 1", firsts.Load())
	}
	n := 0
	convs.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Fatalf("%d different conversations returned, want 1", n)
	}
	got, err := s.Get(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Timeline) != 8 || !got.Page.Triggered || got.Page.DedupKey != inc.ID {
		t.Fatalf("timeline %d entries (want 8), page %+v", len(got.Timeline), got.Page)
	}
	if first, err := s.ResolvePage(ctx, inc.ID, at); err != nil || !first {
		t.Fatalf("ResolvePage: %v %v", first, err)
	}
	if first, err := s.ResolvePage(ctx, inc.ID, at); err != nil || first {
		t.Fatalf("second ResolvePage: %v %v, want false", first, err)
	}
	m, _ := got.Member("a")
	m.FollowUp, m.StopReason = incident.FollowUpStopped, incident.StopBudgetSpent
	if err := s.SetMember(ctx, inc.ID, m); err != nil {
		t.Fatal(err)
	}
	// The cap: past MaxTimeline entries are counted, not stored.
	many := make([]incident.Entry, incident.MaxTimeline)
	for i := range many {
		many[i] = incident.Entry{At: at, Kind: incident.KindObservation}
	}
	if err := s.Append(ctx, inc.ID, many...); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Timeline) != incident.MaxTimeline || got.TimelineTruncated != 8 {
		t.Fatalf("timeline %d, truncated %d; want %d and 8", len(got.Timeline), got.TimelineTruncated, incident.MaxTimeline)
	}
	if m, _ := got.Member("a"); m.StopReason != incident.StopBudgetSpent || m.FollowUp != incident.FollowUpStopped {
		t.Fatalf("member %+v", m)
	}
}

// The case: the same alarm delivered 6 times while another function's alarm arrives 6
// times too, all at once: one incident, two members, one opener, one joiner per other alarm.
func TestIncidentSameAlarmSixTimesTwoFunctions(t *testing.T) {
	e := newEnv(t)
	s := e.incidents(t)
	ctx := context.Background()
	at := e.clock.Now()
	var mu sync.Mutex
	results := map[incident.JoinResult]int{}
	ids := map[string]bool{}
	run(t, 12, func(i int) error {
		alarm, fn := "arrakis-dev Queue Depth High", "queue-depth"
		if i%2 == 1 {
			alarm, fn = "arrakis-dev No Worker Tasks Running", "no-tasks"
		}
		inc, res, err := s.OpenOrJoin(ctx, "dev", alarm, fn, at)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		results[res]++
		ids[inc.ID] = true
		return nil
	})
	if len(ids) != 1 || results[incident.Opened] != 1 || results[incident.Joined] != 1 || results[incident.AlreadyMember] != 10 {
		t.Fatalf("%d incidents, results %v; want 1 incident, 1 opened, 1 joined, 10 already-member", len(ids), results)
	}
	cur, _, err := s.Current(ctx, "dev")
	if err != nil || len(cur.Members) != 2 {
		t.Fatalf("members %v, %v", cur.MemberAlarms(), err)
	}
}
