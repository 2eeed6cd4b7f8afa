package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/dev/demoerp"
	"github.com/invsync/invsync/internal/monitor"
	"github.com/invsync/invsync/workflows"
)

// TestScaleOutSurvivesAWorkerKilledMidSync runs three worker processes of one
// deployment through an initial sync and kills one with SIGKILL while rows
// are still being applied. The other two finish the sync exactly, with no
// dead letters; the ERP never sees more than one query at a time, from start
// to end; and the two survivors' status pages agree on the poller and the
// DLQ.
func TestScaleOutSurvivesAWorkerKilledMidSync(t *testing.T) {
	ctx := context.Background()
	const skus = 60000
	// Small pages and batches make the sync a few seconds long and spread it
	// over many activities, so each worker holds some when one is killed.
	p := newPipeline(t, skus, "INVSYNC_PAGE_SIZE=500", "INVSYNC_PAGES_PER_POLL=4", "INVSYNC_BATCH_SIZE=200",
		"INVSYNC_ERP_POLLS_PER_SECOND=50")
	p.startWorker()
	workers := []*process{p.worker, p.startAnotherWorker(), p.startAnotherWorker()}
	for _, w := range workers {
		w.http().httpURL() // each is up before the sync starts
	}

	sampler := sampleERP(t, p)
	start := time.Now()
	p.run("starter")

	// Kill one once a quarter of the rows are in the storefront; the kill
	// must come while it holds between 10% and 90% of them.
	var at int
	require.Eventually(t, func() bool {
		at = p.storeRows(ctx)
		return at >= skus/4
	}, time.Minute, 10*time.Millisecond, "the sync got going")
	require.Less(t, at, skus*9/10, "the kill comes mid-sync")
	killed := workers[0]
	require.NoError(t, killed.cmd.Process.Kill())
	_ = killed.cmd.Wait()
	killedAt := time.Since(start)
	survivors := workers[1:]

	p.waitConverged(ctx, 90*time.Second, nil)
	took := time.Since(start)
	most, samples, busy := sampler()
	t.Logf("%d SKUs synced in %s by three workers, one killed after %s with %d rows applied; "+
		"%d samples of the ERP's sessions, %d with a query running, at most %d at once",
		skus, took.Round(time.Millisecond), killedAt.Round(time.Millisecond), at, samples, busy, most)
	require.Positive(t, busy, "the sampler saw the pipeline's queries")
	require.Equal(t, 1, most, "one ERP query at a time, a worker killed or not")
	require.Zero(t, p.deadLetterCount(ctx), "no row was given up on")

	// Once idle, both survivors' status pages show the same poller and the
	// same (empty) DLQ.
	var a, b monitor.Snapshot
	require.Eventually(t, func() bool {
		a, b = survivors[0].status(), survivors[1].status()
		return a.Poller != nil && b.Poller != nil && a.DeadLetters != nil && b.DeadLetters != nil &&
			a.Poller.State == workflows.StateIdle && b.Poller.State == workflows.StateIdle &&
			a.Poller.Cursor == b.Poller.Cursor && a.Poller.Backlog == 0 && b.Poller.Backlog == 0
	}, 30*time.Second, 200*time.Millisecond, "the survivors' status pages agree on an idle poller")
	require.False(t, a.Poller.Cursor.IsZero())
	require.Equal(t, a.PollerRunID, b.PollerRunID, "the same poller run")
	require.Equal(t, *a.DeadLetters, *b.DeadLetters)
	require.Zero(t, a.DeadLetters.Total)
	t.Logf("activity retries counted by the survivors: %d and %d", a.Retries, b.Retries)

	for _, w := range survivors {
		w.stop(30 * time.Second)
	}
}

// sampleERP counts, as fast as it can, the queries running on p's ERP as the
// login the pipeline reads it with, until the returned function is called;
// that returns the most seen at once, the samples taken and how many saw a
// query running.
func sampleERP(t *testing.T, p *pipeline) func() (most, samples, busy int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	admin, err := pgx.Connect(ctx, p.erpDSN)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var most, samples, busy int
	wg.Go(func() {
		for ctx.Err() == nil {
			var n int
			if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND usename = $1 AND state = 'active'`, demoerp.Reader).Scan(&n); err != nil {
				continue
			}
			samples++
			if n > 0 {
				busy++
			}
			most = max(most, n)
		}
	})
	stop := sync.OnceFunc(func() {
		cancel()
		wg.Wait()
		admin.Close(context.Background())
	})
	t.Cleanup(stop)
	return func() (int, int, int) {
		stop()
		return most, samples, busy
	}
}

// http is a view of the pipeline whose HTTP helpers (httpURL, get, scrape)
// read this worker process.
func (w *process) http() *pipeline { return &pipeline{t: w.t, logs: w.logs} }

// status reads the worker's /status.json.
func (w *process) status() monitor.Snapshot {
	w.t.Helper()
	code, body := w.http().get("/status.json")
	require.Equal(w.t, http.StatusOK, code, body)
	var s monitor.Snapshot
	require.NoError(w.t, json.Unmarshal([]byte(body), &s), body)
	return s
}
