package ledger_test

// These tests run against dynalite (a DynamoDB implementation) through the real SDK client:
// conditional writes, key conditions, paging and error shapes are DynamoDB's, not a fake's.
// Install it once with scripts/dynalite.sh install.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/ledger/dynalitetest"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 11, 27, 10, 0, 0, 123_456_789, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one test's table and a raw client for looking at items.
type env struct {
	client *dynamodb.Client
	table  string
	clock  *clock
}

func newEnv(t testing.TB) env {
	t.Helper()
	ep := dynalitetest.Start(t)
	return env{client: dynalitetest.NewClient(ep), table: dynalitetest.NewTable(t, ep), clock: newClock()}
}

func (e env) ledger(t testing.TB, opts ...ledger.Option) *ledger.Table {
	t.Helper()
	lt, err := ledger.New(e.client, e.table, append([]ledger.Option{ledger.WithClock(e.clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return lt
}

func (e env) item(t *testing.T, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := e.client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(e.table),
		ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			ledger.AttrPartitionKey: &types.AttributeValueMemberS{Value: pk},
			ledger.AttrSortKey:      &types.AttributeValueMemberS{Value: sk},
		},
	})
	if err != nil {
		t.Fatalf("get item %s/%s: %v", pk, sk, err)
	}
	return out.Item
}

func numAttr(t *testing.T, item map[string]types.AttributeValue, name string) int64 {
	t.Helper()
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("attribute %s = %#v, want a number (the TTL attribute must be N)", name, item[name])
	}
	i, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestClaim(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	l := e.ledger(t)
	const ttl = time.Hour

	claim := func(key, owner string) bool {
		t.Helper()
		ok, err := l.Claim(ctx, key, owner, ttl)
		if err != nil {
			t.Fatalf("Claim(%s, %s): %v", key, owner, err)
		}
		return ok
	}

	if !claim("a", "req-1") {
		t.Fatal("first claim refused")
	}
	if claim("a", "req-2") {
		t.Fatal("duplicate delivery (another invocation) claimed a claimed transition")
	}
	if claim("a", "req-1") {
		t.Fatal("Lambda retry (same request id) claimed a claimed transition")
	}
	if !claim("b", "req-2") {
		t.Fatal("a different transition was refused")
	}

	// The stored item is what DynamoDB's TTL needs: expiresAt as N epoch seconds.
	item := e.item(t, "claim#transition#a", "claim")
	if got, want := numAttr(t, item, ledger.AttrExpiresAt), e.clock.Now().Add(ttl).Unix()+1; got != want {
		t.Fatalf("expiresAt = %d, want %d (now + ttl, rounded up)", got, want)
	}

	// Expired but not yet deleted (DynamoDB's TTL is lazy; dynalite never deletes): still
	// refused up to its expiry second, free after it.
	e.clock.Advance(ttl)
	if claim("a", "req-3") {
		t.Fatal("claimed at the expiry instant, before the item expired")
	}
	e.clock.Advance(2 * time.Second)
	if !claim("a", "req-3") {
		t.Fatal("an expired claim still blocks")
	}
	if claim("a", "req-4") {
		t.Fatal("the renewed claim does not block")
	}
}

func TestLock(t *testing.T) {
	ctx := context.Background()
	const ttl = 5 * time.Minute

	t.Run("contention between owners", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t)
		mustLock(t, l, "svc", "a", ttl)
		err := l.Lock(ctx, "svc", "b", ttl)
		if !errors.Is(err, guard.ErrLocked) {
			t.Fatalf("second owner: err = %v, want guard.ErrLocked", err)
		}
		mustLock(t, l, "other-svc", "b", ttl) // locks are per target
		mustUnlock(t, l, "svc", "a")
		mustLock(t, l, "svc", "b", ttl)
	})

	t.Run("expired lock is taken over", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t)
		mustLock(t, l, "svc", "a", ttl)
		e.clock.Advance(ttl - time.Second)
		if err := l.Lock(ctx, "svc", "b", ttl); !errors.Is(err, guard.ErrLocked) {
			t.Fatalf("before expiry: err = %v, want guard.ErrLocked", err)
		}
		e.clock.Advance(3 * time.Second)
		mustLock(t, l, "svc", "b", ttl)
		if got := e.item(t, "lock#svc", "lock")["owner"]; got.(*types.AttributeValueMemberS).Value != "b" {
			t.Fatalf("owner after takeover = %v, want b", got)
		}
		// The old owner's late Unlock must not free the new owner's lock.
		mustUnlock(t, l, "svc", "a")
		if err := l.Lock(ctx, "svc", "c", ttl); !errors.Is(err, guard.ErrLocked) {
			t.Fatalf("after the old owner's unlock: err = %v, want guard.ErrLocked", err)
		}
	})

	t.Run("re-entrant refresh extends the expiry", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t)
		mustLock(t, l, "svc", "a", ttl)
		first := numAttr(t, e.item(t, "lock#svc", "lock"), ledger.AttrExpiresAt)
		e.clock.Advance(4 * time.Minute)
		mustLock(t, l, "svc", "a", ttl) // ours: a refresh, not ErrLocked
		refreshed := numAttr(t, e.item(t, "lock#svc", "lock"), ledger.AttrExpiresAt)
		if refreshed != first+240 {
			t.Fatalf("expiresAt after refresh = %d, want %d", refreshed, first+240)
		}
		e.clock.Advance(2 * time.Minute) // past the first expiry, inside the refreshed one
		if err := l.Lock(ctx, "svc", "b", ttl); !errors.Is(err, guard.ErrLocked) {
			t.Fatalf("after the first expiry: err = %v, want guard.ErrLocked (refreshed)", err)
		}
	})

	t.Run("unlock by a non-owner is harmless", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t)
		mustUnlock(t, l, "svc", "a") // nothing to unlock
		mustLock(t, l, "svc", "a", ttl)
		mustUnlock(t, l, "svc", "b")
		if err := l.Lock(ctx, "svc", "c", ttl); !errors.Is(err, guard.ErrLocked) {
			t.Fatalf("after a non-owner's unlock: err = %v, want guard.ErrLocked", err)
		}
		mustUnlock(t, l, "svc", "a")
		if it := e.item(t, "lock#svc", "lock"); len(it) != 0 {
			t.Fatalf("lock item still there after the owner's unlock: %v", it)
		}
		mustLock(t, l, "svc", "c", ttl)
	})

	t.Run("claims and locks do not share keys", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t)
		mustLock(t, l, "x", "a", ttl)
		if ok, err := l.Claim(ctx, "x", "b", ttl); err != nil || !ok {
			t.Fatalf("Claim(x) beside Lock(x) = %v, %v; want true", ok, err)
		}
	})
}

