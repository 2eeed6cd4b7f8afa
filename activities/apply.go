package activities

import (
	"context"
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
}

func (a *Applier) limits() inventory.Limits {
	if a.Limits == (inventory.Limits{}) {
		return inventory.DefaultLimits()
	}
	return a.Limits
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

// UpsertBatch validates and prices the batch, writes the valid rows in one guarded
// upsert, and returns the rejected ones with their reasons. It is idempotent:
// a retry after a lost reply finds the rows already written and counts them
// stale. If the storefront refuses the batch as data, the rows are tried one
// by one so that only the offending rows are rejected.
func (a *Applier) UpsertBatch(ctx context.Context, in UpsertInput) (UpsertResult, error) {
	rules, lim, now := a.rules(), a.limits(), time.Now()
	res := UpsertResult{RulesVersion: rules.Version}
	items := make([]inventory.Item, 0, len(in.Changes))
	valid := make([]inventory.Change, 0, len(in.Changes)) // valid[i] is the source of items[i]
	for _, c := range in.Changes {
		item, rej := rules.Apply(c, lim, now)
		if rej != nil {
			res.Rejected = append(res.Rejected, deadLetter(in.BatchID, c, *rej))
			continue
		}
		items = append(items, item)
		valid = append(valid, c)
	}
	up, err := a.upsert(ctx, items)
	if err == nil {
		res.Applied, res.Stale = up.Applied, up.Stale
		return res, nil
	}
	if !storefront.IsDataError(err) {
		return UpsertResult{}, err
	}
	for i := range items {
		up, err := a.upsert(ctx, items[i:i+1])
		switch {
		case err == nil:
			res.Applied += up.Applied
			res.Stale += up.Stale
		case storefront.IsDataError(err):
			res.Rejected = append(res.Rejected, deadLetter(in.BatchID, valid[i], inventory.Rejection{
				Code: inventory.ReasonStorefrontRejected, Message: err.Error(),
			}))
		default:
			return UpsertResult{}, err
		}
	}
	return res, nil
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
