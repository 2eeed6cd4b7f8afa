package pricing

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

var changedAt = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// apply prices c as a worker whose clock reads c's LastModified would.
func apply(r *Rules, c inventory.Change) (inventory.Item, *inventory.Rejection) {
	c.ObservedAt = c.LastModified
	return r.Apply(c, inventory.DefaultLimits(), c.LastModified)
}

func change(sku, price, cost, category string, qty int64) inventory.Change {
	c := inventory.Change{SKU: sku, Quantity: &qty, Price: &price, LastModified: changedAt, ObservedAt: changedAt}
	if cost != "" {
		c.Cost = &cost
	}
	if category != "" {
		c.Category = &category
	}
	return c
}

const shopRules = `
rounding: cents
validation:
  negative_quantity: backorder
rules:
  - name: clearance
    when: sku.startsWith("CLR-")
    set: "4.99"
    stop: true
  - name: electronics markup
    when: category == "electronics"
    markup: "35"
  - name: black friday
    when: changed_at >= timestamp("2026-11-27T00:00:00Z") && changed_at < timestamp("2026-12-01T00:00:00Z")
    discount: "20"
  - name: margin floor
    when: has_cost
    min_margin: "10"
  - name: cheap things end in 99
    when: price < 2000
    rounding: "99"
  - name: cap
    max: "500"
`

func TestPrice(t *testing.T) {
	rules, err := Parse([]byte(shopRules))
	require.NoError(t, err)
	friday := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   inventory.Change
		want int64
		code string
	}{
		{"no rule applies: the ERP price, to the cent", change("A", "123.455", "", "", 1), 12346, ""},
		{"half a cent rounds away from zero", change("A", "123.445", "", "", 1), 12345, ""},
		{"fixed override, and stop: later rules do not apply", change("CLR-1", "800", "700", "electronics", 1), 499, ""},
		{"markup on cost replaces the ERP price", change("E", "30", "100", "electronics", 1), 13500, ""},
		{"markup needs a cost", change("E", "10", "", "electronics", 1), 0, inventory.ReasonCostMissing},
		{"margin floor lifts a price below cost / 0.9", change("B", "100", "99", "tools", 1), 11000, ""},
		{"margin floor leaves a price above it", change("B", "150", "99", "tools", 1), 15000, ""},
		{"cap", change("C", "900", "", "", 1), 50000, ""},
		{"cap after markup", change("E", "30", "450", "electronics", 1), 50000, ""},
		{"conditions see the ERP price: .99 rounding, kept under the cap", change("E", "1", "450", "electronics", 1), 49999, ""},
		{"rounding to .99 under 20.00", change("D", "12.34", "", "", 1), 1299, ""},
		{"already .99 stays", change("D", "12.99", "", "", 1), 1299, ""},
		{"a whole price goes up to its .99", change("D", "13", "", "", 1), 1399, ""},
		{"negative quantity is a backorder by this file", change("N", "25", "", "", -3), 2500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item, rej := apply(rules, tt.in)
			if tt.code != "" {
				require.NotNil(t, rej)
				require.Equal(t, tt.code, rej.Code)
				require.NotEmpty(t, rej.Message)
				return
			}
			require.Nil(t, rej)
			require.Equal(t, tt.want, item.PriceCents)
			require.Equal(t, rules.Version, item.RulesVersion)
		})
	}

	t.Run("a date-bounded promotion follows the ERP change time, not the clock", func(t *testing.T) {
		c := change("P", "100", "", "", 1)
		c.LastModified = friday
		item, rej := apply(rules, c)
		require.Nil(t, rej)
		require.Equal(t, int64(8000), item.PriceCents)
		c.LastModified = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		item, _ = apply(rules, c)
		require.Equal(t, int64(10000), item.PriceCents, "the promotion ends at its bound")
	})
}

func TestRound(t *testing.T) {
	d := decimal.RequireFromString
	cap := func(s string) *decimal.Decimal { v := d(s); return &v }
	tests := []struct {
		price, mode string
		ceiling     *decimal.Decimal
		want        int64
	}{
		{"0.005", RoundCents, nil, 1},
		{"0.004999", RoundCents, nil, 0},
		{"-0.005", RoundCents, nil, -1},
		{"19.999", RoundCents, nil, 2000},
		{"0", Round99, nil, 99},
		{"0.99", Round99, nil, 99},
		{"1.00", Round99, nil, 199},
		{"19.995", Round99, nil, 2099},
		{"100.50", Round99, cap("100"), 9999},
		{"0.50", Round99, cap("0.50"), 50},
	}
	for _, tt := range tests {
		got := roundCents(cents(d(tt.price)), tt.mode, 0, false)
		if tt.ceiling != nil {
			got = roundCents(cents(d(tt.price)), tt.mode, ceilingCents(*tt.ceiling), true)
		}
		require.Equal(t, tt.want, got, "%s %s", tt.price, tt.mode)
	}
}

