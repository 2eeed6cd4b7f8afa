package pricing

import (
	"math/big"
	"sync/atomic"

	"github.com/shopspring/decimal"
)

// The arithmetic of price, on shopspring decimals. A Decimal is a big.Int
// coefficient and an exponent; most of what an operation costs is the
// big.Int values it allocates, and an operation on two numbers of different
// exponents first computes a power of ten with big.Int.Exp to bring them to
// one exponent. The helpers here give the same values as the plain
// operations they stand for, at less of that cost.

// hundred is 100, for percentages.
var hundred = decimal.NewFromInt(100)

// pow10[k] is 10^k, and units[k] is 1 at exponent -k: multiplying by
// units[k] keeps a number's value and lowers its exponent by k. Up to 10^38
// covers the exponents of prices and amounts, which have at most 15 integer
// digits under the limits and 16 places from Div, many times over; others
// are left to the plain operations.
var pow10, units = func() (p [39]*big.Int, u [39]decimal.Decimal) {
	for k := range p {
		p[k] = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
		u[k] = decimal.NewFromBigInt(p[k], int32(-k))
	}
	return p, u
}()

// amounts is what the actions of a rule need of its amounts, worked out once
// in Parse instead of on every row the rule applies to.
type amounts struct {
	// markup, discount and margin are the factors of the actions:
	// (100 + markup) / 100, (100 - discount) / 100 and
	// (100 - min_margin) / 100. Dividing by 100 moves the decimal point, so
	// they are exact.
	markup, discount, margin decimal.Decimal
	// min and max are the amounts at the exponents of the prices they are
	// compared with.
	min, max *ladder
	// capCents is max in whole cents rounded down (ceilingCents), the most
	// a .99 rounding may reach under the cap.
	capCents int64
}

// maxAmountExponent bounds the exponents of the amounts of a rule whose
// amounts Parse works out. The work grows with the exponent, as a power of
// ten it takes has that many digits: an amount written 1e999999999 would
// stall Parse. Such a rule's amounts are worked out on the rows it applies
// to instead, which stall there as they did when every row worked out
// everything, and only there.
const maxAmountExponent = 1000

// amountsInRange says whether Parse may work out a rule's amounts.
func amountsInRange(c *compiled) bool {
	for _, d := range []*decimal.Decimal{c.set, c.markup, c.discount, c.margin, c.min, c.max} {
		if d != nil && (d.Exponent() < -maxAmountExponent || d.Exponent() > maxAmountExponent) {
			return false
		}
	}
	return true
}

// amountsOf works out a rule's amounts.
func amountsOf(c *compiled) *amounts {
	a := new(amounts)
	if c.markup != nil {
		a.markup = hundred.Add(*c.markup).Shift(-2)
	}
	if c.discount != nil {
		a.discount = hundred.Sub(*c.discount).Shift(-2)
	}
	if c.margin != nil {
		a.margin = hundred.Sub(*c.margin).Shift(-2)
	}
	if c.min != nil {
		a.min = ladderOf(*c.min)
	}
	if c.max != nil {
		a.max, a.capCents = ladderOf(*c.max), ceilingCents(*c.max)
	}
	return a
}

// scale is x × factor, a factor of amounts: x × (100 ± p) / 100 with the
// division rounded as Decimal.Div rounds, to decimal.DivisionPrecision
// places, half away from zero. The product is that quotient exactly, so it
// only needs the rounding when it has more places than that.
func scale(x, factor decimal.Decimal) decimal.Decimal {
	p := x.Mul(factor)
	if places := int32(decimal.DivisionPrecision); p.Exponent() < -places {
		return p.Round(places)
	}
	return p
}