func mustLock(t *testing.T, l *ledger.Table, target, owner string, ttl time.Duration) {
	t.Helper()
	if err := l.Lock(context.Background(), target, owner, ttl); err != nil {
		t.Fatalf("Lock(%s, %s): %v", target, owner, err)
	}
}

func mustUnlock(t *testing.T, l *ledger.Table, target, owner string) {
	t.Helper()
	if err := l.Unlock(context.Background(), target, owner); err != nil {
		t.Fatalf("Unlock(%s, %s): %v", target, owner, err)
	}
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	const target, kind = "arrakis-staging-gp-worker", "scale-service"

	t.Run("fields round-trip", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t)
		at := time.Date(2026, 11, 27, 9, 30, 0, 987_654_321, time.FixedZone("CET", 3600))
		want := guard.Entry{
			Target: target, Kind: kind, FromCount: 1, ToCount: 3, HasCounts: true, Outcome: guard.OutcomeDone,
			AlarmKey: "arrakis-staging-queue-depth-high#2026-11-27T08:29:00.000+0000",
			Function: "queue-depth", At: at,
		}
		sparse := guard.Entry{Target: target, Kind: kind, Outcome: guard.OutcomeFailed, At: at.Add(-time.Minute)}
		for _, en := range []guard.Entry{want, sparse} {
			if err := l.Record(ctx, en); err != nil {
				t.Fatal(err)
			}
		}
		got, err := l.History(ctx, target, kind, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want.At, sparse.At = want.At.UTC(), sparse.At.UTC() // kept in UTC; the same instant
		if len(got) != 2 || got[0] != want || got[1] != sparse {
			t.Fatalf("History =\n%+v\nwant\n%+v", got, []guard.Entry{want, sparse})
		}
	})

	t.Run("a zero At is stamped with the clock", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t)
		if err := l.Record(ctx, guard.Entry{Target: target, Kind: kind, Outcome: guard.OutcomeDone}); err != nil {
			t.Fatal(err)
		}
		got, err := l.History(ctx, target, kind, time.Time{})
		if err != nil || len(got) != 1 || !got[0].At.Equal(e.clock.Now()) {
			t.Fatalf("History = %+v, %v; want one entry at %v", got, err, e.clock.Now())
		}
	})

	t.Run("newest first, since inclusive, per target and kind", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t)
		// A whole-second base: RFC3339Nano would write it without a fraction ("…:00Z"),
		// which sorts after "…:00.1Z". The sort key must not.
		base := e.clock.Now().Truncate(time.Second).Add(-time.Hour)
		offsets := []time.Duration{0, time.Nanosecond, 100 * time.Millisecond, time.Second, time.Second, 10 * time.Minute, 59 * time.Minute}
		// Record out of order; two entries share an instant and must both stay.
		for i, j := range rand.Perm(len(offsets)) {
			en := guard.Entry{Target: target, Kind: kind, ToCount: j, HasCounts: true, At: base.Add(offsets[j])}
			if err := l.Record(ctx, en); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		// Noise in the neighbouring partitions.
		for _, en := range []guard.Entry{
			{Target: target, Kind: "force-new-deployment", At: base},
			{Target: target + "-2", Kind: kind, At: base},
			{Target: "arrakis-staging-gp", Kind: kind, At: base}, // a prefix of target
		} {
			if err := l.Record(ctx, en); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name  string
			since time.Time
			want  int
		}{
			{"zero since: all", time.Time{}, 7},
			{"since the first instant: inclusive", base, 7},
			{"one ns later excludes the first", base.Add(time.Nanosecond), 6},
			{"since 1s includes both entries of that instant", base.Add(time.Second), 4},
			{"since after the last", base.Add(time.Hour), 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := l.History(ctx, target, kind, tc.since)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != tc.want {
					t.Fatalf("got %d entries, want %d: %+v", len(got), tc.want, got)
				}
				for i, en := range got {
					if en.Target != target || en.Kind != kind {
						t.Fatalf("entry %d from another partition: %+v", i, en)
					}
					if en.At.Before(tc.since) {
						t.Fatalf("entry %d at %v is before since %v", i, en.At, tc.since)
					}
					if i > 0 && en.At.After(got[i-1].At) {
						t.Fatalf("entry %d (%v) is newer than entry %d (%v): not newest first", i, en.At, i-1, got[i-1].At)
					}
				}
			})
		}
	})

	t.Run("expired entries are not history", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t, ledger.WithRetention(time.Hour))
		if err := l.Record(ctx, guard.Entry{Target: target, Kind: kind, Outcome: guard.OutcomeDone}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(30 * time.Minute)
		if got, err := l.History(ctx, target, kind, time.Time{}); err != nil || len(got) != 1 {
			t.Fatalf("inside retention: %d entries, %v; want 1", len(got), err)
		}
		e.clock.Advance(time.Hour)
		if got, err := l.History(ctx, target, kind, time.Time{}); err != nil || len(got) != 0 {
			t.Fatalf("after retention: %+v, %v; want none", got, err)
		}
	})

	t.Run("an entry is never overwritten", func(t *testing.T) {
		e := newEnv(t)
		l := e.ledger(t, ledger.WithSuffix(func() (string, error) { return "same", nil }))
		at := e.clock.Now()
		if err := l.Record(ctx, guard.Entry{Target: target, Kind: kind, ToCount: 1, HasCounts: true, At: at}); err != nil {
			t.Fatal(err)
		}
		err := l.Record(ctx, guard.Entry{Target: target, Kind: kind, ToCount: 2, HasCounts: true, At: at})
		if err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("second entry on the same key: err = %v, want 'already exists'", err)
		}
		got, _ := l.History(ctx, target, kind, time.Time{})
		if len(got) != 1 || got[0].ToCount != 1 {
			t.Fatalf("History = %+v, want the first entry only", got)
		}
	})
}

