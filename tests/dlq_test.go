package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/testenv"
)

// rulesFile is a pricing rules file with the validation choice and rules.
func rulesFile(negativeQuantity, rules string) string {
	return "validation:\n  negative_quantity: " + negativeQuantity + "\nrules:\n" + rules
}

var (
	rulesV1 = rulesFile("reject", "  - {name: no changes yet, when: \"false\", set: \"1\"}\n")
	tenOff  = "  - {name: first ten percent off, when: 'sku.startsWith(\"SKU-000000\")', discount: \"10\"}\n"
	rulesV2 = rulesFile("reject", tenOff)
	rulesV3 = rulesFile("backorder", tenOff)
)

// TestPricingRulesAndDeadLetterOperations follows the README: change a
// pricing rule and see it in the storefront; break an ERP row and find it in
// the DLQ with its reason; fix the rule and replay it; a poison message goes
// to the DLQ without blocking the queue; purge asks first.
func TestPricingRulesAndDeadLetterOperations(t *testing.T) {
	ctx := context.Background()
	rulesPath := filepath.Join(t.TempDir(), "pricing.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(rulesV1), 0o644))
	p := newPipeline(t, 100, "INVSYNC_PRICING_RULES="+rulesPath)
	p.startWorker()
	time.Sleep(time.Second)
	p.run("starter")
	p.waitConverged(ctx, time.Minute, nil)

	// A rule change takes effect without a restart.
	require.NoError(t, os.WriteFile(rulesPath, []byte(rulesV2), 0o644))
	require.Eventually(t, func() bool { return strings.Contains(p.logs.String(), "pricing rules reloaded") },
		30*time.Second, 100*time.Millisecond)
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET price = 20.00 WHERE sku IN ('SKU-0000003', 'SKU-0000042')`)
	require.Eventually(t, func() bool {
		return p.price(ctx, "SKU-0000003") == 1800 && p.price(ctx, "SKU-0000042") == 2000
	}, 30*time.Second, 100*time.Millisecond, "the new rule prices SKU-0000003 (10%% off) and not SKU-0000042")
	require.NotEqual(t, p.rulesVersion(ctx, "SKU-0000003"), p.rulesVersion(ctx, "SKU-0000001"),
		"each row records the rules that priced it")

	// A broken ERP row lands in the DLQ with its reason.
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = -7 WHERE sku = 'SKU-0000050'`)
	var id string
	require.Eventually(t, func() bool {
		id = letterID(p.run("dlq", "list"), "SKU-0000050", inventory.ReasonQuantityNegative)
		return id != ""
	}, 30*time.Second, 500*time.Millisecond, "the broken row is listed with its reason")
	shown := p.run("dlq", "show", id)
	require.Contains(t, shown, `"reason": "quantity -7 is negative (backorders are not allowed)"`)
	require.Contains(t, shown, `"attempts": 1`)
	require.Contains(t, shown, `\"sku\":\"SKU-0000050\"`, "the payload is shown")

	// The temporal CLI call the command prints does the same.
	out := p.run("dlq", "list")
	call := regexp.MustCompile(`# temporal (workflow execute .*)`).FindStringSubmatch(out)
	require.NotNil(t, call, out)
	args := append(shellWords(t, call[1]), "--address", temporal.FrontendHostPort())
	cli, err := temporalCLI()
	require.NoError(t, err)
	viaCLI, err := exec.Command(cli, args...).CombinedOutput()
	require.NoError(t, err, "%s", viaCLI)
	require.Contains(t, string(viaCLI), id)

	// Replaying before the rule is fixed rejects it again, attempts counted.
	out = p.run("dlq", "replay", id)
	require.Contains(t, out, "replayed 1: 0 applied, 0 already superseded, 1 rejected again")
	require.Contains(t, p.run("dlq", "show", id), `"attempts": 2`)

	// Fix the rule (negative stock is a backorder), replay: it goes through.
	require.NoError(t, os.WriteFile(rulesPath, []byte(rulesV3), 0o644))
	require.Eventually(t, func() bool { return strings.Count(p.logs.String(), "pricing rules reloaded") >= 2 },
		30*time.Second, 100*time.Millisecond)
	out = p.run("dlq", "replay", id)
	require.Contains(t, out, "replayed 1: 1 applied")
	require.Equal(t, int64(-7), p.quantity(ctx, "SKU-0000050"))
	require.Contains(t, p.run("dlq", "list"), "no dead letters")

	// Each operation is a workflow in Temporal's history.
	wfID := regexp.MustCompile(`--workflow-id (\S+)`).FindStringSubmatch(out)[1]
	desc, err := temporal.Client().DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err)
	require.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.WorkflowExecutionInfo.Status)

	// A poison message goes to the DLQ; the changes behind it still apply.
	publishRaw(t, p, []byte("\x00not a change"))
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = 4242 WHERE sku = 'SKU-0000060'`)
	require.Eventually(t, func() bool { return p.quantity(ctx, "SKU-0000060") == 4242 }, 30*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool {
		return strings.Contains(p.run("dlq", "list"), inventory.ReasonUndecodable)
	}, 30*time.Second, 500*time.Millisecond)

	// Purge asks first.
	_, err = p.runInput("no\n", "dlq", "purge", "-all")
	require.Error(t, err)
	require.Contains(t, p.run("dlq", "list"), inventory.ReasonUndecodable, "nothing was purged")
	require.Contains(t, p.run("dlq", "purge", "-all", "-yes"), "purged 1")
	require.Contains(t, p.run("dlq", "list"), "no dead letters")
	p.stopWorker(30 * time.Second)
}

// letterID finds a letter's ID in `dlq list` output.
func letterID(list, sku, reason string) string {
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == sku && f[2] == reason {
			return f[0]
		}
	}
	return ""
}

// shellWords splits a command line with single-quoted words.
func shellWords(t *testing.T, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`'([^']*)'|(\S+)`).FindAllStringSubmatch(s, -1) {
		if m[1] != "" {
			out = append(out, m[1])
		} else {
			out = append(out, m[2])
		}
	}
	return out
}

