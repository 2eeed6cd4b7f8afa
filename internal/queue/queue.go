// Package queue is the RabbitMQ side of the pipeline: the topology, a
// publisher that returns only once the broker has confirmed every message, and
// queue depths for backpressure.
package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/logging"
)

// Topology names the exchanges and queues. Every name derives from one prefix
// so several pipelines (or tests) can share a broker.
type Topology struct {
	Prefix string
	// DeliveryLimit is how often a change may be handed back to the queue (a
	// consumer died holding it) before the broker dead-letters it. RabbitMQ
	// 3.10 has no default, so it is always set.
	DeliveryLimit int
}

// Exchange is the durable direct exchange the poller publishes to.
func (t Topology) Exchange() string { return t.Prefix }

// ChangesQueue is the quorum queue of changed rows.
func (t Topology) ChangesQueue() string { return t.Prefix + ".changes" }

// DeadLetterExchange is the fanout exchange the broker dead-letters changes
// to after the delivery limit; the worker moves them into the dead-letter
// store.
func (t Topology) DeadLetterExchange() string { return t.Prefix + ".dlx" }

// DeadLetterQueue holds rows that could not be applied, for inspection.
func (t Topology) DeadLetterQueue() string { return t.Prefix + ".dlq" }

// Declare creates the topology. It is idempotent: declaring what exists with
// the same arguments is a no-op.
func (t Topology) Declare(ch *amqp.Channel) error {
	if t.Prefix == "" {
		return errors.New("queue topology: empty prefix")
	}
	if t.DeliveryLimit < 1 {
		return fmt.Errorf("queue topology: delivery limit %d must be at least 1", t.DeliveryLimit)
	}
	if err := ch.ExchangeDeclare(t.Exchange(), amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.Exchange(), err)
	}
	if err := ch.ExchangeDeclare(t.DeadLetterExchange(), amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.DeadLetterExchange(), err)
	}
	if _, err := ch.QueueDeclare(t.DeadLetterQueue(), true, false, false, false, amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeQuorum,
	}); err != nil {
		return fmt.Errorf("declare queue %s: %w", t.DeadLetterQueue(), err)
	}
	if err := ch.QueueBind(t.DeadLetterQueue(), "", t.DeadLetterExchange(), false, nil); err != nil {
		return fmt.Errorf("bind %s: %w", t.DeadLetterQueue(), err)
	}
	if _, err := ch.QueueDeclare(t.ChangesQueue(), true, false, false, false, amqp.Table{
		amqp.QueueTypeArg:        amqp.QueueTypeQuorum,
		"x-delivery-limit":       t.DeliveryLimit,
		"x-dead-letter-exchange": t.DeadLetterExchange(),
		// at-least-once dead-lettering keeps a message until the DLQ has it.
		"x-dead-letter-strategy": "at-least-once",
		amqp.QueueOverflowArg:    amqp.QueueOverflowRejectPublish,
	}); err != nil {
		return fmt.Errorf("declare queue %s: %w", t.ChangesQueue(), err)
	}
	if err := ch.QueueBind(t.ChangesQueue(), t.ChangesQueue(), t.Exchange(), false, nil); err != nil {
		return fmt.Errorf("bind %s: %w", t.ChangesQueue(), err)
	}
	return nil
}

// Header names on dead letters that earlier versions published to the DLQ;
// the ingester reads them so those letters keep their reasons.
const (
	HeaderReasonCode = "x-invsync-reason-code"
	HeaderReason     = "x-invsync-reason"
	HeaderBatch      = "x-invsync-batch"
	HeaderSKU        = "x-invsync-sku"
	HeaderAttempts   = "x-invsync-attempts"
)

// SetMessage is a change set as a message of the changes queue.
func SetMessage(body []byte) amqp.Publishing {
	return amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    inventory.SetID(body),
		Body:         body,
	}
}

// Publisher publishes with publisher confirms over one lazily (re)opened
// connection. Publish is serialised: one batch at a time.
type Publisher struct {
	url  string
	topo Topology

	mu       sync.Mutex
	conn     *amqp.Connection
	ch       *amqp.Channel
	returned *atomic.Int64
}

// NewPublisher returns a publisher; it connects on first use.
func NewPublisher(url string, topo Topology) *Publisher {
	return &Publisher{url: url, topo: topo}
}