// countingAPI counts Query calls (pages) on the way to the real client, and the ones that were
// not strongly consistent: dynalite is always consistent, so only the request can show that the
// guard's re-read under the lock would see an entry recorded a moment ago in DynamoDB.
type countingAPI struct {
	*dynamodb.Client
	queries, inconsistent atomic.Int64
}

func (c *countingAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.queries.Add(1)
	if !aws.ToBool(in.ConsistentRead) {
		c.inconsistent.Add(1)
	}
	return c.Client.Query(ctx, in, opts...)
}

func TestHistoryPagination(t *testing.T) {
	ctx := context.Background()
	const target, kind = "arrakis-staging-ingestor", "force-new-deployment"

	tests := []struct {
		name     string
		entries  int
		pageSize int32
		padding  int // bytes in AlarmKey, to cross DynamoDB's 1 MB page
		minPages int64
	}{
		{"small pages", 120, 7, 0, 18},
		{"1 MB pages (DynamoDB's own limit)", 260, 0, 8 << 10, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			api := &countingAPI{Client: e.client}
			l, err := ledger.New(api, e.table, ledger.WithClock(e.clock.Now), ledger.WithPageSize(tc.pageSize))
			if err != nil {
				t.Fatal(err)
			}
			base := e.clock.Now().Add(-2 * time.Hour)
			pad := strings.Repeat("x", tc.padding)
			var wg sync.WaitGroup
			errs := make(chan error, tc.entries)
			sem := make(chan struct{}, 8)
			for i := range tc.entries {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					errs <- l.Record(ctx, guard.Entry{Target: target, Kind: kind, FromCount: i, HasCounts: true, AlarmKey: pad, At: base.Add(time.Duration(i) * time.Second)})
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			got, err := l.History(ctx, target, kind, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.entries {
				t.Fatalf("got %d entries, want %d", len(got), tc.entries)
			}
			for i, en := range got {
				if want := tc.entries - 1 - i; en.FromCount != want {
					t.Fatalf("entry %d has FromCount %d, want %d (newest first across pages)", i, en.FromCount, want)
				}
			}
			if pages := api.queries.Load(); pages < tc.minPages {
				t.Fatalf("History read %d pages, want at least %d: pagination was not exercised", pages, tc.minPages)
			}
			if n := api.inconsistent.Load(); n > 0 {
				t.Fatalf("%d of %d pages were read without ConsistentRead", n, api.queries.Load())
			}
			t.Logf("%d entries in %d pages", len(got), api.queries.Load())
		})
	}
}

// 50 invocations racing for one alarm transition: exactly one wins, none errs.
func TestClaimConcurrent(t *testing.T) {
	e := newEnv(t)
	l := e.ledger(t)
	const n = 50
	var wins atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := l.Claim(context.Background(), "transition#race", fmt.Sprintf("req-%d", i), time.Hour)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Claim: %v", err)
	}
	if got := wins.Load(); got != 1 {
		t.Fatalf("%d of %d concurrent claims won, want exactly 1", got, n)
	}
}