func TestParseRejectsABadFileNamingTheRule(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"syntax", "rules: [", "yaml"},
		{"unknown field", "rules:\n  - name: a\n    markup_pct: \"5\"\n", "markup_pct"},
		{"bad condition", "rules:\n  - name: ok\n    set: \"1\"\n  - name: typo\n    when: sku.startsWith(\n    set: \"1\"\n", `rule 2 "typo": when`},
		{"condition not a bool", "rules:\n  - name: price\n    when: price + 1\n    set: \"1\"\n", `rule 1 "price": when: "price + 1" is a int`},
		{"unknown variable", "rules:\n  - name: v\n    when: colour == \"red\"\n    set: \"1\"\n", `rule 1 "v": when`},
		{"bad amount", "rules:\n  - name: m\n    markup: \"lots\"\n", `rule 1 "m": markup "lots" is not a decimal`},
		{"discount of 100", "rules:\n  - name: d\n    discount: \"100\"\n", `rule 1 "d": discount 100 must be below 100`},
		{"negative", "rules:\n  - name: n\n    min: \"-1\"\n", `rule 1 "n": min -1 is negative`},
		{"no action", "rules:\n  - name: idle\n    when: true\n", `rule 1 "idle": a rule needs an action`},
		{"no name", "rules:\n  - set: \"1\"\n", `rule 1 "": a rule needs a name`},
		{"twice", "rules:\n  - name: a\n    set: \"1\"\n  - name: a\n    set: \"2\"\n", `rule 2 "a": the name is used twice`},
		{"rounding", "rounding: \"95\"\n", `rounding "95"`},
		{"validation", "validation:\n  negative_quantity: maybe\n", "negative_quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestVersionIsTheFilesHash(t *testing.T) {
	a, err := Parse([]byte(shopRules))
	require.NoError(t, err)
	b, err := Parse([]byte(shopRules + "\n# a comment\n"))
	require.NoError(t, err)
	require.Len(t, a.Version, 12)
	require.NotEqual(t, a.Version, b.Version)
	require.Equal(t, "none", None().Version)
	_, rej := apply(None(), change("A", "1.005", "", "", -1))
	require.NotNil(t, rej, "no rules: negative quantities are rejected")
	require.Equal(t, inventory.ReasonQuantityNegative, rej.Code)
	item, rej := apply(None(), change("A", "1.005", "", "", 1))
	require.Nil(t, rej)
	require.Equal(t, int64(101), item.PriceCents)
	require.Equal(t, "none", item.RulesVersion)
}

func TestWatcherReloadsAndKeepsGoodRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - name: all\n    set: \"1\"\n"), 0o644))
	w, err := Watch(path, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	var reloaded []string
	w.OnReload(func(r *Rules) { reloaded = append(reloaded, r.Version) })
	first := w.Current().Version
	price := func() int64 {
		item, rej := apply(w.Current(), change("A", "5", "", "", 1))
		require.Nil(t, rej)
		return item.PriceCents
	}
	require.Equal(t, int64(100), price())

	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - name: all\n    set: \"2\"\n"), 0o644))
	w.Check()
	require.Equal(t, int64(200), price(), "a changed file takes effect without a restart")
	require.NotEqual(t, first, w.Current().Version)
	require.Equal(t, []string{w.Current().Version}, reloaded, "a reload is told")

	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - name: all\n    set: oops\n"), 0o644))
	w.Check()
	require.Equal(t, int64(200), price(), "a broken file leaves the rules in force")
	w.Check()
	require.Len(t, reloaded, 1, "neither a broken file nor an unchanged one is a reload")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx, time.Millisecond); close(done) }()
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - name: all\n    set: \"3\"\n"), 0o644))
	require.Eventually(t, func() bool { return price() == 300 }, 5*time.Second, time.Millisecond)
	cancel()
	<-done

	_, err = Watch(filepath.Join(t.TempDir(), "missing.yaml"), slog.New(slog.DiscardHandler))
	require.Error(t, err, "a missing file stops the worker")
}

func TestTheDemoRulesFileChecksOut(t *testing.T) {
	r, err := Load("../../dev/pricing.yaml")
	require.NoError(t, err)
	item, rej := apply(r, change("SKU-0000007", "50", "10", "garden", 3))
	require.Nil(t, rej)
	require.Equal(t, int64(199), item.PriceCents, "clearance")
}

// BenchmarkApplyDemoRules prices rows with dev/pricing.yaml, compiled once as
// the worker does per rules version: the time per row, validation included.
func BenchmarkApplyDemoRules(b *testing.B) {
	src, err := os.ReadFile("../../dev/pricing.yaml")
	require.NoError(b, err)
	rules, err := Parse(src)
	require.NoError(b, err)
	lim := inventory.DefaultLimits()
	rows := []inventory.Change{
		change("SKU-0000001", "19.99", "12.50", "electronics", 3),
		change("SKU-0012345", "1234.50", "800", "tools", 12),
		change("SKU-0200000", "7.25", "", "garden", 0),
		change("SKU-0000042", "15.00", "9.99", "kitchen", 40),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, rej := rules.Apply(rows[i%len(rows)], lim, changedAt); rej != nil {
			b.Fatal(rej)
		}
		i++
	}
}
