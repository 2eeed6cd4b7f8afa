package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/pricing"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/telemetry"
)

// Store is the storefront's write side: staged batches in, rows out, and
// stored rows priced again.
type Store interface {
	Batch(ctx context.Context, id string) (storefront.StagedBatch, error)
	FinishBatch(ctx context.Context, id string, outcome []byte) error
	Upsert(ctx context.Context, items []inventory.Item) (storefront.UpsertResult, error)
	PricedRows(ctx context.Context, after string, limit int) ([]storefront.PricedRow, error)
	SetPrices(ctx context.Context, prices []storefront.Price) (int, error)
	// StoredRow reads one SKU's row, to explain it.
	StoredRow(ctx context.Context, sku string) (storefront.StoredRow, bool, error)
}

// Applier holds the clients of the activities that apply a batch.
type Applier struct {
	Store Store
	// DeadLetters keeps the rows that cannot be applied, and is what the
	// operations on the dead-letter queue read and change.
	DeadLetters DeadLetterQueue
	// Rules validates and prices each change; nil: ERP prices, no backorders.
	Rules RuleSource
	// Limits bound every number and version before any arithmetic; zero:
	// inventory.DefaultLimits.
	Limits  inventory.Limits
	Metrics *telemetry.Metrics // nil: not recorded
	// Stuck tracks batches that keep failing; nil: not tracked.
	Stuck *StuckBatches
}

// RuleSource gives the pricing and validation rules in force. They may
// change between calls (a reloaded file); an activity uses one set
// throughout, and a workflow never sees them, so replays stay deterministic.
type RuleSource interface {
	Current() *pricing.Rules
}

func (a *Applier) rules() *pricing.Rules {
	if a.Rules == nil {
		return pricing.None()
	}
	return a.Rules.Current()
}

// UpsertInput names a staged batch.
type UpsertInput struct {
	BatchID string `json:"batch_id"`
	// Changes carries the batch itself in workflows started before batches
	// were staged; a staged batch is read from the storefront.
	Changes []inventory.Change `json:"changes,omitempty"`
}

// UpsertResult says what became of each row of a batch.
type UpsertResult struct {
	Applied int `json:"applied"`
	Stale   int `json:"stale"`
	// DeadLettered counts the rows that cannot be applied, kept as dead
	// letters with their reasons.
	DeadLettered int `json:"dead_lettered,omitempty"`
	// Rejected are those rows as letters for the workflow to keep, for a
	// batch that Changes carries; a staged batch keeps its own.
	Rejected []deadletter.Letter `json:"rejected,omitempty"`
	// RulesVersion names the pricing rules the batch was priced with.
	RulesVersion string `json:"rules_version"`
	// SKUs names the rows by what became of them, so the batch's history
	// answers it.
	SKUs *BatchSKUs `json:"skus,omitempty"`
}

// BatchSKUs is what became of each row of a batch, by SKU. The lists stop at
// maxSKUBytes of SKUs in all, so a result stays small whatever the SKUs hold;
// Omitted counts the SKUs left out.
type BatchSKUs struct {
	Applied []string `json:"applied,omitempty"`
	// Unchanged rows were older than, or the same as, the storefront's.
	Unchanged []string `json:"unchanged,omitempty"`
	// DeadLettered gives each dead-lettered row's reason code.
	DeadLettered map[string]string `json:"dead_lettered,omitempty"`
	Omitted      int               `json:"omitted,omitempty"`
}

// maxSKUBytes bounds the SKUs a result names: about 14 bytes of history per
// row for the usual SKU, and a batch's result far below Temporal's payload
// warning (512 KB) whatever they hold.
const maxSKUBytes = 96 << 10

// UpsertBatch validates and prices a staged batch, writes the valid rows in
// one guarded upsert, keeps the rejected ones as dead letters with their
// reasons, and records the batch's outcome. It is idempotent: a retry after
// a lost reply finds the outcome and returns it.
//
// When the storefront refuses the batch with an error that is not transient,
// the batch is halved until the rows at fault are found: each is rejected
// alone and the rest are applied. Only when every row of a batch of several
// is refused the same way is the storefront itself taken to be at fault (a
// revoked grant, a dropped column): then the batch fails and is retried, and
// shows as stuck once it has failed for StuckAfter.
func (a *Applier) UpsertBatch(ctx context.Context, in UpsertInput) (UpsertResult, error) {
	defer keepAlive(ctx)()
	if len(in.Changes) > 0 {
		res, letters, err := a.apply(ctx, in.BatchID, in.Changes, writer{by: in.BatchID})
		res.Rejected = letters
		return res, err
	}
	staged, err := a.Store.Batch(ctx, in.BatchID)
	if errors.Is(err, storefront.ErrNotStaged) {
		return UpsertResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "NotStaged", err)
	}
	if err != nil {
		return UpsertResult{}, err
	}
	var res UpsertResult
	if staged.Applied() {
		if err := json.Unmarshal(staged.Outcome, &res); err != nil {
			return UpsertResult{}, fmt.Errorf("batch %s: recorded outcome: %w", in.BatchID, err)
		}
		return res, nil
	}
	changes, err := inventory.DecodeChanges(staged.Changes)
	if err != nil {
		return UpsertResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("batch %s: staged changes: %v", in.BatchID, err), "BadStagedBatch", err)
	}
	res, letters, err := a.apply(ctx, in.BatchID, changes, writer{by: in.BatchID})
	if err != nil {
		return UpsertResult{}, err
	}
	if err := a.DeadLetter(ctx, DeadLetterInput{BatchID: in.BatchID, Letters: letters}); err != nil {
		return UpsertResult{}, err
	}
	res.DeadLettered = len(letters)
	outcome, err := json.Marshal(res)
	if err != nil {
		return UpsertResult{}, err
	}
	if err := a.Store.FinishBatch(ctx, in.BatchID, outcome); err != nil {
		return UpsertResult{}, err
	}
	return res, nil
}

