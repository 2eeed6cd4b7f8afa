package tests

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/dev/demoerp"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// TestERPReaderMaySelectFromTheViewOnly: the pipeline's ERP login can read
// the view and nothing else, and every test runs the pipeline with it.
func TestERPReaderMaySelectFromTheViewOnly(t *testing.T) {
	p := newPipeline(t, 10)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.readerDSN())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM `+demoerp.View).Scan(&n))
	require.Equal(t, 10, n)
	for _, stmt := range []string{
		`SELECT count(*) FROM erp_items`,
		`UPDATE erp_items SET quantity = 1`,
		`INSERT INTO erp_items (sku) VALUES ('x')`,
	} {
		_, err := conn.Exec(ctx, stmt)
		require.ErrorContains(t, err, "permission denied", stmt)
	}
}

// TestERPSeesOneQueryAtATime runs two workers through a backlog and samples
// the ERP's sessions: never more than one query of the pipeline runs at once.
func TestERPSeesOneQueryAtATime(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, 40000, "INVSYNC_PAGE_SIZE=1000", "INVSYNC_PAGES_PER_POLL=2", "INVSYNC_ERP_POLLS_PER_SECOND=50")
	p.startWorker()
	second := p.startAnotherWorker()
	p.run("starter")

	sampler := sampleERP(t, p)
	p.waitConverged(ctx, 3*time.Minute, nil)
	most, samples, busy := sampler()
	t.Logf("%d samples of the ERP's sessions, %d with a query running, at most %d at once", samples, busy, most)
	require.Positive(t, busy, "the sampler saw the pipeline's queries")
	require.Equal(t, 1, most, "one ERP query at a time")
	second.stop(30 * time.Second)
	p.stopWorker(30 * time.Second)
}

// TestLateCommitIsCaughtByTheLookback holds a transaction open while the
// poller's cursor passes the row's LastModified, as a slow ERP transaction
// would, then commits it: only the look-back can see it, and it does.
func TestLateCommitIsCaughtByTheLookback(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, 100, "INVSYNC_LOOKBACK=1m", "INVSYNC_LOOKBACK_EVERY=2s")
	p.startWorker()
	time.Sleep(time.Second)
	p.run("starter")
	p.waitConverged(ctx, time.Minute, nil)

	conn, err := pgx.Connect(ctx, p.erpDSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO erp_items (sku, quantity, price) VALUES ('LATE-1', 5, 9.99)`)
	require.NoError(t, err)
	// Meanwhile other rows commit and the cursor passes LATE-1's time.
	time.Sleep(300 * time.Millisecond)
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = 42 WHERE sku = 'SKU-0000007'`)
	tc := temporal.Client()
	var late time.Time
	require.NoError(t, tx.QueryRow(ctx, `SELECT last_modified FROM erp_items WHERE sku = 'LATE-1'`).Scan(&late))
	require.Eventually(t, func() bool {
		return queryStatus(t, tc, p.pollerID()).Cursor.LastModified.After(late)
	}, 30*time.Second, 100*time.Millisecond, "the cursor passes the uncommitted row")
	before := queryStatus(t, tc, p.pollerID()).Totals.Reread
	require.NoError(t, tx.Commit(ctx))

	p.waitConverged(ctx, time.Minute, nil)
	require.Greater(t, queryStatus(t, tc, p.pollerID()).Totals.Reread, before, "found by a look-back")
	p.stopWorker(30 * time.Second)
}

// TestERPOutageIsReportedAndRecovered takes the ERP away from the pipeline
// (its login loses access to the view) while rows change: the poller reports
// that it is failing, keeps its cursor, and once access returns every change
// arrives.
func TestERPOutageIsReportedAndRecovered(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, 100)
	p.startWorker()
	time.Sleep(time.Second)
	p.run("starter")
	p.waitConverged(ctx, time.Minute, nil)
	tc := temporal.Client()

	testenv.Exec(t, p.erpDSN, `REVOKE SELECT ON `+demoerp.View+` FROM `+demoerp.Reader)
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = quantity + 100 WHERE sku <= 'SKU-0000050'`)
	var status workflows.PollStatus
	require.Eventually(t, func() bool {
		status = queryStatus(t, tc, p.pollerID())
		return status.State == workflows.StateFailing
	}, time.Minute, 200*time.Millisecond, "the poller reports the outage")
	require.Contains(t, status.LastError, "permission denied")
	require.Eventually(t, func() bool {
		return p.scrape().sum("invsync_poller_state", `state="failing"`) == 1
	}, 20*time.Second, 200*time.Millisecond, "and so does /metrics")
	bad, _ := p.diff(ctx, nil)
	require.Equal(t, 50, bad, "nothing was read during the outage")

	testenv.Exec(t, p.erpDSN, `GRANT SELECT ON `+demoerp.View+` TO `+demoerp.Reader)
	mustTemporal(t, "workflow", "signal", "--workflow-id", p.pollerID(), "--name", workflows.SignalPollNow)
	p.waitConverged(ctx, time.Minute, nil)
	require.Equal(t, workflows.StateIdle, queryStatus(t, tc, p.pollerID()).State)
	p.stopWorker(30 * time.Second)
}
