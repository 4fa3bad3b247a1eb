package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/offer"
	"github.com/arrakis/gp-remediation/pkg/operation"
)

// Two approvers clicking the last approval at the same moment make exactly one execution;
// a second click afterwards is refused and changes nothing; Finish records the end once.
func TestOffersExactlyOnce(t *testing.T) {
	e := newEnv(t)
	store, err := ledger.NewOffers(e.client, e.table)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := e.clock.Now()
	o := offer.Offer{ID: offer.NewID(), Environment: "dev", Incident: "dev.x.1", Request: operation.Request{Kind: operation.KindRestart, Role: "worker"},
		CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute), Required: 1, Status: offer.StatusOpen}
	if err := store.Put(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, o); err == nil {
		t.Fatal("a second Put of the same id succeeded")
	}
	if _, err := store.Get(ctx, "ffffffffffffffff"); !errors.Is(err, ledger.ErrOfferNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	var allow offer.Approvers
	for i := range 6 {
		allow.SlackUsers = append(allow.SlackUsers, fmt.Sprintf("U%d", i))
	}
	var executed, refused atomic.Int64
	run(t, 6, func(i int) error {
		v, err := store.Click(ctx, o.ID, offer.Click{By: offer.Person{Platform: "slack", UserID: fmt.Sprintf("U%d", i)}, Approve: true, At: now.Add(time.Minute)}, allow)
		if err != nil {
			return err
		}
		switch v.Outcome {
		case offer.Execute:
			executed.Add(1)
		case offer.Refuse:
			refused.Add(1)
		default:
			return fmt.Errorf("outcome %s", v.Outcome)
		}
		return nil
	})
	if executed.Load() != 1 || refused.Load() != 5 {
		t.Fatalf("%d executions and %d refusals, want 1 and 5", executed.Load(), refused.Load())
	}
	got, err := store.Get(ctx, o.ID)
	if err != nil || got.Status != offer.StatusExecuting || len(got.Approvals) != 1 {
		t.Fatalf("stored offer: %+v, %v", got, err)
	}
	if _, err := store.Finish(ctx, o.ID, offer.StatusDone, "restarted"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Finish(ctx, o.ID, offer.StatusDone, "again"); err == nil {
		t.Fatal("a second Finish succeeded")
	}
	got, _ = store.Get(ctx, o.ID)
	if got.Status != offer.StatusDone || got.Outcome != "restarted" {
		t.Fatalf("finished offer: %+v", got)
	}
}
