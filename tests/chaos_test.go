package tests

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/dev/demoerp"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
)

// TestChaosEachFaultRecovers runs one sync through four faults in turn:
// RabbitMQ restarted, the storefront's PostgreSQL restarted, the Temporal
// server killed with kill -9 and started again on its file database, and the
// worker killed with kill -9 and replaced. Those three services are the
// test's own, so the machine's shared ones are never touched; the ERP, which
// is not under test, is a database on the shared PostgreSQL. ERP changes keep
// coming throughout. The storefront must match the ERP at the end, and each
// fault's recovery, from the service answering again to the next row written
// to the storefront, must take at most 5 s.
func TestChaosEachFaultRecovers(t *testing.T) {
	ctx := context.Background()
	const skus = 30000
	rabbit := testenv.StartRabbitMQ(t)
	store := testenv.StartPostgres(t)
	server := testenv.StartTemporal(t)
	p := newChaosPipeline(t, skus, rabbit, store, server,
		"INVSYNC_PAGE_SIZE=500", "INVSYNC_PAGES_PER_POLL=4", "INVSYNC_BATCH_SIZE=200")
	p.startWorker()
	p.run("starter")
	require.Eventually(t, func() bool { return p.storeRows(ctx) > 0 }, time.Minute, 20*time.Millisecond, "the sync got going")
	stopChurn := churn(t, p.erpDSN, 20)

	faults := []struct {
		name string
		// inject causes the fault and returns once the service answers again.
		inject func()
	}{
		{"rabbitmq restart", func() { rabbit.Stop(); rabbit.Start() }},
		{"storefront postgres restart", func() { store.Stop(); store.Start() }},
		{"temporal kill -9", func() { server.Kill(); server.Start() }},
		{"worker kill -9", func() {
			require.NoError(t, p.worker.cmd.Process.Kill())
			_ = p.worker.cmd.Wait()
			p.startWorker()
			require.Eventually(t, func() bool { return strings.Contains(p.logs.String(), `"msg":"workers running"`) },
				time.Minute, 20*time.Millisecond, "the new worker runs")
		}},
	}
	recovered := make([]time.Duration, len(faults))
	for i, f := range faults {
		// Let the pipeline move between faults, so each one hits it at work.
		time.Sleep(3 * time.Second)
		behind, _ := p.diff(ctx, nil)
		down := time.Now()
		f.inject()
		back := time.Now()
		recovered[i] = p.firstWriteAfter(ctx, back, 90*time.Second)
		t.Logf("chaos: %s: back -> next row applied in %.3fs (out for %.1fs, %d rows behind the ERP when it went)",
			f.name, recovered[i].Seconds(), back.Sub(down).Seconds(), behind)
	}

	require.NoError(t, stopChurn())
	took := p.waitConverged(ctx, 3*time.Minute, nil)
	t.Logf("chaos: storefront matched the ERP %.1fs after the ERP changes stopped", took.Seconds())
	for i, f := range faults {
		require.LessOrEqual(t, recovered[i], 5*time.Second, "%s: from the service answering again to the next row applied", f.name)
	}
	p.stopWorker(30 * time.Second)
}

// newChaosPipeline is newPipeline on the test's own RabbitMQ node, Temporal
// server and storefront PostgreSQL, which the test may stop and kill; the ERP
// is a database on the shared PostgreSQL.
func newChaosPipeline(t testing.TB, skus int, rabbit *testenv.RabbitMQ, store *testenv.Postgres, server *testenv.Temporal, extraEnv ...string) *pipeline {
	testenv.Exec(t, store.URL("postgres"), "CREATE DATABASE invsync_store")
	// The test's node has no management API. A closed port makes the
	// worker count queues over AMQP instead of asking the shared node's API,
	// which does not know these queues.
	env := append([]string{"INVSYNC_RABBITMQ_MANAGEMENT_URL=http://127.0.0.1:1"}, extraEnv...)
	return newPipelineOn(t, skus, servers{
		temporal: server.Address(),
		storeDSN: store.URL("invsync_store"),
		amqpURL:  rabbit.URL(),
		topo:     queue.Topology{Prefix: testenv.Name("invsync_test")},
	}, env...)
}

// storeRows counts the storefront's rows, 0 before the worker created the
// table.
func (p *pipeline) storeRows(ctx context.Context) int {
	return len(p.load(ctx, p.storeDSN, `SELECT sku, quantity, price_cents, erp_modified FROM inventory`))
}

// firstWriteAfter waits for the first storefront row written after since and
// returns how long after since it was written, by synced_at (the storefront
// runs on this machine, so its clock is ours). Work handed on before a fault
// drains while the service is out (a restart takes seconds), so the first
// write after it is back went through the recovered path.
func (p *pipeline) firstWriteAfter(ctx context.Context, since time.Time, within time.Duration) time.Duration {
	p.t.Helper()
	conn, err := pgx.Connect(ctx, p.storeDSN)
	require.NoError(p.t, err)
	defer conn.Close(ctx)
	deadline := time.Now().Add(within)
	for {
		var first *time.Time
		require.NoError(p.t, conn.QueryRow(ctx, `SELECT min(synced_at) FROM inventory WHERE synced_at > $1`, since).Scan(&first))
		if first != nil {
			return first.Sub(since)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no storefront row written within %s", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// churn changes random ERP rows, with valid values only, about rate times a
// second until stop is called, which returns the first error. It also stops
// when the test ends.
func churn(t testing.TB, dsn string, rate float64) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- demoerp.Churn(ctx, pool, rate, 0, nil) }()
	stop = sync.OnceValue(func() error {
		cancel()
		err := <-done
		pool.Close()
		return err
	})
	t.Cleanup(func() { _ = stop() })
	return stop
}
