package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/testenv"
)

func TestUpsertBatchIsolatesRowsTheStorefrontRefuses(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_store")
	require.NoError(t, storefront.Migrate(ctx, dsn))
	store, err := storefront.Open(ctx, dsn)
	require.NoError(t, err)
	defer store.Close()

	a := &Applier{Store: store}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)

	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	mk := func(sku string, qty int64) inventory.Change {
		p := "1.00"
		return inventory.Change{SKU: sku, Quantity: &qty, Price: &p, LastModified: at, ObservedAt: at}
	}
	in := UpsertInput{BatchID: "b", Changes: []inventory.Change{
		mk("OK-1", 1), mk("NUL\x00BYTE", 1), mk("OK-2", 2), mk("NEG", -1),
	}}
	v, err := env.ExecuteActivity(a.UpsertBatch, in)
	require.NoError(t, err)
	var res UpsertResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, 2, res.Applied, "the good rows of the batch are applied")
	require.Len(t, res.Rejected, 2)
	reasons := map[string]string{}
	for _, r := range res.Rejected {
		reasons[r.SKU] = r.Reason.Code
		require.Equal(t, "b", r.BatchID)
	}
	require.Equal(t, map[string]string{
		"NEG":         inventory.ReasonQuantityNegative,
		"NUL\x00BYTE": inventory.ReasonStorefrontRejected,
	}, reasons)

	// The activity is idempotent: a retry applies nothing new.
	v, err = env.ExecuteActivity(a.UpsertBatch, in)
	require.NoError(t, err)
	require.NoError(t, v.Get(&res))
	require.Equal(t, 0, res.Applied)
	require.Equal(t, 2, res.Stale)
}
