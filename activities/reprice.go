package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
)

// RepriceChunkInput names one chunk of a re-pricing pass: the rows after
// the SKU After, priced for the instant At with the rules RulesVersion.
type RepriceChunkInput struct {
	RulesVersion string    `json:"rules_version"`
	After        string    `json:"after"`
	Rows         int       `json:"rows"`
	At           time.Time `json:"at"`
}

// RepriceChunkResult says what became of a chunk.
type RepriceChunkResult struct {
	// Last is the last SKU read: where the next chunk starts (After when
	// none was read).
	Last string `json:"last"`
	Read int    `json:"read"`
	// Changed rows were written with a new price.
	Changed int `json:"changed"`
	// Rejected rows keep their price and are dead letters.
	Rejected int `json:"rejected,omitempty"`
	// Done: the chunk was the last of the pass.
	Done bool `json:"done,omitempty"`
	// NextBoundary is when the rules next start or end an active window
	// after At; zero: never.
	NextBoundary time.Time `json:"next_boundary,omitzero"`
}

// ErrTypeRulesVersion is the type of the error of a chunk given to a worker
// whose rules in force are not the pass's. It is retried.
const ErrTypeRulesVersion = "RulesVersionMismatch"

// RepriceChunk prices one chunk of stored rows again, from the ERP's values
// the storefront keeps, with the rules in force for the instant in.At, and
// writes the rows whose price changes. A row the rules reject keeps its
// price and becomes a dead letter. It is idempotent: run again, it finds the
// prices written and writes nothing.
//
// The pass names its rules version so that every row of it is priced with
// the same rules: a worker that has other rules in force (one that has not
// reloaded the file yet) fails the chunk, and Temporal retries it, on this
// worker once it has reloaded or on another.
func (a *Applier) RepriceChunk(ctx context.Context, in RepriceChunkInput) (RepriceChunkResult, error) {
	defer keepAlive(ctx)()
	rules := a.rules()
	if rules.Version != in.RulesVersion {
		return RepriceChunkResult{}, temporal.NewApplicationError(fmt.Sprintf(
			"this worker prices with rules %s, not %s: it has not reloaded the rules file yet", rules.Version, in.RulesVersion),
			ErrTypeRulesVersion)
	}
	if in.Rows <= 0 {
		return RepriceChunkResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("a chunk of %d rows", in.Rows), "BadInput", nil)
	}
	rows, err := a.Store.PricedRows(ctx, in.After, in.Rows)
	if err != nil {
		return RepriceChunkResult{}, err
	}
	res := RepriceChunkResult{Last: in.After, Read: len(rows), Done: len(rows) < in.Rows}
	if next, ok := rules.NextBoundary(in.At); ok {
		res.NextBoundary = next
	}
	lim := a.Limits.OrDefault()
	by := workflowID(ctx, fmt.Sprintf("reprice:%s@%s", in.RulesVersion, in.At.UTC().Format(time.RFC3339Nano)))
	var prices []storefront.Price
	var letters []deadletter.Letter
	for _, r := range rows {
		res.Last = r.Item.SKU
		c := r.Item.Change()
		item, rej := rules.Apply(c, lim, in.At)
		switch {
		case rej != nil && rej.Code == inventory.ReasonVersionInFuture:
			// Read after the instant priced: the upsert that wrote it
			// priced it for a later instant already.
		case rej != nil:
			letters = append(letters, deadletter.ForChange(c, *rej, deadletter.StageReprice, "reprice-"+in.RulesVersion))
		case item.PriceCents != r.PriceCents:
			prices = append(prices, storefront.Price{SKU: item.SKU, PriceCents: item.PriceCents, RulesVersion: item.RulesVersion,
				LastModified: r.Item.LastModified, ObservedAt: r.Item.ObservedAt, WrittenBy: by})
		}
	}
	if res.Changed, err = a.Store.SetPrices(ctx, prices); err != nil {
		return RepriceChunkResult{}, err
	}
	if err := a.DeadLetter(ctx, DeadLetterInput{Letters: letters}); err != nil {
		return RepriceChunkResult{}, err
	}
	res.Rejected = len(letters)
	return res, nil
}
