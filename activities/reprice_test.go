package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/pricing"
)

// rulesInForce is a worker's rules, changed by the test as a reload would.
type rulesInForce struct{ r *pricing.Rules }

func (f *rulesInForce) Current() *pricing.Rules { return f.r }

func parseRules(t *testing.T, src string) *pricing.Rules {
	t.Helper()
	r, err := pricing.Parse([]byte(src))
	require.NoError(t, err)
	return r
}

const (
	rulesA = "rules:\n  - name: cap\n    max: \"1000\"\n"
	rulesB = `
rules:
  - name: toys half price
    when: category == "toys"
    discount: "50"
  - name: tools at twice the cost
    when: category == "tools"
    markup: "100"
  - name: black friday
    active: {from: "2026-11-27T00:00:00Z", to: "2026-12-01T00:00:00Z"}
    discount: "10"
`
)

func TestRepriceChunkWritesTheRowsWhosePriceChanges(t *testing.T) {
	f := newDLQFixture(t)
	ctx := context.Background()
	rules := &rulesInForce{parseRules(t, rulesA)}
	f.a.Rules = rules
	mk := func(sku, price, cost, category string) inventory.Change {
		c := dlqChange(sku, 1, dlqAt)
		c.Price = &price
		if cost != "" {
			c.Cost = &cost
		}
		if category != "" {
			c.Category = &category
		}
		return c
	}
	var up UpsertResult
	require.NoError(t, f.run(t, &up, f.a.UpsertBatch, stage(t, f.store, "b",
		mk("A-TOY", "10", "", "toys"), mk("B-PLAIN", "10", "", ""), mk("C-TOOL", "10", "4", "tools"),
		mk("D-TOOL", "30", "", "tools"), mk("E-TOY", "2", "", "toys"))))
	require.Equal(t, 5, up.Applied)
	shown := func() map[string]int64 {
		out := map[string]int64{}
		rows, err := f.store.PricedRows(ctx, "", 100)
		require.NoError(t, err)
		for _, r := range rows {
			out[r.Item.SKU] = r.PriceCents
		}
		return out
	}
	require.Equal(t, map[string]int64{"A-TOY": 1000, "B-PLAIN": 1000, "C-TOOL": 1000, "D-TOOL": 3000, "E-TOY": 200}, shown())

	b := parseRules(t, rulesB)
	before := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	chunk := func(version, after string, at time.Time) (RepriceChunkResult, error) {
		var res RepriceChunkResult
		err := f.run(t, &res, f.a.RepriceChunk, RepriceChunkInput{RulesVersion: version, After: after, Rows: 3, At: at})
		return res, err
	}

	// A worker that has not reloaded the rules yet refuses the chunk, to be
	// retried.
	_, err := chunk(b.Version, "", before)
	require.ErrorContains(t, err, "has not reloaded the rules file yet")
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.False(t, appErr.NonRetryable())
	require.Equal(t, ErrTypeRulesVersion, appErr.Type())

	rules.r = b
	blackFriday := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	res, err := chunk(b.Version, "", before)
	require.NoError(t, err)
	require.Equal(t, RepriceChunkResult{Last: "C-TOOL", Read: 3, Changed: 2, NextBoundary: blackFriday}, utcResult(res))
	res, err = chunk(b.Version, res.Last, before)
	require.NoError(t, err)
	require.Equal(t, RepriceChunkResult{Last: "E-TOY", Read: 2, Changed: 1, Rejected: 1, Done: true, NextBoundary: blackFriday}, utcResult(res))
	require.Equal(t, map[string]int64{"A-TOY": 500, "B-PLAIN": 1000, "C-TOOL": 800, "D-TOOL": 3000, "E-TOY": 100}, shown(),
		"the row the rules reject keeps its price")
	rows, err := f.store.PricedRows(ctx, "", 1)
	require.NoError(t, err)
	require.Equal(t, b.Version, rows[0].RulesVersion)

	letters, err := f.store.ListDeadLetters(ctx, deadletter.Filter{}, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	require.Equal(t, "D-TOOL", letters[0].SKU)
	require.Equal(t, deadletter.StageReprice, letters[0].Stage)
	require.Equal(t, inventory.ReasonCostMissing, letters[0].Reason.Code)

	// Again: nothing to write.
	res, err = chunk(b.Version, "", before)
	require.NoError(t, err)
	require.Zero(t, res.Changed)

	// Black friday starts: every row the rules price is 10 % off.
	res, err = chunk(b.Version, "", blackFriday)
	require.NoError(t, err)
	require.Equal(t, 3, res.Changed)
	require.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), res.NextBoundary.UTC())
	_, err = chunk(b.Version, res.Last, blackFriday)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"A-TOY": 450, "B-PLAIN": 900, "C-TOOL": 720, "D-TOOL": 3000, "E-TOY": 90}, shown())

	// A pass for an instant before the rows were read leaves them alone:
	// the upserts that wrote them priced them for a later instant.
	res, err = chunk(b.Version, "", dlqAt.Add(-2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 3, res.Read)
	require.Zero(t, res.Changed)
	require.Zero(t, res.Rejected)
}

func utcResult(r RepriceChunkResult) RepriceChunkResult {
	r.NextBoundary = r.NextBoundary.UTC()
	return r
}
