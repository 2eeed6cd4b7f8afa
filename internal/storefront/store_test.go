package storefront

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/testenv"
)

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_store")
	require.NoError(t, Migrate(ctx, dsn))
	require.NoError(t, Migrate(ctx, dsn), "migrating twice is a no-op")
	s, err := Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, dsn
}

type row struct {
	Quantity, PriceCents int64
	ERPModified          time.Time
	SyncedAt             time.Time
}

func get(t *testing.T, s *Store, sku string) row {
	t.Helper()
	var r row
	err := s.pool.QueryRow(context.Background(),
		`SELECT quantity, price_cents, erp_modified, synced_at FROM inventory WHERE sku = $1`, sku).
		Scan(&r.Quantity, &r.PriceCents, &r.ERPModified, &r.SyncedAt)
	if err == pgx.ErrNoRows {
		t.Fatalf("no row for %s", sku)
	}
	require.NoError(t, err)
	r.ERPModified = r.ERPModified.UTC()
	return r
}

func item(sku string, qty int64, modSec, obsSec int) inventory.Item {
	return inventory.Item{SKU: sku, Quantity: qty, PriceCents: qty * 100,
		LastModified: t0.Add(time.Duration(modSec) * time.Second), ObservedAt: t0.Add(time.Duration(obsSec) * time.Second)}
}

func TestUpsertIsGuardedByERPVersion(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)

	res, err := s.Upsert(ctx, []inventory.Item{item("A", 5, 10, 20), item("B", 1, 10, 20)})
	require.NoError(t, err)
	require.Equal(t, 2, res.Applied)
	require.Zero(t, res.Stale)
	first := get(t, s, "A")
	require.Len(t, res.Freshness, 2, "one freshness per applied row")
	for _, f := range res.Freshness {
		require.InDelta(t, first.SyncedAt.Sub(first.ERPModified).Seconds(), f.Seconds(), 1,
			"freshness is the write time minus the ERP's LastModified")
	}

	tests := []struct {
		name    string
		in      inventory.Item
		applied int
		wantQty int64
	}{
		{"repeat of the same version is a no-op", item("A", 5, 10, 20), 0, 5},
		{"re-read of the same version later is a no-op", item("A", 5, 10, 90), 0, 5},
		{"same time, different content, earlier read is ignored", item("A", 4, 10, 15), 0, 5},
		{"same time, different content, later read wins", item("A", 6, 10, 30), 1, 6},
		{"newer version wins", item("A", 7, 11, 31), 1, 7},
		{"newer version with the same content is taken", item("A", 7, 12, 32), 1, 7},
		{"an earlier read arriving late is ignored", item("A", 1, 13, 25), 0, 7},
		{"within one read the later version wins", item("A", 2, 11, 32), 0, 7},
		{"an older version read later (a restore, a repeated hour) wins", item("A", 3, 9, 95), 1, 3},
		{"a far-future last_modified from an earlier read loses", item("A", 8, 1_000_000_000, 94), 0, 3},
	}
	for _, tt := range tests {
		before := get(t, s, "A")
		res, err := s.Upsert(ctx, []inventory.Item{tt.in})
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.applied, res.Applied, tt.name)
		require.Equal(t, 1-tt.applied, res.Stale, tt.name)
		require.Len(t, res.Freshness, tt.applied, tt.name)
		after := get(t, s, "A")
		require.Equal(t, tt.wantQty, after.Quantity, tt.name)
		if tt.applied == 0 {
			require.Equal(t, before, after, "%s: a no-op writes nothing, synced_at included", tt.name)
		} else {
			require.True(t, after.SyncedAt.After(first.SyncedAt), tt.name)
		}
	}
	require.Equal(t, int64(1), get(t, s, "B").Quantity)
}

func TestUpsertDeduplicatesABatch(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	// One statement may not touch a row twice (SQLSTATE 21000): the newest
	// version of each SKU in the batch is the one written.
	res, err := s.Upsert(ctx, []inventory.Item{
		item("A", 1, 10, 50), item("A", 3, 30, 50), item("A", 2, 20, 50), item("B", 9, 5, 50), item("A", 3, 30, 50),
	})
	require.NoError(t, err)
	require.Equal(t, 2, res.Applied)
	require.Equal(t, 3, res.Stale)
	require.Equal(t, int64(3), get(t, s, "A").Quantity)
	require.Equal(t, t0.Add(30*time.Second), get(t, s, "A").ERPModified)
}

func TestUpsertErrorsAreTransientOrNot(t *testing.T) {
	s, _ := openStore(t)
	_, err := s.Upsert(context.Background(), []inventory.Item{{SKU: "NEG", Quantity: 1, PriceCents: -1, LastModified: t0, ObservedAt: t0}})
	require.Error(t, err)
	require.False(t, IsTransient(err), "a check violation is the row's fault: %v", err)
	require.Equal(t, "23514", SQLState(err))
	require.True(t, IsTransient(context.DeadlineExceeded), "no answer from the server")
	for code, transient := range map[string]bool{"40001": true, "40P01": true, "08006": true, "53300": true, "57P01": true,
		"55P03": true, "P0001": false, "42501": false, "22003": false, "23505": false} {
		require.Equal(t, transient, IsTransient(fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code})), code)
	}
}

