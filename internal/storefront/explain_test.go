package storefront

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

// TestRowsRecordWhatWroteThem: an upsert, a re-price, a reconcile's fix and
// a discontinue each record their writer; a reconcile's verdict stays
// through later changes, and a re-read that writes nothing changes nothing.
func TestRowsRecordWhatWroteThem(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	_, ok, err := s.StoredRow(ctx, "W")
	require.NoError(t, err)
	require.False(t, ok)

	it := item("W", 3, 10, 20)
	it.Price, it.WrittenBy = "3", "invsync-apply-1"
	_, err = s.Upsert(ctx, []inventory.Item{it})
	require.NoError(t, err)
	r, ok, err := s.StoredRow(ctx, "W")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "invsync-apply-1", r.WrittenBy)
	require.Empty(t, r.ReconcileVerdict)
	require.Nil(t, r.ReconciledAt)
	require.Equal(t, int64(3), *r.ERPQuantity)
	require.False(t, r.Drifted())

	// The same version read again by another batch: no write, no new writer.
	again := it
	again.ObservedAt, again.WrittenBy = again.ObservedAt.Add(time.Minute), "invsync-apply-2"
	res, err := s.Upsert(ctx, []inventory.Item{again})
	require.NoError(t, err)
	require.Zero(t, res.Applied)
	r, _, _ = s.StoredRow(ctx, "W")
	require.Equal(t, "invsync-apply-1", r.WrittenBy)

	// A hand edit, fixed by a reconcile.
	_, err = s.pool.Exec(ctx, `UPDATE inventory SET price_cents = 1 WHERE sku = 'W'`)
	require.NoError(t, err)
	r, _, _ = s.StoredRow(ctx, "W")
	require.True(t, r.Drifted())
	fix := again
	fix.ObservedAt, fix.WrittenBy, fix.Verdict = fix.ObservedAt.Add(time.Minute), "invsync-reconcile-x", VerdictHandEdit
	_, err = s.Upsert(ctx, []inventory.Item{fix})
	require.NoError(t, err)
	r, _, _ = s.StoredRow(ctx, "W")
	require.Equal(t, []string{"invsync-reconcile-x", VerdictHandEdit}, []string{r.WrittenBy, r.ReconcileVerdict})
	require.NotNil(t, r.ReconciledAt)
	fixedAt := *r.ReconciledAt

	// A re-price names its pass.
	n, err := s.SetPrices(ctx, []Price{{SKU: "W", PriceCents: 250, RulesVersion: "v2", LastModified: r.ERPModified,
		ObservedAt: r.ObservedAt, WrittenBy: "invsync-reprice-x"}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	r, _, _ = s.StoredRow(ctx, "W")
	require.Equal(t, []any{"invsync-reprice-x", int64(250), "v2"}, []any{r.WrittenBy, r.PriceCents, r.RulesVersion})

	// A change from the ERP keeps the last verdict.
	next := item("W", 4, 300, 400)
	next.Price, next.WrittenBy = "4", "invsync-apply-3"
	_, err = s.Upsert(ctx, []inventory.Item{next})
	require.NoError(t, err)
	r, _, _ = s.StoredRow(ctx, "W")
	require.Equal(t, []string{"invsync-apply-3", VerdictHandEdit}, []string{r.WrittenBy, r.ReconcileVerdict})
	require.True(t, r.ReconciledAt.Equal(fixedAt))

	// Discontinued by a reconcile.
	n, err = s.Discontinue(ctx, []string{"W"}, t0.Add(time.Hour), false, "invsync-reconcile-y")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	r, _, _ = s.StoredRow(ctx, "W")
	require.Equal(t, []string{"invsync-reconcile-y", VerdictDiscontinued}, []string{r.WrittenBy, r.ReconcileVerdict})
	require.NotNil(t, r.DeletedAt)
	require.Zero(t, r.Quantity)
	require.True(t, r.ReconciledAt.After(fixedAt))
}
