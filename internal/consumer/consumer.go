// Package consumer takes changes off the RabbitMQ changes queue in batches and
// hands each batch to Temporal as an ApplyChanges workflow. A delivery is
// acknowledged only once the workflow start is durable, or once the message is
// kept as a dead letter, so a crash at any point leaves the change in the
// queue, in Temporal or among the dead letters.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/telemetry"
)

// BatchStarter durably starts the workflow for a batch of changes named id.
// Starting a batch that was started before must succeed without running it
// again, and return that earlier workflow to wait on.
type BatchStarter interface {
	StartBatch(ctx context.Context, id string, changes []inventory.Change) (Batch, error)
}

// Batch is the workflow of a started batch.
type Batch interface {
	// Wait returns nil once the workflow has closed, however it ended. An
	// error means it could not tell (ctx ended, Temporal unreachable) and
	// the workflow may still be open.
	Wait(ctx context.Context) error
}

// Defaults of Config. The worker's settings (internal/config) take theirs
// from here, so each is written once.
const (
	DefaultConsumers = 2
	// DefaultBatchSize makes a backlog of 500,000 rows 100 batches: few
	// enough that Temporal's per-workflow cost vanishes, small enough that a
	// batch applies in well under a second.
	DefaultBatchSize = 5000
	// DefaultBatchBytes bounds what one batch holds in memory and stages.
	DefaultBatchBytes = 2 << 20
	DefaultBatchWait  = 200 * time.Millisecond
	// DefaultMaxOpenBatches bounds the batches a worker's consumers have
	// handed to Temporal and that have not closed.
	DefaultMaxOpenBatches = 50
	defaultStartTimeout   = 30 * time.Second
)

// Config sets up a Pool. Consumers, BatchSize and BatchWait are required
// (the worker's settings validate them); the other numbers default when zero.
type Config struct {
	URL      string
	Topology queue.Topology
	// Consumers is the number of concurrent consumers (connections).
	Consumers int
	// BatchSize is the most changes in one batch. A message is a change set
	// of many; a batch closes when it holds BatchSize changes or more.
	BatchSize int
	// BatchBytes is the most message body bytes in one batch: what a
	// consumer holds and stages at once. A delivery that would take a batch
	// past it closes the batch first. The prefetch, in messages, is twice
	// what fills it with change sets of inventory.DefaultSetBytes.
	// Default DefaultBatchBytes.
	BatchBytes int
	// BatchWait is how long a partial batch waits for more deliveries.
	BatchWait time.Duration
	// MaxOpenBatches is the most batches whose ApplyChanges workflows the
	// pool has started and that have not closed yet. At the limit the
	// consumers take no more deliveries, so when the storefront is slow the
	// backlog stays in the queue, where the poller sees it, instead of
	// piling up in Temporal. Default DefaultMaxOpenBatches.
	MaxOpenBatches int
	// StartTimeout bounds one attempt to start a batch's workflow
	// (default 30 s).
	StartTimeout time.Duration
	Logger       *slog.Logger
	// Tracer traces each batch's hand-over, as a child of the first
	// change's poll and linked to the others'. Nil: no spans.
	Tracer  trace.Tracer
	Metrics *telemetry.Metrics
	// DeadLetters keeps the messages that are not changes or that Temporal
	// refuses. Required.
	DeadLetters deadletter.Writer
}

// Pool runs the consumers.
type Pool struct {
	cfg     Config
	starter BatchStarter
	// open holds one token per started batch whose workflow has not
	// closed; its capacity is MaxOpenBatches.
	open chan struct{}
	// waiters wait for open batches to close, each giving its token back.
	waiters sync.WaitGroup

	startRetries atomic.Int64
	refused      atomic.Int64
}

