package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/monitor"
	"github.com/invsync/invsync/internal/pricing"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

var (
	rulesBefore = rulesFile("reject", "  - {name: tools ten off, when: 'category == \"tools\"', discount: \"10\"}\n")
	rulesAfter  = rulesFile("reject", "  - {name: garden twenty off, when: 'category == \"garden\"', discount: \"20\"}\n"+
		"  - {name: electronics markup, when: 'category == \"electronics\" && has_cost', markup: \"40\"}\n")
)

// TestStorefrontEqualsRulesOfERP follows the story on 5,000 SKUs:
// after the first sync, 100 SKUs are deleted in the ERP, 50 storefront rows
// are edited by hand, 20 ERP rows are restored from a backup (older values,
// older last-modified), and the rules file changes. The re-price happens
// with no ERP change; one reconcile, triggered from its schedule with the
// temporal CLI as the README says, fixes the rest: every storefront row then
// equals rules(ERP), and exactly the 100 deleted SKUs are discontinued. A
// second reconcile finds nothing to do, and restores SKUs that come back.
func TestStorefrontEqualsRulesOfERP(t *testing.T) {
	ctx := context.Background()
	const skus = 5000
	rulesPath := filepath.Join(t.TempDir(), "pricing.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(rulesBefore), 0o644))
	p := newPipeline(t, skus, "INVSYNC_PRICING_RULES="+rulesPath,
		"INVSYNC_ERP_COL_COST=cost", "INVSYNC_ERP_COL_CATEGORY=category")
	p.startWorker()
	out := p.run("starter")
	scheduleID := workflows.ReconcileWorkflowID(p.source)
	require.Contains(t, out, "temporal schedule trigger --schedule-id "+scheduleID)
	p.waitPriced(ctx, rulesBefore, nil, 2*time.Minute)

	deleted := skuRange(1001, 1100)
	edited := skuRange(2001, 2050)
	restored := skuRange(3001, 3020)
	testenv.Exec(t, p.erpDSN,
		`DELETE FROM erp_items WHERE sku IN (`+quoteAll(deleted)+`)`,
		// A restore from backup writes older values with an older
		// last-modified: the trigger that stamps writes is off meanwhile.
		`ALTER TABLE erp_items DISABLE TRIGGER erp_items_touch`,
		`UPDATE erp_items SET quantity = quantity + 7, price = price + 1, last_modified = last_modified - interval '1 day'
			WHERE sku IN (`+quoteAll(restored)+`)`,
		`ALTER TABLE erp_items ENABLE TRIGGER erp_items_touch`)
	testenv.Exec(t, p.storeDSN, `UPDATE inventory SET quantity = 9999, price_cents = 1 WHERE sku IN (`+quoteAll(edited)+`)`)
	require.NoError(t, os.WriteFile(rulesPath, []byte(rulesAfter), 0o644))

	// The re-price needs no ERP change: every row the ERP did not change
	// behind the poller's back is priced by the new rules.
	skip := map[string]bool{}
	for _, s := range [][]string{deleted, edited, restored} {
		for _, sku := range s {
			skip[sku] = true
		}
	}
	p.waitPriced(ctx, rulesAfter, skip, time.Minute)
	require.Zero(t, p.discontinued(ctx), "nothing is discontinued before a reconcile")

	status := p.reconcile(t, scheduleID)
	require.Equal(t, int64(skus-len(deleted)), status.Counts.RowsRead, "the ERP's rows are read once")
	require.Equal(t, int64(len(deleted)), status.Counts.Discontinued)
	require.Equal(t, int64(len(edited)+len(restored)), status.Counts.Fixed)
	require.Zero(t, status.Counts.Restored)
	require.Zero(t, status.Counts.Rejected)
	p.waitPriced(ctx, rulesAfter, nil, 10*time.Second)
	require.Equal(t, len(deleted), p.discontinued(ctx))
	rows := p.load(ctx, p.storeDSN, `SELECT sku, quantity, price_cents, erp_modified FROM inventory WHERE deleted_at IS NOT NULL`)
	for _, sku := range deleted {
		require.Contains(t, rows, sku)
		require.Zero(t, rows[sku].Quantity, "a discontinued SKU shows no stock")
	}

	// Nothing left to fix; then ten deleted SKUs come back.
	again := p.reconcile(t, scheduleID)
	require.Zero(t, again.Counts.Fixed+again.Counts.Discontinued+again.Counts.Differing, "%+v", again.Counts)
	testenv.Exec(t, p.erpDSN, `ALTER TABLE erp_items DISABLE TRIGGER erp_items_touch`,
		`INSERT INTO erp_items (sku, quantity, price, cost, category, last_modified)
			SELECT sku, 5, 10.00, 4.00, 'tools', now() - interval '1 day' FROM unnest($$`+pgArray(deleted[:10])+`$$::text[]) sku`,
		`ALTER TABLE erp_items ENABLE TRIGGER erp_items_touch`)
	back := p.reconcile(t, scheduleID)
	require.Equal(t, int64(10), back.Counts.Restored)
	require.Equal(t, len(deleted)-10, p.discontinued(ctx))
	p.waitPriced(ctx, rulesAfter, nil, 10*time.Second)

	// The status page shows the latest reconcile and the re-pricing, and
	// /metrics counts what the reconciles did.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, body := p.get("/status.json")
		var s monitor.Snapshot
		if json.Unmarshal([]byte(body), &s) == nil && s.Reconcile != nil && s.Reconcile.Status.Counts == back.Counts &&
			s.Reprice != nil && s.Reprice.State == workflows.StateWaiting && s.Reprice.Pass.Read > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "status page: reconcile and re-pricing: %s", body)
	}
	m := p.scrape()
	require.Equal(t, float64(len(deleted)), m.sum("invsync_reconcile_rows_total", `outcome="discontinued"`))
	require.Equal(t, float64(10), m.sum("invsync_reconcile_rows_total", `outcome="restored"`))
	require.Equal(t, float64(3*(skus-len(deleted))+10), m.sum("invsync_reconcile_rows_total", `outcome="read"`))
}