// 50 invocations each take the lock on one target, act (record), and release. Holders are
// counted between Lock returning and Unlock being called: never more than one at a time.
func TestLockConcurrent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// Real time here: the lock must not expire under a holder, and the test bounds itself.
	l, err := ledger.New(e.client, e.table)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	const target, kind = "arrakis-staging-gp-worker", "force-new-deployment"
	var holders, overlaps, maxHolders atomic.Int64
	var acquired, refused atomic.Int64
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("req-%d", i)
			<-start
			// Exponential backoff with jitter: 49 pollers in a tight loop would only queue
			// ahead of the holder's own requests on the one server.
			backoff := 2 * time.Millisecond
			for {
				err := l.Lock(ctx, target, owner, time.Minute)
				if errors.Is(err, guard.ErrLocked) {
					refused.Add(1)
					if time.Now().After(deadline) {
						errs <- fmt.Errorf("%s never got the lock", owner)
						return
					}
					time.Sleep(backoff/2 + rand.N(backoff))
					backoff = min(2*backoff, 100*time.Millisecond)
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("%s: lock: %w", owner, err)
					return
				}
				break
			}
			h := holders.Add(1)
			if h > 1 {
				overlaps.Add(1)
			}
			for {
				m := maxHolders.Load()
				if h <= m || maxHolders.CompareAndSwap(m, h) {
					break
				}
			}
			acquired.Add(1)
			if err := l.Record(ctx, guard.Entry{Target: target, Kind: kind, Outcome: guard.OutcomeDone, Function: owner}); err != nil {
				errs <- fmt.Errorf("%s: record: %w", owner, err)
			}
			time.Sleep(time.Millisecond)
			holders.Add(-1)
			if err := l.Unlock(ctx, target, owner); err != nil {
				errs <- fmt.Errorf("%s: unlock: %w", owner, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := overlaps.Load(); got != 0 {
		t.Fatalf("%d overlapping holders (max %d at once), want 0", got, maxHolders.Load())
	}
	if got := acquired.Load(); got != n {
		t.Fatalf("%d of %d invocations held the lock, want all", got, n)
	}
	if refused.Load() == 0 {
		t.Fatal("no Lock was ever refused: the invocations never contended, so the test proved nothing")
	}
	t.Logf("%d holders in turn, %d refused attempts", acquired.Load(), refused.Load())
	hist, err := l.History(ctx, target, kind, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]bool{}
	for _, en := range hist {
		owners[en.Function] = true
	}
	if len(hist) != n || len(owners) != n {
		t.Fatalf("history has %d entries from %d owners, want %d from %d", len(hist), len(owners), n, n)
	}
}

// The guard's rules on top of this ledger: duplicate deliveries, the lock and the cooldown.
func TestWithGuard(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	l := e.ledger(t)
	g := func(owner, function string) *guard.Guard {
		return &guard.Guard{
			Mode:     config.ModeOn,
			Ledger:   l,
			Budgets:  map[string]guard.Budget{"force-new-deployment": {Max: 3, Window: 24 * time.Hour, Cooldown: 15 * time.Minute}},
			Owner:    owner,
			Function: function,
			Now:      e.clock.Now,
		}
	}
	// Two functions on one service (no-tasks and memory-high both restart the ingestor): the
	// lock and the cooldown are the target's, whichever function holds or spent them.
	first, second := g("req-1", "no-tasks"), g("req-2", "memory-high")
	adm := first.Admit(ctx, "alarm#2026-11-27T10:00:00Z")
	if !adm.Proceed || adm.Block.Set() {
		t.Fatalf("first delivery: %+v", adm)
	}
	if dup := second.Admit(ctx, "alarm#2026-11-27T10:00:00Z"); dup.Proceed || dup.Code != "duplicate" {
		t.Fatalf("second delivery: %+v, want duplicate", dup)
	}
	adm2 := second.Admit(ctx, "other-alarm#2026-11-27T10:00:00Z")

	v := first.Check(ctx, adm, "force-new-deployment", "arrakis-staging-ingestor")
	if !v.Allowed {
		t.Fatalf("first check: %+v", v)
	}
	if v2 := second.Check(ctx, adm2, "force-new-deployment", "arrakis-staging-ingestor"); v2.Allowed || !strings.HasPrefix(v2.Rule.String(), "lock:") {
		t.Fatalf("check while locked: %+v, want the lock rule", v2)
	}
	if err := first.Record(ctx, guard.Entry{Target: "arrakis-staging-ingestor", Kind: "force-new-deployment", Outcome: guard.OutcomeDone}); err != nil {
		t.Fatal(err)
	}
	v.Release(ctx)
	if v2 := second.Check(ctx, adm2, "force-new-deployment", "arrakis-staging-ingestor"); v2.Allowed || !strings.HasPrefix(v2.Rule.String(), "cooldown:") {
		t.Fatalf("check after a restart: %+v, want the cooldown rule", v2)
	}
	e.clock.Advance(16 * time.Minute)
	v3 := second.Check(ctx, adm2, "force-new-deployment", "arrakis-staging-ingestor")
	if !v3.Allowed {
		t.Fatalf("check after the cooldown: %+v", v3)
	}
	v3.Release(ctx)
}

// main builds its client with config.LoadDefaultConfig; AWS_ENDPOINT_URL_DYNAMODB must be all it
// takes to point the ledger at a local endpoint.
func TestEndpointFromEnvironment(t *testing.T) {
	ep := dynalitetest.Start(t)
	table := dynalitetest.NewTable(t, ep)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB":   ep,
		"AWS_ENDPOINT_URL":            "",
		"AWS_REGION":                  "us-east-1",
		"AWS_ACCESS_KEY_ID":           "AKIDLOCALTEST",
		"AWS_SECRET_ACCESS_KEY":       "local-test-secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
	} {
		t.Setenv(k, v)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(dynamodb.NewFromConfig(cfg), table)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := l.Claim(context.Background(), "transition#env", "req-1", time.Minute); err != nil || !ok {
		t.Fatalf("Claim through AWS_ENDPOINT_URL_DYNAMODB = %v, %v", ok, err)
	}
}

// A ledger that cannot be reached returns errors that say what was being done, and never
// ErrLocked: the guard turns them into "ledger-unavailable" and does not act.
func TestUnreachable(t *testing.T) {
	client := dynalitetest.NewClient("http://127.0.0.1:1") // nothing listens on port 1
	l, err := ledger.New(client, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	// The SDK retries a refused connection (3 attempts with backoff): allow for that.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"claim", func() error { _, err := l.Claim(ctx, "k", "o", time.Minute); return err }, "claim k in table ledger"},
		{"lock", func() error { return l.Lock(ctx, "svc", "o", time.Minute) }, "lock svc in table ledger"},
		{"unlock", func() error { return l.Unlock(ctx, "svc", "o") }, "unlock svc in table ledger"},
		{"record", func() error { return l.Record(ctx, guard.Entry{Target: "svc", Kind: "k"}) }, "record k on svc in table ledger"},
		{"history", func() error { _, err := l.History(ctx, "svc", "k", time.Time{}); return err }, "history of k on svc in table ledger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if errors.Is(err, guard.ErrLocked) {
				t.Fatalf("a transport error reads as ErrLocked: %v", err)
			}
		})
	}
}

