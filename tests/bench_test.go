package tests

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/invsync/invsync/dev/demoerp"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// Targets the figures are held against. The ratios are to the floor measured
// in the same run, so they hold on a noisy machine.
const (
	targetSyncRatio      = 10.0             // initial sync and full change, x the floor
	targetReconcileRatio = 2.0              // a reconcile of an unchanged catalogue, x the floor
	targetChurnP99       = 2 * time.Second  // churn at a 1 s poll interval
	targetChurnSlack     = time.Second      // churn at the default interval: interval + this
	targetRSSBytes       = 150 << 20        // worker VmHWM
	targetHistoryPerRow  = 50.0             // Temporal history bytes per synced row
	targetERPAtOnce      = 1                // ERP queries running at once
	churnRate            = 200.0            // ERP changes a second
	churnFor             = 60 * time.Second // how long the churn runs
	sampleERPEvery       = 50 * time.Millisecond
	defaultChurnSKUs     = 50000 // catalogue of the default-interval pipeline
	churnLandedProbe     = 200   // last changes the churn wait looks up
	churnLandedEvery     = time.Second
	metricApplied        = "invsync_rows_applied_total"
	metricERPQueries     = "invsync_erp_query_duration_seconds_count"
	metricERPRowsRead    = "invsync_erp_rows_fetched_total"
	metricPublished      = "invsync_rows_published_total"
	metricStale          = "invsync_rows_stale_total"
	metricRejected       = "invsync_rows_rejected_total"
	idleFor              = time.Second
	idleWithin           = 3 * time.Minute
	namespace            = "default"
	historyDescribeJobs  = 4
	listTimeout          = 5 * time.Minute
)

// BenchmarkSync measures, in one run, what the redesign of the data path is
// judged by: the floor (a direct COPY of the ERP view into a
// storefront-shaped table); the initial sync of INVSYNC_BENCH_SKUS SKUs
// (default 500,000), a change of every ERP row in one transaction and a
// reconcile of the unchanged catalogue, each against the floor; commit-to-storefront latency under a steady churn of
// 200 changes a second at a 1 s poll interval and at the default one; the
// worker's peak memory; and per phase the Temporal server's CPU time, the
// history it keeps per synced row, and the ERP queries and rows read per
// changed row, with the most ERP queries seen running at once.
//
// The pipeline runs on a Temporal dev server of the benchmark's own, so its
// CPU time and its histories are the pipeline's alone. The benchmark only
// relies on the binaries' environment settings, their /metrics, the
// databases and Temporal's API, so it keeps working while the data path
// behind them is rewritten.
func BenchmarkSync(b *testing.B) {
	skus := 500000
	if v := os.Getenv("INVSYNC_BENCH_SKUS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		skus = n
	}
	churnChanges := int(churnRate * churnFor.Seconds())
	require.GreaterOrEqual(b, skus, churnChanges, "INVSYNC_BENCH_SKUS: the churn changes %d distinct SKUs", churnChanges)
	for b.Loop() {
		r := runBench(b, skus)
		r.print(os.Stdout)
		r.report(b)
	}
}

// benchResult is what one run measured.
type benchResult struct {
	skus       int
	floor      time.Duration
	initial    phase
	full       phase
	fullUpdate time.Duration // the ERP's own UPDATE, before the clock starts
	churnFast  churnResult
	churnSlow  churnResult
	slowSKUs   int
	slowEvery  time.Duration
	// reconcile is a reconcile of the whole catalogue, unchanged since the
	// churn converged; reconciled is its result.
	reconcile   time.Duration
	reconciled  workflows.ReconcileStatus
	settle      string
	workerRSS   int64 // bytes, the main worker's VmHWM
	slowRSS     int64 // the default-interval pipeline's worker
	temporalPID int
	processes   int // in the Temporal server's process group
	// load is the machine's 1-minute load average at the start and at the
	// end: other work on a 2-core machine slows the figures, so the reader
	// needs to see how busy it was.
	load [2]string
}

