package tests

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/testenv"
)

// BenchmarkSync measures, in one run: the floor (a direct COPY of the ERP
// view into a storefront-shaped table), the pipeline's initial sync of the
// same SKUs, and how long a burst of changes takes to show. dev/bench runs it
// with INVSYNC_BENCH_SKUS (default 500,000).
func BenchmarkSync(b *testing.B) {
	skus := 500000
	if v := os.Getenv("INVSYNC_BENCH_SKUS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		skus = n
	}
	const changes = 5000
	for b.Loop() {
		ctx := context.Background()
		p := newPipeline(b, skus)
		floor := copyFloor(b, p)

		p.startWorker()
		start := time.Now()
		p.run("starter")
		waitApplied(b, p, skus, 10*time.Minute)
		initial := time.Since(start)
		bad, example := p.diff(ctx, nil)
		require.Zero(b, bad, "storefront differs from the ERP: %s", example)

		testenv.Exec(b, p.erpDSN, fmt.Sprintf(`UPDATE erp_items SET quantity = quantity + 1
			WHERE sku IN (SELECT sku FROM erp_items ORDER BY md5(sku) LIMIT %d)`, changes))
		start = time.Now()
		waitApplied(b, p, skus+changes, 5*time.Minute)
		burst := time.Since(start)
		bad, example = p.diff(ctx, nil)
		require.Zero(b, bad, "storefront differs from the ERP after the burst: %s", example)
		p.stopWorker(time.Minute)

		b.ReportMetric(floor.Seconds(), "floor-s")
		b.ReportMetric(initial.Seconds(), "sync-s")
		b.ReportMetric(initial.Seconds()/floor.Seconds(), "sync/floor")
		b.ReportMetric(float64(skus)/initial.Seconds(), "rows/s")
		b.ReportMetric(burst.Seconds(), "burst-s")
		fmt.Printf("\n%d SKUs: floor (direct COPY ERP -> storefront) %.2fs | pipeline initial sync %.1fs (%.0f rows/s, %.1fx the floor)\n",
			skus, floor.Seconds(), initial.Seconds(), float64(skus)/initial.Seconds(), initial.Seconds()/floor.Seconds())
		fmt.Printf("%d changes committed at once: visible in the storefront after %.1fs (poll interval %s)\n\n",
			changes, burst.Seconds(), "1s")
	}
}

// copyFloor streams the ERP view straight into a table shaped like the
// storefront's: the least work any sync of these rows must do.
func copyFloor(b *testing.B, p *pipeline) time.Duration {
	ctx := context.Background()
	src, err := pgx.Connect(ctx, p.erpDSN)
	require.NoError(b, err)
	defer src.Close(ctx)
	dst, err := pgx.Connect(ctx, p.storeDSN)
	require.NoError(b, err)
	defer dst.Close(ctx)
	_, err = dst.Exec(ctx, `CREATE TABLE floor (sku text PRIMARY KEY, quantity bigint NOT NULL, price_cents bigint NOT NULL,
		erp_modified timestamptz NOT NULL, observed_at timestamptz NOT NULL, synced_at timestamptz NOT NULL DEFAULT now())`)
	require.NoError(b, err)

	start := time.Now()
	r, w := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := src.PgConn().CopyTo(ctx, w,
			`COPY (SELECT sku, quantity, (price * 100)::bigint, last_modified, last_modified, now() FROM v_inventory) TO STDOUT`)
		w.CloseWithError(err)
		errc <- err
	}()
	tag, err := dst.PgConn().CopyFrom(ctx, r, `COPY floor FROM STDIN`)
	require.NoError(b, err)
	require.NoError(b, <-errc)
	took := time.Since(start)
	var n int
	require.NoError(b, dst.QueryRow(ctx, `SELECT count(*) FROM floor`).Scan(&n))
	require.Equal(b, int(tag.RowsAffected()), n)
	_, err = dst.Exec(ctx, `DROP TABLE floor`)
	require.NoError(b, err)
	return took
}

// waitApplied waits until the worker has written want rows in all. It reads
// the worker's own counter, a few kilobytes of /metrics, rather than
// counting or comparing whole tables: the observation must cost little next
// to what it observes on a machine of two cores. The caller then compares
// the tables once.
func waitApplied(b *testing.B, p *pipeline, want int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.scrape().sum("invsync_rows_applied_total") >= float64(want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("the worker did not write %d rows within %s", want, timeout)
}