func TestUpsertStoresTheRulesVersionAndBackorders(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	it := item("R", -2, 10, 20)
	it.PriceCents, it.RulesVersion = 1299, "abc123"
	_, err := s.Upsert(ctx, []inventory.Item{it})
	require.NoError(t, err)
	var qty int64
	var version string
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT quantity, rules_version FROM inventory WHERE sku = 'R'`).Scan(&qty, &version))
	require.Equal(t, int64(-2), qty, "a backorder is stored as negative stock")
	require.Equal(t, "abc123", version)
}

// TestStagedBatches: a batch staged twice is one batch; once finished its
// changes are gone and its outcome stays, until BatchRetention has passed.
func TestStagedBatches(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_store")
	require.NoError(t, Migrate(ctx, dsn))
	s, err := Open(ctx, dsn)
	require.NoError(t, err)
	defer s.Close()

	_, err = s.Batch(ctx, "b1")
	require.ErrorIs(t, err, ErrNotStaged)
	require.NoError(t, s.StageBatch(ctx, "b1", 2, []byte(`[1,2]`)))
	require.NoError(t, s.StageBatch(ctx, "b1", 3, []byte(`[1,2,3]`)), "staging again is a no-op")
	b, err := s.Batch(ctx, "b1")
	require.NoError(t, err)
	require.Equal(t, []byte(`[1,2]`), b.Changes)
	require.False(t, b.Applied())

	require.NoError(t, s.FinishBatch(ctx, "b1", []byte(`{"applied":2}`)))
	b, err = s.Batch(ctx, "b1")
	require.NoError(t, err)
	require.True(t, b.Applied())
	require.Nil(t, b.Changes)
	require.Equal(t, []byte(`{"applied":2}`), b.Outcome)
	require.NoError(t, s.StageBatch(ctx, "b1", 2, []byte(`[1,2]`)))
	b, err = s.Batch(ctx, "b1")
	require.NoError(t, err)
	require.True(t, b.Applied(), "a redelivered batch stays applied")

	// Outcomes older than the retention go as other batches finish.
	testenv.Exec(t, dsn, `UPDATE batches SET applied_at = now() - interval '25 hours' WHERE id = 'b1'`)
	require.NoError(t, s.StageBatch(ctx, "b2", 1, []byte(`[1]`)))
	require.NoError(t, s.FinishBatch(ctx, "b2", []byte(`{}`)))
	_, err = s.Batch(ctx, "b1")
	require.ErrorIs(t, err, ErrNotStaged)
	_, err = s.Batch(ctx, "b2")
	require.NoError(t, err)
}

func TestUpsertKeepsERPValuesAndRepairsHandEdits(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	cost, cat := "4.5", "tools"
	it := item("E", 3, 10, 20)
	it.Price, it.Cost, it.Category, it.ERPHash = "3", &cost, &cat, 42
	_, err := s.Upsert(ctx, []inventory.Item{it})
	require.NoError(t, err)
	var price, gotCost, gotCat string
	var hash, qty, priced int64
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT erp_price, erp_cost, erp_category, erp_hash, erp_quantity, priced_cents
		FROM inventory WHERE sku = 'E'`).Scan(&price, &gotCost, &gotCat, &hash, &qty, &priced))
	require.Equal(t, []any{"3", "4.5", "tools", int64(42), int64(3), int64(300)}, []any{price, gotCost, gotCat, hash, qty, priced})

	// A later read of the same version is a no-op...
	again := it
	again.ObservedAt = again.ObservedAt.Add(time.Minute)
	res, err := s.Upsert(ctx, []inventory.Item{again})
	require.NoError(t, err)
	require.Equal(t, 0, res.Applied)
	// ...unless the row was edited by hand, or discontinued: then it is
	// written back as the ERP has it.
	_, err = s.pool.Exec(ctx, `UPDATE inventory SET price_cents = 1 WHERE sku = 'E'`)
	require.NoError(t, err)
	again.ObservedAt = again.ObservedAt.Add(time.Minute)
	res, err = s.Upsert(ctx, []inventory.Item{again})
	require.NoError(t, err)
	require.Equal(t, 1, res.Applied)
	_, err = s.pool.Exec(ctx, `UPDATE inventory SET deleted_at = now(), quantity = 0 WHERE sku = 'E'`)
	require.NoError(t, err)
	again.ObservedAt = again.ObservedAt.Add(time.Minute)
	res, err = s.Upsert(ctx, []inventory.Item{again})
	require.NoError(t, err)
	require.Equal(t, 1, res.Applied)
	var deleted *time.Time
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT quantity, price_cents, deleted_at FROM inventory WHERE sku = 'E'`).Scan(&qty, &priced, &deleted))
	require.Equal(t, []any{int64(3), int64(300), (*time.Time)(nil)}, []any{qty, priced, deleted})
}
