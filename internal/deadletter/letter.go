// Package deadletter is what the pipeline keeps of a row or message it gave
// up on: the reason, where it was, and a bounded copy of what it held. The
// letters live in PostgreSQL beside the storefront, so reading them never
// consumes or loses one, whatever the broker's version does with redeliveries.
package deadletter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/invsync/invsync/internal/inventory"
)

// Stages where a letter is written.
const (
	// StagePoller: an ERP row that could not become a change; the poller's
	// cursor moved past it.
	StagePoller = "poller"
	// StageConsumer: a message on the changes queue that could not be
	// decoded or handed to Temporal.
	StageConsumer = "consumer"
	// StageApply: a change that validation, pricing or the storefront
	// refused.
	StageApply = "apply"
	// StageReprice: a stored row the rules in force could not price again;
	// it keeps the price it had.
	StageReprice = "reprice"
	// StageBroker: a message the broker dead-lettered after too many
	// deliveries.
	StageBroker = "broker"
)

// MaxPayload is the most of a payload a letter keeps; PayloadSize and
// PayloadSHA256 describe the whole.
const MaxPayload = 4 << 10

// Letter is one dead letter.
type Letter struct {
	// ID is stable: the same row version, or the same message body, is one
	// letter however often it is read, retried or refused.
	ID     string              `json:"id"`
	Stage  string              `json:"stage"`
	Reason inventory.Rejection `json:"reason"`
	// SKU is the row's SKU as far as it is known, cut to a safe length.
	SKU     string `json:"sku,omitempty"`
	BatchID string `json:"batch_id,omitempty"`
	// Cursor is where the poller read the row, for letters from the ERP.
	Cursor *inventory.Cursor `json:"cursor,omitempty"`
	// Attempts counts how often the letter has been tried: 1, and one more
	// for each replay that failed again.
	Attempts int `json:"attempts"`
	// Payload is the first MaxPayload bytes of the row (as JSON) or the
	// message body.
	Payload       []byte `json:"payload"`
	PayloadSize   int    `json:"payload_size"`
	PayloadSHA256 string `json:"payload_sha256"`
	// At is when the letter was first written, and LastAt when it was last
	// written: when it was first kept, or when a replay of it last failed
	// (both set by the store).
	At     time.Time `json:"at,omitzero"`
	LastAt time.Time `json:"last_at,omitzero"`
}

// Filter narrows a selection of letters to some IDs, to one reason code, or
// both. The zero filter selects every letter.
type Filter struct {
	IDs    []string `json:"ids,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// Counts are the numbers of letters kept.
type Counts struct {
	Total    int64            `json:"total"`
	ByReason map[string]int64 `json:"by_reason"`
}

// Writer keeps letters. Writing a letter that exists (same ID) updates its
// reason and attempts and adds no second letter.
type Writer interface {
	PutDeadLetters(ctx context.Context, letters []Letter) error
}

func id(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func withPayload(l Letter, payload []byte) Letter {
	sum := sha256.Sum256(payload)
	l.PayloadSize, l.PayloadSHA256 = len(payload), hex.EncodeToString(sum[:])
	if len(payload) > MaxPayload {
		payload = payload[:MaxPayload]
	}
	l.Payload = payload
	if l.Attempts == 0 {
		l.Attempts = 1
	}
	return l
}

// safeSKU cuts a SKU that may be hostile to what a letter shows of it.
func safeSKU(s string) string {
	if s == "" || inventory.CheckSKU(s) == nil {
		return s
	}
	return inventory.Quote(s)
}

// ForChange is the letter of a change that could not be applied. Its ID is
// the row version's identity: SKU and LastModified.
func ForChange(c inventory.Change, why inventory.Rejection, stage, batchID string) Letter {
	body, _ := json.Marshal(c) // a Change always marshals
	return withPayload(Letter{
		ID:      id("change", c.SKU, c.LastModified.UTC().Format(time.RFC3339Nano)),
		Stage:   stage,
		Reason:  why,
		SKU:     safeSKU(c.SKU),
		BatchID: batchID,
	}, body)
}

// ForRow is the letter of an ERP row that could not become a change. A row
// with a SKU is named by SKU and LastModified, like its change would be; one
// without by all it holds.
func ForRow(r inventory.Row, why inventory.Rejection) Letter {
	// Every value as read, as text; not the fingerprint, which the row's
	// values make.
	body, _ := json.Marshal(inventory.Row{SKU: r.SKU, Quantity: r.Quantity, Price: r.Price, Cost: r.Cost,
		Category: r.Category, LastModified: r.LastModified})
	cur := r.Cursor()
	l := Letter{Stage: StagePoller, Reason: why, Cursor: &cur}
	if r.SKU != nil {
		l.ID = id("change", *r.SKU, r.LastModified.UTC().Format(time.RFC3339Nano))
		l.SKU = safeSKU(*r.SKU)
	} else {
		l.ID = id("row", string(body))
	}
	return withPayload(l, body)
}

// ForMessage is the letter of a message body that is not a change, or that
// could not be handed on. Its ID is the body's hash.
func ForMessage(body []byte, why inventory.Rejection, stage string) Letter {
	sum := sha256.Sum256(body)
	return withPayload(Letter{ID: id("message", string(sum[:])), Stage: stage, Reason: why}, body)
}
