package erp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/testenv"
)

// countingGate records turns, and fails when asked to.
type countingGate struct {
	mu            sync.Mutex
	in, max, done int
	fail          error
}

func (g *countingGate) Enter(ctx context.Context) (func(), error) {
	if g.fail != nil {
		return nil, g.fail
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.in++
	g.max = max(g.max, g.in)
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.in--
		g.done++
	}, nil
}

// TestEveryQueryTakesItsTurnAtTheGate: each ERP statement, the column lookup
// included, runs inside one turn; a gate that cannot be reached does not
// stop the reads, and a wait cancelled does.
func TestEveryQueryTakesItsTurnAtTheGate(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_erp")
	testenv.Exec(t, dsn,
		`CREATE TABLE items (sku text PRIMARY KEY, qty integer, price numeric(12,2), lm timestamptz NOT NULL)`,
		`INSERT INTO items SELECT 'S' || g, g, g, now() - interval '1 hour' FROM generate_series(1, 10) g`,
		`CREATE VIEW v AS SELECT * FROM items`)
	g := &countingGate{}
	src, err := Open(ctx, Config{Driver: DriverPostgres, DSN: dsn, View: "v",
		Columns: Columns{SKU: "sku", Quantity: "qty", Price: "price", LastModified: "lm"}}, WithGate(g))
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })

	clock, err := src.Clock(ctx)
	require.NoError(t, err)
	rows, err := src.Page(ctx, inventory.Cursor{}, clock.Wall, 100)
	require.NoError(t, err)
	require.Len(t, rows, 10)
	_, err = src.Backlog(ctx, inventory.Cursor{}, clock.Wall)
	require.NoError(t, err)
	_, err = src.Future(ctx, clock.Wall, 10)
	require.NoError(t, err)
	_, err = src.Digest(ctx, "", 5)
	require.NoError(t, err)
	_, err = src.Range(ctx, "", "")
	require.NoError(t, err)
	_, err = src.Lookup(ctx, []string{"S1"})
	require.NoError(t, err)
	require.Equal(t, 8, g.done, "the column lookup and seven queries, each one turn")
	require.Equal(t, 1, g.max)
	require.Zero(t, g.in, "every turn ended")

	g.fail = errors.New("storefront down")
	_, err = src.Clock(ctx)
	require.NoError(t, err, "a gate out of reach does not stop the reads")

	cancelled, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-cancelled.Done()
	g.fail = cancelled.Err()
	_, err = src.Clock(cancelled)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a wait cancelled ends the query")
}
