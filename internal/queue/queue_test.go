package queue_test

import (
	"context"
	"encoding/json"
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

	require.NoError(t, p.PublishChanges(ctx, changes(2000)))
	// Confirmed means enqueued: the count is exact as soon as Publish returns.
	ready, err := p.ChangesReady(ctx)
	require.NoError(t, err)
	require.Equal(t, 2000, ready)

	got := testenv.Drain(t, topo.ChangesQueue(), 2000, 10*time.Second)
	require.Len(t, got, 2000)
	var c inventory.Change
	require.NoError(t, json.Unmarshal(got[0].Body, &c))
	require.Equal(t, "SKU-00000", c.SKU)
	require.Equal(t, amqp.Persistent, got[0].DeliveryMode)
	require.Equal(t, c.MessageID(), got[0].MessageId)
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
	require.Equal(t, 4, ready)
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
