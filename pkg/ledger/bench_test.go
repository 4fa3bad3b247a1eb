package ledger_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/ledger"
)

// Per-operation latency against dynalite through the real SDK client (signing, JSON, HTTP on
// loopback). Real DynamoDB adds network round trips (single-digit ms in-region).

func benchLedger(b *testing.B) *ledger.Table {
	b.Helper()
	e := newEnv(b)
	l, err := ledger.New(e.client, e.table)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func BenchmarkClaim(b *testing.B) {
	l := benchLedger(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if ok, err := l.Claim(ctx, strconv.Itoa(i), "req", time.Hour); err != nil || !ok {
			b.Fatalf("Claim = %v, %v", ok, err)
		}
	}
}

func BenchmarkClaimDuplicate(b *testing.B) {
	l := benchLedger(b)
	ctx := context.Background()
	if _, err := l.Claim(ctx, "dup", "req", time.Hour); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := l.Claim(ctx, "dup", "req-2", time.Hour); err != nil || ok {
			b.Fatalf("Claim = %v, %v; want a duplicate", ok, err)
		}
	}
}

func BenchmarkLockUnlock(b *testing.B) {
	l := benchLedger(b)
	ctx := context.Background()
	for b.Loop() {
		if err := l.Lock(ctx, "svc", "req", time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := l.Unlock(ctx, "svc", "req"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	l := benchLedger(b)
	ctx := context.Background()
	for b.Loop() {
		if err := l.Record(ctx, guard.Entry{Target: "svc", Kind: "scale-service", FromCount: 1, ToCount: 2, HasCounts: true, Outcome: guard.OutcomeDone, Function: "queue-depth"}); err != nil {
			b.Fatal(err)
		}
	}
}

// History as the guard's budget check reads it: a day's window holding a few entries.
func BenchmarkHistory(b *testing.B) {
	l := benchLedger(b)
	ctx := context.Background()
	now := time.Now()
	for i := range 10 {
		if err := l.Record(ctx, guard.Entry{Target: "svc", Kind: "force-new-deployment", Outcome: guard.OutcomeDone, At: now.Add(-time.Duration(i) * time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	since := now.Add(-24 * time.Hour)
	for b.Loop() {
		got, err := l.History(ctx, "svc", "force-new-deployment", since)
		if err != nil || len(got) != 10 {
			b.Fatalf("History = %d entries, %v", len(got), err)
		}
	}
}
