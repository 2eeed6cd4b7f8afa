package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/dev/demoerp"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// pipeline is one invsync deployment of its own: ERP and storefront
// databases, RabbitMQ names, task queues and source name, so tests can share
// the servers.
type pipeline struct {
	t        testing.TB
	erpDSN   string
	storeDSN string
	topo     queue.Topology
	source   string
	env      []string
	worker   *process
	logs     *lockedBuffer
}

func newPipeline(t testing.TB, skus int, extraEnv ...string) *pipeline {
	return newPipelineOn(t, skus, servers{
		temporal: temporal.FrontendHostPort(),
		storeDSN: testenv.Database(t, "invsync_store"),
		amqpURL:  testenv.AMQPURL(),
		topo:     testenv.Topology(t),
	}, extraEnv...)
}

// servers are what a pipeline runs against besides its ERP.
type servers struct {
	temporal string // frontend host:port
	storeDSN string
	amqpURL  string
	topo     queue.Topology
}

// newPipelineOn is a deployment of its own on the given servers, with a demo
// ERP of skus rows in a database of its own on the shared PostgreSQL.
func newPipelineOn(t testing.TB, skus int, s servers, extraEnv ...string) *pipeline {
	p := &pipeline{
		t:        t,
		erpDSN:   testenv.Database(t, "invsync_erp"),
		storeDSN: s.storeDSN,
		topo:     s.topo,
		source:   strings.ReplaceAll(testenv.Name("src"), "_", "-"),
	}
	p.env = append(os.Environ(),
		"INVSYNC_TEMPORAL_ADDRESS="+s.temporal,
		// The pipeline reads the ERP as a login that may only SELECT from
		// the view, as in production.
		"INVSYNC_ERP_DSN="+p.readerDSN(),
		"INVSYNC_STORE_DSN="+p.storeDSN,
		"INVSYNC_AMQP_URL="+s.amqpURL,
		"INVSYNC_QUEUE_PREFIX="+p.topo.Prefix,
		"INVSYNC_SOURCE="+p.source,
		"INVSYNC_ERP_TASK_QUEUE="+p.source+"-erp",
		"INVSYNC_APPLY_TASK_QUEUE="+p.source+"-apply",
		"INVSYNC_POLL_INTERVAL=1s",
		"INVSYNC_SETTLE_DELAY=200ms",
		"INVSYNC_ERP_POLLS_PER_SECOND=10",
		"INVSYNC_HTTP_ADDR=127.0.0.1:0",
	)
	p.env = append(p.env, extraEnv...)
	out := p.run("demoerp", "setup", "-dsn", p.erpDSN, "-skus", fmt.Sprint(skus))
	require.Contains(t, out, fmt.Sprintf("demo ERP ready: %d SKUs", skus))
	return p
}

// run runs one of the built binaries to completion and returns its output.
func (p *pipeline) run(name string, args ...string) string {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	require.NoError(p.t, err, "%s %v: %s", name, args, out)
	return string(out)
}

// startWorker starts the worker binary; it is stopped with SIGTERM when the
// test ends.
func (p *pipeline) startWorker() {
	p.t.Helper()
	p.worker = p.startAnotherWorker()
	p.logs = p.worker.logs
}

// stopWorker sends SIGTERM and requires a clean exit.
func (p *pipeline) stopWorker(within time.Duration) {
	p.t.Helper()
	p.worker.stop(within)
}

// readerDSN is how the pipeline logs in to the ERP.
func (p *pipeline) readerDSN() string {
	return strings.Replace(p.erpDSN, "postgres@", demoerp.Reader+"@", 1)
}

// process is a worker process of the deployment.
type process struct {
	t    testing.TB
	cmd  *exec.Cmd
	logs *lockedBuffer
}

// startAnotherWorker starts a worker process of the deployment; it is
// killed when the test ends if it still runs, and its log shown if the test
// failed.
func (p *pipeline) startAnotherWorker() *process {
	p.t.Helper()
	w := &process{t: p.t, logs: new(lockedBuffer)}
	w.cmd = exec.Command(filepath.Join(binDir, "workers"))
	w.cmd.Env = p.env
	w.cmd.Stdout, w.cmd.Stderr = w.logs, w.logs
	require.NoError(p.t, w.cmd.Start())
	p.t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			_ = w.cmd.Wait()
		}
		if p.t.Failed() {
			p.t.Logf("worker log:\n%s", w.logs)
		}
	})
	return w
}

