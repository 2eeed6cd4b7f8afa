package activities

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/testenv"
)

func TestUpsertBatchRejectsInvalidRowsAndAppliesTheRest(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_store")
	require.NoError(t, storefront.Migrate(ctx, dsn))
	store, err := storefront.Open(ctx, dsn)
	require.NoError(t, err)
	defer store.Close()

	a := &Applier{Store: store, DeadLetters: store}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)

	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	mk := func(sku string, qty int64) inventory.Change {
		p := "1.00"
		return inventory.Change{SKU: sku, Quantity: &qty, Price: &p, LastModified: at, ObservedAt: at}
	}
	in := stage(t, store, "b", mk("OK-1", 1), mk("NUL\x00BYTE", 1), mk("OK-2", 2), mk("NEG", -1), mk("OK-1", 1))
	v, err := env.ExecuteActivity(a.UpsertBatch, in)
	require.NoError(t, err)
	var res UpsertResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, 2, res.Applied, "the good rows of the batch are applied")
	require.Equal(t, 2, res.DeadLettered)
	require.Empty(t, res.Rejected, "a staged batch keeps its letters itself")
	want := map[string]string{
		"NEG":           inventory.ReasonQuantityNegative,
		`"NUL\x00BYTE"`: inventory.ReasonSKUInvalid, // shown escaped
	}
	require.Equal(t, &BatchSKUs{Applied: []string{"OK-1", "OK-2"}, DeadLettered: want}, res.SKUs,
		"the result names each row by what became of it, a repeated SKU once")
	letters, err := store.ListDeadLetters(ctx, deadletter.Filter{}, 10)
	require.NoError(t, err)
	reasons := map[string]string{}
	for _, l := range letters {
		reasons[l.SKU] = l.Reason.Code
		require.Equal(t, "b", l.BatchID)
	}
	require.Equal(t, want, reasons)

	// The activity is idempotent: a retry after a lost reply returns the
	// recorded outcome and writes nothing.
	var again UpsertResult
	v, err = env.ExecuteActivity(a.UpsertBatch, in)
	require.NoError(t, err)
	require.NoError(t, v.Get(&again))
	require.Equal(t, res, again)

	// A batch staged again, as a redelivered one is, stays applied.
	b, err := inventory.EncodeChanges([]inventory.Change{mk("OK-1", 7)})
	require.NoError(t, err)
	require.NoError(t, store.StageBatch(ctx, "b", 1, b))
	v, err = env.ExecuteActivity(a.UpsertBatch, in)
	require.NoError(t, err)
	require.NoError(t, v.Get(&again))
	require.Equal(t, res, again)

	// The same rows in a new batch are unchanged.
	v, err = env.ExecuteActivity(a.UpsertBatch, stage(t, store, "c", mk("OK-1", 1), mk("OK-2", 2)))
	require.NoError(t, err)
	require.NoError(t, v.Get(&again))
	require.Equal(t, 0, again.Applied)
	require.Equal(t, 2, again.Stale)
	require.Equal(t, []string{"OK-1", "OK-2"}, again.SKUs.Unchanged)

	// A batch never staged cannot be applied, now or on any retry.
	_, err = env.ExecuteActivity(a.UpsertBatch, UpsertInput{BatchID: "never"})
	require.ErrorContains(t, err, "not staged")

	// Nor can one whose staged changes are not changes (written by hand, or
	// cut short): it fails at once with what is wrong, and stays staged.
	require.NoError(t, store.StageBatch(ctx, "garbled", 2, []byte("[{\"sku\":\"A\"},\x00")))
	_, err = env.ExecuteActivity(a.UpsertBatch, UpsertInput{BatchID: "garbled"})
	require.ErrorContains(t, err, "staged changes")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.True(t, appErr.NonRetryable(), "no retry can mend it")
	staged, err := store.Batch(ctx, "garbled")
	require.NoError(t, err)
	require.False(t, staged.Applied())
}

// stage stages changes as a consumer does and returns the activity's input.
func stage(t *testing.T, store *storefront.Store, id string, cs ...inventory.Change) UpsertInput {
	t.Helper()
	b, err := inventory.EncodeChanges(cs)
	require.NoError(t, err)
	require.NoError(t, store.StageBatch(context.Background(), id, len(cs), b))
	return UpsertInput{BatchID: id}
}

// TestUpsertBatchIsolatesAnyErrorOneRowCauses: a trigger that raises for
// some rows (SQLSTATE P0001, outside the data-error classes) costs only
// those rows; a storefront that refuses every row fails the batch, which
// retries and shows as stuck.
func TestUpsertBatchIsolatesAnyErrorOneRowCauses(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_store")
	require.NoError(t, storefront.Migrate(ctx, dsn))
	store, err := storefront.Open(ctx, dsn)
	require.NoError(t, err)
	defer store.Close()
	testenv.Exec(t, dsn, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sku LIKE 'BAD%' OR current_setting('test.refuse_all', true) = 'on' THEN
        RAISE EXCEPTION 'no %', NEW.sku;
    END IF;
    RETURN NEW;
END $$`, `CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON inventory FOR EACH ROW EXECUTE FUNCTION refuse()`)

	stuck := NewStuckBatches()
	a := &Applier{Store: store, DeadLetters: store, Stuck: stuck}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var changes []inventory.Change
	for i := range 100 {
		sku := fmt.Sprintf("OK-%03d", i)
		if i == 17 || i == 64 || i == 65 {
			sku = fmt.Sprintf("BAD-%03d", i)
		}
		q, p := int64(i), "1.00"
		changes = append(changes, inventory.Change{SKU: sku, Quantity: &q, Price: &p, LastModified: at, ObservedAt: at})
	}
	v, err := env.ExecuteActivity(a.UpsertBatch, stage(t, store, "b", changes...))
	require.NoError(t, err)
	var res UpsertResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, 97, res.Applied)
	require.Equal(t, 3, res.DeadLettered)
	letters, err := store.ListDeadLetters(ctx, deadletter.Filter{}, 10)
	require.NoError(t, err)
	var bad []string
	for _, l := range letters {
		require.Equal(t, inventory.ReasonStorefrontRejected, l.Reason.Code)
		require.Contains(t, l.Reason.Message, "P0001")
		bad = append(bad, l.SKU)
	}
	require.ElementsMatch(t, []string{"BAD-017", "BAD-064", "BAD-065"}, bad)
	require.Empty(t, stuck.List())

	// Every row refused alike: the storefront is at fault, not the rows.
	testenv.Exec(t, dsn, `ALTER DATABASE `+dbName(t, dsn)+` SET test.refuse_all = 'on'`)
	store.Close()
	store, err = storefront.Open(ctx, dsn)
	require.NoError(t, err)
	defer store.Close()
	a.Store = store
	for i := range changes {
		changes[i].ObservedAt = at.Add(time.Second) // a newer read, so each row would be written
	}
	_, err = env.ExecuteActivity(a.UpsertBatch, stage(t, store, "all", changes...))
	require.ErrorContains(t, err, "refuses every row")
	stuck.now = func() time.Time { return time.Now().Add(StuckAfter) }
	list := stuck.List()
	require.Len(t, list, 1, "a batch failing for StuckAfter shows as stuck")
	require.Equal(t, "all", list[0].ID)
	require.Contains(t, list[0].LastError, "P0001")
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	return strings.TrimPrefix(u.Path, "/")
}
