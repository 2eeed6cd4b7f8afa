package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
)

func TestLettersOf(t *testing.T) {
	c := changes(1)[0]
	body, _ := json.Marshal(c)
	death := amqp.Table{"x-first-death-queue": "inventory.changes", "x-first-death-reason": "delivery_limit"}
	for _, tt := range []struct {
		name     string
		d        amqp.Delivery
		id       string
		stage    string
		code     string
		message  string
		attempts int
	}{
		{"a change the broker dead-lettered", amqp.Delivery{Body: body, Headers: death},
			deadletter.ForChange(c, inventory.Rejection{}, "", "").ID, deadletter.StageBroker, queue.ReasonDeliveryLimit,
			"the broker dead-lettered it from inventory.changes (delivery_limit): consumers kept failing while holding it", 1},
		{"a message that is not a change", amqp.Delivery{Body: []byte("\x00junk"), Headers: death},
			deadletter.ForMessage([]byte("\x00junk"), inventory.Rejection{}, "").ID, deadletter.StageBroker, inventory.ReasonUndecodable,
			"the broker dead-lettered it from inventory.changes (delivery_limit); not a JSON array of changes", 1},
		{"a message without the broker's record", amqp.Delivery{Body: body},
			deadletter.ForChange(c, inventory.Rejection{}, "", "").ID, deadletter.StageBroker, queue.ReasonDeliveryLimit,
			"dead-lettered without the broker's record of where from: consumers kept failing while holding it", 1},
		{"a letter an earlier version published", amqp.Delivery{Body: body, Headers: amqp.Table{
			queue.HeaderReasonCode: "quantity_negative", queue.HeaderReason: "quantity -3 is negative",
			queue.HeaderAttempts: int32(3), queue.HeaderBatch: "b7"}},
			deadletter.ForChange(c, inventory.Rejection{}, "", "").ID, deadletter.StageApply, "quantity_negative",
			"quantity -3 is negative", 3},
		{"hostile headers are quoted", amqp.Delivery{Body: []byte("x"), Headers: amqp.Table{
			queue.HeaderReasonCode: "bad\x1b[2J", queue.HeaderReason: "\xff"}},
			deadletter.ForMessage([]byte("x"), inventory.Rejection{}, "").ID, deadletter.StageConsumer, `"bad\x1b[2J"`,
			`"\xff"`, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ls := queue.LettersOf(tt.d)
			require.Len(t, ls, 1)
			l := ls[0]
			require.Equal(t, tt.id, l.ID)
			require.Equal(t, tt.stage, l.Stage)
			require.Equal(t, tt.code, l.Reason.Code)
			require.Equal(t, tt.message, l.Reason.Message)
			require.Equal(t, tt.attempts, l.Attempts)
			require.Equal(t, tt.d.Body, l.Payload)
		})
	}
	l := queue.LettersOf(amqp.Delivery{Body: body, Headers: amqp.Table{queue.HeaderReasonCode: "x", queue.HeaderBatch: "b7"}})[0]
	require.Equal(t, "b7", l.BatchID)

	// A change set is a letter per change, and one per element that is not
	// a change: nothing in it is lost with its neighbours.
	cs := changes(3)
	sets, err := inventory.EncodeChangeSets(cs, inventory.DefaultSetBytes)
	require.NoError(t, err)
	require.Len(t, sets, 1)
	set := append(append(sets[0][:len(sets[0])-1:len(sets[0])-1], []byte(`,{"sku":"x","colour":"red"}`)...), ']')
	ls := queue.LettersOf(amqp.Delivery{Body: set, Headers: death})
	require.Len(t, ls, 4)
	for i, c := range cs {
		require.Equal(t, deadletter.ForChange(c, inventory.Rejection{}, "", "").ID, ls[i].ID)
		require.Equal(t, queue.ReasonDeliveryLimit, ls[i].Reason.Code)
	}
	require.Equal(t, inventory.ReasonUndecodable, ls[3].Reason.Code)
	require.Equal(t, []byte(`{"sku":"x","colour":"red"}`), ls[3].Payload)
}