// Dial opens a connection with a bounded handshake. The name shows in the
// broker's connection list.
func Dial(url, name string) (*amqp.Connection, error) {
	conn, err := amqp.DialConfig(url, amqp.Config{
		Heartbeat: 10 * time.Second,
		Dial:      amqp.DefaultDial(10 * time.Second),
		Properties: amqp.Table{
			"connection_name": name,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w", logging.Redact(url), err)
	}
	return conn, nil
}

// Consume opens a connection named name, declares the topology, and
// consumes queue with at most prefetch deliveries unacknowledged. The caller
// closes the connection; deliveries it has not acknowledged by then go back
// to the queue.
func Consume(url, name string, topo Topology, queue string, prefetch int) (*amqp.Connection, *amqp.Channel, <-chan amqp.Delivery, error) {
	conn, err := Dial(url, name)
	if err != nil {
		return nil, nil, nil, err
	}
	ch, deliveries, err := consume(conn, name, topo, queue, prefetch)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	return conn, ch, deliveries, nil
}

func consume(conn *amqp.Connection, name string, topo Topology, queue string, prefetch int) (*amqp.Channel, <-chan amqp.Delivery, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("rabbitmq: channel: %w", err)
	}
	if err := topo.Declare(ch); err != nil {
		return nil, nil, err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return nil, nil, fmt.Errorf("rabbitmq: qos: %w", err)
	}
	// Plain Consume: ConsumeWithContext cancels from a goroutine of its own,
	// which races with the caller's close and can hang it.
	deliveries, err := ch.Consume(queue, name, false, false, false, false, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("rabbitmq: consume %s: %w", queue, err)
	}
	return ch, deliveries, nil
}

func (p *Publisher) channel() (*amqp.Channel, error) {
	if p.ch != nil && !p.ch.IsClosed() {
		return p.ch, nil
	}
	if p.conn == nil || p.conn.IsClosed() {
		conn, err := Dial(p.url, p.topo.Prefix+"-publisher")
		if err != nil {
			return nil, err
		}
		p.conn = conn
	}
	ch, err := p.conn.Channel()
	if err != nil {
		p.conn.Close()
		p.conn = nil
		return nil, fmt.Errorf("rabbitmq: channel: %w", err)
	}
	if err := p.topo.Declare(ch); err != nil {
		ch.Close()
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("rabbitmq: confirm mode: %w", err)
	}
	// Mandatory publishes that no queue takes come back as returns. The
	// library blocks its reader on a full notify channel, so drain it always;
	// the goroutine ends when the channel closes.
	returned := new(atomic.Int64)
	returns := ch.NotifyReturn(make(chan amqp.Return, 16))
	go func() {
		for range returns {
			returned.Add(1)
		}
	}()
	p.ch, p.returned = ch, returned
	return ch, nil
}

// Publish sends msgs to exchange with routing key and waits until the broker
// has confirmed each one. An error means some may not have been stored; the
// caller publishes the whole set again (consumers are idempotent).
func (p *Publisher) Publish(ctx context.Context, exchange, key string, msgs []amqp.Publishing) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, err := p.channel()
	if err != nil {
		return err
	}
	before := p.returned.Load()
	confirms := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for _, m := range msgs {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, m)
		if err != nil {
			ch.Close()
			return fmt.Errorf("rabbitmq: publish: %w", err)
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			ch.Close() // confirms of this channel can no longer be matched
			return fmt.Errorf("rabbitmq: wait for confirm: %w", err)
		}
		if !ok {
			return errors.New("rabbitmq: broker nacked a message")
		}
	}
	if n := p.returned.Load() - before; n > 0 {
		return fmt.Errorf("rabbitmq: %d messages were unroutable from exchange %q key %q", n, exchange, key)
	}
	return nil
}

// PublishChanges publishes changes to the changes queue as change sets of at
// most inventory.DefaultSetBytes, confirmed. Each message carries the trace
// context of ctx, so the consumer's side of the pipeline joins the poll's
// trace.
func (p *Publisher) PublishChanges(ctx context.Context, changes []inventory.Change) error {
	sets, err := inventory.EncodeChangeSets(changes, inventory.DefaultSetBytes)
	if err != nil {
		return err
	}
	msgs := make([]amqp.Publishing, len(sets))
	for i, body := range sets {
		m := SetMessage(body)
		m.Headers = amqp.Table{}
		traceContext.Inject(ctx, HeaderCarrier(m.Headers))
		msgs[i] = m
	}
	return p.Publish(ctx, p.topo.Exchange(), p.topo.ChangesQueue(), msgs)
}

// Depth is a queue's message counts.
type Depth struct {
	Ready int `json:"ready"`
	// Unacked is the number delivered to consumers and not yet acknowledged;
	// -1 when unknown (AMQP alone does not tell it).
	Unacked int `json:"unacked"`
	// Consumers attached to the queue.
	Consumers int `json:"consumers"`
}

// QueueDepth returns the ready messages in the named queue, as AMQP tells
// them: Unacked is unknown.
func (p *Publisher) QueueDepth(ctx context.Context, queue string) (Depth, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, err := p.channel()
	if err != nil {
		return Depth{}, err
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		return Depth{}, fmt.Errorf("rabbitmq: inspect %s: %w", queue, err)
	}
	return Depth{Ready: q.Messages, Unacked: -1, Consumers: q.Consumers}, nil
}

// Close closes the connection.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	err := p.conn.Close()
	p.conn, p.ch = nil, nil
	return err
}

// ChangesReady returns the ready messages in the changes queue: the backlog
// the poller holds back on.
func (p *Publisher) ChangesReady(ctx context.Context) (int, error) {
	d, err := p.QueueDepth(ctx, p.topo.ChangesQueue())
	return d.Ready, err
}
