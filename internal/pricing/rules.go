// Package pricing turns an ERP row into a shelf price with rules written as
// data: an ordered list of rules, each with a CEL condition and a price
// action, plus the validation choices that sit beside them.
//
// Money is exact throughout: prices and costs are decimals (never floats),
// conditions see them as integer cents, and the result is integer cents.
// Rules read only the row itself, the ERP's change time included, and the
// instant the price is for, which the caller passes: never the wall clock.
// So the same row, rules and instant always give the same price, and a row
// can be priced again for any instant (a promotion starting or ending).
package pricing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/invsync/invsync/internal/inventory"
)

// Rounding modes.
const (
	// RoundCents rounds to the cent, half away from zero.
	RoundCents = "cents"
	// Round99 rounds up to the next price ending in .99 (never above a cap).
	Round99 = "99"
)

// Validation choices.
const (
	NegativeReject    = "reject"
	NegativeBackorder = "backorder"
)

// File is a rules file as written.
type File struct {
	// Rounding is the default rounding: "cents" (default) or "99".
	Rounding   string     `yaml:"rounding"`
	Validation Validation `yaml:"validation"`
	Rules      []Rule     `yaml:"rules"`
}

// Validation holds the validation choices.
type Validation struct {
	// NegativeQuantity is "reject" (default) or "backorder".
	NegativeQuantity string `yaml:"negative_quantity"`
}

// Rule is one pricing rule. Its actions apply in this order when When holds:
// Set, Markup, Discount, MinMargin, Min, Max. Amounts are decimal strings;
// percentages are decimal percent ("35", "12.5").
type Rule struct {
	Name string `yaml:"name"`
	// When is a CEL condition over sku, category, quantity, price and cost
	// (integer cents; has_cost says whether cost is known) and changed_at
	// (the ERP's LastModified, a timestamp). Empty: always.
	When      string `yaml:"when"`
	Set       string `yaml:"set"`        // a fixed price
	Markup    string `yaml:"markup"`     // price = cost × (1 + markup/100)
	Discount  string `yaml:"discount"`   // price = price × (1 − discount/100)
	MinMargin string `yaml:"min_margin"` // price ≥ cost / (1 − min_margin/100)
	Min       string `yaml:"min"`        // price ≥ min
	Max       string `yaml:"max"`        // price ≤ max
	// Rounding overrides the file's rounding when this rule applies.
	Rounding string `yaml:"rounding"`
	// Stop ends evaluation after this rule when it applies.
	Stop bool `yaml:"stop"`
	// Active bounds the rule in wall-clock time: it applies only to prices
	// for an instant within the window. Unlike changed_at in When, which
	// is the ERP's time of the row, this follows the clock, so a promotion
	// starts and ends on time for rows the ERP does not touch.
	Active *Window `yaml:"active"`
}

// Window is an interval of wall-clock time, RFC 3339 instants: From
// inclusive, To exclusive. Either may be left out (open-ended).
type Window struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// Rules is a checked, compiled rules file. Everything a row does not change
// is worked out here, once per rules version: the CEL programs, the amounts
// as decimals, and what the actions need of them (amounts). A Rules is never
// modified after Parse, so any number of goroutines may Apply it.
type Rules struct {
	// Version is a hash of the file's bytes, stored with each row it priced.
	Version  string
	rounding string
	policy   inventory.Policy
	rules    []compiled
}

type compiled struct {
	Rule
	when                                    cel.Program
	set, markup, discount, margin, min, max *decimal.Decimal
	needsCost                               bool
	// amounts is what the actions need of the amounts; nil when Parse left
	// it to the rows (see maxAmountExponent).
	amounts *amounts
	// from and to are the Active window; zero: open on that side.
	from, to time.Time
}

// activeAt reports whether the rule's window holds the instant at.
func (c *compiled) activeAt(at time.Time) bool {
	return (c.from.IsZero() || !at.Before(c.from)) && (c.to.IsZero() || at.Before(c.to))
}

// None is the rule set of a deployment without a rules file: ERP prices
// rounded to the cent, negative quantities rejected.
func None() *Rules { return &Rules{Version: "none", rounding: RoundCents} }

