package queue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
)

func changes(n int) []inventory.Change {
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	out := make([]inventory.Change, n)
	for i := range out {
		q, p := int64(i), fmt.Sprintf("%d.50", i)
		out[i] = inventory.Change{SKU: fmt.Sprintf("SKU-%05d", i), Quantity: &q, Price: &p, LastModified: at, ObservedAt: at}
	}
	return out
}

func TestPublishChangesIsConfirmedAndDurable(t *testing.T) {
	ctx := context.Background()
	topo := testenv.Topology(t)
	p := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer p.Close()

	want := changes(2000)
	require.NoError(t, p.PublishChanges(ctx, want))
	// Confirmed means enqueued: the count is exact as soon as Publish
	// returns. Many changes share a message, none larger than a set may be.
	ready, err := p.ChangesReady(ctx)
	require.NoError(t, err)
	sets, err := inventory.EncodeChangeSets(want, inventory.DefaultSetBytes)
	require.NoError(t, err)
	require.Equal(t, len(sets), ready)
	require.Less(t, ready, 10, "2,000 changes of ~150 bytes share a few sets of at most 64 KiB")

	var got []inventory.Change
	for _, d := range testenv.Drain(t, topo.ChangesQueue(), ready, 10*time.Second) {
		require.LessOrEqual(t, len(d.Body), inventory.DefaultSetBytes)
		require.Equal(t, amqp.Persistent, d.DeliveryMode)
		require.Equal(t, inventory.SetID(d.Body), d.MessageId)
		cs, bad, err := inventory.DecodeChangeSet(d.Body)
		require.NoError(t, err)
		require.Empty(t, bad)
		got = append(got, cs...)
	}
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].SKU, got[i].SKU, "in order")
	}
}

func TestPublisherReconnectsAfterConnectionLoss(t *testing.T) {
	ctx := context.Background()
	topo := testenv.Topology(t)
	p := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer p.Close()
	require.NoError(t, p.PublishChanges(ctx, changes(1)))
	require.NoError(t, p.Close()) // as if the broker had dropped us
	require.NoError(t, p.PublishChanges(ctx, changes(3)))
	ready, err := p.ChangesReady(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, ready, "one change set per publish")
}

func TestPublishHonoursContext(t *testing.T) {
	topo := testenv.Topology(t)
	p := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.PublishChanges(ctx, changes(10)), context.Canceled)
}

func TestDeliveryLimitDeadLettersAPoisonMessage(t *testing.T) {
	ctx := context.Background()
	topo := testenv.Topology(t)
	topo.DeliveryLimit = 2
	p := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer p.Close()
	require.NoError(t, p.PublishChanges(ctx, changes(1)))

	conn, err := amqp.Dial(testenv.AMQPURL())
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	for range 3 { // a consumer that keeps handing the message back
		d, ok, err := ch.Get(topo.ChangesQueue(), false)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, d.Nack(false, true))
	}
	got := testenv.Drain(t, topo.DeadLetterQueue(), 1, 10*time.Second)
	require.Len(t, got, 1, "past the delivery limit the broker moves it to the DLQ")
	ready, err := p.ChangesReady(ctx)
	require.NoError(t, err)
	require.Zero(t, ready)
}

func TestDeclareIsIdempotent(t *testing.T) {
	topo := testenv.Topology(t)
	conn, err := amqp.Dial(testenv.AMQPURL())
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, topo.Declare(ch))
	require.NoError(t, topo.Declare(ch))
}