func runBench(b *testing.B, skus int) benchResult {
	ctx := context.Background()
	r := benchResult{skus: skus, slowEvery: workflows.DefaultPollInterval}
	r.load[0] = loadAverage()
	ts := testenv.StartTemporal(b)
	bn := newBenchEnv(b, ts)
	r.temporalPID = ts.PID()
	p := newPipelineOn(b, skus, bn.servers())
	r.settle = envValue(p.env, "INVSYNC_SETTLE_DELAY")
	r.floor = copyFloor(b, p)

	p.startWorker()
	m := bn.begin(p, "initial sync", skus)
	start := time.Now()
	p.run("starter")
	waitApplied(b, p, skus, 10*time.Minute)
	r.initial = m.end(time.Since(start))
	bad, example := p.diff(ctx, nil)
	require.Zero(b, bad, "storefront differs from the ERP: %s", example)

	// Every row changed in one transaction, as a bulk price or stock update
	// in the ERP would. The clock starts at its commit: the rows are not
	// visible to anyone before.
	applied := p.scrape().sum(metricApplied)
	m = bn.begin(p, "full change", skus)
	upd := time.Now()
	testenv.Exec(b, p.erpDSN, `UPDATE erp_items SET quantity = quantity + 1`)
	start = time.Now()
	r.fullUpdate = start.Sub(upd)
	waitApplied(b, p, int(applied)+skus, 10*time.Minute)
	r.full = m.end(time.Since(start))
	bad, example = p.diff(ctx, nil)
	require.Zero(b, bad, "storefront differs from the ERP after the full change: %s", example)

	r.churnFast = bn.churn(p, "churn, poll 1s", time.Second)
	bad, example = p.diff(ctx, nil)
	require.Zero(b, bad, "storefront differs from the ERP after the churn: %s", example)
	r.reconcile, r.reconciled = bn.reconcile(p)
	require.Zero(b, r.reconciled.Counts.Fixed+r.reconciled.Counts.Discontinued, "a reconcile of an equal storefront fixes nothing: %+v", r.reconciled.Counts)
	r.workerRSS = peakRSS(b, p.worker.cmd.Process.Pid)
	p.stopWorker(time.Minute)

	// The poll interval is the poller workflow's input, fixed when it
	// starts: the starter finds a running poller and leaves it as it is, and
	// the poller has no signal or update for it. A poller started afresh
	// reads the whole ERP again from an empty cursor, which at this size
	// costs another full sync; so the default interval runs on a pipeline of
	// its own, with a smaller catalogue, on the same servers.
	r.slowSKUs = min(skus, defaultChurnSKUs)
	q := newPipelineOn(b, r.slowSKUs, bn.servers(), "INVSYNC_POLL_INTERVAL="+r.slowEvery.String())
	q.startWorker()
	q.run("starter")
	waitApplied(b, q, r.slowSKUs, 10*time.Minute)
	r.churnSlow = bn.churn(q, fmt.Sprintf("churn, poll %s", r.slowEvery), r.slowEvery)
	bad, example = q.diff(ctx, nil)
	require.Zero(b, bad, "storefront differs from the ERP after the default-interval churn: %s", example)
	r.slowRSS = peakRSS(b, q.worker.cmd.Process.Pid)
	q.stopWorker(time.Minute)
	r.processes = len(groupProcesses(ts.PID()))
	r.load[1] = loadAverage()
	return r
}

// reconcile runs one reconcile of p's source, as its schedule would start
// it, and returns its time and result.
func (bn *benchEnv) reconcile(p *pipeline) (time.Duration, workflows.ReconcileStatus) {
	ctx := context.Background()
	start := time.Now()
	run, err := bn.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.ReconcileWorkflowID(p.source) + "-bench", TaskQueue: p.source + "-erp",
	}, workflows.Reconcile, workflows.ReconcileInput{ERPTaskQueue: p.source + "-erp"})
	require.NoError(bn.b, err)
	var res workflows.ReconcileStatus
	require.NoError(bn.b, run.Get(ctx, &res))
	return time.Since(start), res
}

