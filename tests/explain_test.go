package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// explainRules prices tools 10 % off, then caps every price at 15.00 with
// .99 endings (never above the cap).
var explainRules = rulesFile("reject", "  - {name: tools ten off, when: 'category == \"tools\"', discount: \"10\"}\n"+
	"  - {name: cap, max: \"15\", rounding: \"99\"}\n")

// TestExplainASKU follows the issue: `dlq explain` and /explain.json on a
// priced row, a dead-lettered row, a row a reconcile discontinued and a SKU
// neither side has, and on SKUs that cannot be SKUs.
func TestExplainASKU(t *testing.T) {
	ctx := context.Background()
	rulesPath := filepath.Join(t.TempDir(), "pricing.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(explainRules), 0o644))
	p := newPipeline(t, 100, "INVSYNC_PRICING_RULES="+rulesPath,
		"INVSYNC_ERP_COL_COST=cost", "INVSYNC_ERP_COL_CATEGORY=category")
	p.startWorker()
	p.run("starter")
	p.waitPriced(ctx, explainRules, nil, time.Minute)

	// (a) A row two rules price: 20.00 less 10 % is 18.00, capped at 15.00,
	// and .99 under the cap is 14.99.
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET price = 20.00, category = 'tools', quantity = 5 WHERE sku = 'SKU-0000003'`)
	require.Eventually(t, func() bool { return p.price(ctx, "SKU-0000003") == 1499 && p.quantity(ctx, "SKU-0000003") == 5 },
		30*time.Second, 100*time.Millisecond)
	e, out := p.explain(t, "SKU-0000003")
	require.True(t, e.Agree, e.Summary)
	require.Empty(t, e.Reasons)
	require.Equal(t, "erp", e.PricedFrom)
	require.Equal(t, "20.00", *e.ERP.Row.Price)
	var steps [][2]string
	for _, s := range e.Pricing.Steps {
		steps = append(steps, [2]string{s.Rule, s.Price})
	}
	require.Equal(t, [][2]string{{"tools ten off", "18"}, {"cap", "15"}}, steps)
	require.Equal(t, "99", e.Pricing.Rounding)
	require.Equal(t, p.price(ctx, "SKU-0000003"), e.Pricing.PriceCents, "the explained price is the storefront's")
	require.Equal(t, e.Pricing.PriceCents, e.Row.PriceCents)
	require.Equal(t, p.rulesVersion(ctx, "SKU-0000003"), e.RulesVersion)
	require.True(t, strings.HasPrefix(e.Row.WrittenBy, "invsync-apply-"), e.Row.WrittenBy)
	require.Contains(t, e.Row.WrittenByURL, "/namespaces/default/workflows/"+e.Row.WrittenBy)
	require.Contains(t, out, "SKU-0000003: agree")
	require.Regexp(t, `1\. tools ten off \(discount 10%\)\s+18\n`, out)
	require.Regexp(t, `2\. cap \(max 15, rounding 99\)\s+15\n`, out)
	require.Regexp(t, `rounded \(99, under the cap 15\)\s+14\.99`, out)
	require.Regexp(t, `written by\s+`+e.Row.WrittenBy+`\n`, out)
	// The batch that wrote it is found in the Web UI by its memo.
	desc, err := temporal.Client().DescribeWorkflowExecution(ctx, e.Row.WrittenBy, "")
	require.NoError(t, err)
	memo := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()
	require.Contains(t, memo, "first_sku")
	require.Contains(t, memo, "rows")
	require.Equal(t, `"`+p.source+`"`, string(memo["source"].GetData()))

	// The temporal CLI call the command prints gives the same answer.
	call := regexp.MustCompile(`# temporal (workflow execute .*)`).FindStringSubmatch(out)
	require.NotNil(t, call, out)
	cli, err := testenv.TemporalCLI()
	require.NoError(t, err)
	viaCLI, err := exec.Command(cli, append(shellWords(t, call[1]), "--address", temporal.FrontendHostPort())...).CombinedOutput()
	require.NoError(t, err, "%s", viaCLI)
	require.Contains(t, string(viaCLI), `"agree":true`)

	// (b) A negative quantity under reject: a dead letter with its reason;
	// the storefront keeps the last row it could apply.
	before := p.quantity(ctx, "SKU-0000050")
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = -7 WHERE sku = 'SKU-0000050'`)
	require.Eventually(t, func() bool { return p.deadLetterCount(ctx) == 1 }, 30*time.Second, 200*time.Millisecond)
	e, out = p.explain(t, "SKU-0000050")
	require.False(t, e.Agree)
	require.Equal(t, activities.ReasonDeadLettered, e.Reasons[0].Code, e.Summary)
	require.Equal(t, inventory.ReasonQuantityNegative, e.ERP.Rejection.Code)
	require.Len(t, e.DeadLetters, 1)
	require.Equal(t, inventory.ReasonQuantityNegative, e.DeadLetters[0].Reason.Code)
	require.Contains(t, e.DeadLetters[0].Reason.Message, "quantity -7 is negative")
	require.Equal(t, before, e.Row.Quantity, "the storefront keeps the old value")
	require.Equal(t, before, p.quantity(ctx, "SKU-0000050"))
	require.Contains(t, out, "SKU-0000050: disagree: the ERP's row cannot be applied (quantity_negative")
	require.Contains(t, out, "dead letters: 1")
	require.Regexp(t, e.DeadLetters[0].ID+`\s+quantity_negative\s+apply\s+1\s`, out)

	// (c) A row gone from the ERP, discontinued by a reconcile.
	testenv.Exec(t, p.erpDSN, `DELETE FROM erp_items WHERE sku = 'SKU-0000060'`)
	scheduleID := workflows.ReconcileWorkflowID(p.source)
	status := p.reconcile(t, scheduleID)
	require.Equal(t, int64(1), status.Counts.Discontinued)
	e, out = p.explain(t, "SKU-0000060")
	require.True(t, e.Agree, e.Summary)
	require.False(t, e.ERP.Found)
	require.Equal(t, "not in the ERP", e.ERP.Note)
	require.NotNil(t, e.Row.DeletedAt)
	require.Zero(t, e.Row.Quantity)
	require.Equal(t, storefront.VerdictDiscontinued, e.Row.ReconcileVerdict)
	require.NotNil(t, e.Row.ReconciledAt)
	require.True(t, strings.HasPrefix(e.Row.WrittenBy, scheduleID+"-"), "written by the reconcile run: %s", e.Row.WrittenBy)
	runs := p.reconcileRuns(t, temporal.Client())
	found := false
	for _, r := range runs {
		found = found || r.GetExecution().GetWorkflowId() == e.Row.WrittenBy
	}
	require.True(t, found, "%s is a reconcile run", e.Row.WrittenBy)
	require.Equal(t, "storefront", e.PricedFrom, "the ERP values kept are priced")
	require.Contains(t, out, "SKU-0000060: agree: the ERP no longer has this SKU, and the storefront has it discontinued")
	require.Regexp(t, `last reconcile\s+discontinued: gone from the ERP, at `, out)

	// (d) A SKU neither side has.
	e, out = p.explain(t, "NOT-A-REAL-SKU")
	require.True(t, e.Agree, e.Summary)
	require.False(t, e.ERP.Found)
	require.Nil(t, e.Row)
	require.Nil(t, e.Pricing)
	require.Empty(t, e.DeadLetters)
	require.Contains(t, out, "NOT-A-REAL-SKU: agree: neither the ERP nor the storefront has this SKU")
	require.Contains(t, out, "  no row")

	// SKUs that cannot be SKUs: a clear refusal, no crash.
	for _, sku := range []string{"", "SKU\x1b[2J", "SKU\x1b[2J\x00", strings.Repeat("A", 10<<10), "\xff\xfe"} {
		code, body := p.get("/explain.json?sku=" + url.QueryEscape(sku))
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, `"error"`)
		if strings.Contains(sku, "\x00") {
			continue // no command line holds a NUL
		}
		out, err := p.runInput("", "dlq", "explain", "--", sku)
		require.Error(t, err)
		require.NotContains(t, out, "\x1b")
		require.Contains(t, out, "not a SKU")
	}
	code, body := p.get("/explain.json")
	require.Equal(t, http.StatusBadRequest, code, body)
	code, _ = p.get("/healthz")
	require.Equal(t, http.StatusOK, code, "the worker is still up")
}

// explain runs `dlq explain SKU` and GET /explain.json?sku=SKU, requires the
// two to say the same, and returns the endpoint's answer and the command's
// output.
func (p *pipeline) explain(t *testing.T, sku string) (activities.Explanation, string) {
	t.Helper()
	out := p.run("dlq", "explain", sku)
	t.Logf("dlq explain %s:\n%s", sku, out)
	code, body := p.get("/explain.json?sku=" + url.QueryEscape(sku))
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"dead_letters":[`, "a list, never null")
	var e activities.Explanation
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.Equal(t, sku, e.SKU)
	require.Contains(t, out, sku+": "+e.Summary)
	require.True(t, strings.HasPrefix(e.Workflow, "invsync-explain-"), e.Workflow)
	return e, out
}
