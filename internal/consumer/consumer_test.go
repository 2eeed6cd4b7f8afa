package consumer_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/consumer"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// recorder stands in for Temporal here (the end-to-end tests use a real
// server); it fails its first failures starts.
type recorder struct {
	mu       sync.Mutex
	failures int
	batches  []workflows.ApplyInput
}

func (r *recorder) StartBatch(_ context.Context, in workflows.ApplyInput) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		return errors.New("temporal unavailable")
	}
	r.batches = append(r.batches, in)
	return nil
}

func (r *recorder) rows() (changes, undecodable int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		changes += len(b.Changes)
		undecodable += len(b.Undecodable)
	}
	return
}

func TestPoolBatchesAcksAfterStartAndKeepsUndecodable(t *testing.T) {
	topo := testenv.Topology(t)
	pub := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer pub.Close()
	ctx := context.Background()

	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var cs []inventory.Change
	for i := range 1000 {
		q, p := int64(i), "1.00"
		cs = append(cs, inventory.Change{SKU: string(rune('A'+i%26)) + time.Duration(i).String(), Quantity: &q, Price: &p, LastModified: at, ObservedAt: at})
	}
	require.NoError(t, pub.PublishChanges(ctx, cs))
	require.NoError(t, pub.Publish(ctx, topo.Exchange(), topo.ChangesQueue(), []amqp.Publishing{{Body: []byte("not json")}}))

	rec := &recorder{failures: 2}
	pool := consumer.New(consumer.Config{
		URL: testenv.AMQPURL(), Topology: topo, Consumers: 3, BatchSize: 100, BatchWait: 50 * time.Millisecond,
	}, rec)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { pool.Run(runCtx); close(done) }()

	require.Eventually(t, func() bool {
		c, u := rec.rows()
		return c == 1000 && u == 1
	}, 30*time.Second, 50*time.Millisecond)
	// Everything handed to the starter is acked: nothing is left or unacked.
	require.Eventually(t, func() bool {
		ready, err := pub.ChangesReady(ctx)
		return err == nil && ready == 0
	}, 10*time.Second, 50*time.Millisecond)
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pool did not stop")
	}
	for _, b := range rec.batches {
		require.LessOrEqual(t, len(b.Changes)+len(b.Undecodable), 100)
		for _, u := range b.Undecodable {
			require.Equal(t, "not json", string(u.Payload))
			require.Equal(t, inventory.ReasonUndecodable, u.Reason.Code)
			require.Equal(t, b.BatchID, u.BatchID)
		}
	}
	// Nothing is redelivered after the stop: the acks were real.
	require.Empty(t, testenv.Drain(t, topo.ChangesQueue(), 1, 500*time.Millisecond))
}

func TestPoolHandsBackUnstartedBatchesOnShutdown(t *testing.T) {
	topo := testenv.Topology(t)
	pub := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer pub.Close()
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	q, p := int64(1), "1.00"
	require.NoError(t, pub.PublishChanges(ctx, []inventory.Change{{SKU: "A", Quantity: &q, Price: &p, LastModified: at, ObservedAt: at}}))

	rec := &recorder{failures: 1 << 30} // Temporal never comes back
	pool := consumer.New(consumer.Config{URL: testenv.AMQPURL(), Topology: topo, Consumers: 1, BatchSize: 10, BatchWait: 10 * time.Millisecond, StartTimeout: time.Second}, rec)
	runCtx, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	pool.Run(runCtx)

	got := testenv.Drain(t, topo.ChangesQueue(), 1, 5*time.Second)
	require.Len(t, got, 1, "the change is back in the queue, not lost")
	require.True(t, got[0].Redelivered)
}

// connections lists the broker's connections whose name starts with prefix.
func connections(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "-q", "list_connections", "pid", "client_properties").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var pids []string
	for _, line := range strings.Split(string(out), "\n") {
		if pid, props, ok := strings.Cut(line, "\t"); ok && strings.Contains(props, `"`+prefix) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestPoolReconnectsWhenTheBrokerDropsIt(t *testing.T) {
	topo := testenv.Topology(t)
	pub := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer pub.Close()
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	publish := func(from, n int) {
		var cs []inventory.Change
		for i := from; i < from+n; i++ {
			q, p := int64(i), "1.00"
			cs = append(cs, inventory.Change{SKU: time.Duration(i).String(), Quantity: &q, Price: &p, LastModified: at, ObservedAt: at})
		}
		require.NoError(t, pub.PublishChanges(ctx, cs))
	}
	rec := &recorder{}
	pool := consumer.New(consumer.Config{URL: testenv.AMQPURL(), Topology: topo, Consumers: 2, BatchSize: 10, BatchWait: 10 * time.Millisecond}, rec)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { pool.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	publish(0, 50)
	require.Eventually(t, func() bool { c, _ := rec.rows(); return c == 50 }, 20*time.Second, 20*time.Millisecond)
	// The broker drops both consumers' connections, as a restart or a
	// network cut would.
	var pids []string
	require.Eventually(t, func() bool {
		pids = connections(t, topo.Prefix+"-consumer-")
		return len(pids) == 2
	}, 10*time.Second, 100*time.Millisecond)
	for _, pid := range pids {
		out, err := exec.Command("rabbitmqctl", "-q", "close_connection", pid, "test: connection dropped").CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	require.Eventually(t, func() bool {
		now := connections(t, topo.Prefix+"-consumer-")
		return len(now) == 2 && !slices.Contains(now, pids[0]) && !slices.Contains(now, pids[1])
	}, 20*time.Second, 200*time.Millisecond, "both consumers came back on new connections")
	publish(50, 50)
	require.Eventually(t, func() bool { c, _ := rec.rows(); return c >= 100 }, 30*time.Second, 50*time.Millisecond,
		"the consumers reconnected and took the later changes")
}