// loadAverage is the machine's 1-minute load average.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// envValue is the value a process started with env sees for key: the last
// one, as os/exec keeps.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// benchEnv is the benchmark's own Temporal server and what it knows of it.
type benchEnv struct {
	b        *testing.B
	temporal *testenv.Temporal
	tc       client.Client
	// closed holds the history size of executions that have closed, by
	// workflow and run ID: it no longer changes, so each is described once.
	closed map[string]int64
}

func newBenchEnv(b *testing.B, ts *testenv.Temporal) *benchEnv {
	tc, err := client.Dial(client.Options{
		HostPort:  ts.Address(),
		Namespace: namespace,
		Logger:    tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(b, err)
	b.Cleanup(tc.Close)
	return &benchEnv{b: b, temporal: ts, tc: tc, closed: map[string]int64{}}
}

func (bn *benchEnv) servers() servers {
	return servers{
		temporal: bn.temporal.Address(),
		storeDSN: testenv.Database(bn.b, "invsync_store"),
		amqpURL:  testenv.AMQPURL(),
		topo:     testenv.Topology(bn.b),
	}
}

// phase is what one phase cost.
type phase struct {
	name string
	rows int // ERP rows the phase changed
	took time.Duration
	// cpu is the Temporal server's CPU time, user and system, in seconds.
	cpu float64
	// history is the bytes Temporal's histories grew by.
	history int64
	// queries and read are the ERP queries the worker issued and the rows
	// it read; NaN when its /metrics does not have them.
	queries, read float64
	// atOnce is the most ERP queries seen running at once.
	atOnce int
}

// meter observes a phase in progress.
type meter struct {
	bn      *benchEnv
	p       *pipeline
	ph      phase
	cpu     float64
	history int64
	metrics metrics
	sampler func() int
}

// begin starts observing a phase of p that changes rows ERP rows. The
// history is summed before the CPU clock starts, so the listing's own cost
// is not counted.
func (bn *benchEnv) begin(p *pipeline, name string, rows int) *meter {
	m := &meter{bn: bn, p: p, ph: phase{name: name, rows: rows}}
	m.history = bn.historyBytes()
	m.metrics = p.scrape()
	m.sampler = sampleERPQueries(bn.b, p)
	m.cpu = groupCPU(bn.temporal.PID())
	return m
}

// end stops observing the phase, which took the given time, once the
// worker is idle: the phase's costs include the work it left behind after its
// last row was applied, such as a look-back's re-read rows.
func (m *meter) end(took time.Duration) phase {
	m.ph.took = took
	waitIdle(m.bn.b, m.p, idleWithin)
	m.ph.cpu = groupCPU(m.bn.temporal.PID()) - m.cpu
	m.ph.atOnce = m.sampler()
	after := m.p.scrape()
	m.ph.queries, m.ph.read = math.NaN(), math.NaN()
	if fam := after.families(); fam[strings.TrimSuffix(metricERPQueries, "_count")] {
		m.ph.queries = after.sum(metricERPQueries) - m.metrics.sum(metricERPQueries)
	}
	if _, ok := after.families()[metricERPRowsRead]; ok {
		m.ph.read = after.sum(metricERPRowsRead) - m.metrics.sum(metricERPRowsRead)
	}
	m.ph.history = m.bn.historyBytes() - m.history
	return m.ph
}

// waitIdle waits until every row the worker published has been written,
// found stale or rejected, and it has neither read nor published any for
// idleFor. A worker without these counters counts as idle at once.
func waitIdle(b *testing.B, p *pipeline, within time.Duration) {
	deadline := time.Now().Add(within)
	var last [2]float64
	since := time.Now()
	for {
		m := p.scrape()
		if _, ok := m.families()[metricPublished]; !ok {
			return
		}
		published := m.sum(metricPublished)
		now := [2]float64{published, m.sum(metricERPRowsRead)}
		if now != last {
			last, since = now, time.Now()
		}
		if published <= m.sum(metricApplied)+m.sum(metricStale)+m.sum(metricRejected) && time.Since(since) >= idleFor {
			return
		}
		if time.Now().After(deadline) {
			b.Logf("the worker was not idle %s after the phase; its costs are counted up to here", within)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// churnResult is a steady churn's phase and its commit-to-storefront
// latencies.
type churnResult struct {
	phase
	interval      time.Duration
	p50, p99, max time.Duration
	// drained is the time from the last change's commit until all had
	// landed, as the bench saw it (at its 1 s probe).
	drained time.Duration
}

// churn changes churnRate distinct random SKUs a second for churnFor, each
// tick's changes committed as one small transaction, and then waits for
// them to land. The latency of each change is the storefront's synced_at
// minus the row's erp_modified, the ERP's last_modified set at the update
// by clock_timestamp(): both clocks are this machine's.
func (bn *benchEnv) churn(p *pipeline, name string, interval time.Duration) churnResult {
	b := bn.b
	ctx := context.Background()
	n := int(churnRate * churnFor.Seconds())
	erp, err := pgx.Connect(ctx, p.erpDSN)
	require.NoError(b, err)
	defer erp.Close(ctx)
	store, err := pgx.Connect(ctx, p.storeDSN)
	require.NoError(b, err)
	defer store.Close(ctx)
	rows, err := erp.Query(ctx, `SELECT sku FROM erp_items ORDER BY random() LIMIT $1`, n)
	require.NoError(b, err)
	skus, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(b, err)
	require.Len(b, skus, n)
	modified := make([]time.Time, n)
	applied := p.scrape().sum(metricApplied)

	res := churnResult{interval: interval}
	m := bn.begin(p, name, n)
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	sent := 0
	for sent < n {
		<-tick.C
		due := min(n, int(time.Since(start).Seconds()*churnRate))
		if due <= sent {
			continue
		}
		// One batch is one implicit transaction: a tick's few changes
		// commit together, at the steady rate.
		batch := &pgx.Batch{}
		for i := sent; i < due; i++ {
			batch.Queue(`UPDATE erp_items SET quantity = quantity + 1 WHERE sku = $1 RETURNING last_modified`, skus[i]).
				QueryRow(func(row pgx.Row) error { return row.Scan(&modified[i]) })
		}
		require.NoError(b, erp.SendBatch(ctx, batch).Close())
		sent = due
	}
	tick.Stop()
	last := time.Now()

	// Landed: the last changes' versions are in the storefront, by one keyed
	// query, and the worker has written as many rows as were changed.
	probe := max(0, n-churnLandedProbe)
	deadline := last.Add(interval + 3*time.Minute)
	for {
		var got int
		require.NoError(b, store.QueryRow(ctx, `SELECT count(*) FROM inventory i
			JOIN unnest($1::text[], $2::timestamptz[]) AS u(sku, modified) ON i.sku = u.sku AND i.erp_modified >= u.modified`,
			skus[probe:], modified[probe:]).Scan(&got))
		if got == n-probe && p.scrape().sum(metricApplied) >= applied+float64(n) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d of the last %d changes in the storefront %s after the churn ended", name, got, n-probe, time.Since(last).Round(time.Second))
		}
		time.Sleep(churnLandedEvery)
	}
	res.drained = time.Since(last)
	res.phase = m.end(time.Since(start))

	first := modified[0]
	for _, t := range modified {
		if t.Before(first) {
			first = t
		}
	}
	var count int
	var p50, p99, most float64
	require.NoError(b, store.QueryRow(ctx, `
		SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.99) WITHIN GROUP (ORDER BY s), max(s)
		FROM (SELECT extract(epoch FROM synced_at - erp_modified)::float8 AS s FROM inventory WHERE erp_modified >= $1) x`,
		first).Scan(&count, &p50, &p99, &most))
	require.Equal(b, n, count, "%s: storefront rows changed by the churn", name)
	res.p50, res.p99, res.max = seconds(p50), seconds(p99), seconds(most)
	return res
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// sampleERPQueries counts, every sampleERPEvery, the queries running on p's
// ERP database as the login the worker reads it with (so not the bench's
// own), until the returned function is called; that returns the most seen
// at once.
func sampleERPQueries(b *testing.B, p *pipeline) (stop func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := pgx.Connect(ctx, p.erpDSN)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		most := 0
		tick := time.NewTicker(sampleERPEvery)
		defer tick.Stop()
		for {
			var n int
			err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND usename = $1 AND state = 'active'`, demoerp.Reader).Scan(&n)
			if err == nil {
				most = max(most, n)
			}
			select {
			case <-ctx.Done():
				done <- most
				return
			case <-tick.C:
			}
		}
	}()
	return sync.OnceValue(func() int {
		cancel()
		most := <-done
		conn.Close(context.Background())
		return most
	})
}

// historyBytes sums the history size of every workflow execution in the
// namespace of the benchmark's server, open and closed, current runs and
// those continued as new.
func (bn *benchEnv) historyBytes() int64 {
	ctx := context.Background()
	began := time.Now()
	type execution struct{ id, run string }
	var total int64
	listed := 0
	var todo []execution
	var token []byte
	for {
		// Straight to the service, not through the client's ListWorkflow,
		// which gives up after 10 s: the dev server's SQLite visibility can
		// take longer to answer right after a phase that kept it busy.
		lctx, cancel := context.WithTimeout(ctx, listTimeout)
		resp, err := bn.tc.WorkflowService().ListWorkflowExecutions(lctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, PageSize: 1000, NextPageToken: token,
		})
		cancel()
		require.NoError(bn.b, err, "list the workflows")
		listed += len(resp.GetExecutions())
		for _, e := range resp.GetExecutions() {
			id, run := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
			if n, ok := bn.closed[id+"/"+run]; ok {
				total += n
				continue
			}
			todo = append(todo, execution{id, run})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	next := make(chan execution)
	for range historyDescribeJobs {
		wg.Go(func() {
			for e := range next {
				resp, err := bn.tc.DescribeWorkflowExecution(ctx, e.id, e.run)
				mu.Lock()
				if err != nil {
					firstErr = cmpErr(firstErr, fmt.Errorf("describe %s/%s: %w", e.id, e.run, err))
				} else {
					info := resp.GetWorkflowExecutionInfo()
					total += info.GetHistorySizeBytes()
					if info.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
						bn.closed[e.id+"/"+e.run] = info.GetHistorySizeBytes()
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, e := range todo {
		next <- e
	}
	close(next)
	wg.Wait()
	require.NoError(bn.b, firstErr)
	bn.b.Logf("Temporal histories: %d executions (%d described), %d bytes, summed in %s",
		listed, len(todo), total, time.Since(began).Round(time.Millisecond))
	return total
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// groupProcesses lists the processes of the process group, which the test
// server's leader heads: the temporal CLI could hand the work to a child.
func groupProcesses(pgid int) []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readProcStat(pid); ok && st.pgrp == pgid {
			out = append(out, st)
		}
	}
	return out
}

// procStat is what the benchmark reads of /proc/<pid>/stat.
type procStat struct {
	pid, pgrp int
	// ticks is utime+stime, plus cutime+cstime of its children that exited
	// and were waited for, in clock ticks.
	ticks int64
}

func readProcStat(pid int) (procStat, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces and parentheses
	if i < 0 || i+2 > len(s) {
		return procStat{}, false
	}
	// Fields from the 3rd (state) on: pgrp is the 5th, utime..cstime the
	// 14th to 17th.
	f := strings.Fields(s[i+2:])
	if len(f) < 15 {
		return procStat{}, false
	}
	st := procStat{pid: pid}
	st.pgrp, _ = strconv.Atoi(f[2])
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(v, 10, 64)
		st.ticks += n
	}
	return st, true
}

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 on every Linux
// architecture Go runs on.
const userHZ = 100

// groupCPU is the CPU time of the process group's processes, in seconds.
func groupCPU(pgid int) float64 {
	var ticks int64
	for _, st := range groupProcesses(pgid) {
		ticks += st.ticks
	}
	return float64(ticks) / userHZ
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(b, err)
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			require.Len(b, f, 2, line)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			require.NoError(b, err, line)
			return kb << 10
		}
	}
	b.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// print writes the figures as a table, each with its target.
func (r benchResult) print(w io.Writer) {
	ratio := func(d time.Duration) string { return fmt.Sprintf("%.1fx floor", d.Seconds()/r.floor.Seconds()) }
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	line := func(label, value, vs, target string) {
		fmt.Fprintf(w, "  %-44s %14s  %-12s %s\n", label, value, vs, target)
	}
	secs := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	churn := func(c churnResult, label string) {
		limit := targetChurnP99
		if c.interval != time.Second {
			limit = c.interval + targetChurnSlack
		}
		line(label+" p50", secs(c.p50), ratio(c.p50), "")
		line(label+" p99", secs(c.p99), ratio(c.p99),
			fmt.Sprintf("(target <= %s) %s", limit, verdict(c.p99 <= limit)))
		line("    max; all landed after the last change", fmt.Sprintf("%.1f s; %.1f s", c.max.Seconds(), c.drained.Seconds()), "", "")
	}

	fmt.Fprintf(w, "\nBenchmarkSync: %s SKUs on %d CPUs (load average %s at the start, %s at the end); own Temporal dev server (pid %d, %d process(es) in its group)\n\n",
		thousands(r.skus), runtime.NumCPU(), r.load[0], r.load[1], r.temporalPID, r.processes)
	line("floor: direct COPY ERP -> storefront", secs(r.floor), "", "")
	line("initial sync of "+thousands(r.skus), secs(r.initial.took), ratio(r.initial.took),
		fmt.Sprintf("(target <= %.0fx) %s", targetSyncRatio, verdict(r.initial.took.Seconds() <= targetSyncRatio*r.floor.Seconds())))
	line("    rate", thousands(int(float64(r.skus)/r.initial.took.Seconds()))+" rows/s", "", "")
	line("full change: "+thousands(r.skus)+" rows in one tx", secs(r.full.took), ratio(r.full.took),
		fmt.Sprintf("(target <= %.0fx) %s", targetSyncRatio, verdict(r.full.took.Seconds() <= targetSyncRatio*r.floor.Seconds())))
	line("    from its commit; the ERP's UPDATE took", secs(r.fullUpdate), "", "")
	line("reconcile of "+thousands(r.skus)+" unchanged rows", secs(r.reconcile), ratio(r.reconcile),
		fmt.Sprintf("(target <= %.0fx) %s", targetReconcileRatio, verdict(r.reconcile.Seconds() <= targetReconcileRatio*r.floor.Seconds())))
	c := r.reconciled.Counts
	line("    ERP rows read per ERP row; chunks (differing)", fmt.Sprintf("%.2f; %d (%d)",
		float64(c.RowsRead+c.RowsCompared)/float64(r.skus), c.Chunks, c.Differing), "", "")
	churn(r.churnFast, fmt.Sprintf("churn %.0f/s for %.0f s, poll 1s,", churnRate, churnFor.Seconds()))
	churn(r.churnSlow, fmt.Sprintf("churn %.0f/s for %.0f s, poll %s,", churnRate, churnFor.Seconds(), r.churnSlow.interval))
	fmt.Fprintf(w, "    (poll %s: a pipeline of its own with %s SKUs; the interval is fixed when the poller starts)\n",
		r.churnSlow.interval, thousands(r.slowSKUs))
	line("worker peak RSS (VmHWM)", fmt.Sprintf("%.0f MB", float64(r.workerRSS)/(1<<20)), "",
		fmt.Sprintf("(target <= %d MB) %s", targetRSSBytes>>20, verdict(r.workerRSS <= targetRSSBytes)))
	line(fmt.Sprintf("    the %s-SKU pipeline's worker", thousands(r.slowSKUs)), fmt.Sprintf("%.0f MB", float64(r.slowRSS)/(1<<20)), "", "")
	atOnce := 0
	for _, ph := range r.phases() {
		atOnce = max(atOnce, ph.atOnce)
	}
	line("most ERP queries running at once", strconv.Itoa(atOnce), "",
		fmt.Sprintf("(target %d) %s", targetERPAtOnce, verdict(atOnce <= targetERPAtOnce)))

	fmt.Fprintf(w, "\n  %-22s %9s %11s %15s %13s %15s %10s\n", "per phase", "rows", "Temporal", "history", "ERP queries", "ERP rows read", "ERP q at")
	fmt.Fprintf(w, "  %-22s %9s %11s %15s %13s %15s %10s\n", "", "changed", "CPU", "per row", "per row", "per row", "once")
	for _, ph := range r.phases() {
		hist := float64(ph.history) / float64(ph.rows)
		fmt.Fprintf(w, "  %-22s %9s %9.1f s %10.0f B %-3s %13s %15s %10d\n", ph.name, thousands(ph.rows), ph.cpu,
			hist, map[bool]string{true: "ok", false: "!"}[hist <= targetHistoryPerRow],
			perRow(ph.queries, ph.rows, "%.5f"), perRow(ph.read, ph.rows, "%.2f"), ph.atOnce)
	}
	fmt.Fprintf(w, "  history target <= %.0f B per synced row (! misses it); ERP queries at once sampled every %s; settle delay %s.\n",
		targetHistoryPerRow, sampleERPEvery, r.settle)
	fmt.Fprintf(w, "  A phase's costs run until the worker is idle after it, so they include what it left behind (look-back re-reads).\n\n")
}

func (r benchResult) phases() []phase {
	return []phase{r.initial, r.full, r.churnFast.phase, r.churnSlow.phase}
}

func perRow(v float64, rows int, format string) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf(format, v/float64(rows))
}

// report gives the main figures to the benchmark framework.
func (r benchResult) report(b *testing.B) {
	b.ReportMetric(r.floor.Seconds(), "floor-s")
	b.ReportMetric(r.initial.took.Seconds(), "sync-s")
	b.ReportMetric(r.initial.took.Seconds()/r.floor.Seconds(), "sync/floor")
	b.ReportMetric(float64(r.skus)/r.initial.took.Seconds(), "rows/s")
	b.ReportMetric(r.full.took.Seconds()/r.floor.Seconds(), "full/floor")
	b.ReportMetric(r.reconcile.Seconds()/r.floor.Seconds(), "reconcile/floor")
	b.ReportMetric(r.churnFast.p99.Seconds(), "churn1s-p99-s")
	b.ReportMetric(r.churnSlow.p99.Seconds(), "churn30s-p99-s")
	b.ReportMetric(float64(r.workerRSS)/(1<<20), "worker-MB")
	b.ReportMetric(float64(r.initial.history)/float64(r.initial.rows), "sync-hist-B/row")
	b.ReportMetric(float64(r.full.history)/float64(r.full.rows), "full-hist-B/row")
	b.ReportMetric(r.initial.cpu, "sync-temporal-cpu-s")
	b.ReportMetric(r.full.cpu, "full-temporal-cpu-s")
}

// thousands formats n with commas.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
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
		if p.scrape().sum(metricApplied) >= float64(want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("the worker did not write %d rows within %s", want, timeout)
}