// reconcile triggers the source's reconcile schedule with the temporal CLI
// and returns the result of the run it started.
func (p *pipeline) reconcile(t *testing.T, scheduleID string) workflows.ReconcileStatus {
	t.Helper()
	tc := temporal.Client()
	before := p.reconcileRuns(t, tc)
	mustTemporal(t, "schedule", "trigger", "--schedule-id", scheduleID)
	var run *workflowpb.WorkflowExecutionInfo
	require.Eventually(t, func() bool {
		runs := p.reconcileRuns(t, tc)
		for _, r := range runs {
			if before[r.GetExecution().GetRunId()] == nil && r.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				run = r
				return true
			}
		}
		return false
	}, 2*time.Minute, 200*time.Millisecond, "a reconcile run completes")
	var status workflows.ReconcileStatus
	require.NoError(t, tc.GetWorkflow(context.Background(), run.GetExecution().GetWorkflowId(), run.GetExecution().GetRunId()).
		Get(context.Background(), &status))
	require.True(t, status.Done)
	b, _ := json.Marshal(status.Counts)
	t.Logf("reconcile: %s", b)
	return status
}

func (p *pipeline) reconcileRuns(t *testing.T, tc client.Client) map[string]*workflowpb.WorkflowExecutionInfo {
	t.Helper()
	res, err := tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowType = 'Reconcile' AND WorkflowId STARTS_WITH '%s'", workflows.ReconcileWorkflowID(p.source)),
	})
	require.NoError(t, err)
	out := map[string]*workflowpb.WorkflowExecutionInfo{}
	for _, e := range res.GetExecutions() {
		out[e.GetExecution().GetRunId()] = e
	}
	return out
}

// waitPriced waits until every storefront row but those in skip equals
// rules(ERP): the ERP's quantity, the price the rules give its row, and not
// discontinued; and every SKU the ERP lacks is discontinued.
func (p *pipeline) waitPriced(ctx context.Context, rulesText string, skip map[string]bool, within time.Duration) {
	p.t.Helper()
	rules, err := pricing.Parse([]byte(rulesText))
	require.NoError(p.t, err)
	var bad int
	var example string
	deadline := time.Now().Add(within)
	for {
		bad, example = p.pricedDiff(ctx, rules, skip)
		if bad == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("storefront is not rules(ERP) within %s: %d rows differ, e.g. %s", within, bad, example)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (p *pipeline) pricedDiff(ctx context.Context, rules *pricing.Rules, skip map[string]bool) (int, string) {
	now := time.Now()
	lim := inventory.DefaultLimits()
	want := map[string]inventory.Item{}
	erpRows := queryRows(p.t, ctx, p.erpDSN, `SELECT sku, quantity::text, price::text, cost::text, category, last_modified FROM erp_items`)
	for _, r := range erpRows {
		c, rej := inventory.ParseRow(r, inventory.Clock{Instant: now, Wall: now}, lim)
		require.Nil(p.t, rej)
		it, rej := rules.Apply(c, lim, now)
		require.Nil(p.t, rej)
		want[it.SKU] = it
	}
	type shown struct {
		qty, cents int64
		gone       bool
	}
	got := map[string]shown{}
	conn, err := pgx.Connect(ctx, p.storeDSN)
	require.NoError(p.t, err)
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT sku, quantity, price_cents, deleted_at IS NOT NULL FROM inventory`)
	var sku string
	var s shown
	_, err = pgx.ForEachRow(rows, []any{&sku, &s.qty, &s.cents, &s.gone}, func() error { got[sku] = s; return nil })
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return len(want), "no storefront yet"
	}
	require.NoError(p.t, err)
	bad, example := 0, ""
	for sku, w := range want {
		if skip[sku] {
			continue
		}
		if g, ok := got[sku]; !ok || g != (shown{w.Quantity, w.PriceCents, false}) {
			bad++
			example = fmt.Sprintf("%s: want quantity %d, %d cents; storefront %+v (present %v)", sku, w.Quantity, w.PriceCents, g, ok)
		}
	}
	for sku, g := range got {
		if _, ok := want[sku]; !ok && !skip[sku] && (!g.gone || g.qty != 0) {
			bad++
			example = fmt.Sprintf("%s is not in the ERP and not discontinued: %+v", sku, g)
		}
	}
	return bad, example
}

func (p *pipeline) discontinued(ctx context.Context) (n int) {
	p.t.Helper()
	require.NoError(p.t, p.storeQuery(ctx, `SELECT count(*) FROM inventory WHERE deleted_at IS NOT NULL`).Scan(&n))
	return n
}

// queryRows reads ERP rows as the pipeline does: every value as text.
func queryRows(t testing.TB, ctx context.Context, dsn, query string) []inventory.Row {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, query)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.Row, error) {
		var row inventory.Row
		err := r.Scan(&row.SKU, &row.Quantity, &row.Price, &row.Cost, &row.Category, &row.LastModified)
		row.LastModified = row.LastModified.UTC()
		return row, err
	})
	require.NoError(t, err)
	return out
}

func skuRange(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("SKU-%07d", i))
	}
	return out
}

func quoteAll(skus []string) string {
	return "'" + strings.Join(skus, "', '") + "'"
}

func pgArray(skus []string) string { return "{" + strings.Join(skus, ",") + "}" }
