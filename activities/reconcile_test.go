package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/erp"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/testenv"
)

// reconcileFixture is a demo ERP of n rows copied into a storefront as the
// pipeline would write them.
type reconcileFixture struct {
	r                *Reconciler
	erpDSN, storeDSN string
}

func newReconcileFixture(t *testing.T, n int) *reconcileFixture {
	ctx := context.Background()
	erpDSN, src := openDemoERP(t, n, erp.Columns{SKU: "sku", Quantity: "quantity", Price: "price",
		LastModified: "last_modified", Cost: "cost", Category: "category"})
	storeDSN, store := openStorefront(t)
	f := &reconcileFixture{erpDSN: erpDSN, storeDSN: storeDSN,
		r: &Reconciler{ERP: src, Store: store, Apply: &Applier{Store: store, DeadLetters: store}}}
	// The first sync, as the poller and UpsertBatch would do it.
	clock, err := src.Clock(ctx)
	require.NoError(t, err)
	rows, err := src.Page(ctx, inventory.Cursor{}, clock.Wall, n+1)
	require.NoError(t, err)
	var changes []inventory.Change
	for _, row := range rows {
		c, rej := inventory.ParseRow(row, clock, inventory.DefaultLimits())
		require.Nil(t, rej)
		changes = append(changes, c)
	}
	_, letters, err := f.r.Apply.apply(ctx, "seed", changes, writer{by: "seed"})
	require.NoError(t, err)
	require.Empty(t, letters)
	return f
}

// run reconciles from the start to the end in steps, as the workflow does.
func (f *reconcileFixture) run(t *testing.T, in ReconcileInput) ReconcileCounts {
	t.Helper()
	var total ReconcileCounts
	for steps := 0; ; steps++ {
		require.Less(t, steps, 1000, "the walk ends")
		res, err := f.r.ReconcileChunks(context.Background(), in)
		require.NoError(t, err)
		total.Add(res.Counts)
		if res.Done {
			return total
		}
		in.After = res.After
	}
}

func TestReconcileFixesWhatTheChangeStreamCannotSee(t *testing.T) {
	f := newReconcileFixture(t, 1000)
	in := ReconcileInput{ChunkRows: 100, MaxChunks: 3, Policy: PolicyDiscontinue}

	clean := f.run(t, in)
	require.Equal(t, ReconcileCounts{Chunks: 11, RowsRead: 1000}, clean, "an unchanged storefront transfers no rows")

	testenv.Exec(t, f.erpDSN,
		`DELETE FROM erp_items WHERE sku IN ('SKU-0000010', 'SKU-0000500', 'SKU-0001000')`,
		`ALTER TABLE erp_items DISABLE TRIGGER erp_items_touch`,
		`UPDATE erp_items SET price = price + 1, last_modified = last_modified - interval '1 day' WHERE sku = 'SKU-0000200'`,
		`ALTER TABLE erp_items ENABLE TRIGGER erp_items_touch`)
	testenv.Exec(t, f.storeDSN,
		`UPDATE inventory SET quantity = 12345 WHERE sku = 'SKU-0000300'`,
		`DELETE FROM inventory WHERE sku = 'SKU-0000400'`,
		// A row the ERP never had, sorting after its last SKU.
		`INSERT INTO inventory (sku, quantity, price_cents, erp_modified, observed_at, erp_hash)
			VALUES ('ZZZ-ghost', 1, 100, now() - interval '1 hour', now() - interval '1 hour', 1)`)
	got := f.run(t, in)
	require.Equal(t, int64(997), got.RowsRead)
	require.Equal(t, int64(3), got.Fixed, "the restored, the edited and the missing row")
	require.Equal(t, int64(4), got.Discontinued, "three deleted in the ERP, and the ghost")
	require.Zero(t, got.Restored)

	var qty, cents, erpCents int64
	scan(t, f.storeDSN, `SELECT quantity, price_cents FROM inventory WHERE sku = 'SKU-0000200'`, &qty, &cents)
	scan(t, f.erpDSN, `SELECT (price * 100)::bigint FROM erp_items WHERE sku = 'SKU-0000200'`, &erpCents)
	require.Equal(t, erpCents, cents, "the older ERP version wins: the ERP is right")
	var gone int
	scan(t, f.storeDSN, `SELECT count(*) FROM inventory WHERE deleted_at IS NOT NULL AND quantity = 0`, &gone)
	require.Equal(t, 4, gone)
	// Each row the reconcile wrote says why, and who wrote it (outside an
	// activity, the chunk's batch name).
	for sku, want := range map[string]string{
		"SKU-0000200": storefront.VerdictDiffered,
		"SKU-0000300": storefront.VerdictHandEdit,
		"SKU-0000400": storefront.VerdictMissing,
		"SKU-0000500": storefront.VerdictDiscontinued,
		"ZZZ-ghost":   storefront.VerdictDiscontinued,
	} {
		var verdict, by string
		var at bool
		scan(t, f.storeDSN, `SELECT reconcile_verdict, written_by, reconciled_at IS NOT NULL FROM inventory WHERE sku = '`+sku+`'`,
			&verdict, &by, &at)
		require.Equal(t, want, verdict, sku)
		require.True(t, at, sku)
		require.True(t, strings.HasPrefix(by, "reconcile-"), "%s written by %q", sku, by)
	}
	var untouched *string
	scan(t, f.storeDSN, `SELECT reconcile_verdict FROM inventory WHERE sku = 'SKU-0000100'`, &untouched)
	require.Nil(t, untouched, "a row the reconcile left alone has no verdict")

	require.Equal(t, ReconcileCounts{Chunks: 10, RowsRead: 997}, f.run(t, in), "nothing left to fix")

	// A deleted SKU comes back; with the delete policy, a deleted one goes.
	testenv.Exec(t, f.erpDSN, `INSERT INTO erp_items (sku, quantity, price) VALUES ('SKU-0000010', 3, 1.50)`,
		`DELETE FROM erp_items WHERE sku = 'SKU-0000020'`)
	in.Policy = PolicyDelete
	back := f.run(t, in)
	require.Equal(t, int64(1), back.Restored)
	require.Equal(t, int64(1), back.Discontinued)
	var n int
	scan(t, f.storeDSN, `SELECT count(*) FROM inventory WHERE sku = 'SKU-0000020'`, &n)
	require.Zero(t, n, "the delete policy deletes")
	scan(t, f.storeDSN, `SELECT quantity FROM inventory WHERE sku = 'SKU-0000010' AND deleted_at IS NULL`, &qty)
	require.Equal(t, int64(3), qty)
	var verdict string
	scan(t, f.storeDSN, `SELECT reconcile_verdict FROM inventory WHERE sku = 'SKU-0000010'`, &verdict)
	require.Equal(t, storefront.VerdictRestored, verdict)
}