// stop sends SIGTERM and requires a clean exit within the time.
func (w *process) stop(within time.Duration) {
	w.t.Helper()
	require.NoError(w.t, w.cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(w.t, err, "worker exit")
	case <-time.After(within):
		w.t.Fatalf("worker did not stop within %s of SIGTERM", within)
	}
}

func (p *pipeline) pollerID() string { return workflows.PollWorkflowID(p.source) }

// erpRow is what the storefront must show for a valid ERP row.
type erpRow struct {
	Quantity, PriceCents int64
	Modified             time.Time
}

// diff compares every valid ERP row with the storefront, column by column.
// It returns the number of rows that differ and an example.
func (p *pipeline) diff(ctx context.Context, skip map[string]bool) (int, string) {
	p.t.Helper()
	want := p.load(ctx, p.erpDSN, `
		SELECT sku, quantity, (price * 100)::bigint, last_modified FROM erp_items
		WHERE quantity >= 0 AND price >= 0 AND sku <> '' AND length(sku) <= 64`)
	got := p.load(ctx, p.storeDSN, `SELECT sku, quantity, price_cents, erp_modified FROM inventory`)
	bad, example := 0, ""
	for sku, w := range want {
		if skip[sku] {
			continue
		}
		if g, ok := got[sku]; !ok || g != w {
			bad++
			example = fmt.Sprintf("%s: erp %+v, storefront %+v (present %v)", sku, w, g, ok)
		}
	}
	for sku := range got {
		if _, ok := want[sku]; !ok && !skip[sku] {
			bad++
			example = fmt.Sprintf("%s is in the storefront only", sku)
		}
	}
	return bad, example
}

func (p *pipeline) load(ctx context.Context, dsn, query string) map[string]erpRow {
	p.t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(p.t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, query)
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return map[string]erpRow{} // storefront not migrated yet
	}
	require.NoError(p.t, err)
	out := map[string]erpRow{}
	for rows.Next() {
		var sku string
		var r erpRow
		require.NoError(p.t, rows.Scan(&sku, &r.Quantity, &r.PriceCents, &r.Modified))
		r.Modified = r.Modified.UTC()
		out[sku] = r
	}
	require.NoError(p.t, rows.Err())
	return out
}

// waitConverged waits until the storefront matches the ERP.
func (p *pipeline) waitConverged(ctx context.Context, timeout time.Duration, skip map[string]bool) time.Duration {
	p.t.Helper()
	start := time.Now()
	var bad int
	var example string
	for time.Since(start) < timeout {
		if bad, example = p.diff(ctx, skip); bad == 0 {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.t.Fatalf("storefront did not converge within %s: %d rows differ, e.g. %s", timeout, bad, example)
	return 0
}

// deadLetters waits until the storefront holds at least n dead letters and
// returns their reason codes by SKU (as a letter shows it; a message that was
// not a change by "message:" and its ID) and the batches that wrote them. A
// SKU with two letters fails the test.
func (p *pipeline) deadLetters(n int, timeout time.Duration) (map[string]string, []string) {
	p.t.Helper()
	ctx := context.Background()
	type letter struct{ id, stage, sku, code, reason, batch string }
	var got []letter
	deadline := time.Now().Add(timeout)
	for {
		got = got[:0]
		conn, err := pgx.Connect(ctx, p.storeDSN)
		require.NoError(p.t, err)
		rows, err := conn.Query(ctx, `SELECT id, stage, sku, reason_code, reason, batch_id FROM dead_letters`)
		if err == nil {
			for rows.Next() {
				var l letter
				require.NoError(p.t, rows.Scan(&l.id, &l.stage, &l.sku, &l.code, &l.reason, &l.batch))
				got = append(got, l)
			}
			err = rows.Err()
		}
		conn.Close(ctx)
		if err != nil && !strings.Contains(err.Error(), "does not exist") {
			require.NoError(p.t, err)
		}
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	codes := map[string]string{}
	var batches []string
	for _, l := range got {
		if l.stage == deadletter.StageConsumer {
			l.sku = "message:" + l.id
		}
		_, dup := codes[l.sku]
		require.False(p.t, dup, "SKU %q dead-lettered twice", l.sku)
		codes[l.sku] = l.code
		require.NotEmpty(p.t, l.reason, "dead letter without a reason")
		if l.batch != "" {
			batches = append(batches, l.batch)
		}
	}
	return codes, batches
}
