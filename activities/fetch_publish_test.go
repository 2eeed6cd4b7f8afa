package activities

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/invsync/invsync/dev/demoerp"
	"github.com/invsync/invsync/internal/erp"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/testenv"
)

// pollerFixture is a real demo ERP with n rows and a real RabbitMQ topology.
type pollerFixture struct {
	poller *Fetcher
	pub    *queue.Publisher
	topo   queue.Topology
	env    *testsuite.TestActivityEnvironment

	erpDSN, storeDSN string
}

func newPollerFixture(t *testing.T, n int) *pollerFixture {
	dsn, src := openDemoERP(t, n, erp.Columns{SKU: "sku", Quantity: "quantity", Price: "price", LastModified: "last_modified"})
	topo := testenv.Topology(t)
	pub := queue.NewPublisher(testenv.AMQPURL(), topo)
	t.Cleanup(func() { pub.Close() })
	storeDSN, store := openStorefront(t)
	f := &pollerFixture{poller: &Fetcher{Source: src, Publisher: pub, Queue: queue.Depths{Publisher: pub}, DeadLetters: store}, pub: pub, topo: topo,
		erpDSN: dsn, storeDSN: storeDSN}
	var s testsuite.WorkflowTestSuite
	f.env = s.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.poller)
	return f
}

func (f *pollerFixture) fetch(t *testing.T, in FetchInput) FetchResult {
	t.Helper()
	v, err := f.env.ExecuteActivity(f.poller.FetchAndPublish, in)
	require.NoError(t, err)
	var res FetchResult
	require.NoError(t, v.Get(&res))
	return res
}

func (f *pollerFixture) ready(t *testing.T) int {
	t.Helper()
	n, err := f.pub.ChangesReady(context.Background())
	require.NoError(t, err)
	return n
}

// published drains the n messages of the changes queue and returns the
// changes they hold.
func (f *pollerFixture) published(t *testing.T, n int) []inventory.Change {
	t.Helper()
	var out []inventory.Change
	for _, d := range testenv.Drain(t, f.topo.ChangesQueue(), n, 10*time.Second) {
		cs, bad, err := inventory.DecodeChangeSet(d.Body)
		require.NoError(t, err)
		require.Empty(t, bad)
		out = append(out, cs...)
	}
	return out
}

func TestFetchAndPublishPagesUpToTheLimitAndSaysMore(t *testing.T) {
	f := newPollerFixture(t, 250)
	time.Sleep(50 * time.Millisecond)
	res := f.fetch(t, FetchInput{PageSize: 100, MaxPages: 2, SettleDelay: time.Millisecond})
	require.Equal(t, 200, res.Rows)
	require.Equal(t, 2, res.Pages)
	require.True(t, res.More)
	require.Equal(t, int64(50), res.Backlog, "rows left to read are counted")
	require.Equal(t, 2, f.ready(t), "a page of 100 rows is one change set")

	res = f.fetch(t, FetchInput{Cursor: res.Cursor, PageSize: 100, MaxPages: 2, SettleDelay: time.Millisecond})
	require.Equal(t, 50, res.Rows)
	require.False(t, res.More)
	require.Zero(t, res.Backlog)
	require.Equal(t, 3, f.ready(t))

	seen := map[string]bool{}
	for _, c := range f.published(t, 3) {
		seen[c.MessageID()] = true
	}
	require.Len(t, seen, 250, "each row published once")
}

func TestFetchAndPublishResumesFromItsHeartbeat(t *testing.T) {
	f := newPollerFixture(t, 30)
	time.Sleep(50 * time.Millisecond)
	// A first attempt published 10 rows, heartbeated, and died.
	first := f.fetch(t, FetchInput{PageSize: 10, MaxPages: 1, SettleDelay: time.Millisecond})
	require.Equal(t, 1, f.ready(t))
	f.env.SetHeartbeatDetails(first)
	// The retry gets the original input but carries on from the heartbeat.
	res := f.fetch(t, FetchInput{PageSize: 10, MaxPages: 5, SettleDelay: time.Millisecond})
	require.Equal(t, 30, res.Rows, "rows count across attempts")
	require.Equal(t, "SKU-0000030", res.Cursor.SKU)
	require.Len(t, f.published(t, 3), 30, "nothing before the heartbeat is published again")
}

func TestFetchAndPublishHoldsBackAtHighWater(t *testing.T) {
	f := newPollerFixture(t, 30)
	time.Sleep(50 * time.Millisecond)
	f.fetch(t, FetchInput{PageSize: 20, MaxPages: 1, SettleDelay: time.Millisecond})
	res := f.fetch(t, FetchInput{Cursor: inventory.Cursor{}, PageSize: 20, MaxPages: 1, SettleDelay: time.Millisecond, HighWater: 1})
	require.True(t, res.Throttled)
	require.Zero(t, res.Rows)
	require.Equal(t, 1, f.ready(t), "nothing was published while the queue was at its high-water mark")
}

func TestFetchAndPublishLeavesUnsettledRows(t *testing.T) {
	f := newPollerFixture(t, 30)
	res := f.fetch(t, FetchInput{PageSize: 100, MaxPages: 1, SettleDelay: time.Hour})
	require.True(t, res.Settling, "rows newer than the settle bound were seen")
	require.Zero(t, res.Rows)
	require.True(t, res.Cursor.IsZero(), "the cursor does not pass unsettled rows")
	require.Zero(t, f.ready(t))
}