// New returns a pool; Run starts it. It panics without a starter, a
// dead-letter writer, a consumer, a batch size or a batch wait: the pool
// could not hand on a single message, or would hand them on one by one.
func New(cfg Config, starter BatchStarter) *Pool {
	if starter == nil || cfg.DeadLetters == nil {
		panic("consumer: New needs a BatchStarter and Config.DeadLetters")
	}
	if cfg.Consumers < 1 || cfg.BatchSize < 1 || cfg.BatchWait <= 0 {
		panic("consumer: New needs Config.Consumers, BatchSize and BatchWait")
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.MaxOpenBatches <= 0 {
		cfg.MaxOpenBatches = DefaultMaxOpenBatches
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = defaultStartTimeout
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Pool{cfg: cfg, starter: starter, open: make(chan struct{}, cfg.MaxOpenBatches)}
}

// Stats is what the pool is doing and has done.
type Stats struct {
	// OpenBatches counts batches started, or being started, whose
	// workflows have not closed.
	OpenBatches int
	// StartRetries counts start attempts repeated after a transient
	// failure.
	StartRetries int64
	// Refused counts starts Temporal refused; each led to a split or, for a
	// single change, a dead letter.
	Refused int64
}

// Stats returns the pool's figures now.
func (p *Pool) Stats() Stats {
	return Stats{OpenBatches: len(p.open), StartRetries: p.startRetries.Load(), Refused: p.refused.Load()}
}

// Run consumes until ctx is done, reconnecting after broker failures. On
// return every goroutine it started has ended; deliveries not yet handed to
// Temporal go back to the queue when their channel closes. Run it once.
func (p *Pool) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range p.cfg.Consumers {
		wg.Go(func() { p.runConsumer(ctx, i) })
	}
	wg.Wait()
	// No consumer starts a waiter any more; those left end with ctx.
	p.waiters.Wait()
}

func (p *Pool) runConsumer(ctx context.Context, id int) {
	log := p.cfg.Logger.With("consumer", id)
	var b queue.Reconnect
	for ctx.Err() == nil {
		up, err := p.consume(ctx, id)
		if ctx.Err() != nil {
			return
		}
		delay := b.Next(up)
		log.Warn("consumer disconnected, reconnecting", "error", err, "was_up", up, "in", delay)
		if !queue.Sleep(ctx, delay) {
			return
		}
	}
}

var errClosed = errors.New("delivery channel closed")

// consume runs one connection until it fails or ctx is done, and says how
// long it was consuming.
func (p *Pool) consume(ctx context.Context, id int) (time.Duration, error) {
	conn, _, deliveries, err := queue.Consume(p.cfg.URL, fmt.Sprintf("%s-consumer-%d", p.cfg.Topology.Prefix, id),
		p.cfg.Topology, p.cfg.Topology.ChangesQueue(), p.prefetch())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	p.cfg.Logger.Info("consumer connected", "consumer", id, "queue", p.cfg.Topology.ChangesQueue())
	since := time.Now()
	err = p.gather(ctx, deliveries)
	return time.Since(since), err
}

// prefetch is how many messages a consumer holds unacknowledged: twice what
// fills a batch with full change sets, so the next batch gathers while one is
// handed on, and never more than BatchSize (single changes, as earlier
// versions published them).
func (p *Pool) prefetch() int {
	return max(1, min(p.cfg.BatchSize, 2*p.cfg.BatchBytes/inventory.DefaultSetBytes))
}

// gather batches deliveries by changes, bytes and time and hands each batch
// on. It returns nil once ctx is done; deliveries not acked by then go back
// to the queue when the channel closes.
func (p *Pool) gather(ctx context.Context, deliveries <-chan amqp.Delivery) error {
	var batch []received
	size, rows := 0, 0
	defer func() { p.cfg.Metrics.InFlight(context.WithoutCancel(ctx), -len(batch)) }()
	wait := time.NewTimer(p.cfg.BatchWait)
	wait.Stop()
	defer wait.Stop()
	flush := func() error {
		wait.Stop()
		if err := p.hand(ctx, batch); err != nil {
			return err
		}
		p.cfg.Metrics.InFlight(ctx, -len(batch))
		batch, size, rows = batch[:0], 0, 0
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wait.C:
			if len(batch) > 0 {
				if err := flush(); err != nil {
					return err
				}
			}
		case d, ok := <-deliveries:
			if !ok {
				return errClosed
			}
			if len(batch) > 0 && size+len(d.Body) > p.cfg.BatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			r := decode(d)
			batch, size, rows = append(batch, r), size+len(d.Body), rows+len(r.changes)
			p.cfg.Metrics.InFlight(ctx, 1)
			if len(batch) == 1 {
				wait.Reset(p.cfg.BatchWait)
			}
			if rows >= p.cfg.BatchSize || size >= p.cfg.BatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
}
