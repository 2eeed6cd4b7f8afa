package consumer

import (
	"context"
	"errors"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/workflows"
)

// Retry pauses. Starts and letter writes wait for a dependency that is
// expected back soon; waits for a workflow to close ask a server that may be
// busy, so they back off further.
const (
	startRetryMin  = 200 * time.Millisecond
	startRetryMax  = 10 * time.Second
	letterRetryMin = 500 * time.Millisecond
	letterRetryMax = 10 * time.Second
	waitRetryMin   = time.Second
	waitRetryMax   = 30 * time.Second
)

// received is a delivery and what it holds: its changes, and a letter for
// each part that is not a change (or one for the whole message).
type received struct {
	delivery amqp.Delivery
	changes  []inventory.Change
	letters  []deadletter.Letter
}

// decode reads a delivery as a change set. A message that is not a set is one
// letter; an element of a set that is not a change is a letter of its own.
// Either is oversized when refused for its size alone, else undecodable.
func decode(d amqp.Delivery) received {
	r := received{delivery: d}
	changes, bad, err := inventory.DecodeChangeSet(d.Body)
	if err != nil {
		r.letters = []deadletter.Letter{deadletter.ForMessage(d.Body,
			inventory.Rejection{Code: reasonFor(err), Message: err.Error()}, deadletter.StageConsumer)}
		return r
	}
	r.changes = changes
	for _, b := range bad {
		r.letters = append(r.letters, deadletter.ForMessage(b.Raw,
			inventory.Rejection{Code: reasonFor(b.Err), Message: b.Err.Error()}, deadletter.StageConsumer))
	}
	return r
}

// reasonFor is the reason code of a decoding error.
func reasonFor(err error) string {
	if _, ok := errors.AsType[*inventory.SizeError](err); ok {
		return inventory.ReasonOversized
	}
	return inventory.ReasonUndecodable
}

// batchID names the batch of msgs after their bodies.
func batchID(msgs []received) string {
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = m.delivery.Body
	}
	return workflows.ApplyWorkflowID(bodies)
}

// hand keeps the batch's bad messages as dead letters, starts the workflow of
// its changes, and then acks the whole batch at once.
func (p *Pool) hand(ctx context.Context, batch []received) error {
	ctx, span := p.startSpan(ctx, batch)
	defer span.End()
	var letters []deadletter.Letter
	var msgs []received
	for _, r := range batch {
		letters = append(letters, r.letters...)
		if len(r.changes) > 0 {
			msgs = append(msgs, r)
		}
	}
	span.SetAttributes(attribute.Int("invsync.batch_messages", len(batch)), attribute.Int("invsync.dead_letters", len(letters)))
	if err := p.keep(ctx, letters); err != nil {
		return err
	}
	rejected, err := p.start(ctx, msgs)
	if err != nil {
		return err
	}
	if err := p.keep(ctx, rejected); err != nil {
		return err
	}
	return batch[len(batch)-1].delivery.Ack(true)
}

// start starts the changes of msgs as one batch. When Temporal refuses that
// start, it starts each half of the messages on its own instead, down to
// single messages: the changes of a message Temporal refuses are returned as
// dead letters, so nothing can block the queue or take good changes with it.
func (p *Pool) start(ctx context.Context, msgs []received) ([]deadletter.Letter, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	id := batchID(msgs)
	var changes []inventory.Change
	for _, m := range msgs {
		changes = append(changes, m.changes...)
	}
	err := p.startOne(ctx, id, changes)
	if err == nil || classify(err) != refused {
		return nil, err
	}
	p.refused.Add(1)
	trace.SpanFromContext(ctx).AddEvent("refused", trace.WithAttributes(
		attribute.String("invsync.batch_id", id), attribute.Int("invsync.changes", len(changes))))
	if len(msgs) == 1 {
		letters := make([]deadletter.Letter, len(changes))
		for i, c := range changes {
			letters[i] = deadletter.ForChange(c, inventory.Rejection{Code: inventory.ReasonTemporalRefused, Message: err.Error()},
				deadletter.StageConsumer, id)
		}
		return letters, nil
	}
	p.cfg.Logger.Warn("Temporal refuses a batch; starting its halves apart", "batch", id, "changes", len(changes), "error", err)
	half := len(msgs) / 2
	first, err := p.start(ctx, msgs[:half])
	if err != nil {
		return nil, err
	}
	second, err := p.start(ctx, msgs[half:])
	if err != nil {
		return nil, err
	}
	return append(first, second...), nil
}

