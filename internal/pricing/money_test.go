package pricing

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

// The helpers of money.go stand for plain Decimal operations; these tests
// hold each to the operations it stands for, on numbers of every size and
// exponent a price, cost or amount can have and well beyond.

// randomDecimal is a decimal of up to digits digits at an exponent from
// minExp to maxExp, negative one time in four.
func randomDecimal(rng *rand.Rand, digits, minExp, maxExp int) decimal.Decimal {
	var b strings.Builder
	if rng.IntN(4) == 0 {
		b.WriteByte('-')
	}
	b.WriteByte(byte('0' + rng.IntN(10)))
	for range rng.IntN(digits) {
		b.WriteByte(byte('0' + rng.IntN(10)))
	}
	d := decimal.RequireFromString(b.String())
	return d.Shift(int32(minExp + rng.IntN(maxExp-minExp+1)))
}

func TestCentsIsTheRoundingChain(t *testing.T) {
	chain := func(d decimal.Decimal) int64 { return d.Round(2).Shift(2).IntPart() }
	for _, s := range []string{"0", "0.005", "-0.005", "0.004999", "-0.004999", "19.995", "12.50", "800", "7.5",
		"1e-45", "-1e-45", "9223372036854775.807", "92233720368547758.08", "-92233720368547758.09", "1e30", "123e45"} {
		d := decimal.RequireFromString(s)
		require.Equal(t, chain(d), cents(d), s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		d := randomDecimal(rng, 30, -45, 45)
		require.Equal(t, chain(d), cents(d), d.String())
	}
}

func TestCmpIsDecimalCmp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		a, b := randomDecimal(rng, 20, -50, 20), randomDecimal(rng, 20, -50, 20)
		if rng.IntN(4) == 0 {
			b = a.Mul(units[rng.IntN(len(units))]) // equal, at another exponent
		}
		require.Equal(t, a.Cmp(b), cmp(a, b), "%s %s", a, b)
	}
}

// TestScaleIsMulThenDiv: x × (100 ± p) / 100 as the actions wrote it, and
// as scale works it out with the factor from Parse.
func TestScaleIsMulThenDiv(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50000 {
		x := randomDecimal(rng, 20, -20, 5)
		p := randomDecimal(rng, 6, -8, 0).Abs()
		want := x.Mul(hundred.Add(p)).Div(hundred)
		require.True(t, want.Equal(scale(x, hundred.Add(p).Shift(-2))), "%s × (100 + %s) / 100", x, p)
		if p.LessThan(hundred) {
			want = x.Mul(hundred.Sub(p)).Div(hundred)
			require.True(t, want.Equal(scale(x, hundred.Sub(p).Shift(-2))), "%s × (100 - %s) / 100", x, p)
		}
	}
}

// TestAtLeastFloorIsMaxOfTheFloor: the margin action as it was written, a
// division and a Max, and as atLeastFloor works it out, mostly without the
// division; with prices at, just above and just below the floor, and of
// more places than Div rounds to.
func TestAtLeastFloorIsMaxOfTheFloor(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 50000 {
		cost := randomDecimal(rng, 12, -6, 2)
		m := randomDecimal(rng, 5, -3, 0).Abs()
		if m.GreaterThanOrEqual(hundred) {
			continue
		}
		floor := cost.Mul(hundred).Div(hundred.Sub(m))
		var price decimal.Decimal
		switch rng.IntN(4) {
		case 0:
			price = floor
		case 1:
			price = floor.Add(randomDecimal(rng, 2, -20, -14))
		case 2:
			price = randomDecimal(rng, 14, -22, -18)
		default:
			price = randomDecimal(rng, 12, -6, 2)
		}
		want := decimal.Max(price, floor)
		got := atLeastFloor(price, cost, hundred.Sub(m).Shift(-2))
		require.True(t, want.Equal(got), "max(%s, %s × 100 / (100 - %s)): %s, want %s", price, cost, m, got, want)
	}
}

func TestLadderRungsAreTheNumber(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		d := randomDecimal(rng, 20, -30, 30)
		l := ladderOf(d)
		for k, rung := range l {
			require.True(t, d.Equal(rung), "%s rung %d: %s", d, k, rung)
			if e := int(d.Exponent()); e >= -k && e+k < len(units) {
				require.Equal(t, int32(-k), rung.Exponent(), "%s rung %d", d, k)
			}
		}
	}
}

func TestBoundIsTenToTheDigits(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, digits := range []int{-20, -1, 0, 1, 2, 13, 15, 17, 30, 60} {
		bound := decimal.New(1, int32(digits))
		b := boundOf(digits)
		for range 5000 {
			price := randomDecimal(rng, 20, -25, 5)
			if rng.IntN(4) == 0 {
				price = bound.Mul(units[rng.IntN(len(units))]) // the bound itself, at another exponent
			}
			require.Equal(t, price.Abs().GreaterThanOrEqual(bound), b.exceeded(price), "%s under %d digits", price, digits)
		}
	}
}

// TestAmountsFarOutOfRangeAreWorkedOutPerRow: a rule whose amounts would take
// Parse long to work out is priced with them worked out on the rows it
// applies to.
func TestAmountsFarOutOfRangeAreWorkedOutPerRow(t *testing.T) {
	rules, err := Parse([]byte("rules:\n  - name: wide\n    when: price > 1000\n    min: \"1e-1001\"\n    max: \"1e1001\"\n" +
		"  - name: tiny\n    when: price == 1\n    set: \"1e-1001\"\n"))
	require.NoError(t, err)
	require.Nil(t, rules.rules[0].amounts)
	item, rej := apply(rules, change("A", "12.34", "", "", 1))
	require.Nil(t, rej)
	require.Equal(t, int64(1234), item.PriceCents)
	item, rej = apply(rules, change("A", "0.01", "", "", 1))
	require.Nil(t, rej)
	require.Equal(t, int64(0), item.PriceCents)

	rules, err = Parse([]byte("rules:\n  - name: huge\n    set: \"1e1001\"\n"))
	require.NoError(t, err)
	_, rej = apply(rules, change("A", "5", "", "", 1))
	require.NotNil(t, rej)
	require.Equal(t, inventory.ReasonPriceOutOfRange, rej.Code)
	require.Equal(t, `rule "huge" priced it at 1`+strings.Repeat("0", 1001)+", beyond 13 digits", rej.Message)
}