// Load reads and checks a rules file.
func Load(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pricing rules: %w", err)
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("pricing rules %s: %w", path, err)
	}
	return r, nil
}

// Parse checks and compiles a rules file's contents. An error names the
// rule at fault.
func Parse(b []byte) (*Rules, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	sum := sha256.Sum256(b)
	r := &Rules{Version: hex.EncodeToString(sum[:6]), rounding: RoundCents}
	if f.Rounding != "" {
		if err := checkRounding(f.Rounding); err != nil {
			return nil, err
		}
		r.rounding = f.Rounding
	}
	switch f.Validation.NegativeQuantity {
	case "", NegativeReject:
	case NegativeBackorder:
		r.policy.Backorder = true
	default:
		return nil, fmt.Errorf("validation.negative_quantity %q: want %q or %q", f.Validation.NegativeQuantity, NegativeReject, NegativeBackorder)
	}
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for i, rule := range f.Rules {
		c, err := compile(env, rule)
		if err != nil {
			return nil, fmt.Errorf("rule %d %q: %w", i+1, rule.Name, err)
		}
		if names[rule.Name] {
			return nil, fmt.Errorf("rule %d %q: the name is used twice", i+1, rule.Name)
		}
		names[rule.Name] = true
		r.rules = append(r.rules, c)
	}
	return r, nil
}

func checkRounding(s string) error {
	if s != RoundCents && s != Round99 {
		return fmt.Errorf("rounding %q: want %q or %q", s, RoundCents, Round99)
	}
	return nil
}

func celEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("sku", cel.StringType),
		cel.Variable("category", cel.StringType),
		cel.Variable("quantity", cel.IntType),
		cel.Variable("price", cel.IntType),
		cel.Variable("cost", cel.IntType),
		cel.Variable("has_cost", cel.BoolType),
		cel.Variable("changed_at", cel.TimestampType),
	)
}

func compile(env *cel.Env, rule Rule) (compiled, error) {
	c := compiled{Rule: rule}
	var err error
	if rule.Name == "" {
		return c, errors.New("a rule needs a name")
	}
	if rule.When != "" {
		ast, iss := env.Compile(rule.When)
		if iss.Err() != nil {
			return c, fmt.Errorf("when: %w", iss.Err())
		}
		if ast.OutputType() != cel.BoolType {
			return c, fmt.Errorf("when: %q is a %s, not a condition", rule.When, ast.OutputType())
		}
		if c.when, err = env.Program(ast, cel.CustomDecoratorV2(foldConstantConversions)); err != nil {
			return c, fmt.Errorf("when: %w", err)
		}
	}
	amounts := []struct {
		name  string
		text  string
		dst   **decimal.Decimal
		below decimal.Decimal // exclusive upper bound, zero: none
	}{
		{"set", rule.Set, &c.set, decimal.Zero},
		{"markup", rule.Markup, &c.markup, decimal.Zero},
		{"discount", rule.Discount, &c.discount, decimal.NewFromInt(100)},
		{"min_margin", rule.MinMargin, &c.margin, decimal.NewFromInt(100)},
		{"min", rule.Min, &c.min, decimal.Zero},
		{"max", rule.Max, &c.max, decimal.Zero},
	}
	actions := 0
	for _, a := range amounts {
		if a.text == "" {
			continue
		}
		d, err := decimal.NewFromString(a.text)
		if err != nil {
			return c, fmt.Errorf("%s %q is not a decimal number", a.name, a.text)
		}
		if d.IsNegative() {
			return c, fmt.Errorf("%s %s is negative", a.name, a.text)
		}
		if !a.below.IsZero() && d.GreaterThanOrEqual(a.below) {
			return c, fmt.Errorf("%s %s must be below %s", a.name, a.text, a.below)
		}
		*a.dst = &d
		actions++
	}
	if actions == 0 && !rule.Stop && rule.Rounding == "" {
		return c, errors.New("a rule needs an action: set, markup, discount, min_margin, min, max, rounding or stop")
	}
	if rule.Rounding != "" {
		if err := checkRounding(rule.Rounding); err != nil {
			return c, err
		}
	}
	if rule.Active != nil {
		if c.from, c.to, err = window(*rule.Active); err != nil {
			return c, err
		}
	}
	c.needsCost = c.markup != nil || c.margin != nil
	if amountsInRange(&c) {
		c.amounts = amountsOf(&c)
	}
	return c, nil
}