// startOne waits until fewer than MaxOpenBatches batches are open, then
// starts in, retrying transient failures until it succeeds or ctx ends. It
// returns Temporal's error when Temporal refuses in, ctx's when ctx ends
// first.
func (p *Pool) startOne(ctx context.Context, id string, changes []inventory.Change) error {
	select {
	case p.open <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	pauses := queue.Backoff(startRetryMin, startRetryMax)
	for attempt := 1; ; attempt++ {
		// An attempt under way when shutdown begins is let finish, so its
		// batch is acked rather than redelivered.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.StartTimeout)
		b, err := p.starter.StartBatch(sctx, id, changes)
		cancel()
		if err == nil {
			trace.SpanFromContext(ctx).AddEvent("started", trace.WithAttributes(
				attribute.String("invsync.batch_id", id), attribute.Int("invsync.changes", len(changes))))
			p.waiters.Go(func() { p.awaitClose(ctx, id, b) })
			return nil
		}
		kind := classify(err)
		if ctx.Err() != nil || kind == refused {
			<-p.open
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		p.startRetries.Add(1)
		log := p.cfg.Logger.Warn
		if kind == misconfigured {
			log = p.cfg.Logger.Error
		}
		delay := pauses.NextBackOff()
		log("cannot start batch workflow, retrying", "batch", id, "attempt", attempt, "error", err,
			"failure", kind.String(), "in", delay)
		if !queue.Sleep(ctx, delay) {
			<-p.open
			return ctx.Err()
		}
	}
}

// awaitClose gives the batch's token back once its workflow has closed, or
// once ctx ends.
func (p *Pool) awaitClose(ctx context.Context, batchID string, b Batch) {
	defer func() { <-p.open }()
	pauses := queue.Backoff(waitRetryMin, waitRetryMax)
	for {
		err := b.Wait(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		delay := pauses.NextBackOff()
		p.cfg.Logger.Warn("cannot tell whether batch workflow closed, asking again", "batch", batchID, "error", err, "in", delay)
		if !queue.Sleep(ctx, delay) {
			return
		}
	}
}

// keep writes letters, retrying until they are durable or ctx ends, so a
// message is acked only once its letter is kept.
func (p *Pool) keep(ctx context.Context, letters []deadletter.Letter) error {
	if len(letters) == 0 {
		return nil
	}
	pauses := queue.Backoff(letterRetryMin, letterRetryMax)
	for {
		err := p.cfg.DeadLetters.PutDeadLetters(ctx, letters)
		if err == nil {
			break
		}
		delay := pauses.NextBackOff()
		p.cfg.Logger.Warn("cannot keep dead letters, retrying", "letters", len(letters), "error", err, "in", delay)
		if !queue.Sleep(ctx, delay) {
			return ctx.Err()
		}
	}
	for _, l := range letters {
		p.cfg.Metrics.Rejected(ctx, l.Reason.Code)
		p.cfg.Logger.Warn("message kept as a dead letter", "letter", l.ID, "reason", l.Reason.Code,
			"message", l.Reason.Message, "bytes", l.PayloadSize, "batch", l.BatchID)
	}
	return nil
}

// failure is what a failed start means for the batch.
type failure int

const (
	// transient: Temporal or the network is unwell, and the same start will
	// succeed later. Also what any unknown error is taken for.
	transient failure = iota
	// refused: Temporal refuses this input, and no retry of it can succeed.
	refused
	// misconfigured: Temporal refuses this worker, whatever the input
	// (namespace, permissions, versions). Splitting would dead-letter every
	// change, so the start is retried, loudly, until an operator fixes it;
	// the changes wait in the queue.
	misconfigured
)

func (f failure) String() string {
	switch f {
	case refused:
		return "refused"
	case misconfigured:
		return "misconfigured"
	}
	return "transient"
}

// classify sorts a StartBatch error. Unavailable, DeadlineExceeded,
// ResourceExhausted, Aborted, Internal, connection errors and timeouts are
// transient; InvalidArgument (an input over Temporal's payload limit, an ID or
// input it rejects) and a request too large for gRPC are the input refused.
func classify(err error) failure {
	switch {
	case is[*serviceerror.InvalidArgument](err), tooLarge(err):
		return refused
	case is[*serviceerror.PermissionDenied](err), is[*serviceerror.NamespaceNotFound](err),
		is[*serviceerror.NamespaceNotActive](err), is[*serviceerror.NamespaceInvalidState](err),
		is[*serviceerror.Unimplemented](err), is[*serviceerror.ClientVersionNotSupported](err),
		is[*serviceerror.ServerVersionNotSupported](err):
		return misconfigured
	}
	return transient
}

// tooLarge reports a request gRPC refused for its size: above the frontend's
// message limit (4 MB) the request never reaches Temporal's own payload check.
// The SDK hands that error over as a bare gRPC status, not a service error;
// converted, it is ResourceExhausted with no cause, which Temporal's own
// throttling always gives.
func tooLarge(err error) bool {
	if err == nil || is[serviceerror.ServiceError](err) {
		return false
	}
	re, ok := serviceerror.FromStatus(serviceerror.ToStatus(err)).(*serviceerror.ResourceExhausted)
	return ok && re.Cause == enums.RESOURCE_EXHAUSTED_CAUSE_UNSPECIFIED
}

// is reports whether err's tree holds an error of type E.
func is[E error](err error) bool {
	_, ok := errors.AsType[E](err)
	return ok
}

// startSpan starts the batch's span as a child of its first delivery's trace,
// linked to the traces of the others.
func (p *Pool) startSpan(ctx context.Context, batch []received) (context.Context, trace.Span) {
	parent := queue.Extract(ctx, batch[0].delivery.Headers)
	seen := map[trace.TraceID]bool{trace.SpanContextFromContext(parent).TraceID(): true}
	var links []trace.Link
	for _, r := range batch[1:] {
		sc := trace.SpanContextFromContext(queue.Extract(ctx, r.delivery.Headers))
		if sc.IsValid() && !seen[sc.TraceID()] {
			seen[sc.TraceID()] = true
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return p.cfg.Tracer.Start(parent, "ConsumeBatch", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...))
}