// memLetters is a dead-letter store in memory that refuses writes while
// told to.
type memLetters struct {
	mu       sync.Mutex
	failing  bool
	calls    int
	refusals int
	letters  map[string]deadletter.Letter
}

func (m *memLetters) PutDeadLetters(_ context.Context, ls []deadletter.Letter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.failing {
		m.refusals++
		return errors.New("storefront: connection refused")
	}
	if m.letters == nil {
		m.letters = map[string]deadletter.Letter{}
	}
	for _, l := range ls {
		m.letters[l.ID] = l
	}
	return nil
}

func (m *memLetters) fail(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failing = on
}

func (m *memLetters) count() (letters, refusals int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.letters), m.refusals
}

// syncBuffer is a log a test reads while the ingester writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ingester runs an Ingester until the test stops it; stop requires that Run
// returns promptly.
type ingester struct {
	logs *syncBuffer
	stop func()
}

func startIngester(t *testing.T, topo queue.Topology, w deadletter.Writer) *ingester {
	t.Helper()
	logs := new(syncBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	g := queue.Ingester{URL: testenv.AMQPURL(), Topology: topo, Letters: w,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	go func() {
		defer close(done)
		g.Run(ctx)
	}()
	ing := &ingester{logs: logs}
	ing.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("the ingester did not stop")
		}
	})
	t.Cleanup(ing.stop)
	return ing
}

// dlqDepth reads the DLQ's ready messages and consumers; -1, -1 while the
// queue does not exist.
func dlqDepth(t *testing.T, topo queue.Topology) (ready, consumers int) {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURL())
	if err != nil {
		t.Error(err)
		return -1, -1
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Error(err)
		return -1, -1
	}
	q, err := ch.QueueDeclarePassive(topo.DeadLetterQueue(), true, false, false, false, nil)
	if err != nil {
		return -1, -1
	}
	return q.Messages, q.Consumers
}

// publishToDLX publishes bodies as the broker dead-letters them: to the
// dead-letter exchange.
func publishToDLX(t *testing.T, topo queue.Topology, bodies ...[]byte) {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURL())
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, topo.Declare(ch))
	require.NoError(t, ch.Confirm(false))
	for _, b := range bodies {
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), topo.DeadLetterExchange(), "", true, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: b})
		require.NoError(t, err)
		ok, err := dc.WaitContext(context.Background())
		require.NoError(t, err)
		require.True(t, ok)
	}
}

func changeBodies(n int) [][]byte {
	var out [][]byte
	for _, c := range changes(n) {
		b, _ := json.Marshal(c)
		out = append(out, b)
	}
	return out
}

func TestIngesterKeepsWhatTheBrokerDeadLetters(t *testing.T) {
	ctx := context.Background()
	topo := testenv.Topology(t)
	topo.DeliveryLimit = 1
	before := runtime.NumGoroutine()
	store := &memLetters{}
	ing := startIngester(t, topo, store)

	// A change handed back past the delivery limit, as a dying consumer
	// would, is dead-lettered by the broker itself.
	p := queue.NewPublisher(testenv.AMQPURL(), topo)
	poison := inventory.Change{SKU: "POISON", LastModified: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	require.NoError(t, p.PublishChanges(ctx, []inventory.Change{poison}))
	conn, err := amqp.Dial(testenv.AMQPURL())
	require.NoError(t, err)
	ch, err := conn.Channel()
	require.NoError(t, err)
	for range 2 {
		d, ok, err := ch.Get(topo.ChangesQueue(), false)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, d.Nack(false, true))
	}
	require.NoError(t, conn.Close())
	require.NoError(t, p.Close())
	// And more than one batch of them, and a message that is no change.
	publishToDLX(t, topo, append(changeBodies(250), []byte("not a change"))...)

	require.Eventually(t, func() bool { n, _ := store.count(); return n == 252 }, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { r, _ := dlqDepth(t, topo); return r == 0 }, 5*time.Second, 20*time.Millisecond)
	l := store.letters[deadletter.ForChange(poison, inventory.Rejection{}, "", "").ID]
	require.Equal(t, queue.ReasonDeliveryLimit, l.Reason.Code)
	require.Equal(t, deadletter.StageBroker, l.Stage)
	require.Contains(t, l.Reason.Message, topo.ChangesQueue())
	require.Equal(t, "POISON", l.SKU)

	ing.stop()
	require.NotContains(t, ing.logs.String(), "delivered messages again")
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before }, 5*time.Second, 10*time.Millisecond,
		"every goroutine of the ingester ended")
	_, consumers := dlqDepth(t, topo)
	require.Zero(t, consumers)
}

