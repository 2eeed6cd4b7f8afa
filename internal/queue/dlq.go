package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/invsync/invsync/internal/inventory"
)

// Letter is a dead letter as it sits in the DLQ, for people to read.
type Letter struct {
	ID         string    `json:"id"`
	SKU        string    `json:"sku"`
	ReasonCode string    `json:"reason_code"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
	Attempts   int       `json:"attempts"`
	BatchID    string    `json:"batch_id,omitempty"`
	// Payload is the message body: a change as JSON, or whatever could not
	// be decoded.
	Payload string `json:"payload"`
}

// DeadLetter is the letter as it would be published again.
func (l Letter) DeadLetter() DeadLetter {
	return DeadLetter{Payload: []byte(l.Payload), SKU: l.SKU, BatchID: l.BatchID, Attempts: l.Attempts,
		Reason: inventory.Rejection{Code: l.ReasonCode, Message: l.Reason}}
}

// ReasonDeliveryLimit marks a change the broker dead-lettered itself after
// too many deliveries (a consumer kept dying while holding it).
const ReasonDeliveryLimit = "delivery_limit"

// MaxTake bounds how many letters one operation reads off the DLQ.
const MaxTake = 10000

// DLQ reads the dead-letter queue for the operations on it. Reading does not
// consume: letters are fetched unacknowledged, and the ones an operation does
// not take go back when its channel closes.
type DLQ struct {
	URL      string
	Topology Topology
}

// Peek returns up to limit letters, leaving all of them in the queue.
func (d DLQ) Peek(ctx context.Context, limit int) ([]Letter, error) {
	var out []Letter
	err := d.read(ctx, limit, func(ds []amqp.Delivery) error {
		for _, dl := range ds {
			out = append(out, letterOf(dl))
		}
		return nil
	})
	return out, err
}

// Take reads up to limit letters, hands those selected (by ID, or all) to
// handle, and removes them from the queue only if handle succeeds. It
// returns the letters taken.
func (d DLQ) Take(ctx context.Context, ids []string, all bool, limit int,
	handle func(context.Context, []Letter) error) ([]Letter, error) {
	if !all && len(ids) == 0 {
		return nil, errors.New("dlq: select letters by id, or all")
	}
	var taken []Letter
	err := d.read(ctx, limit, func(ds []amqp.Delivery) error {
		var chosen []amqp.Delivery
		for _, dl := range ds {
			l := letterOf(dl)
			if all || slices.Contains(ids, l.ID) {
				taken = append(taken, l)
				chosen = append(chosen, dl)
			}
		}
		if len(chosen) == 0 {
			return nil
		}
		if err := handle(ctx, taken); err != nil {
			taken = nil
			return err
		}
		for _, dl := range chosen {
			if err := dl.Ack(false); err != nil {
				return fmt.Errorf("dlq: ack: %w", err)
			}
		}
		return nil
	})
	return taken, err
}

// read fetches up to limit deliveries on a channel of its own, lets fn see
// them, and closes the channel: whatever fn did not ack returns to the queue.
func (d DLQ) read(ctx context.Context, limit int, fn func([]amqp.Delivery) error) error {
	if limit <= 0 || limit > MaxTake {
		limit = MaxTake
	}
	conn, err := Dial(d.URL, d.Topology.Prefix+"-dlq")
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("dlq: channel: %w", err)
	}
	defer ch.Close()
	if err := d.Topology.Declare(ch); err != nil {
		return err
	}
	var ds []amqp.Delivery
	for len(ds) < limit {
		if err := ctx.Err(); err != nil {
			return err
		}
		dl, ok, err := ch.Get(d.Topology.DeadLetterQueue(), false)
		if err != nil {
			return fmt.Errorf("dlq: get: %w", err)
		}
		if !ok {
			break
		}
		ds = append(ds, dl)
	}
	return fn(ds)
}

func letterOf(d amqp.Delivery) Letter {
	str := func(k string) string { s, _ := d.Headers[k].(string); return s }
	attempts := 1
	switch v := d.Headers[HeaderAttempts].(type) {
	case int32:
		attempts = int(v)
	case int64:
		attempts = int(v)
	}
	l := Letter{
		ID:         d.MessageId,
		SKU:        str(HeaderSKU),
		ReasonCode: str(HeaderReasonCode),
		Reason:     str(HeaderReason),
		At:         d.Timestamp.UTC(),
		Attempts:   attempts,
		BatchID:    str(HeaderBatch),
		Payload:    string(d.Body),
	}
	if l.ReasonCode == "" {
		// Dead-lettered by the broker: the body is a change as published.
		l.ReasonCode, l.Reason = ReasonDeliveryLimit, "the broker dead-lettered it after too many deliveries"
		var c inventory.Change
		if json.Unmarshal(d.Body, &c) == nil {
			l.SKU = c.SKU
		}
	}
	if l.ID == "" || l.ReasonCode == ReasonDeliveryLimit {
		l.ID = l.DeadLetter().ID()
	}
	return l
}
