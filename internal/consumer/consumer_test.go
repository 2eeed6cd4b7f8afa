package consumer_test

import (
	"context"
	"errors"
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
