package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
)

// ReasonDeliveryLimit marks a change the broker dead-lettered itself after
// too many deliveries (a consumer kept dying while holding it).
const ReasonDeliveryLimit = "delivery_limit"

// Timings of the ingester.
const (
	ingestBatch = 100                    // prefetch, and the most letters written at once
	ingestWait  = 200 * time.Millisecond // how long a partial batch waits for more
	// Retrying a write the store refused: 100 ms, doubling to 10 s.
	writeRetryMin = 100 * time.Millisecond
	writeRetryMax = 10 * time.Second
	// writeWithin bounds the write under way when the ingester stops: it is
	// let finish, so its messages are acknowledged rather than returned.
	writeWithin = 10 * time.Second
	closeWithin = 5 * time.Second
)

// Ingester moves the messages on the dead-letter queue into the dead-letter
// store: the changes the broker dead-letters after the changes queue's
// delivery limit, and the letters earlier versions published there. The
// store, unlike the queue, can be read without consuming: on RabbitMQ 4 a
// quorum queue drops a message returned too often (20 times by default), and
// every unacknowledged read that ends with the channel counts as a return.
//
// So the ingester acknowledges a message only once its letter is written,
// and while the store refuses the write it keeps the messages unacknowledged
// and retries; it never rejects, requeues or closes the channel to try again.
type Ingester struct {
	URL      string
	Topology Topology
	Letters  deadletter.Writer
	Logger   *slog.Logger
}

// Run ingests until ctx is done, reconnecting after broker failures. On
// return its connection is closed and nothing it started still runs.
func (g Ingester) Run(ctx context.Context) {
	log := g.log()
	var r Reconnect
	for {
		start := time.Now()
		err := g.consume(ctx)
		if ctx.Err() != nil {
			return
		}
		pause := r.Next(time.Since(start))
		log.Warn("dead-letter ingester disconnected, reconnecting", "error", err, "in", pause)
		if !Sleep(ctx, pause) {
			return
		}
	}
}

func (g Ingester) log() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

// consume runs one connection: batches of deliveries, each written and then
// acknowledged. It returns nil once ctx is done, else why it stopped.
func (g Ingester) consume(ctx context.Context) error {
	conn, ch, deliveries, err := Consume(g.URL, g.Topology.Prefix+"-dlq-ingest", g.Topology, g.Topology.DeadLetterQueue(), ingestBatch)
	if err != nil {
		return err
	}
	// Unacknowledged deliveries go back to the queue as the connection
	// closes: only here, once per connection, never in a loop.
	defer func() { _ = conn.CloseDeadline(time.Now().Add(closeWithin)) }()
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	var batch []amqp.Delivery
	wait := time.NewTimer(ingestWait)
	wait.Stop()
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("rabbitmq: dead-letter queue delivery channel closed")
			}
			batch = append(batch, d)
			if len(batch) == 1 {
				wait.Reset(ingestWait)
			}
			if len(batch) < ingestBatch {
				continue
			}
		case <-wait.C:
		}
		if len(batch) == 0 {
			continue
		}
		wait.Stop()
		if err := g.keep(ctx, batch, closed); err != nil {
			return err
		}
		batch = batch[:0]
	}
}

// keep writes the letters of a batch, retrying until the store takes them,
// then acknowledges the batch. Meanwhile the deliveries stay unacknowledged
// on an open channel: the broker neither redelivers them nor counts them.
func (g Ingester) keep(ctx context.Context, batch []amqp.Delivery, closed <-chan *amqp.Error) error {
	log := g.log()
	var letters []deadletter.Letter
	redelivered := 0
	for _, d := range batch {
		letters = append(letters, LettersOf(d)...)
		if d.Redelivered {
			redelivered++
		}
	}
	if redelivered > 0 {
		// What a connection held unacknowledged as it ended comes back so,
		// and RabbitMQ 4 counts each time toward the queue's delivery limit.
		log.Warn("dead-letter queue delivered messages again", "count", redelivered, "queue", g.Topology.DeadLetterQueue())
	}
	pauses := Backoff(writeRetryMin, writeRetryMax)
	for {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeWithin)
		err := g.Letters.PutDeadLetters(wctx, letters)
		cancel()
		if err == nil {
			break
		}
		pause := pauses.NextBackOff()
		log.Warn("cannot keep dead letters; their messages stay on the queue unacknowledged, retrying",
			"count", len(letters), "error", err, "in", pause)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-closed:
			return fmt.Errorf("rabbitmq: channel closed: %v", e)
		case <-time.After(pause):
		}
	}
	if err := batch[len(batch)-1].Ack(true); err != nil {
		// The letters are written; the messages come back on the next
		// connection and are written again, which changes nothing.
		return fmt.Errorf("rabbitmq: ack: %w", err)
	}
	return nil
}

// LettersOf are the letters of a message on the dead-letter queue:
//   - one published there with a reason header (by earlier versions) keeps
//     its reason, attempts and batch;
//   - a change set the broker dead-lettered is one letter per change, reason
//     delivery_limit, so each is one letter with any other failure of the
//     same row version and can be replayed; an element that is not a change
//     is kept as it is, reason undecodable;
//   - anything else is kept as the message it is, reason undecodable.
func LettersOf(d amqp.Delivery) []deadletter.Letter {
	if code := headerString(d.Headers, HeaderReasonCode); code != "" {
		why := inventory.Rejection{Code: code, Message: headerString(d.Headers, HeaderReason)}
		var l deadletter.Letter
		if c, err := inventory.DecodeChange(d.Body); err == nil {
			l = deadletter.ForChange(c, why, deadletter.StageApply, headerString(d.Headers, HeaderBatch))
		} else {
			l = deadletter.ForMessage(d.Body, why, deadletter.StageConsumer)
		}
		switch n := d.Headers[HeaderAttempts].(type) {
		case int32:
			l.Attempts = max(int(n), 1)
		case int64:
			l.Attempts = max(int(n), 1)
		}
		return []deadletter.Letter{l}
	}
	death := brokerDeath(d.Headers)
	changes, bad, err := inventory.DecodeChangeSet(d.Body)
	if err != nil {
		return []deadletter.Letter{deadletter.ForMessage(d.Body, inventory.Rejection{Code: inventory.ReasonUndecodable,
			Message: death + "; " + err.Error()}, deadletter.StageBroker)}
	}
	letters := make([]deadletter.Letter, 0, len(changes)+len(bad))
	for _, c := range changes {
		letters = append(letters, deadletter.ForChange(c, inventory.Rejection{Code: ReasonDeliveryLimit,
			Message: death + ": consumers kept failing while holding it"}, deadletter.StageBroker, ""))
	}
	for _, b := range bad {
		letters = append(letters, deadletter.ForMessage(b.Raw, inventory.Rejection{Code: inventory.ReasonUndecodable,
			Message: death + "; " + b.Err.Error()}, deadletter.StageBroker))
	}
	return letters
}

// brokerDeath says where the broker dead-lettered a message from, and why,
// as its x-first-death headers tell.
func brokerDeath(h amqp.Table) string {
	queue, reason := headerString(h, "x-first-death-queue"), headerString(h, "x-first-death-reason")
	if queue == "" {
		return "dead-lettered without the broker's record of where from"
	}
	return fmt.Sprintf("the broker dead-lettered it from %s (%s)", queue, reason)
}

// headerString is a string header made safe to store and to show: text that
// is not plain printable is quoted and cut.
func headerString(h amqp.Table, key string) string {
	s, _ := h[key].(string)
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 || len(s) > 256 {
		return inventory.Quote(s)
	}
	return s
}
