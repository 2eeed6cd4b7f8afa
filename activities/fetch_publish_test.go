package activities

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/invsync/invsync/dev/demoerp"
	"github.com/invsync/invsync/internal/erp"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
)

// pollerFixture is a real demo ERP with n rows and a real RabbitMQ topology.
type pollerFixture struct {
	poller *Poller
	pub    *queue.Publisher
	topo   queue.Topology
	env    *testsuite.TestActivityEnvironment
}

func newPollerFixture(t *testing.T, n int) *pollerFixture {
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_erp")
	db, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	_, err = demoerp.Setup(ctx, db, n)
	db.Close()
	require.NoError(t, err)
	src, err := erp.Open(ctx, erp.Config{Driver: erp.DriverPostgres, DSN: dsn, View: demoerp.View,
		Columns: erp.Columns{SKU: "sku", Quantity: "quantity", Price: "price", LastModified: "last_modified"}})
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	topo := testenv.Topology(t)
	pub := queue.NewPublisher(testenv.AMQPURL(), topo)
	t.Cleanup(func() { pub.Close() })
	f := &pollerFixture{poller: &Poller{Source: src, Publisher: pub}, pub: pub, topo: topo}
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

func TestFetchAndPublishPagesUpToTheLimitAndSaysMore(t *testing.T) {
	f := newPollerFixture(t, 250)
	time.Sleep(50 * time.Millisecond)
	res := f.fetch(t, FetchInput{PageSize: 100, MaxPages: 2, SettleDelay: time.Millisecond})
	require.Equal(t, 200, res.Rows)
	require.Equal(t, 2, res.Pages)
	require.True(t, res.More)
	require.Equal(t, int64(50), res.Backlog, "rows left to read are counted")
	require.Equal(t, 200, f.ready(t))

	res = f.fetch(t, FetchInput{Cursor: res.Cursor, PageSize: 100, MaxPages: 2, SettleDelay: time.Millisecond})
	require.Equal(t, 50, res.Rows)
	require.False(t, res.More)
	require.Zero(t, res.Backlog)
	require.Equal(t, 250, f.ready(t))

	got := testenv.Drain(t, f.topo.ChangesQueue(), 250, 10*time.Second)
	seen := map[string]bool{}
	for _, d := range got {
		seen[d.MessageId] = true
	}
	require.Len(t, seen, 250, "each row published once")
}

func TestFetchAndPublishResumesFromItsHeartbeat(t *testing.T) {
	f := newPollerFixture(t, 30)
	time.Sleep(50 * time.Millisecond)
	// A first attempt published 10 rows, heartbeated, and died.
	first := f.fetch(t, FetchInput{PageSize: 10, MaxPages: 1, SettleDelay: time.Millisecond})
	require.Equal(t, 10, f.ready(t))
	f.env.SetHeartbeatDetails(first)
	// The retry gets the original input but carries on from the heartbeat.
	res := f.fetch(t, FetchInput{PageSize: 10, MaxPages: 5, SettleDelay: time.Millisecond})
	require.Equal(t, 30, res.Rows, "rows count across attempts")
	require.Equal(t, 30, f.ready(t), "nothing before the heartbeat is published again")
	require.Equal(t, "SKU-0000030", res.Cursor.SKU)
}

func TestFetchAndPublishHoldsBackAtHighWater(t *testing.T) {
	f := newPollerFixture(t, 30)
	time.Sleep(50 * time.Millisecond)
	f.fetch(t, FetchInput{PageSize: 20, MaxPages: 1, SettleDelay: time.Millisecond})
	res := f.fetch(t, FetchInput{Cursor: inventory.Cursor{}, PageSize: 20, MaxPages: 1, SettleDelay: time.Millisecond, HighWater: 20})
	require.True(t, res.Throttled)
	require.Zero(t, res.Rows)
	require.Equal(t, 20, f.ready(t), "nothing was published while the queue was at its high-water mark")
}

func TestFetchAndPublishLeavesUnsettledRows(t *testing.T) {
	f := newPollerFixture(t, 30)
	res := f.fetch(t, FetchInput{PageSize: 100, MaxPages: 1, SettleDelay: time.Hour})
	require.True(t, res.Settling, "rows newer than the settle bound were seen")
	require.Zero(t, res.Rows)
	require.True(t, res.Cursor.IsZero(), "the cursor does not pass unsettled rows")
	require.Zero(t, f.ready(t))
}
