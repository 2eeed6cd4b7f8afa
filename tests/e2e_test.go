package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// TestSyncEndToEnd runs the worker and starter binaries: 20,000 demo SKUs
// reach the storefront exactly, then 2,000 ERP changes converge, with the 50
// invalid ones in the DLQ and nowhere else.
func TestSyncEndToEnd(t *testing.T) {
	ctx := context.Background()
	const skus = 20000
	p := newPipeline(t, skus)
	p.startWorker()
	start := time.Now()
	out := p.run("starter")
	require.Contains(t, out, "poller running: workflow "+p.pollerID())
	// The starter is idempotent: a second run finds the running poller.
	require.Contains(t, p.run("starter"), "poller running: workflow "+p.pollerID())

	p.waitConverged(ctx, 3*time.Minute, nil)
	t.Logf("initial sync of %d SKUs: %s after the poller started", skus, time.Since(start).Round(time.Millisecond))

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
			invalid[long] = inventory.ReasonSKUTooLong
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