func publishRaw(t *testing.T, p *pipeline, body []byte) {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURL())
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.PublishWithContext(context.Background(), p.topo.Exchange(), p.topo.ChangesQueue(), true, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body}))
}

func (p *pipeline) runInput(stdin string, name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = p.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *pipeline) storeValue(ctx context.Context, sku, column string, dst any) {
	p.t.Helper()
	conn, err := pgx.Connect(ctx, p.storeDSN)
	require.NoError(p.t, err)
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT `+column+` FROM inventory WHERE sku = $1`, sku).Scan(dst); err != nil {
		require.ErrorIs(p.t, err, pgx.ErrNoRows)
	}
}

func (p *pipeline) price(ctx context.Context, sku string) (v int64) {
	p.storeValue(ctx, sku, "price_cents", &v)
	return v
}

func (p *pipeline) quantity(ctx context.Context, sku string) (v int64) {
	p.storeValue(ctx, sku, "quantity", &v)
	return v
}

func (p *pipeline) rulesVersion(ctx context.Context, sku string) (v string) {
	p.storeValue(ctx, sku, "rules_version", &v)
	return v
}

// TestWorkerRefusesABadRulesFile: a rules file that does not check out stops
// the worker at start, with an error naming the rule.
func TestWorkerRefusesABadRulesFile(t *testing.T) {
	rulesPath := filepath.Join(t.TempDir(), "pricing.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(rulesFile("reject",
		"  - {name: ok, set: \"1\"}\n  - {name: electronics markup, markup: lots}\n")), 0o644))
	p := newPipeline(t, 1, "INVSYNC_PRICING_RULES="+rulesPath)
	out, err := p.runInput("", "workers")
	require.Error(t, err, "the worker does not start")
	require.Contains(t, out, `rule 2 \"electronics markup\": markup \"lots\" is not a decimal number`)
}
