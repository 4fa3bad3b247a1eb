package cases

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/ledger/dynalitetest"
)

// newLedger creates a ledger table of the case's own on the dynalite at endpoint and records
// the case's earlier actions in it.
func newLedger(ctx context.Context, endpoint string, entries []LedgerEntry) (string, error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "gpr-case-" + hex.EncodeToString(rnd[:])
	client := dynalitetest.NewClient(endpoint)
	if _, err := dynalitetest.CreateTable(ctx, client, name); err != nil {
		return "", err
	}
	t, err := ledger.New(client, name)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		ago, err := time.ParseDuration(e.Ago)
		if err != nil {
			return "", fmt.Errorf("ledger entry ago %q: %w", e.Ago, err)
		}
		rec := guard.Entry{Target: e.Target, Kind: e.Kind, Outcome: guard.OutcomeDone,
			Function: e.Function, AlarmKey: "seeded-by-case", At: time.Now().Add(-ago)}
		if e.FromCount != nil && e.ToCount != nil {
			rec.FromCount, rec.ToCount, rec.HasCounts = *e.FromCount, *e.ToCount, true
		}
		if err := t.Record(ctx, rec); err != nil {
			return "", err
		}
	}
	return name, nil
}
