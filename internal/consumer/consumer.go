// Package consumer takes changes off the RabbitMQ changes queue in batches and
// hands each batch to Temporal as an ApplyChanges workflow. A delivery is
// acknowledged only once the workflow start is durable, so a crash at any
// point leaves the change either in the queue or in Temporal.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/telemetry"
	"github.com/invsync/invsync/workflows"
)

// BatchStarter durably starts the workflow for a batch. Starting a batch that
// was started before must succeed without running it again.
type BatchStarter interface {
	StartBatch(ctx context.Context, in workflows.ApplyInput) error
}

// Config sets up a Pool.
type Config struct {
	URL      string
	Topology queue.Topology
	// Consumers is the number of concurrent consumers (channels).
	Consumers int
	// BatchSize is the most deliveries in one batch; it is also the prefetch.
	BatchSize int
	// BatchWait is how long a partial batch waits for more deliveries.
	BatchWait time.Duration
	// StartTimeout bounds one attempt to start a batch's workflow.
	StartTimeout time.Duration
	Logger       *slog.Logger
	// Tracer traces each batch's hand-over, as a child of the first
	// change's poll and linked to the others'. Nil: no spans.
	Tracer  trace.Tracer
	Metrics *telemetry.Metrics
	// DeadLetters keeps the messages that are not changes.
	DeadLetters deadletter.Writer
}

// Pool runs the consumers.
type Pool struct {
	cfg     Config
	starter BatchStarter
}

// New returns a pool; Run starts it.
func New(cfg Config, starter BatchStarter) *Pool {
	if cfg.Consumers <= 0 {
		cfg.Consumers = 5
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 200 * time.Millisecond
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Pool{cfg: cfg, starter: starter}
}

// Run consumes until ctx is done, reconnecting after broker failures. On
// return every consumer has stopped; deliveries not yet handed to Temporal go
// back to the queue when their channel closes.
func (p *Pool) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range p.cfg.Consumers {
		wg.Go(func() { p.runConsumer(ctx, i) })
	}
	wg.Wait()
}

func (p *Pool) runConsumer(ctx context.Context, id int) {
	log := p.cfg.Logger.With("consumer", id)
	backoff := time.Second
	for ctx.Err() == nil {
		err := p.consume(ctx, id)
		if ctx.Err() != nil {
			return
		}
		log.Warn("consumer disconnected, reconnecting", "error", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var errClosed = errors.New("delivery channel closed")

func (p *Pool) consume(ctx context.Context, id int) error {
	conn, err := queue.Dial(p.cfg.URL, fmt.Sprintf("%s-consumer-%d", p.cfg.Topology.Prefix, id))
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := p.cfg.Topology.Declare(ch); err != nil {
		return err
	}
	if err := ch.Qos(p.cfg.BatchSize, 0, false); err != nil {
		return err
	}
	// Plain Consume: ConsumeWithContext cancels from a goroutine of its own,
	// which races with the Close below and can hang it.
	deliveries, err := ch.Consume(p.cfg.Topology.ChangesQueue(), fmt.Sprintf("invsync-%d", id), false, false, false, false, nil)
	if err != nil {
		return err
	}
	var batch []amqp.Delivery
	// Deliveries not acked when this returns go back to the queue.
	defer func() { p.cfg.Metrics.InFlight(context.WithoutCancel(ctx), -len(batch)) }()
	wait := time.NewTimer(p.cfg.BatchWait)
	wait.Stop()
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil // closing the channel hands unacked deliveries back
		case d, ok := <-deliveries:
			if !ok {
				return errClosed
			}
			batch = append(batch, d)
			p.cfg.Metrics.InFlight(ctx, 1)
			if len(batch) == 1 {
				wait.Reset(p.cfg.BatchWait)
			}
			if len(batch) < p.cfg.BatchSize {
				continue
			}
		case <-wait.C:
		}
		if len(batch) == 0 {
			continue
		}
		wait.Stop()
		if err := p.hand(ctx, batch); err != nil {
			return err
		}
		p.cfg.Metrics.InFlight(ctx, -len(batch))
		batch = batch[:0]
	}
}

// hand starts the batch's workflow, retrying until it is durable, then acks
// the whole batch at once.
func (p *Pool) hand(ctx context.Context, batch []amqp.Delivery) error {
	in, letters := Decode(batch)
	ctx, span := p.startSpan(ctx, batch)
	defer span.End()
	span.SetAttributes(attribute.String("invsync.batch_id", in.BatchID), attribute.Int("invsync.batch_size", len(batch)))
	backoff := 500 * time.Millisecond
	for len(letters) > 0 {
		err := p.cfg.DeadLetters.PutDeadLetters(ctx, letters)
		if err == nil {
			break
		}
		p.cfg.Logger.Warn("cannot keep dead letters, retrying", "batch", in.BatchID, "error", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	for len(in.Changes) > 0 {
		// An attempt under way when shutdown begins is let finish, so its
		// batch is acked rather than redelivered.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.StartTimeout)
		err := p.starter.StartBatch(sctx, in)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.cfg.Logger.Warn("cannot start batch workflow, retrying", "batch", in.BatchID, "error", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	return batch[len(batch)-1].Ack(true)
}

// startSpan starts the batch's span as a child of its first delivery's trace,
// linked to the traces of the others.
func (p *Pool) startSpan(ctx context.Context, batch []amqp.Delivery) (context.Context, trace.Span) {
	parent := queue.Extract(ctx, batch[0].Headers)
	seen := map[trace.TraceID]bool{trace.SpanContextFromContext(parent).TraceID(): true}
	var links []trace.Link
	for _, d := range batch[1:] {
		sc := trace.SpanContextFromContext(queue.Extract(ctx, d.Headers))
		if sc.IsValid() && !seen[sc.TraceID()] {
			seen[sc.TraceID()] = true
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return p.cfg.Tracer.Start(parent, "ConsumeBatch", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...))
}

// Decode turns deliveries into a batch and dead letters for the bodies that
// are not changes.
func Decode(batch []amqp.Delivery) (workflows.ApplyInput, []deadletter.Letter) {
	bodies := make([][]byte, len(batch))
	var in workflows.ApplyInput
	var letters []deadletter.Letter
	for i, d := range batch {
		bodies[i] = d.Body
		c, err := inventory.DecodeChange(d.Body)
		if err != nil {
			letters = append(letters, deadletter.ForMessage(d.Body,
				inventory.Rejection{Code: inventory.ReasonUndecodable, Message: err.Error()}, deadletter.StageConsumer))
			continue
		}
		in.Changes = append(in.Changes, c)
	}
	in.BatchID = workflows.ApplyWorkflowID(bodies)
	return in, letters
}
