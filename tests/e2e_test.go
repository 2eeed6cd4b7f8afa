package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/telemetry"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// TestSyncEndToEnd runs the worker and starter binaries: 20,000 demo SKUs
// reach the storefront exactly, then 2,000 ERP changes converge, with the 50
// invalid ones in the DLQ and nowhere else.
func TestSyncEndToEnd(t *testing.T) {
	ctx := context.Background()
	const skus = 20000
	const secret = "store-password-must-not-leak"
	otlp := newOTLPReceiver(t)
	p := newPipeline(t, skus,
		"INVSYNC_OTLP_ENDPOINT="+otlp.URL,
		"OTEL_BSP_SCHEDULE_DELAY=500", "OTEL_METRIC_EXPORT_INTERVAL=1000")
	p.env = append(p.env, "INVSYNC_STORE_DSN="+strings.Replace(p.storeDSN, "postgres@", "postgres:"+secret+"@", 1))
	p.startWorker()
	start := time.Now()
	out := p.run("starter")
	require.Contains(t, out, "poller running: workflow "+p.pollerID())
	// The starter is idempotent: a second run finds the running poller.
	require.Contains(t, p.run("starter"), "poller running: workflow "+p.pollerID())

	p.waitConverged(ctx, 3*time.Minute, nil)
	t.Logf("initial sync of %d SKUs: %s after the poller started", skus, time.Since(start).Round(time.Millisecond))
	first := p.scrape()
	require.GreaterOrEqual(t, first.sum("invsync_erp_rows_fetched_total"), float64(skus))
	require.GreaterOrEqual(t, first.sum("invsync_rows_published_total"), float64(skus))
	require.GreaterOrEqual(t, first.sum("invsync_rows_applied_total"), float64(skus))
	require.GreaterOrEqual(t, first.sum("invsync_freshness_seconds_count"), float64(skus), "a freshness per row written")
	require.Positive(t, first.sum("invsync_upsert_duration_seconds_count"))
	require.Positive(t, first.sum("invsync_erp_query_duration_seconds_count", `query="page"`))

	// 2,000 changes: 1,900 valid updates, 50 successive updates of one SKU,
	// and 50 that make a row invalid.
	invalid := map[string]string{}
	var stmts []string
	stmts = append(stmts, `UPDATE erp_items SET quantity = quantity + 1, price = price + 0.01
		WHERE sku IN (SELECT 'SKU-' || lpad(g::text, 7, '0') FROM generate_series(101, 2000) g)`)
	for i := 1; i <= 50; i++ {
		stmts = append(stmts, fmt.Sprintf(`UPDATE erp_items SET quantity = %d, price = %d.25 WHERE sku = 'SKU-0000001'`, 1000+i, i))
	}
	for i := 2; i <= 51; i++ {
		sku := fmt.Sprintf("SKU-%07d", i)
		switch {
		case i <= 21:
			stmts = append(stmts, fmt.Sprintf(`UPDATE erp_items SET price = -1 WHERE sku = '%s'`, sku))
			invalid[sku] = inventory.ReasonPriceNegative
		case i <= 36:
			stmts = append(stmts, fmt.Sprintf(`UPDATE erp_items SET quantity = -3 WHERE sku = '%s'`, sku))
			invalid[sku] = inventory.ReasonQuantityNegative
		case i <= 46:
			stmts = append(stmts, fmt.Sprintf(`UPDATE erp_items SET quantity = NULL WHERE sku = '%s'`, sku))
			invalid[sku] = inventory.ReasonQuantityMissing
		case i <= 48:
			stmts = append(stmts, fmt.Sprintf(`UPDATE erp_items SET price = NULL WHERE sku = '%s'`, sku))
			invalid[sku] = inventory.ReasonPriceMissing
		case i == 49:
			stmts = append(stmts, `INSERT INTO erp_items (sku, quantity, price) VALUES ('', 1, 1)`)
			invalid[""] = inventory.ReasonSKUEmpty
		default:
			long := strings.Repeat("L", 65) + fmt.Sprint(i)
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO erp_items (sku, quantity, price) VALUES ('%s', 1, 1)`, long))
			invalid[inventory.Quote(long)] = inventory.ReasonSKUTooLong // a letter shows it cut
		}
	}
	require.Len(t, invalid, 50)
	changedAt := time.Now()
	testenv.Exec(t, p.erpDSN, stmts...)

	// Rows made invalid keep their last good value in the storefront.
	keep := map[string]bool{}
	for sku := range invalid {
		keep[sku] = true
	}
	p.waitConverged(ctx, 2*time.Minute, keep)
	t.Logf("2,000 changes converged %s after they were committed", time.Since(changedAt).Round(time.Millisecond))
	got := p.load(ctx, p.storeDSN, `SELECT sku, quantity, price_cents, erp_modified FROM inventory WHERE sku = 'SKU-0000001'`)
	require.Equal(t, int64(1050), got["SKU-0000001"].Quantity, "the last of the repeated updates wins")
	require.Equal(t, int64(5025), got["SKU-0000001"].PriceCents)

	// The DLQ's depth shows on /metrics (sampled every few seconds), and each
	// rejection is counted by its reason.
	require.Eventually(t, func() bool {
		return p.scrape().sum("invsync_queue_messages", `queue="dlq"`, `state="ready"`) == float64(len(invalid))
	}, time.Minute, 500*time.Millisecond, "DLQ depth on /metrics")
	after := p.scrape()
	byReason := map[string]float64{}
	for _, code := range invalid {
		byReason[code]++
	}
	for code, n := range byReason {
		require.Equal(t, n, after.sum("invsync_rows_rejected_total", `reason="`+code+`"`), "rejected rows with reason %s", code)
	}
	require.GreaterOrEqual(t, after.sum("invsync_rows_applied_total")-first.sum("invsync_rows_applied_total"), float64(1900+1))
	checkTelemetry(t, p, otlp, after)

	codes, batches := p.deadLetters(len(invalid), time.Minute)
	require.Equal(t, invalid, codes, "exactly the invalid rows are dead-lettered, each with its reason")

	tc := temporal.Client()
	status := queryStatus(t, tc, p.pollerID())
	// Each row version the poller saw was published once: the seed, 1,900
	// updates, 50 invalid rows, and of SKU-0000001's 50 quick updates those
	// that a poll happened to see (at least the last).
	require.GreaterOrEqual(t, status.Totals.Rows, int64(skus+1900+50+1))
	require.LessOrEqual(t, status.Totals.Rows, int64(skus+1900+50+50))
	replayHistories(t, tc, p.pollerID(), batches[0])

	p.stopWorker(30 * time.Second)
	require.NotContains(t, p.logs.String(), secret, "the worker's log shows no password")
}

// checkTelemetry checks what an operator reads while the sync runs: the
// sampled gauges, the status page, health and readiness, one trace from poll
// to upsert over OTLP, and that the dashboard and the README name only
// metrics that exist.
func checkTelemetry(t *testing.T, p *pipeline, otlp *otlpReceiver, m metrics) {
	t.Helper()
	require.Eventually(t, func() bool {
		m := p.scrape()
		return m.sum("invsync_poller_state", `state="idle"`) == 1 && m.sum("invsync_queue_messages", `queue="changes"`) == 0
	}, time.Minute, 500*time.Millisecond, "poller idle and changes queue empty on /metrics")
	m = p.scrape()
	lag := m.sum("invsync_cursor_lag_seconds")
	require.Positive(t, lag, "cursor lag is at least the settle delay")
	require.Less(t, lag, 30.0, "an idle poller's cursor lag is about its interval plus the settle delay")
	require.Contains(t, m, "invsync_erp_backlog_rows")
	require.Contains(t, m, "invsync_consumer_inflight_messages")
	require.Contains(t, m, `invsync_queue_messages{queue="changes",state="unacked"}`, "unacked counts from the management API")
	temporalSDK := 0
	for f := range m.families() {
		if strings.HasPrefix(f, "temporal_") {
			temporalSDK++
		}
	}
	require.Positive(t, temporalSDK, "the Temporal SDK's metrics are exported too")

	code, page := p.get("/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `class="state idle"`)
	require.Contains(t, page, "/namespaces/default/workflows/"+p.pollerID()+"/", "a link to the poller's history")
	code, ready := p.get("/readyz")
	require.Equal(t, http.StatusOK, code, ready)
	require.JSONEq(t, `{"temporal":"ok","rabbitmq":"ok","postgres":"ok"}`, ready)
	code, _ = p.get("/healthz")
	require.Equal(t, http.StatusOK, code)
	_, status := p.get("/status.json")
	for _, body := range []string{status, page, fmt.Sprint(m)} {
		require.NotContains(t, body, "store-password-must-not-leak")
	}

	require.Eventually(t, func() bool {
		return otlp.traceWith("RunActivity:FetchAndPublish", "ConsumeBatch", "StartWorkflow:ApplyChanges",
			"RunWorkflow:ApplyChanges", "RunActivity:UpsertBatch")
	}, 30*time.Second, 200*time.Millisecond, "one trace from the poll to the upsert; got %s", otlp.spanNames())
	require.Eventually(t, func() bool { return otlp.gotMetric(telemetry.MetricRowsApplied) }, 30*time.Second, 200*time.Millisecond,
		"metrics are exported over OTLP too")

	checkNamedMetrics(t, m.families())
}

// checkNamedMetrics requires the Grafana dashboard to query only metrics that
// exist, and the README to explain every invsync metric.
func checkNamedMetrics(t *testing.T, scraped map[string]bool) {
	t.Helper()
	families := maps.Clone(scraped)
	for _, n := range telemetry.PrometheusNames() {
		families[n] = true
	}
	dash, err := os.ReadFile("../dev/grafana/dashboards/invsync.json")
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(dash, &d))
	require.NotEmpty(t, d.Panels)
	name := regexp.MustCompile(`\b(invsync|temporal)_[a-z_]+`)
	for _, panel := range d.Panels {
		require.NotEmpty(t, panel.Targets, "panel %q queries something", panel.Title)
		for _, target := range panel.Targets {
			for _, n := range name.FindAllString(target.Expr, -1) {
				base := n
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					base = strings.TrimSuffix(base, suf)
				}
				require.True(t, families[base] || families[n], "panel %q queries %s, which /metrics does not have; it has %v", panel.Title, n, slices.Sorted(maps.Keys(families)))
			}
		}
	}
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	for f := range families {
		if strings.HasPrefix(f, "invsync_") {
			require.True(t, scraped[f] || strings.HasSuffix(f, "_total"), "%s is exported", f)
			require.Contains(t, string(readme), "`"+f+"`", "README.md explains %s", f)
		}
	}
}

func queryStatus(t *testing.T, tc client.Client, id string) workflows.PollStatus {
	t.Helper()
	v, err := tc.QueryWorkflow(context.Background(), id, "", workflows.QueryStatus)
	require.NoError(t, err)
	var s workflows.PollStatus
	require.NoError(t, v.Get(&s))
	return s
}

// replayHistories replays the recorded histories of the poller and of one
// ApplyChanges run against the code under test. With
// INVSYNC_RECORD_HISTORIES=dir it also writes them there (the replay test in
// workflows/ keeps such recordings).
func replayHistories(t *testing.T, tc client.Client, ids ...string) {
	t.Helper()
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflow(workflows.PollERP)
	r.RegisterWorkflow(workflows.ApplyChanges)
	for _, id := range ids {
		h := history(t, tc, id)
		require.NoError(t, r.ReplayWorkflowHistory(nil, h), "replay %s", id)
		if dir := os.Getenv("INVSYNC_RECORD_HISTORIES"); dir != "" {
			b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
			require.NoError(t, err)
			name := t.Name() + "-" + h.Events[0].GetWorkflowExecutionStartedEventAttributes().WorkflowType.Name + ".json"
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
		}
	}
}

func history(t *testing.T, tc client.Client, id string) *historypb.History {
	t.Helper()
	it := tc.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, e)
	}
	require.NotEmpty(t, h.Events)
	return h
}
