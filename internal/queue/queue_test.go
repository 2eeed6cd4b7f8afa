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

func TestDeadLettersCarryTheirReason(t *testing.T) {
	ctx := context.Background()
	topo := testenv.Topology(t)
	p := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer p.Close()
	require.NoError(t, p.PublishDeadLetters(ctx, []queue.DeadLetter{{
		Payload: []byte(`{"sku":"X"}`), SKU: "X", BatchID: "b1",
		Reason: inventory.Rejection{Code: inventory.ReasonPriceNegative, Message: "price -1 is negative"},
	}}))
	got := testenv.Drain(t, topo.DeadLetterQueue(), 1, 5*time.Second)
	require.Len(t, got, 1)
	require.Equal(t, `{"sku":"X"}`, string(got[0].Body))
	require.Equal(t, inventory.ReasonPriceNegative, got[0].Headers[queue.HeaderReasonCode])
	require.Equal(t, "price -1 is negative", got[0].Headers[queue.HeaderReason])
	require.Equal(t, "b1", got[0].Headers[queue.HeaderBatch])
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

func TestDLQPeekLeavesAndTakeRemovesOnlyWhatItHandled(t *testing.T) {
	ctx := context.Background()
	topo := testenv.Topology(t)
	p := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer p.Close()
	letters := []queue.DeadLetter{
		{Payload: []byte(`{"sku":"A"}`), SKU: "A", Reason: inventory.Rejection{Code: "price_negative", Message: "price -1 is negative"}, BatchID: "b1"},
		{Payload: []byte(`{"sku":"B"}`), SKU: "B", Reason: inventory.Rejection{Code: "quantity_negative", Message: "quantity -3"}, BatchID: "b1", Attempts: 2},
		{Payload: []byte(`not json`), Reason: inventory.Rejection{Code: "undecodable", Message: "invalid character"}},
	}
	require.NoError(t, p.PublishDeadLetters(ctx, letters))
	dlq := queue.DLQ{URL: testenv.AMQPURL(), Topology: topo}
	depth := func() int {
		d, err := p.QueueDepth(ctx, topo.DeadLetterQueue())
		require.NoError(t, err)
		return d.Ready
	}

	seen, err := dlq.Peek(ctx, 10)
	require.NoError(t, err)
	require.Len(t, seen, 3)
	// Letters return to the queue as the peek's channel closes; the broker
	// counts them ready again a moment later.
	require.Eventually(t, func() bool { return depth() == 3 }, 5*time.Second, 10*time.Millisecond, "peeking leaves every letter in place")
	byID := map[string]queue.Letter{}
	for _, l := range seen {
		byID[l.ID] = l
	}
	b := byID[letters[1].ID()]
	require.Equal(t, "B", b.SKU)
	require.Equal(t, "quantity_negative", b.ReasonCode)
	require.Equal(t, "quantity -3", b.Reason)
	require.Equal(t, 2, b.Attempts)
	require.Equal(t, `{"sku":"B"}`, b.Payload)
	require.WithinDuration(t, time.Now(), b.At, time.Minute)
	require.Equal(t, 1, byID[letters[0].ID()].Attempts, "first time dead-lettered")

	_, err = dlq.Take(ctx, []string{b.ID}, false, 10, func(context.Context, []queue.Letter) error {
		return fmt.Errorf("replay failed")
	})
	require.Error(t, err)
	require.Eventually(t, func() bool { return depth() == 3 }, 5*time.Second, 10*time.Millisecond, "a failed operation removes nothing")

	var handled []queue.Letter
	taken, err := dlq.Take(ctx, []string{b.ID}, false, 10, func(_ context.Context, ls []queue.Letter) error {
		handled = ls
		return nil
	})
	require.NoError(t, err)
	require.Len(t, taken, 1)
	require.Equal(t, handled, taken)
	require.Eventually(t, func() bool { return depth() == 2 }, 5*time.Second, 10*time.Millisecond, "exactly the selected letter is gone")

	taken, err = dlq.Take(ctx, nil, true, 10, func(context.Context, []queue.Letter) error { return nil })
	require.NoError(t, err)
	require.Len(t, taken, 2)
	require.Eventually(t, func() bool { return depth() == 0 }, 5*time.Second, 10*time.Millisecond)

	_, err = dlq.Take(ctx, nil, false, 10, func(context.Context, []queue.Letter) error { return nil })
	require.ErrorContains(t, err, "select letters")
}
