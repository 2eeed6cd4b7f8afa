package storefront

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestERPGateTakesTurnsAcrossWorkers: two workers (two pools on one
// storefront) take turns at one source's gate, not at another's, and a
// cancelled wait leaves no lock behind.
func TestERPGateTakesTurnsAcrossWorkers(t *testing.T) {
	ctx := context.Background()
	_, dsn := openStore(t)
	gate := func(source string) *ERPGate {
		g, err := OpenERPGate(ctx, dsn, source)
		require.NoError(t, err)
		t.Cleanup(g.Close)
		return g
	}
	a, b, other := gate("erp"), gate("erp"), gate("other")

	leaveA, err := a.Enter(ctx)
	require.NoError(t, err)

	wait, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = b.Enter(wait)
	require.Error(t, err, "the second worker waits while the first queries")

	leaveOther, err := other.Enter(ctx)
	require.NoError(t, err, "another source's gate is another lock")
	leaveOther()

	entered := make(chan func(), 1)
	go func() {
		leave, err := b.Enter(ctx)
		if err == nil {
			entered <- leave
		}
	}()
	select {
	case <-entered:
		t.Fatal("entered while the first worker holds the turn")
	case <-time.After(200 * time.Millisecond):
	}
	leaveA()
	select {
	case leaveB := <-entered:
		leaveB()
	case <-time.After(5 * time.Second):
		t.Fatal("the second worker never got its turn")
	}
	leaveA2, err := a.Enter(ctx)
	require.NoError(t, err, "the cancelled wait left no lock behind")
	leaveA2()
}