func TestReconcileLeavesANewerWriteAlone(t *testing.T) {
	f := newReconcileFixture(t, 50)
	// The storefront holds a version read after the reconcile's, with other
	// values: as if the poller applied a change while the chunk was
	// compared. The reconcile's write is older and loses.
	testenv.Exec(t, f.storeDSN, `UPDATE inventory SET quantity = 77, erp_quantity = 77, erp_hash = erp_hash + 1, observed_at = now() + interval '1 hour'
		WHERE sku = 'SKU-0000005'`)
	got := f.run(t, ReconcileInput{ChunkRows: 100, MaxChunks: 1, Policy: PolicyDiscontinue})
	require.Equal(t, int64(1), got.Differing)
	require.Zero(t, got.Fixed)
	var qty int64
	scan(t, f.storeDSN, `SELECT quantity FROM inventory WHERE sku = 'SKU-0000005'`, &qty)
	require.Equal(t, int64(77), qty)
}

// scan reads one row of query into dst.
func scan(t *testing.T, dsn, query string, dst ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, conn.QueryRow(ctx, query).Scan(dst...))
}

// TestReconcileDeadLettersRowsItCannotApply: ERP rows a reconcile reads that
// hold NULLs, control characters or a negative price become dead letters
// with their reasons; the storefront keeps what it had, the walk ends, and a
// second walk writes the same letters again, not new ones.
func TestReconcileDeadLettersRowsItCannotApply(t *testing.T) {
	f := newReconcileFixture(t, 200)
	testenv.Exec(t, f.erpDSN,
		`UPDATE erp_items SET quantity = NULL WHERE sku = 'SKU-0000011'`,
		`UPDATE erp_items SET price = NULL WHERE sku = 'SKU-0000012'`,
		`UPDATE erp_items SET category = E'tools\x07' WHERE sku = 'SKU-0000013'`,
		`UPDATE erp_items SET price = -0.01 WHERE sku = 'SKU-0000014'`)
	in := ReconcileInput{ChunkRows: 50, MaxChunks: 2, Policy: PolicyDiscontinue}
	got := f.run(t, in)
	require.Equal(t, int64(4), got.Rejected)
	require.Zero(t, got.Fixed)
	require.Zero(t, got.Discontinued, "a row that cannot be applied is not gone")
	reasons := map[string]string{}
	for _, sku := range []string{"SKU-0000011", "SKU-0000012", "SKU-0000013", "SKU-0000014"} {
		var reason string
		scan(t, f.storeDSN, `SELECT reason_code FROM dead_letters WHERE sku = '`+sku+`'`, &reason)
		reasons[sku] = reason
	}
	require.Equal(t, map[string]string{
		"SKU-0000011": inventory.ReasonQuantityMissing,
		"SKU-0000012": inventory.ReasonPriceMissing,
		"SKU-0000013": inventory.ReasonCategoryInvalid,
		"SKU-0000014": inventory.ReasonPriceNegative,
	}, reasons)
	var kept int64
	scan(t, f.storeDSN, `SELECT count(*) FROM inventory WHERE sku IN ('SKU-0000011', 'SKU-0000012', 'SKU-0000013', 'SKU-0000014')
		AND deleted_at IS NULL AND quantity = erp_quantity`, &kept)
	require.Equal(t, int64(4), kept, "the storefront keeps the rows it had")

	again := f.run(t, in)
	require.Equal(t, int64(4), again.Rejected)
	var letters int64
	scan(t, f.storeDSN, `SELECT count(*) FROM dead_letters`, &letters)
	require.Equal(t, int64(4), letters, "one letter per bad row, however often it is read")
}
