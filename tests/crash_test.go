package tests

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