// TestFetchAndPublishDeadLettersWhatCannotBeAChange reads a view that holds
// what real ERP views hold: decimal(38,20) quantities, NULL SKUs, fractions,
// numbers no column type bounds, floats, control characters, over-long SKUs
// and a version from the future. Good rows are published; each bad row is
// one dead letter with its reason and its place in the view, however often it
// is read; the cursor moves past all of them.
func TestFetchAndPublishDeadLettersWhatCannotBeAChange(t *testing.T) {
	f := newPollerFixture(t, 0)
	ctx := context.Background()
	testenv.Exec(t, f.erpDSN, `CREATE TABLE dirty (sku text, quantity numeric(38,20), price numeric, cost float8,
		category text, last_modified timestamptz NOT NULL)`,
		`CREATE INDEX ON dirty (last_modified, sku)`,
		`INSERT INTO dirty VALUES
			('GOOD-1', 12.00000000000000000000, 9.99, 5, 'tools', now() - interval '1 minute'),
			('GOOD-2', -3, 1.5, NULL, NULL, now() - interval '1 minute'),
			(NULL, 1, 1, NULL, NULL, now() - interval '1 minute'),
			('FRACTION', 2.5, 1, NULL, NULL, now() - interval '1 minute'),
			('HUGE-PRICE', 1, '1e100000'::numeric, NULL, NULL, now() - interval '1 minute'),
			('HUGE-COST', 1, 1, 1e300, NULL, now() - interval '1 minute'),
			('NULL-PRICE', 1, NULL, NULL, NULL, now() - interval '1 minute'),
			(E'CTRL\x01\x1b[31m', 1, 1, NULL, NULL, now() - interval '1 minute'),
			(repeat('L', 300), 1, 1, NULL, NULL, now() - interval '1 minute'),
			('FUTURE', 1, 1, NULL, NULL, '9999-12-31')`,
		`CREATE VIEW v_dirty AS SELECT * FROM dirty`)
	src, err := erp.Open(ctx, erp.Config{Driver: erp.DriverPostgres, DSN: f.erpDSN, View: "v_dirty",
		Columns: erp.Columns{SKU: "sku", Quantity: "quantity", Price: "price", Cost: "cost", Category: "category", LastModified: "last_modified"}})
	require.NoError(t, err)
	defer src.Close()
	f.poller.Source = src

	in := FetchInput{PageSize: 3, MaxPages: 10, SettleDelay: time.Millisecond}
	res := f.fetch(t, in)
	require.Equal(t, 9, res.Rows, "every row in the view's range is read and passed")
	require.Equal(t, 7, res.Rejected)
	require.Equal(t, 1, res.Future)
	require.False(t, res.More)
	require.Equal(t, 2, f.ready(t), "only the rows that are changes are published")

	want := map[string]string{
		"":                   inventory.ReasonSKUEmpty,
		"FRACTION":           inventory.ReasonQuantityFractional,
		"HUGE-PRICE":         inventory.ReasonPriceInvalid,
		"HUGE-COST":          inventory.ReasonCostInvalid,
		"NULL-PRICE":         inventory.ReasonPriceMissing,
		`"CTRL\x01\x1b[31m"`: inventory.ReasonSKUInvalid,
		inventory.Quote(strings.Repeat("L", 300)): inventory.ReasonSKUTooLong,
		"FUTURE": inventory.ReasonVersionInFuture,
	}
	letters := func() map[string]string {
		got := map[string]string{}
		conn, err := pgxpool.New(ctx, f.storeDSN)
		require.NoError(t, err)
		defer conn.Close()
		rows, err := conn.Query(ctx, `SELECT sku, reason_code, reason, erp_cursor IS NOT NULL FROM dead_letters`)
		require.NoError(t, err)
		for rows.Next() {
			var sku, code, reason string
			var hasCursor bool
			require.NoError(t, rows.Scan(&sku, &code, &reason, &hasCursor))
			require.True(t, hasCursor, "a letter from the ERP says where the row is")
			require.NotEmpty(t, reason)
			require.Less(t, len(reason), 300, "a reason is short: %s", reason)
			_, dup := got[sku]
			require.False(t, dup, "one letter per row: %s", sku)
			got[sku] = code
		}
		require.NoError(t, rows.Err())
		return got
	}
	require.Equal(t, want, letters())

	// Read again from the start (a retry, a look-back): no letter twice.
	res = f.fetch(t, in)
	require.Equal(t, 7, res.Rejected)
	require.Equal(t, want, letters())

	var skus []string
	for _, c := range f.published(t, 4) {
		skus = append(skus, c.SKU)
		if c.SKU == "GOOD-1" {
			require.Equal(t, int64(12), *c.Quantity, "decimal(38,20) quantity read exactly")
			require.Equal(t, "9.99", *c.Price)
			require.Equal(t, "5", *c.Cost)
		}
	}
	require.ElementsMatch(t, []string{"GOOD-1", "GOOD-2", "GOOD-1", "GOOD-2"}, skus)
}

// openDemoERP is a demo ERP of n rows in a database of its own, read through
// the view with cols mapped.
func openDemoERP(t *testing.T, n int, cols erp.Columns) (string, *erp.Source) {
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_erp")
	db, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	_, err = demoerp.Setup(ctx, db, n)
	db.Close()
	require.NoError(t, err)
	src, err := erp.Open(ctx, erp.Config{Driver: erp.DriverPostgres, DSN: dsn, View: demoerp.View, Columns: cols})
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	return dsn, src
}

// openStorefront is a migrated storefront in a database of its own.
func openStorefront(t *testing.T) (string, *storefront.Store) {
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_store")
	require.NoError(t, storefront.Migrate(ctx, dsn))
	store, err := storefront.Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	return dsn, store
}