// writer is what the rows an apply writes record of it.
type writer struct {
	// by names the writer: the ID of the workflow the apply runs for (an
	// ApplyChanges workflow's is its batch's).
	by string
	// verdicts are a reconcile's, by SKU.
	verdicts map[string]string
}

// apply prices changes and upserts the valid ones, and returns the letters
// of those that cannot be applied.
func (a *Applier) apply(ctx context.Context, batchID string, changes []inventory.Change, w writer) (UpsertResult, []deadletter.Letter, error) {
	rules, lim, now := a.rules(), a.Limits.OrDefault(), time.Now()
	res := UpsertResult{RulesVersion: rules.Version}
	var letters []deadletter.Letter
	rows := make([]row, 0, len(changes))
	for _, c := range changes {
		item, rej := rules.Apply(c, lim, now)
		if rej != nil {
			letters = append(letters, deadLetter(batchID, c, *rej))
			continue
		}
		item.WrittenBy, item.Verdict = w.by, w.verdicts[item.SKU]
		rows = append(rows, row{item, c})
	}
	var applied []string
	up, err := a.isolate(ctx, batchID, rows, &res, &applied, &letters)
	if err == nil && len(rows) > 1 && len(up) == len(rows) && sameState(up) {
		err = fmt.Errorf("the storefront refuses every row of the batch: %w", up[0])
	}
	if err != nil {
		a.Stuck.failed(ctx, batchID, err)
		return UpsertResult{}, nil, err
	}
	a.Stuck.done(batchID)
	res.SKUs = skusOf(rows, applied, letters)
	return res, letters, nil
}

// skusOf names each row by what became of it, within maxSKUBytes.
func skusOf(rows []row, applied []string, letters []deadletter.Letter) *BatchSKUs {
	s := &BatchSKUs{}
	budget := maxSKUBytes
	take := func(sku string) bool {
		if len(sku) > budget {
			s.Omitted++
			return false
		}
		budget -= len(sku)
		return true
	}
	written := make(map[string]bool, len(applied))
	for _, sku := range applied {
		written[sku] = true
		if take(sku) {
			s.Applied = append(s.Applied, sku)
		}
	}
	for _, r := range rows {
		if sku := r.item.SKU; !written[sku] {
			written[sku] = true // a SKU twice in the batch is named once
			if take(sku) {
				s.Unchanged = append(s.Unchanged, sku)
			}
		}
	}
	for _, l := range letters {
		if take(l.SKU) {
			if s.DeadLettered == nil {
				s.DeadLettered = map[string]string{}
			}
			s.DeadLettered[l.SKU] = l.Reason.Code
		}
	}
	return s
}

// row is a priced item and the change it came from.
type row struct {
	item   inventory.Item
	change inventory.Change
}

// isolate upserts rows, halving on errors that one row may cause until each
// such row is rejected alone. It adds the applied rows' SKUs to applied and
// the rejected rows' letters to letters, and returns the errors the rejected
// rows met.
func (a *Applier) isolate(ctx context.Context, batchID string, rows []row, res *UpsertResult, applied *[]string, letters *[]deadletter.Letter) ([]error, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	items := make([]inventory.Item, len(rows))
	for i, r := range rows {
		items[i] = r.item
	}
	up, err := a.upsert(ctx, items)
	switch {
	case err == nil:
		res.Applied += up.Applied
		res.Stale += up.Stale
		*applied = append(*applied, up.SKUs...)
		return nil, nil
	case storefront.IsTransient(err):
		return nil, err
	case len(rows) == 1:
		*letters = append(*letters, deadLetter(batchID, rows[0].change, inventory.Rejection{
			Code: inventory.ReasonStorefrontRejected, Message: err.Error(),
		}))
		return []error{err}, nil
	}
	half := len(rows) / 2
	left, err := a.isolate(ctx, batchID, rows[:half], res, applied, letters)
	if err != nil {
		return nil, err
	}
	right, err := a.isolate(ctx, batchID, rows[half:], res, applied, letters)
	return append(left, right...), err
}

// sameState reports whether the errors all carry one SQLSTATE.
func sameState(errs []error) bool {
	for _, err := range errs[1:] {
		if storefront.SQLState(err) != storefront.SQLState(errs[0]) {
			return false
		}
	}
	return true
}

func (a *Applier) upsert(ctx context.Context, items []inventory.Item) (storefront.UpsertResult, error) {
	start := time.Now()
	up, err := a.Store.Upsert(ctx, items)
	if err == nil {
		a.Metrics.Upserted(ctx, time.Since(start), up.Applied, up.Stale, up.Freshness)
	}
	return up, err
}

func deadLetter(batchID string, c inventory.Change, why inventory.Rejection) deadletter.Letter {
	return deadletter.ForChange(c, why, deadletter.StageApply, batchID)
}
