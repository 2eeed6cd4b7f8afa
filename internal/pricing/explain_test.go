package pricing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

// TestExplainAgreesWithApply: for every row, Explain gives Apply's item or
// rejection, and its steps name the rules that applied with the price after
// each.
func TestExplainAgreesWithApply(t *testing.T) {
	shop, err := Parse([]byte(shopRules))
	require.NoError(t, err)
	capped, err := Parse([]byte(`
rounding: "99"
rules:
  - {name: markup, when: has_cost, markup: "300"}
  - {name: cap, max: "12.50"}
  - {name: lower cap, when: 'category == "toys"', max: "10.10"}
`))
	require.NoError(t, err)
	none := None()
	at := changedAt
	type step struct{ rule, price, rounding string }
	tests := []struct {
		name   string
		rules  *Rules
		row    inventory.Change
		steps  []step
		cents  int64
		reason string
	}{
		{"no rules: the ERP price", none, change("A", "12.345", "", "", 1), nil, 1235, ""},
		{"clearance stops", shop, change("CLR-1", "100", "50", "electronics", 1),
			[]step{{"clearance", "4.99", "cents"}}, 499, ""},
		{"markup, margin floor, rounding 99 and the cap", shop, change("E-1", "10", "4", "electronics", 1),
			[]step{{"electronics markup", "5.4", "cents"}, {"margin floor", "5.4", "cents"},
				{"cheap things end in 99", "5.4", "99"}, {"cap", "5.4", "99"}}, 599, ""},
		{"capped: the cap wins over a markup, and 99 stays under it", shop, change("E-2", "10", "1000", "electronics", 1),
			[]step{{"electronics markup", "1350", "cents"}, {"margin floor", "1350", "cents"},
				{"cheap things end in 99", "1350", "99"}, {"cap", "500", "99"}}, 49999, ""},
		{"99 never goes above a cap", capped, change("C-1", "1", "5", "", 1),
			[]step{{"markup", "20", "99"}, {"cap", "12.5", "99"}}, 1199, ""},
		{"99 under the lowest of two caps", capped, change("C-2", "1", "5", "toys", 1),
			[]step{{"markup", "20", "99"}, {"cap", "12.5", "99"}, {"lower cap", "10.1", "99"}}, 999, ""},
		{"99 rounds up under no cap", capped, change("C-3", "3.01", "", "", 1),
			[]step{{"cap", "3.01", "99"}}, 399, ""},
		{"a markup without a cost is refused", capped, change("C-4", "1", "", "", 1), nil, 0, ""},
		{"negative quantity rejected by validation", none, change("N", "1", "", "", -1), nil, 0, inventory.ReasonQuantityNegative},
		{"negative quantity as a backorder", shop, change("N", "1", "", "", -1),
			[]step{{"cheap things end in 99", "1", "99"}, {"cap", "1", "99"}}, 199, ""},
		{"a price beyond the limits", shop, change("E-3", "1", "9999999999999", "electronics", 1),
			nil, 0, inventory.ReasonPriceOutOfRange},
	}
	// "a markup without a cost": the markup rule's condition needs a cost,
	// so only the cap applies.
	tests[7].steps, tests[7].cents = []step{{"cap", "1", "99"}}, 199
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := inventory.DefaultLimits()
			want, wantRej := tt.rules.Apply(tt.row, lim, at)
			e, got, rej := tt.rules.Explain(tt.row, lim, at)
			require.Equal(t, wantRej, rej)
			require.Equal(t, want, got)
			require.Equal(t, tt.rules.Version, e.RulesVersion)
			require.Equal(t, at, e.At)
			if tt.reason != "" {
				require.NotNil(t, rej)
				require.Equal(t, tt.reason, rej.Code)
				require.Equal(t, rej, e.Rejection)
				return
			}
			require.Nil(t, rej)
			require.Equal(t, want.PriceCents, e.PriceCents)
			require.Equal(t, tt.cents, e.PriceCents)
			var steps []step
			for _, s := range e.Steps {
				steps = append(steps, step{s.Rule, s.Price, s.Rounding})
			}
			require.Equal(t, tt.steps, steps)
			if len(e.Steps) > 0 {
				require.Equal(t, e.Steps[len(e.Steps)-1].Rounding, e.Rounding)
			}
		})
	}
}

// TestExplainAgreesWithApplyOnTheDemo runs the demo rules over many rows
// at instants in and out of their promotion windows.
func TestExplainAgreesWithApplyOnTheDemo(t *testing.T) {
	rules := demoRules(t)
	lim := inventory.DefaultLimits()
	for _, at := range []time.Time{changedAt, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)} {
		for _, c := range append(demoRows(), change("CLR-9", "3", "1", "garden", 2), change("X", "0.01", "", "", 0)) {
			want, wantRej := rules.Apply(c, lim, at)
			e, got, rej := rules.Explain(c, lim, at)
			require.Equal(t, wantRej, rej, c.SKU)
			require.Equal(t, want, got, c.SKU)
			if rej == nil {
				require.Equal(t, want.PriceCents, e.PriceCents)
			}
		}
	}
}

func TestExplainNamesActions(t *testing.T) {
	require.Equal(t, "set 1.99, stop", actions(Rule{Set: "1.99", Stop: true}))
	require.Equal(t, "markup 40%, discount 15%, min_margin 10%, min 1, max 20, rounding 99",
		actions(Rule{Markup: "40", Discount: "15", MinMargin: "10", Min: "1", Max: "20", Rounding: "99"}))
}
