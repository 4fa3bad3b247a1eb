package guard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/config"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCheck(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	budgets := map[string]Budget{"restart": {Max: 3, Window: 24 * time.Hour, Cooldown: 15 * time.Minute}, "never": {Max: 0}}
	tests := []struct {
		name    string
		mode    config.Mode
		history []time.Duration // ages of earlier done actions
		kind    string
		block   Rule
		lockBy  string
		want    string // "allow", "dry-run", or a rule prefix
	}{
		{name: "on, no history", mode: config.ModeOn, kind: "restart", want: "allow"},
		{name: "dry-run", mode: config.ModeDryRun, kind: "restart", want: "dry-run"},
		{name: "dry-run still reports the budget", mode: config.ModeDryRun, kind: "restart", history: []time.Duration{time.Minute}, want: "cooldown:"},
		{name: "cooldown", mode: config.ModeOn, kind: "restart", history: []time.Duration{10 * time.Minute}, want: "cooldown:"},
		{name: "after cooldown", mode: config.ModeOn, kind: "restart", history: []time.Duration{20 * time.Minute}, want: "allow"},
		{name: "budget spent", mode: config.ModeOn, kind: "restart", history: []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour}, want: "budget: 3 restart"},
		{name: "old actions do not count", mode: config.ModeOn, kind: "restart", history: []time.Duration{25 * time.Hour, 26 * time.Hour, 27 * time.Hour}, want: "allow"},
		{name: "zero budget disables the kind", mode: config.ModeOn, kind: "never", want: "budget: never is disabled"},
		{name: "kinds without budget are only locked", mode: config.ModeOn, kind: "other", history: []time.Duration{time.Minute}, want: "allow"},
		{name: "admission block wins", mode: config.ModeOn, kind: "restart", block: Rule{RuleKillSwitch, "engaged"}, want: "kill-switch"},
		{name: "locked by someone else", mode: config.ModeOn, kind: "restart", lockBy: "other-invocation", want: "lock:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewMemoryLedger()
			l.Now = c.now
			for _, age := range tc.history {
				_ = l.Record(ctx, Entry{Target: "svc", Kind: tc.kind, Outcome: OutcomeDone, At: c.t.Add(-age)})
			}
			if tc.lockBy != "" {
				_ = l.Lock(ctx, "svc", tc.lockBy, time.Minute)
			}
			g := &Guard{Mode: tc.mode, Ledger: l, Budgets: budgets, Owner: "me", Now: c.now}
			v := g.Check(ctx, Admission{Proceed: true, Block: tc.block}, tc.kind, "svc")
			defer v.Release(ctx)
			got := v.Rule.String()
			switch {
			case v.Allowed:
				got = "allow"
			case v.DryRun:
				got = "dry-run"
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want prefix %q", got, tc.want)
			}
		})
	}
}

func TestLockIsReleased(t *testing.T) {
	ctx := context.Background()
	l := NewMemoryLedger()
	a := &Guard{Mode: config.ModeOn, Ledger: l, Owner: "a"}
	b := &Guard{Mode: config.ModeOn, Ledger: l, Owner: "b"}
	va := a.Check(ctx, Admission{Proceed: true}, "restart", "svc")
	if !va.Allowed {
		t.Fatal("first check not allowed")
	}
	if vb := b.Check(ctx, Admission{Proceed: true}, "restart", "svc"); vb.Allowed {
		t.Fatal("second owner got the lock while held")
	}
	va.Release(ctx)
	vb := b.Check(ctx, Admission{Proceed: true}, "restart", "svc")
	if !vb.Allowed {
		t.Fatalf("lock not released: %s", vb.Rule)
	}
	vb.Release(ctx)
}

func TestAdmit(t *testing.T) {
	ctx := context.Background()
	l := NewMemoryLedger()
	g := &Guard{Mode: config.ModeOn, Ledger: l, Owner: "x"}
	if adm := g.Admit(ctx, "k1"); !adm.Proceed || adm.Block.Set() {
		t.Fatalf("first admit: %+v", adm)
	}
	if adm := g.Admit(ctx, "k1"); adm.Proceed || adm.Code != "duplicate" {
		t.Fatalf("second admit: %+v", adm)
	}
	off := &Guard{Mode: config.ModeOff}
	if adm := off.Admit(ctx, "k2"); adm.Proceed || adm.Code != "mode-off" {
		t.Fatalf("off: %+v", adm)
	}
	broken := &Guard{Mode: config.ModeOn, Ledger: failingLedger{NewMemoryLedger()}}
	if adm := broken.Admit(ctx, "k3"); !adm.Proceed || adm.Block.Code != RuleLedgerUnavailable {
		t.Fatalf("ledger down: %+v", adm)
	}
}

type failingLedger struct{ *MemoryLedger }

func (failingLedger) Claim(context.Context, string, string, time.Duration) (bool, error) {
	return false, errors.New("ResourceNotFoundException")
}

func TestParseKillSwitch(t *testing.T) {
	for in, want := range map[string]bool{"on": true, "ON": true, "true": true, "1": true, "off": false, "": false, " false ": false} {
		got, err := ParseKillSwitch(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if on, err := ParseKillSwitch("maybe"); err == nil || !on {
		t.Errorf("unknown value must be an error and fail safe, got %v %v", on, err)
	}
}

func TestFunctionBudgetComesOnTopOfTheKindBudget(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	budgets := map[string]Budget{"restart": {Max: 3, Window: 24 * time.Hour}, "memory-high/restart": {Max: 1, Window: 6 * time.Hour}}
	l := NewMemoryLedger()
	_ = l.Record(ctx, Entry{Target: "svc", Kind: "restart", Outcome: OutcomeDone, Function: "no-tasks", At: c.t.Add(-time.Hour)})
	mh := &Guard{Mode: config.ModeOn, Ledger: l, Budgets: budgets, Owner: "a", Function: "memory-high", Now: c.now}
	if v := mh.Check(ctx, Admission{Proceed: true}, "restart", "svc"); !v.Allowed {
		t.Fatalf("another function's restart must not spend memory-high's budget: %s", v.Rule)
	} else {
		v.Release(ctx)
	}
	_ = l.Record(ctx, Entry{Target: "svc", Kind: "restart", Outcome: OutcomeDone, Function: "memory-high", At: c.t.Add(-2 * time.Hour)})
	if v := mh.Check(ctx, Admission{Proceed: true}, "restart", "svc"); v.Allowed || !strings.Contains(v.Rule.String(), "memory-high/restart") {
		t.Fatalf("memory-high restarted 2h ago: want its 6h budget to deny, got %+v", v)
	}
	nt := &Guard{Mode: config.ModeOn, Ledger: l, Budgets: budgets, Owner: "b", Function: "no-tasks", Now: c.now}
	if v := nt.Check(ctx, Admission{Proceed: true}, "restart", "svc"); !v.Allowed {
		t.Fatalf("no-tasks has budget left (2 of 3): %s", v.Rule)
	} else {
		v.Release(ctx)
	}
	_ = l.Record(ctx, Entry{Target: "svc", Kind: "restart", Outcome: OutcomeDone, Function: "no-tasks", At: c.t.Add(-3 * time.Hour)})
	if v := nt.Check(ctx, Admission{Proceed: true}, "restart", "svc"); v.Allowed || !strings.HasPrefix(v.Rule.String(), "budget: 3 restart") {
		t.Fatalf("three restarts by any function in 24h: want the kind budget to deny, got %+v", v)
	}
}