// atLeastFloor is the price lifted to the floor of a minimum margin,
// decimal.Max(price, floor) for the floor cost × 100 / (100 - min_margin)
// rounded as Div rounds; factor is (100 - min_margin) / 100.
//
// The floor is worked out only when it may be above the price: when the
// price has no more places than Div rounds to, cost <= price × factor (the
// floor unrounded is at most the price) says it is not, as rounding cannot
// take a number past a price it does not pass. That takes a product instead
// of a division.
func atLeastFloor(price, cost, factor decimal.Decimal) decimal.Decimal {
	if price.Exponent() >= -int32(decimal.DivisionPrecision) && cmp(cost, price.Mul(factor)) <= 0 {
		return price
	}
	if floor := cost.Div(factor); cmp(floor, price) > 0 {
		return floor
	}
	return price
}

// cmp is a.Cmp(b). Decimal.Cmp brings numbers of different exponents to the
// lower one with a power of ten computed for the occasion (big.Int.Exp);
// cmp multiplies by the unit of pow10 instead.
func cmp(a, b decimal.Decimal) int {
	switch k := int64(a.Exponent()) - int64(b.Exponent()); {
	case k > 0 && k < int64(len(units)):
		a = a.Mul(units[k])
	case k < 0 && -k < int64(len(units)):
		b = b.Mul(units[-k])
	}
	return a.Cmp(b)
}

// cents is a money amount in whole cents, half away from zero:
// d.Round(2).Shift(2).IntPart(), down to the int64 IntPart gives for a
// number beyond its range. It is worked out on one copy of d's coefficient
// (none at two places), where the chain makes a copy per step and rounds
// through a power of ten computed for the occasion.
func cents(d decimal.Decimal) int64 {
	switch e := int64(d.Exponent()); {
	case e == -2:
		// Round(2) leaves d as it is, and Shift(2).IntPart() is then its
		// coefficient.
		return d.CoefficientInt64()
	case e > -2 && e+2 < int64(len(pow10)):
		// A whole number of cents: Round(2) only adds zeros.
		v := d.Coefficient()
		return v.Mul(v, pow10[e+2]).Int64()
	case e < -2 && -2-e < int64(len(pow10)):
		v, unit := d.Coefficient(), pow10[-2-e] // unit: one cent
		var rest big.Int
		v.QuoRem(v, unit, &rest) // toward zero
		if rest.Lsh(rest.Abs(&rest), 1).Cmp(unit) >= 0 {
			v.Add(v, big.NewInt(int64(d.Sign()))) // half a cent or more: away from zero
		}
		return v.Int64()
	}
	return d.Round(2).Shift(2).IntPart()
}

// ladder is a number held at each exponent from 0 to -16: rung k has
// exponent -k, or is the number itself where it has more than k places and
// so no form at -k. A decimal of exponent e in that range is compared with
// rung -e without rescaling either; prices mostly have such exponents, as
// ERP prices have a few places and Div rounds to 16.
type ladder [17]decimal.Decimal

func ladderOf(d decimal.Decimal) *ladder {
	l := new(ladder)
	for k := range l {
		l[k] = d
		if j := int64(d.Exponent()) + int64(k); j > 0 && j < int64(len(units)) {
			l[k] = d.Mul(units[j])
		}
	}
	return l
}

// at is the rung to compare a decimal of exponent e with.
func (l *ladder) at(e int32) decimal.Decimal {
	if k := -int64(e); k >= 0 && k < int64(len(l)) {
		return l[k]
	}
	return l[0]
}

// priceBound is 10^digits, the bound a price stays below under a limit of
// digits integer digits.
type priceBound struct {
	digits int
	ladder *ladder
}

// lastBound is the bound of the limits last priced under: a worker prices
// every row under the same limits, so it is worked out once.
var lastBound atomic.Pointer[priceBound]

// boundOf is the bound of a price under a limit of digits integer digits.
func boundOf(digits int) *priceBound {
	if b := lastBound.Load(); b != nil && b.digits == digits {
		return b
	}
	b := &priceBound{digits: digits, ladder: ladderOf(decimal.New(1, int32(digits)))}
	lastBound.Store(b)
	return b
}

// exceeded says whether a price is beyond the bound: |price| >= 10^digits.
func (b *priceBound) exceeded(price decimal.Decimal) bool {
	return cmp(price.Abs(), b.ladder.at(price.Exponent())) >= 0
}
