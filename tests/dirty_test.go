package tests

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/dev/demoerp"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// TestDirtyERPNeverStallsTheSync runs the pipeline against an ERP view that
// looks like a real one: Dynamics-style decimal(38,20) quantities, rows from
// an outer join with a NULL SKU, fractional and negative quantities, prices
// and costs of 100,000 digits, SKUs with control characters or of 100, 300
// and 10,000 bytes, a version dated 9999-12-31; and a changes queue that also
// holds a 3 MB garbage message and 20 oversized ones. Every good row arrives
// exact, later changes keep flowing, the poller is never failing, and each bad
// row or message is exactly one dead letter with the right reason.
func TestDirtyERPNeverStallsTheSync(t *testing.T) {
	ctx := context.Background()
	const skus = 3000
	p := newPipeline(t, skus, "INVSYNC_ERP_COL_COST=cost", "INVSYNC_ERP_COL_CATEGORY=category",
		"INVSYNC_PAGE_SIZE=500", "INVSYNC_BATCH_SIZE=200")
	p.env = append(p.env, fmt.Sprintf("INVSYNC_DELIVERY_LIMIT=%d", p.topo.DeliveryLimit))
	// The demo view becomes a Dynamics-style one: exact decimals everywhere,
	// and a second table joined in whose rows may lack a SKU.
	testenv.Exec(t, p.erpDSN,
		`DROP VIEW `+demoerp.View,
		`ALTER TABLE erp_items ALTER COLUMN quantity TYPE numeric(38,20), ALTER COLUMN price TYPE numeric,
			ALTER COLUMN cost TYPE numeric`,
		`CREATE TABLE erp_extra (sku text, quantity numeric(38,20), price numeric, cost numeric, category text,
			last_modified timestamptz NOT NULL DEFAULT clock_timestamp())`,
		`CREATE INDEX ON erp_extra (last_modified, sku)`,
		`CREATE VIEW `+demoerp.View+` AS
			SELECT sku, quantity, price, cost, category, last_modified FROM erp_items
			UNION ALL SELECT sku, quantity, price, cost, category, last_modified FROM erp_extra`,
		`GRANT SELECT ON `+demoerp.View+` TO `+demoerp.Reader,
	)
	bad := map[string]string{} // reason code by SKU as a letter shows it
	ctrl := "CTRL\x01\x1b[31m"
	rows := []struct {
		sku        *string
		qty, price string
		cost       *string
		modified   string
		code       string
	}{
		{nil, "1", "1", nil, "", inventory.ReasonSKUEmpty},
		{ptr("FRACTION"), "2.5", "1", nil, "", inventory.ReasonQuantityFractional},
		{ptr("NEGATIVE"), "-3", "1", nil, "", inventory.ReasonQuantityNegative},
		{ptr("HUGE-PRICE"), "1", strings.Repeat("9", 100000), nil, "", inventory.ReasonPriceInvalid},
		{ptr("HUGE-COST"), "1", "1", ptr(strings.Repeat("9", 100000)), "", inventory.ReasonCostInvalid},
		{ptr(ctrl), "1", "1", nil, "", inventory.ReasonSKUInvalid},
		{ptr(strings.Repeat("A", 100)), "1", "1", nil, "", inventory.ReasonSKUTooLong},
		{ptr(strings.Repeat("B", 300)), "1", "1", nil, "", inventory.ReasonSKUTooLong},
		{ptr(strings.Repeat("C", 10000)), "1", "1", nil, "", inventory.ReasonSKUTooLong},
		{ptr("FUTURE"), "1", "1", nil, "9999-12-31", inventory.ReasonVersionInFuture},
	}
	conn, err := pgx.Connect(ctx, p.erpDSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, r := range rows {
		shown := ""
		if r.sku != nil {
			shown = *r.sku
			if inventory.CheckSKU(*r.sku) != nil {
				shown = inventory.Quote(*r.sku)
			}
		}
		modified := any(nil)
		if r.modified != "" {
			modified = r.modified
		}
		_, err := conn.Exec(ctx, `INSERT INTO erp_extra (sku, quantity, price, cost, last_modified)
			VALUES ($1, $2::numeric, $3::numeric, $4::numeric, coalesce($5::timestamptz, clock_timestamp()))`,
			r.sku, r.qty, r.price, r.cost, modified)
		require.NoError(t, err, "insert %.20q", shown)
		bad[shown] = r.code
	}
	require.Len(t, bad, len(rows))

	// A 3 MB garbage message and 20 oversized ones, already on the queue
	// when the worker starts.
	pub := queue.NewPublisher(testenv.AMQPURL(), p.topo)
	defer pub.Close()
	garbage := []amqp.Publishing{{Body: bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 3<<18)}}
	for i := range 20 {
		body := fmt.Sprintf(`{"sku":"BIG-%02d","quantity":1,"price":"1","category":%q}`, i, strings.Repeat("x", 40<<10))
		garbage = append(garbage, amqp.Publishing{Body: []byte(body)})
	}
	require.NoError(t, pub.Publish(ctx, p.topo.Exchange(), p.topo.ChangesQueue(), garbage))

	p.startWorker()
	p.run("starter")
	failing := watchPoller(t, p)

	skip := map[string]bool{"FRACTION": true, "NEGATIVE": true, "HUGE-PRICE": true, "HUGE-COST": true, "FUTURE": true}
	converged := p.waitConverged(ctx, 2*time.Minute, skip)
	t.Logf("dirty ERP: %d good rows exact in the storefront after %s", skus, converged.Round(time.Millisecond))

	codes, _ := p.deadLetters(len(bad)+len(garbage), time.Minute)
	oversized := 0
	for sku, code := range codes {
		if code == inventory.ReasonOversized {
			oversized++
			delete(codes, sku)
		}
	}
	require.Equal(t, len(garbage), oversized, "each oversized message is one letter")
	require.Equal(t, bad, codes, "each bad row is one letter, with its reason")
	t.Logf("dirty ERP: %d bad rows and %d bad messages, one dead letter each", len(bad), oversized)

	// Later changes keep flowing, fixed rows included.
	changedAt := time.Now()
	testenv.Exec(t, p.erpDSN,
		`UPDATE erp_items SET quantity = quantity + 1 WHERE sku IN (SELECT sku FROM erp_items ORDER BY sku LIMIT 200)`,
		`UPDATE erp_extra SET quantity = 2, last_modified = clock_timestamp() WHERE sku = 'FRACTION'`)
	p.waitConverged(ctx, time.Minute, skip)
	require.Eventually(t, func() bool {
		return p.load(ctx, p.storeDSN, `SELECT sku, quantity, price_cents, erp_modified FROM inventory
			WHERE sku = 'FRACTION'`)["FRACTION"].Quantity == 2
	}, 30*time.Second, 100*time.Millisecond, "a row fixed in the ERP syncs")
	t.Logf("dirty ERP: 201 later changes converged %s after they were committed", time.Since(changedAt).Round(time.Millisecond))

	codes, _ = p.deadLetters(len(bad)+len(garbage), time.Second)
	require.Len(t, codes, len(bad)+len(garbage), "reading the view again adds no letter")
	require.Empty(t, failing(), "the poller was never failing")
	status := queryStatus(t, temporal.Client(), p.pollerID())
	require.GreaterOrEqual(t, status.Totals.Rejected, int64(8), "the rows that cannot be changes are counted by the poller")
	require.Equal(t, 1, status.FutureRows, "the row from the future shows in the poller's status")
	require.Zero(t, p.scrape().sum("invsync_queue_messages", `queue="changes"`, `state="ready"`), "the changes queue is empty")
	p.stopWorker(30 * time.Second)
}

func ptr[T any](v T) *T { return &v }

// watchPoller samples the poller's status until the test ends and returns
// a func that lists the failing states it saw.
func watchPoller(t *testing.T, p *pipeline) func() []string {
	var mu sync.Mutex
	var seen []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tc := temporal.Client()
		for ctx.Err() == nil {
			if v, err := tc.QueryWorkflow(ctx, p.pollerID(), "", workflows.QueryStatus); err == nil {
				var s workflows.PollStatus
				if v.Get(&s) == nil && (s.State == workflows.StateFailing || s.LastError != "") {
					mu.Lock()
					seen = append(seen, s.State+": "+s.LastError)
					mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}
