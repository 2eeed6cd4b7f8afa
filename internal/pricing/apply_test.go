package pricing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

// TestConstantConversionsFailAsTheyDid: a conversion folded when the rules
// are compiled still fails only on the rows that evaluate it.
func TestConstantConversionsFailAsTheyDid(t *testing.T) {
	rules, err := Parse([]byte("rules:\n  - name: odd\n    when: has_cost || timestamp(\"never\") > changed_at\n    set: \"1\"\n"))
	require.NoError(t, err)
	item, rej := apply(rules, change("A", "5", "2", "", 1))
	require.Nil(t, rej)
	require.Equal(t, int64(100), item.PriceCents)
	_, rej = apply(rules, change("A", "5", "", "", 1))
	require.NotNil(t, rej)
	require.Equal(t, inventory.ReasonPriceRuleFailed, rej.Code)
}

func demoRules(t testing.TB) *Rules {
	src, err := os.ReadFile("../../dev/pricing.yaml")
	require.NoError(t, err)
	rules, err := Parse(src)
	require.NoError(t, err)
	return rules
}

func demoRows() []inventory.Change {
	return []inventory.Change{
		change("SKU-0000001", "19.99", "12.50", "electronics", 3),
		change("SKU-0012345", "1234.50", "800", "tools", 12),
		change("SKU-0200000", "7.25", "", "garden", 0),
		change("SKU-0000042", "15.00", "9.99", "kitchen", 40),
		change("SKU-0200001", "7.25", "5", "electronics", 0),
	}
}

// maxPricingAllocs bounds the allocations pricing adds to validation for a
// row of the demo. The costliest, SKU-0200001 (a markup, then a margin
// floor), takes 15: its price and cost read as decimals (a big.Int and its
// words each, and the digits without the point for a price with one), the
// CEL values of the variables its conditions read (strings, a timestamp, an
// int past 255), and a big.Int and its words for each of three products
// (the markup, the price times the margin's factor, the cost brought to
// that product's exponent to compare them). Compiling a condition, or
// building a map of every variable, per row costs far more.
const maxPricingAllocs = 15

// TestApplyAllocatesLittle keeps the work of a rules version out of Apply:
// the rules are compiled and their amounts worked out once, in Parse, and a
// row is priced with a pooled activation.
func TestApplyAllocatesLittle(t *testing.T) {
	rules := demoRules(t)
	lim := inventory.DefaultLimits()
	for _, row := range demoRows() {
		validate := testing.AllocsPerRun(200, func() { _, _ = inventory.Validate(row, lim, rules.policy, changedAt) })
		apply := testing.AllocsPerRun(200, func() { _, _ = rules.Apply(row, lim, changedAt) })
		require.LessOrEqual(t, apply-validate, float64(maxPricingAllocs), "%s: %v allocations per Apply, %v of them validation", row.SKU, apply, validate)
	}
}

// TestApplyConcurrently prices rows from several goroutines at once, as the
// apply activities do, and gets the prices one goroutine gets.
func TestApplyConcurrently(t *testing.T) {
	rules := demoRules(t)
	lim := inventory.DefaultLimits()
	rows := demoRows()
	want := make([]int64, len(rows))
	for i, row := range rows {
		item, rej := rules.Apply(row, lim, changedAt)
		require.Nil(t, rej)
		want[i] = item.PriceCents
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := (g + i) % len(rows)
				item, rej := rules.Apply(rows[k], lim, changedAt)
				if rej != nil || item.PriceCents != want[k] {
					errs <- fmt.Errorf("%s: %d %v, want %d", rows[k].SKU, item.PriceCents, rej, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkApplyParallelDemoRules is BenchmarkApplyDemoRules on every
// GOMAXPROCS at once, as the apply activities share a worker's rules.
func BenchmarkApplyParallelDemoRules(b *testing.B) {
	rules := demoRules(b)
	lim := inventory.DefaultLimits()
	rows := demoRows()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, rej := rules.Apply(rows[i%len(rows)], lim, changedAt); rej != nil {
				b.Error(rej)
				return
			}
			i++
		}
	})
}

// TestRoundCentsStepsAsTheLoopDid checks the counted steps under a cap
// against stepping a dollar at a time.
func TestRoundCentsStepsAsTheLoopDid(t *testing.T) {
	stepped := func(c int64, mode string, limit int64, capped bool) int64 {
		if mode != Round99 || c < 0 {
			return c
		}
		if c%100 != 99 {
			c = c/100*100 + 99
		}
		if capped {
			for c > limit && c >= 100 {
				c -= 100
			}
			if c > limit {
				c = limit
			}
		}
		return c
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		c, limit := rng.Int64N(100000)-100, rng.Int64N(100000)-1000
		for _, mode := range []string{RoundCents, Round99} {
			for _, capped := range []bool{false, true} {
				require.Equal(t, stepped(c, mode, limit, capped), roundCents(c, mode, limit, capped), "%d under %d", c, limit)
			}
		}
	}
	require.Equal(t, int64(99), roundCents(1e17, Round99, 150, true))
	require.Equal(t, int64(-5), roundCents(1e17, Round99, -5, true))
	require.Equal(t, int64(math.MinInt64), roundCents(math.MaxInt64-99, Round99, math.MinInt64, true))
}