// A table that does not exist is an error, not a refused condition (not "duplicate", not locked).
func TestMissingTable(t *testing.T) {
	ep := dynalitetest.Start(t)
	l, err := ledger.New(dynalitetest.NewClient(ep), "no-such-table")
	if err != nil {
		t.Fatal(err)
	}
	ok, err := l.Claim(context.Background(), "k", "o", time.Minute)
	var rnf *types.ResourceNotFoundException
	if ok || !errors.As(err, &rnf) {
		t.Fatalf("Claim on a missing table = %v, %v; want ResourceNotFoundException", ok, err)
	}
	if err := l.Lock(context.Background(), "svc", "o", time.Minute); errors.Is(err, guard.ErrLocked) || !errors.As(err, &rnf) {
		t.Fatalf("Lock on a missing table = %v; want ResourceNotFoundException", err)
	}
}

// TestFirstReleaseItemsStayReadable: the first releases stored a scale's desired counts as
// text in "from" and "to". Such items are read as counts until their TTL removes them, so a
// scale-back after an upgrade still finds the count to return to.
func TestFirstReleaseItemsStayReadable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	l := e.ledger(t)
	at := e.clock.Now().Add(-time.Minute).UTC()
	_, err := e.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: map[string]types.AttributeValue{
		ledger.AttrPartitionKey: &types.AttributeValueMemberS{Value: "action#scale-service#svc"},
		ledger.AttrSortKey:      &types.AttributeValueMemberS{Value: at.Format("2006-01-02T15:04:05.000000000Z") + "#old"},
		ledger.AttrExpiresAt:    &types.AttributeValueMemberN{Value: strconv.FormatInt(at.Add(time.Hour).Unix(), 10)},
		"target":                &types.AttributeValueMemberS{Value: "svc"},
		"kind":                  &types.AttributeValueMemberS{Value: "scale-service"},
		"from":                  &types.AttributeValueMemberS{Value: "1"},
		"to":                    &types.AttributeValueMemberS{Value: "2"},
		"outcome":               &types.AttributeValueMemberS{Value: "done"},
		"at":                    &types.AttributeValueMemberS{Value: at.Format(time.RFC3339Nano)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.History(ctx, "svc", "scale-service", time.Time{})
	if err != nil || len(got) != 1 || !got[0].HasCounts || got[0].FromCount != 1 || got[0].ToCount != 2 || got[0].Outcome != guard.OutcomeDone {
		t.Fatalf("History = %+v, %v; want the old item's counts 1 -> 2", got, err)
	}
}
