package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
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
// pricing rule and see it in the storefront; break ERP rows and find them in
// the DLQ with their reasons, however often it is listed; fix the rule and
// replay; a poison message and a change the broker dead-letters become
// letters too; purge asks first, takes -yes anywhere, and names its
// operator, whom the result, the log and the memo record.
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
	// Rows the ERP did not change are re-priced too; a row whose price the
	// new rules leave as it was keeps the version that set it.
	require.Eventually(t, func() bool {
		return p.price(ctx, "SKU-0000001") != 0 && p.rulesVersion(ctx, "SKU-0000001") == p.rulesVersion(ctx, "SKU-0000003")
	},
		30*time.Second, 100*time.Millisecond, "SKU-0000001 is re-priced without an ERP change")
	require.NotEqual(t, p.rulesVersion(ctx, "SKU-0000003"), p.rulesVersion(ctx, "SKU-0000010"),
		"each row records the rules that last set its price")

	// Broken ERP rows land in the DLQ with their reason.
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = -7 WHERE sku = 'SKU-0000050'`,
		`UPDATE erp_items SET quantity = -1 WHERE sku IN ('SKU-0000051', 'SKU-0000052')`)
	var id string
	require.Eventually(t, func() bool {
		list := p.run("dlq", "list")
		id = letterID(list, "SKU-0000050", inventory.ReasonQuantityNegative)
		return id != "" && strings.Contains(list, "3 dead letters in all")
	}, 30*time.Second, 500*time.Millisecond, "the broken rows are listed with their reason")
	ids := letterIDs(p.run("dlq", "list"))
	require.Len(t, ids, 3)

	// Listing reads; it never consumes, however often.
	for i := range 100 {
		require.Equal(t, ids, letterIDs(p.run("dlq", "list")), "listing %d", i+1)
	}
	require.Equal(t, 3, p.deadLetterCount(ctx), "a hundred listings lose nothing")
	require.Equal(t, []string{id}, letterIDs(p.run("dlq", "list", "-reason", inventory.ReasonQuantityNegative, "-limit", "1", id)))

	shown := p.run("dlq", "show", id)
	require.Contains(t, shown, "quantity -7 is negative (backorders are not allowed)")
	require.Regexp(t, `attempts\s+1\n`, shown)
	require.Contains(t, shown, `{"sku":"SKU-0000050","quantity":-7,`, "the payload is shown")

	// The temporal CLI call the command prints does the same.
	out := p.run("dlq", "show", id)
	call := regexp.MustCompile(`# temporal (workflow execute .*)`).FindStringSubmatch(out)
	require.NotNil(t, call, out)
	args := append(shellWords(t, call[1]), "--address", temporal.FrontendHostPort())
	cli, err := testenv.TemporalCLI()
	require.NoError(t, err)
	viaCLI, err := exec.Command(cli, args...).CombinedOutput()
	require.NoError(t, err, "%s", viaCLI)
	require.Contains(t, string(viaCLI), id)

	// Replaying before the rule is fixed rejects it again, attempts counted;
	// it stays one letter.
	out = p.run("dlq", "replay", id)
	require.Contains(t, out, "replayed 1: 0 applied, 0 already superseded, 1 rejected again")
	require.Contains(t, out, "rejected again: "+id)
	require.Regexp(t, `attempts\s+2\n`, p.run("dlq", "show", id))
	require.Equal(t, 3, p.deadLetterCount(ctx))

	// Fix the rule (negative stock is a backorder), replay: they go through.
	require.NoError(t, os.WriteFile(rulesPath, []byte(rulesV3), 0o644))
	require.Eventually(t, func() bool { return strings.Count(p.logs.String(), "pricing rules reloaded") >= 2 },
		30*time.Second, 100*time.Millisecond)
	out = p.run("dlq", "replay", "-all")
	require.Contains(t, out, "replayed 3: 3 applied, 0 already superseded, 0 rejected again, 0 skipped")
	require.Equal(t, int64(-7), p.quantity(ctx, "SKU-0000050"))
	require.Equal(t, int64(-1), p.quantity(ctx, "SKU-0000052"))
	require.Contains(t, p.run("dlq", "list"), "no dead letters")

	// Each operation is a workflow in Temporal's history.
	wfID := regexp.MustCompile(`--workflow-id (\S+)`).FindStringSubmatch(out)[1]
	desc, err := temporal.Client().DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err)
	require.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.WorkflowExecutionInfo.Status)

	// A poison message becomes a letter; the changes behind it still apply.
	publishRaw(t, p, p.topo.Exchange(), p.topo.ChangesQueue(), []byte("\x00not a change"))
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = 4242 WHERE sku = 'SKU-0000060'`)
	require.Eventually(t, func() bool { return p.quantity(ctx, "SKU-0000060") == 4242 }, 30*time.Second, 100*time.Millisecond)
	var poison string
	require.Eventually(t, func() bool {
		poison = letterID(p.run("dlq", "list"), "-", inventory.ReasonUndecodable)
		return poison != ""
	}, 30*time.Second, 500*time.Millisecond)
	require.Contains(t, p.run("dlq", "show", poison), `"\x00not a change"`, "shown escaped")

	// A change the broker dead-letters (past the changes queue's delivery
	// limit) becomes a letter too; this one is older than the storefront's.
	old := inventory.Change{SKU: "SKU-0000070", Quantity: new(int64(1)), Price: new("1.00"),
		LastModified: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), ObservedAt: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	body, err := json.Marshal(old)
	require.NoError(t, err)
	publishRaw(t, p, p.topo.DeadLetterExchange(), "", body)
	var broker string
	require.Eventually(t, func() bool {
		broker = letterID(p.run("dlq", "list"), "SKU-0000070", "delivery_limit")
		return broker != ""
	}, 30*time.Second, 500*time.Millisecond, "the broker's dead letter is ingested")
	require.Contains(t, p.run("dlq", "replay", broker), "replayed 1: 0 applied, 1 already superseded")

	// Purge asks first, as whom, and -yes may come after the ID.
	out, err = p.runInput("no\n", "dlq", "purge", "-all", "-operator", "alice")
	require.Error(t, err)
	require.Contains(t, out, "purge every dead letter for good, as alice? type yes:")
	require.Equal(t, 1, p.deadLetterCount(ctx), "nothing was purged")
	// A purge must name its operator: one started without (a client that
	// predates it) is refused before anything is removed.
	out, err = temporalCmd(t, "workflow", "execute", "--type", "PurgeDeadLetters", "--task-queue", p.source+"-apply",
		"--input", `{"all":true,"confirm":true}`)
	require.Error(t, err)
	require.Contains(t, out, "must say who asks")
	require.Equal(t, 1, p.deadLetterCount(ctx), "nothing was purged")
	out = p.run("dlq", "purge", poison, "-yes", "-operator", "alice")
	require.Contains(t, out, "purged 1, asked by alice\npurged: "+poison)
	// Who purged is in the workflow's result and, for the Web UI, its memo.
	wfID = regexp.MustCompile(`--workflow-id (\S+)`).FindStringSubmatch(out)[1]
	require.Contains(t, out, `--memo 'operator="alice"'`)
	desc, err = temporal.Client().DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err)
	var memo string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(
		desc.WorkflowExecutionInfo.GetMemo().GetFields()["operator"], &memo))
	require.Equal(t, "alice", memo)
	require.Regexp(t, `"msg":"dead letters purged".*"operator":"alice"`, p.logs.String(), "and in the worker's log")
	require.Contains(t, p.run("dlq", "list"), "no dead letters")
	// Without -operator, $INVSYNC_OPERATOR names who asks.
	p.env = append(p.env, "INVSYNC_OPERATOR=bob")
	out = p.run("dlq", "-yes", "purge", poison)
	require.Contains(t, out, "purged 0, asked by bob\nnot found: "+poison)
	p.stopWorker(30 * time.Second)
}

// TestTenThousandDeadLettersInOneOperation: a replay or purge of any number
// of letters is one operation, whose input and result stay small (Temporal
// refuses payloads over 2 MB).
func TestTenThousandDeadLettersInOneOperation(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, 10)
	p.startWorker() // it migrates the storefront
	require.Eventually(t, func() bool { return strings.Contains(p.logs.String(), "workers running") },
		time.Minute, 100*time.Millisecond)
	const n = 10000

	p.putDeadLetters(ctx, n, 1) // changes the rules in force apply
	out := p.run("dlq", "list")
	require.Contains(t, out, fmt.Sprintf("50 shown; %d dead letters in all", n))
	out = p.run("dlq", "replay", "-all")
	require.Contains(t, out, fmt.Sprintf("replayed %d: %d applied, 0 already superseded, 0 rejected again", n, n))
	require.Zero(t, p.deadLetterCount(ctx))
	require.Less(t, p.resultSize(ctx, out), 16<<10, "the result is counts")
	var stored int
	require.NoError(t, p.storeQuery(ctx, `SELECT count(*) FROM inventory WHERE sku LIKE 'BULK-%'`).Scan(&stored))
	require.Equal(t, n, stored)

	p.putDeadLetters(ctx, n, -1) // changes the rules in force reject
	out = p.run("dlq", "replay", "-all")
	require.Contains(t, out, fmt.Sprintf("replayed %d: 0 applied, 0 already superseded, %d rejected again", n, n))
	require.Contains(t, out, fmt.Sprintf("rejected again (the first 100 of %d)", n))
	require.Equal(t, n, p.deadLetterCount(ctx), "each letter rejected again stays one letter")
	require.Less(t, p.resultSize(ctx, out), 16<<10)

	out = p.run("dlq", "purge", "-all", "-yes", "-operator", "alice")
	require.Contains(t, out, fmt.Sprintf("purged %d, asked by alice\npurged (the first 100 of %d): ", n, n))
	require.Zero(t, p.deadLetterCount(ctx))
	require.Less(t, p.resultSize(ctx, out), 16<<10)
	p.stopWorker(30 * time.Second)
}

// putDeadLetters writes n letters of changes of quantity qty straight into
// the store, as if the pipeline had rejected them.
func (p *pipeline) putDeadLetters(ctx context.Context, n int, qty int64) {
	p.t.Helper()
	store, err := storefront.Open(ctx, p.storeDSN)
	require.NoError(p.t, err)
	defer store.Close()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	letters := make([]deadletter.Letter, n)
	for i := range letters {
		c := inventory.Change{SKU: fmt.Sprintf("BULK-%06d", i), Quantity: new(qty), Price: new("9.99"),
			LastModified: at.Add(time.Duration(qty) * time.Minute), ObservedAt: at}
		letters[i] = deadletter.ForChange(c, inventory.Rejection{Code: inventory.ReasonStorefrontRejected,
			Message: "the storefront was down"}, deadletter.StageApply, "bulk")
	}
	for chunk := range slices.Chunk(letters, 2000) {
		require.NoError(p.t, store.PutDeadLetters(ctx, chunk))
	}
}

func (p *pipeline) storeQuery(ctx context.Context, sql string) pgx.Row {
	p.t.Helper()
	conn, err := pgx.Connect(ctx, p.storeDSN)
	require.NoError(p.t, err)
	p.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn.QueryRow(ctx, sql)
}

func (p *pipeline) deadLetterCount(ctx context.Context) (n int) {
	p.t.Helper()
	require.NoError(p.t, p.storeQuery(ctx, `SELECT count(*) FROM dead_letters`).Scan(&n))
	return n
}

// resultSize is the size of the result of the workflow whose temporal CLI
// call out shows.
func (p *pipeline) resultSize(ctx context.Context, out string) int {
	p.t.Helper()
	m := regexp.MustCompile(`--workflow-id (\S+)`).FindStringSubmatch(out)
	require.NotNil(p.t, m, out)
	it := temporal.Client().GetWorkflowHistory(ctx, m[1], "", false, enums.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	require.True(p.t, it.HasNext())
	ev, err := it.Next()
	require.NoError(p.t, err)
	done := ev.GetWorkflowExecutionCompletedEventAttributes()
	require.NotNil(p.t, done, "the workflow completed")
	size := 0
	for _, pl := range done.GetResult().GetPayloads() {
		size += len(pl.GetData())
	}
	return size
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

// letterIDs lists the IDs in `dlq list` output, in its order.
func letterIDs(list string) []string {
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 && regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(f[0]) {
			ids = append(ids, f[0])
		}
	}
	return ids
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

// publishRaw publishes a body as it is, confirmed.
func publishRaw(t *testing.T, p *pipeline, exchange, key string, body []byte) {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURL())
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), exchange, key, true, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body})
	require.NoError(t, err)
	ok, err := dc.WaitContext(context.Background())
	require.NoError(t, err)
	require.True(t, ok)
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
