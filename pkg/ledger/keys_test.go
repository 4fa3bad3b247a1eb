package ledger

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/arrakis/gp-remediation/pkg/guard"
)

// The sort key's string order must be the time order, to the nanosecond; RFC3339Nano is not.
func TestSortKeyTimeOrder(t *testing.T) {
	base := time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)
	times := []time.Time{
		base,
		base.Add(time.Nanosecond),
		base.Add(100 * time.Millisecond),
		base.Add(123 * time.Millisecond),
		base.Add(500 * time.Millisecond),
		base.Add(time.Second),
		base.Add(time.Hour),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("UTC+10", 10*3600)), // 2026-12-31T14:00Z
	}
	keys := make([]string, len(times))
	for i, tm := range times {
		keys[i] = tm.UTC().Format(skTimeLayout)
		if len(keys[i]) != len(keys[0]) {
			t.Fatalf("sort key %q has width %d, want %d", keys[i], len(keys[i]), len(keys[0]))
		}
		back, err := time.Parse(time.RFC3339Nano, keys[i])
		if err != nil || !back.Equal(tm) {
			t.Fatalf("sort key %q parses to %v, %v; want %v", keys[i], back, err, tm)
		}
	}
	if !sort.StringsAreSorted(keys) {
		t.Fatalf("sort keys out of time order: %q", keys)
	}
	// The trap the fixed width avoids.
	if a, b := base.Format(time.RFC3339Nano), base.Add(100*time.Millisecond).Format(time.RFC3339Nano); a < b {
		t.Fatalf("RFC3339Nano sorts correctly here (%q < %q): the test no longer shows why skTimeLayout exists", a, b)
	}
}

func TestExpiresAtRoundsUp(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
		want int64
	}{
		{"whole second", time.Unix(1000, 0), 1000},
		{"one nanosecond past", time.Unix(1000, 1), 1001},
		{"just before the next", time.Unix(1000, 999_999_999), 1001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := expiresAt(tc.at); got != tc.want {
				t.Fatalf("expiresAt(%v) = %d, want %d", tc.at, got, tc.want)
			}
		})
	}
}

func TestActionPartitionKey(t *testing.T) {
	// Kind first and kinds without '#': distinct (target, kind) pairs never share a partition.
	a := actionPK("a#b", "scale-service")
	b := actionPK("a", "b#scale-service")
	if a == b {
		t.Fatalf("partition keys collide: %q", a)
	}
	if err := checkTargetKind("a", "b#scale-service"); err == nil {
		t.Fatal("a kind containing '#' was accepted")
	}
}

// failAPI fails the test on any call: input checks must not reach DynamoDB.
type failAPI struct{ t *testing.T }

func (f failAPI) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.t.Error("PutItem called")
	return nil, errors.New("unexpected call")
}

func (f failAPI) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	f.t.Error("DeleteItem called")
	return nil, errors.New("unexpected call")
}

func (f failAPI) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.t.Error("Query called")
	return nil, errors.New("unexpected call")
}

func TestInputChecks(t *testing.T) {
	ctx := context.Background()
	tb, err := New(failAPI{t}, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"claim without key", func() error { _, err := tb.Claim(ctx, "", "o", time.Minute); return err }, "empty key"},
		{"claim without ttl", func() error { _, err := tb.Claim(ctx, "k", "o", 0); return err }, "ttl must be positive"},
		{"lock without target", func() error { return tb.Lock(ctx, "", "o", time.Minute) }, "empty target"},
		{"lock without owner", func() error { return tb.Lock(ctx, "svc", "", time.Minute) }, "empty owner"},
		{"lock without ttl", func() error { return tb.Lock(ctx, "svc", "o", -time.Second) }, "ttl must be positive"},
		{"unlock without owner", func() error { return tb.Unlock(ctx, "svc", "") }, "empty owner"},
		{"record without target", func() error { return tb.Record(ctx, guard.Entry{Kind: "scale-service"}) }, "empty target"},
		{"record without kind", func() error { return tb.Record(ctx, guard.Entry{Target: "svc"}) }, "empty kind"},
		{"record with # in kind", func() error { return tb.Record(ctx, guard.Entry{Target: "svc", Kind: "a#b"}) }, "contains '#'"},
		{"record far future", func() error {
			return tb.Record(ctx, guard.Entry{Target: "svc", Kind: "k", At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		}, "outside years"},
		{"history without kind", func() error { _, err := tb.History(ctx, "svc", "", time.Time{}); return err }, "empty kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if errors.Is(err, guard.ErrLocked) {
				t.Fatalf("an input error reads as ErrLocked: %v", err)
			}
		})
	}
}

func TestNewChecks(t *testing.T) {
	tests := []struct {
		name  string
		api   API
		table string
		opts  []Option
		want  string
	}{
		{"no client", nil, "t", nil, "no DynamoDB client"},
		{"no table", failAPI{t}, " ", nil, "no table name"},
		{"nil clock", failAPI{t}, "t", []Option{WithClock(nil)}, "nil clock"},
		{"zero retention", failAPI{t}, "t", []Option{WithRetention(0)}, "retention"},
		{"negative page", failAPI{t}, "t", []Option{WithPageSize(-1)}, "page size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.api, tc.table, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
