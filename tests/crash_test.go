package tests

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/testenv"
)

// TestWorkerKilledMidSyncLosesNothing kills the worker with SIGKILL while the
// first sync is under way, starts a new one, and requires the storefront to
// match the ERP exactly.
func TestWorkerKilledMidSyncLosesNothing(t *testing.T) {
	ctx := context.Background()
	const skus = 30000
	p := newPipeline(t, skus, "INVSYNC_PAGE_SIZE=500", "INVSYNC_PAGES_PER_POLL=4", "INVSYNC_BATCH_SIZE=200")
	p.startWorker()
	p.run("starter")

	require.Eventually(t, func() bool {
		n := len(p.load(ctx, p.storeDSN, `SELECT sku, quantity, price_cents, erp_modified FROM inventory`))
		return n > 0
	}, time.Minute, 20*time.Millisecond, "the sync got going")
	// Upserts slowed to 2 ms a row, so the worker surely holds some when it
	// is killed: batches are large, and a fast pipeline may otherwise be
	// between activities at that instant.
	testenv.Exec(t, p.storeDSN, `CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$`,
		`CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON inventory FOR EACH ROW EXECUTE FUNCTION slow()`)
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, p.worker.cmd.Process.Kill())
	_ = p.worker.cmd.Wait()
	bad, _ := p.diff(ctx, nil)
	t.Logf("worker killed with %d of %d rows still to sync", bad, skus)
	require.Positive(t, bad, "the kill came mid-sync")

	p.startWorker()
	p.waitConverged(ctx, 3*time.Minute, nil)
	require.Positive(t, p.scrape().sum("invsync_activity_retries_total"),
		"the activities the killed worker held were retried by the new one, and counted")
	p.stopWorker(30 * time.Second)
}