// window checks and reads an Active window.
func window(w Window) (from, to time.Time, err error) {
	if w.From == "" && w.To == "" {
		return from, to, errors.New("active needs from, to or both")
	}
	for _, b := range []struct {
		name, text string
		dst        *time.Time
	}{{"from", w.From, &from}, {"to", w.To, &to}} {
		if b.text == "" {
			continue
		}
		if *b.dst, err = time.Parse(time.RFC3339, b.text); err != nil {
			return from, to, fmt.Errorf("active.%s %q is not an RFC 3339 time (2026-11-27T00:00:00Z)", b.name, b.text)
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, fmt.Errorf("active.from %s is not before active.to %s", w.From, w.To)
	}
	return from, to, nil
}

// Apply validates a change under the limits and the file's validation
// choices, and prices it for the instant at: the worker's clock for a change
// it applies, a re-pricing pass's instant for a row priced again. Rules with
// an Active window apply when it holds at; at also bounds versions from the
// future. Every number is checked before any arithmetic is done with it.
func (r *Rules) Apply(c inventory.Change, lim inventory.Limits, at time.Time) (inventory.Item, *inventory.Rejection) {
	return r.apply(c, lim, at, nil)
}

// apply is Apply, and with a trace Explain.
func (r *Rules) apply(c inventory.Change, lim inventory.Limits, at time.Time, t *trace) (inventory.Item, *inventory.Rejection) {
	item, rej := inventory.Validate(c, lim, r.policy, at)
	if rej != nil {
		return item, rej
	}
	cents, rej := r.price(c, lim, at, t)
	if rej != nil {
		return inventory.Item{}, rej
	}
	item.PriceCents, item.RulesVersion = cents, r.Version
	return item, nil
}

// price runs the rules active at the instant at over a validated change and
// returns its price in cents, refusing a result beyond what the limits allow
// for a price.
//
// Each step is the decimal arithmetic the comments of Rule give, done by the
// helpers of money.go at less cost than the plain Decimal operations, with
// what depends only on the rules file worked out in Parse (amounts).
//
// A trace, when given, records each rule that applied and the price after
// it, and the rounding at the end: Explain's account of a price is this
// code's, so the two cannot disagree. Without one, nothing is recorded.
func (r *Rules) price(c inventory.Change, lim inventory.Limits, at time.Time, t *trace) (int64, *inventory.Rejection) {
	price, err := decimal.NewFromString(*c.Price)
	if err != nil {
		return 0, &inventory.Rejection{Code: inventory.ReasonPriceInvalid, Message: fmt.Sprintf("price %s: %v", inventory.Quote(*c.Price), err)}
	}
	var cost decimal.Decimal
	if c.Cost != nil {
		if cost, err = decimal.NewFromString(*c.Cost); err != nil {
			return 0, &inventory.Rejection{Code: inventory.ReasonCostInvalid, Message: fmt.Sprintf("cost %s: %v", inventory.Quote(*c.Cost), err)}
		}
	}
	vars := newRowVars(c, price, cost)
	defer vars.release()
	rounding := r.rounding
	var ceiling *decimal.Decimal // the lowest cap that applied
	var limit int64              // ceiling in whole cents, rounded down
	// Every intermediate price stays below this bound, so no step works on
	// numbers larger than the limits allow (a markup of 10^9 % is refused
	// here rather than carried on).
	bound := boundOf(lim.IntegerDigits)
	for i := range r.rules {
		rule := &r.rules[i]
		if !rule.activeAt(at) {
			continue
		}
		if rule.when != nil {
			holds, err := rule.holds(vars)
			if err != nil {
				return 0, ruleFailed(rule, "when: %v", err)
			}
			if !holds {
				continue
			}
		}
		if rule.needsCost && c.Cost == nil {
			return 0, &inventory.Rejection{Code: inventory.ReasonCostMissing,
				Message: fmt.Sprintf("rule %q needs the cost, and the ERP row has none", rule.Name)}
		}
		a := rule.amounts
		if a == nil {
			a = amountsOf(rule) // amounts Parse left to the rows: see maxAmountExponent
		}
		if rule.set != nil {
			price = *rule.set
		}
		if rule.markup != nil {
			price = scale(cost, a.markup)
		}
		if rule.discount != nil {
			price = scale(price, a.discount)
		}
		if rule.margin != nil {
			price = atLeastFloor(price, cost, a.margin)
		}
		if rule.min != nil && cmp(a.min.at(price.Exponent()), price) > 0 {
			price = *rule.min
		}
		if rule.max != nil {
			if cmp(a.max.at(price.Exponent()), price) < 0 {
				price = *rule.max
			}
			if ceiling == nil || cmp(*rule.max, *ceiling) < 0 {
				ceiling, limit = rule.max, a.capCents
			}
		}
		if bound.exceeded(price) {
			return 0, &inventory.Rejection{Code: inventory.ReasonPriceOutOfRange,
				Message: fmt.Sprintf("rule %q priced it at %s, beyond %d digits", rule.Name, price.Truncate(2), lim.IntegerDigits)}
		}
		if rule.Rounding != "" {
			rounding = rule.Rounding
		}
		if t != nil {
			t.step(rule, price, rounding)
		}
		if rule.Stop {
			break
		}
	}
	if t != nil {
		t.end(cents(price), rounding, ceiling)
	}
	final := roundCents(cents(price), rounding, limit, ceiling != nil)
	if final < 0 {
		return 0, &inventory.Rejection{Code: inventory.ReasonPriceRuleFailed, Message: fmt.Sprintf("the rules priced it at %d cents", final)}
	}
	return final, nil
}

// NextBoundary is the earliest start or end of a rule's Active window
// strictly after the instant after: from then on a row may price
// differently than it did at after. False when no window starts or ends
// after it.
func (r *Rules) NextBoundary(after time.Time) (time.Time, bool) {
	var next time.Time
	for i := range r.rules {
		for _, b := range []time.Time{r.rules[i].from, r.rules[i].to} {
			if !b.IsZero() && b.After(after) && (next.IsZero() || b.Before(next)) {
				next = b
			}
		}
	}
	return next, !next.IsZero()
}

// holds evaluates the rule's condition for a row.
func (c *compiled) holds(vars *rowVars) (bool, error) {
	out, _, err := c.when.Eval(vars.input())
	if err != nil {
		return false, err
	}
	return out == types.True, nil
}

// roundCents applies the rounding mode to a price in cents. Round99 goes up
// to the next .99, or, under a cap of limit cents that applied, down to the
// last .99 under it.
func roundCents(c int64, mode string, limit int64, capped bool) int64 {
	if mode != Round99 || c < 0 {
		return c
	}
	if c%100 != 99 {
		c = c/100*100 + 99
	}
	if capped && c > limit {
		c -= 100 * dollarsDown(c, limit)
		if c > limit {
			c = limit
		}
	}
	return c
}

// dollarsDown is how many times a price of c cents, at least 0 and above a
// cap of limit cents, steps down by a dollar to come under the cap without
// going under a dollar. It is counted rather than stepped, as a later rule
// may price a row far above an earlier rule's cap: billions of steps.
func dollarsDown(c, limit int64) int64 {
	over := uint64(c) - uint64(limit) // c > limit: the exact difference
	steps := over / 100
	if over%100 != 0 {
		steps++
	}
	return int64(min(steps, uint64(c/100)))
}

// ceilingCents is a cap in whole cents, rounded down.
func ceilingCents(max decimal.Decimal) int64 { return max.Shift(2).Floor().IntPart() }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ruleFailed(rule *compiled, format string, args ...any) *inventory.Rejection {
	return &inventory.Rejection{Code: inventory.ReasonPriceRuleFailed,
		Message: fmt.Sprintf("rule %q: ", rule.Name) + fmt.Sprintf(format, args...)}
}
