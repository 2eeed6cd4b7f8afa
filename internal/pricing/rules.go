// Package pricing turns an ERP row into a shelf price with rules written as
// data: an ordered list of rules, each with a CEL condition and a price
// action, plus the validation choices that sit beside them.
//
// Money is exact throughout: prices and costs are decimals (never floats),
// conditions see them as integer cents, and the result is integer cents.
// Rules read only the row itself, the ERP's change time included, never the
// wall clock, so the same row always gets the same price.
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
}

// Rules is a checked, compiled rules file.
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
		if c.when, err = env.Program(ast); err != nil {
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
	c.needsCost = c.markup != nil || c.margin != nil
	return c, nil
}

// Apply validates a change under the limits and the file's validation
// choices, and prices it. now is the worker's clock, for versions from the
// future. Every number is checked before any arithmetic is done with it.
func (r *Rules) Apply(c inventory.Change, lim inventory.Limits, now time.Time) (inventory.Item, *inventory.Rejection) {
	item, rej := inventory.Validate(c, lim, r.policy, now)
	if rej != nil {
		return item, rej
	}
	cents, rej := r.price(c, lim)
	if rej != nil {
		return inventory.Item{}, rej
	}
	item.PriceCents, item.RulesVersion = cents, r.Version
	return item, nil
}

// price runs the rules over a validated change and returns its price in
// cents, refusing a result beyond what the limits allow for a price.
func (r *Rules) price(c inventory.Change, lim inventory.Limits) (int64, *inventory.Rejection) {
	price, err := decimal.NewFromString(*c.Price)
	if err != nil {
		return 0, &inventory.Rejection{Code: inventory.ReasonPriceInvalid, Message: fmt.Sprintf("price %s: %v", inventory.Quote(*c.Price), err)}
	}
	var cost *decimal.Decimal
	if c.Cost != nil {
		d, err := decimal.NewFromString(*c.Cost)
		if err != nil {
			return 0, &inventory.Rejection{Code: inventory.ReasonCostInvalid, Message: fmt.Sprintf("cost %s: %v", inventory.Quote(*c.Cost), err)}
		}
		cost = &d
	}
	vars := map[string]any{
		"sku":        c.SKU,
		"category":   deref(c.Category),
		"quantity":   *c.Quantity,
		"price":      cents(price),
		"cost":       int64(0),
		"has_cost":   cost != nil,
		"changed_at": types.Timestamp{Time: c.LastModified.UTC()},
	}
	if cost != nil {
		vars["cost"] = cents(*cost)
	}
	rounding := r.rounding
	var ceiling *decimal.Decimal
	hundred := decimal.NewFromInt(100)
	// Every intermediate price stays below this bound, so no step works on
	// numbers larger than the limits allow (a markup of 10^9 % is refused
	// here rather than carried on).
	bound := decimal.New(1, int32(lim.IntegerDigits))
	for _, rule := range r.rules {
		if rule.when != nil {
			out, _, err := rule.when.Eval(vars)
			if err != nil {
				return 0, ruleFailed(rule, "when: %v", err)
			}
			if out != types.True {
				continue
			}
		}
		if rule.needsCost && cost == nil {
			return 0, &inventory.Rejection{Code: inventory.ReasonCostMissing,
				Message: fmt.Sprintf("rule %q needs the cost, and the ERP row has none", rule.Name)}
		}
		if rule.set != nil {
			price = *rule.set
		}
		if rule.markup != nil {
			price = cost.Mul(hundred.Add(*rule.markup)).Div(hundred)
		}
		if rule.discount != nil {
			price = price.Mul(hundred.Sub(*rule.discount)).Div(hundred)
		}
		if rule.margin != nil {
			floor := cost.Mul(hundred).Div(hundred.Sub(*rule.margin))
			price = decimal.Max(price, floor)
		}
		if rule.min != nil {
			price = decimal.Max(price, *rule.min)
		}
		if rule.max != nil {
			price = decimal.Min(price, *rule.max)
			if ceiling == nil || rule.max.LessThan(*ceiling) {
				ceiling = rule.max
			}
		}
		if price.Abs().GreaterThanOrEqual(bound) {
			return 0, &inventory.Rejection{Code: inventory.ReasonPriceOutOfRange,
				Message: fmt.Sprintf("rule %q priced it at %s, beyond %d digits", rule.Name, price.Truncate(2), lim.IntegerDigits)}
		}
		if rule.Rounding != "" {
			rounding = rule.Rounding
		}
		if rule.Stop {
			break
		}
	}
	final := round(price, rounding, ceiling)
	if final < 0 {
		return 0, &inventory.Rejection{Code: inventory.ReasonPriceRuleFailed, Message: fmt.Sprintf("the rules priced it at %d cents", final)}
	}
	return final, nil
}

// round turns a price into cents. Round99 goes up to the next .99, or down
// to the last .99 under a cap that applied.
func round(price decimal.Decimal, mode string, ceiling *decimal.Decimal) int64 {
	c := cents(price)
	if mode != Round99 || c < 0 {
		return c
	}
	if c%100 != 99 {
		c = c/100*100 + 99
	}
	if ceiling != nil {
		limit := ceiling.Shift(2).Floor().IntPart()
		for c > limit && c >= 100 {
			c -= 100
		}
		if c > limit {
			c = limit
		}
	}
	return c
}

// cents is a money amount in whole cents, half away from zero.
func cents(d decimal.Decimal) int64 { return d.Round(2).Shift(2).IntPart() }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ruleFailed(rule compiled, format string, args ...any) *inventory.Rejection {
	return &inventory.Rejection{Code: inventory.ReasonPriceRuleFailed,
		Message: fmt.Sprintf("rule %q: ", rule.Name) + fmt.Sprintf(format, args...)}
}
