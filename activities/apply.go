package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/pricing"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/telemetry"
)

// Store is the storefront's write side.
type Store interface {
	Upsert(ctx context.Context, items []inventory.Item) (storefront.UpsertResult, error)
}

// Applier holds the clients of the activities that apply a batch.
type Applier struct {
	Store       Store
	DeadLetters deadletter.Writer
	// DLQ is the dead-letter queue the operations on it read.
	DLQ DeadLetterQueue
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

// UpsertInput is a batch of changes.
type UpsertInput struct {
	BatchID string             `json:"batch_id"`
	Changes []inventory.Change `json:"changes"`
}

// UpsertResult says what became of each row of a batch.
type UpsertResult struct {
	Applied  int                 `json:"applied"`
	Stale    int                 `json:"stale"`
	Rejected []deadletter.Letter `json:"rejected,omitempty"`
	// RulesVersion names the pricing rules the batch was priced with.
	RulesVersion string `json:"rules_version"`
}

// UpsertBatch validates and prices the batch, writes the valid rows in one
// guarded upsert, and returns the rejected ones with their reasons. It is
// idempotent: a retry after a lost reply finds the rows already written and
// counts them stale.
//
// When the storefront refuses the batch with an error that is not transient,
// the batch is halved until the rows at fault are found: each is rejected
// alone and the rest are applied. Only when every row of a batch of several
// is refused the same way is the storefront itself taken to be at fault (a
// revoked grant, a dropped column): then the batch fails and is retried, and
// shows as stuck once it has failed for StuckAfter.
func (a *Applier) UpsertBatch(ctx context.Context, in UpsertInput) (UpsertResult, error) {
	defer keepAlive(ctx)()
	rules, lim, now := a.rules(), a.Limits.OrDefault(), time.Now()
	res := UpsertResult{RulesVersion: rules.Version}
	rows := make([]row, 0, len(in.Changes))
	for _, c := range in.Changes {
		item, rej := rules.Apply(c, lim, now)
		if rej != nil {
			res.Rejected = append(res.Rejected, deadLetter(in.BatchID, c, *rej))
			continue
		}
		rows = append(rows, row{item, c})
	}
	up, err := a.isolate(ctx, in.BatchID, rows, &res)
	if err == nil && len(rows) > 1 && len(up) == len(rows) && sameState(up) {
		err = fmt.Errorf("the storefront refuses every row of the batch: %w", up[0])
	}
	if err != nil {
		a.Stuck.failed(ctx, in.BatchID, err)
		return UpsertResult{}, err
	}
	a.Stuck.done(in.BatchID)
	return res, nil
}

// row is a priced item and the change it came from.
type row struct {
	item   inventory.Item
	change inventory.Change
}

// isolate upserts rows, halving on errors that one row may cause until each
// such row is rejected alone. It returns the errors the rejected rows met.
func (a *Applier) isolate(ctx context.Context, batchID string, rows []row, res *UpsertResult) ([]error, error) {
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
		return nil, nil
	case storefront.IsTransient(err):
		return nil, err
	case len(rows) == 1:
		res.Rejected = append(res.Rejected, deadLetter(batchID, rows[0].change, inventory.Rejection{
			Code: inventory.ReasonStorefrontRejected, Message: err.Error(),
		}))
		return []error{err}, nil
	}
	half := len(rows) / 2
	left, err := a.isolate(ctx, batchID, rows[:half], res)
	if err != nil {
		return nil, err
	}
	right, err := a.isolate(ctx, batchID, rows[half:], res)
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