// TestIngesterHoldsMessagesWhileTheStoreFails: while the store refuses
// letters the ingester holds their messages unacknowledged and retries the
// write; it never hands them back to the broker (each hand-back counts
// toward the DLQ's own delivery limit on RabbitMQ 4). Nothing is lost, not
// even across a stop.
func TestIngesterHoldsMessagesWhileTheStoreFails(t *testing.T) {
	topo := testenv.Topology(t)
	store := &memLetters{}
	store.fail(true)
	ing := startIngester(t, topo, store)
	publishToDLX(t, topo, changeBodies(30)...)

	// For two seconds of refusals, the messages are held: never ready again,
	// the consumer never gone.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		ready, consumers := dlqDepth(t, topo)
		require.Zero(t, ready, "a message went back to the queue")
		require.Equal(t, 1, consumers, "the consumer went away")
		time.Sleep(20 * time.Millisecond)
	}
	_, refusals := store.count()
	require.GreaterOrEqual(t, refusals, 3, "the write was retried")
	require.Less(t, refusals, 20, "with backoff")

	store.fail(false)
	require.Eventually(t, func() bool { n, _ := store.count(); return n == 30 }, 15*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { r, _ := dlqDepth(t, topo); return r == 0 }, 5*time.Second, 20*time.Millisecond)
	require.NotContains(t, ing.logs.String(), "delivered messages again", "nothing was redelivered")
	require.Contains(t, ing.logs.String(), "cannot keep dead letters")
	ing.stop()

	// Stopped while the store refuses: the messages go back once, and the
	// next ingester keeps them.
	store.fail(true)
	ing = startIngester(t, topo, store)
	publishToDLX(t, topo, changeBodies(40)[30:]...)
	require.Eventually(t, func() bool { _, r := store.count(); return r > refusals+1 }, 10*time.Second, 20*time.Millisecond)
	ing.stop()
	require.Eventually(t, func() bool { r, _ := dlqDepth(t, topo); return r == 10 }, 5*time.Second, 20*time.Millisecond,
		"held messages return to the queue as the ingester stops")
	store.fail(false)
	ing = startIngester(t, topo, store)
	require.Eventually(t, func() bool { n, _ := store.count(); return n == 40 }, 15*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(ing.logs.String(), "delivered messages again") },
		5*time.Second, 20*time.Millisecond, "and the next one says they came back")
	require.Contains(t, ing.logs.String(), fmt.Sprintf("count=%d", 10))
}

// TestIngesterComesBack: when the broker cancels it (here: its queue is
// deleted), the ingester reconnects, declares the topology again and goes on.
func TestIngesterComesBack(t *testing.T) {
	topo := testenv.Topology(t)
	store := &memLetters{}
	ing := startIngester(t, topo, store)
	publishToDLX(t, topo, changeBodies(5)...)
	require.Eventually(t, func() bool { n, _ := store.count(); return n == 5 }, 10*time.Second, 20*time.Millisecond)

	conn, err := amqp.Dial(testenv.AMQPURL())
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	_, err = ch.QueueDelete(topo.DeadLetterQueue(), false, false, false)
	require.NoError(t, err)

	require.Eventually(t, func() bool { _, c := dlqDepth(t, topo); return c == 1 }, 10*time.Second, 50*time.Millisecond,
		"the ingester is back on the queue: %s", ing.logs)
	publishToDLX(t, topo, changeBodies(8)[5:]...)
	require.Eventually(t, func() bool { n, _ := store.count(); return n == 8 }, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, ing.logs.String(), "dead-letter ingester disconnected, reconnecting")
}
