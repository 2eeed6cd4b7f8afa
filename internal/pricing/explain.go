package pricing

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/invsync/invsync/internal/inventory"
)

// Explanation is how the rules price one row for one instant: each rule
// that applied, in order, with the price after it, then the rounding. It
// comes from the code that prices every row (see price), so its PriceCents
// is the price Apply gives.
type Explanation struct {
	RulesVersion string    `json:"rules_version"`
	At           time.Time `json:"at"`
	// Start is the ERP's price the rules start from, as exact decimal text.
	Start string `json:"start,omitempty"`
	// Steps are the rules that applied; none: the ERP's price stands.
	Steps []Step `json:"steps"`
	// Unrounded is the price after the last rule, in cents (half away from
	// zero), and Rounding the mode then in force: "cents" or "99".
	Unrounded int64  `json:"unrounded_cents"`
	Rounding  string `json:"rounding"`
	// Cap is the lowest cap (max) that applied, which .99 rounding never
	// goes above; empty: none.
	Cap string `json:"cap,omitempty"`
	// PriceCents is the price the rules give; zero with a Rejection.
	PriceCents int64 `json:"price_cents"`
	// Rejection says why the row cannot be priced (or is not valid): the
	// dead letter's reason.
	Rejection *inventory.Rejection `json:"rejection,omitempty"`
}

// Step is one rule that applied to a row.
type Step struct {
	Rule string `json:"rule"`
	// Actions are the rule's actions as written ("discount 15%", "max 20").
	Actions string `json:"actions"`
	// Price is the price after the rule, exact, before rounding.
	Price string `json:"price"`
	// Rounding is the rounding in force after the rule.
	Rounding string `json:"rounding"`
	Stop     bool   `json:"stop,omitempty"`
}

// trace records what price does for Explain.
type trace struct {
	steps     []Step
	unrounded int64
	rounding  string
	cap       string
}

func (t *trace) step(rule *compiled, price decimal.Decimal, rounding string) {
	t.steps = append(t.steps, Step{Rule: rule.Name, Actions: actions(rule.Rule), Price: price.String(),
		Rounding: rounding, Stop: rule.Stop})
}

func (t *trace) end(unrounded int64, rounding string, ceiling *decimal.Decimal) {
	t.unrounded, t.rounding = unrounded, rounding
	if ceiling != nil {
		t.cap = ceiling.String()
	}
}

// Explain validates and prices a change as Apply does, for the instant at,
// and says how: the rules that applied and the price after each. The item
// and rejection are Apply's.
func (r *Rules) Explain(c inventory.Change, lim inventory.Limits, at time.Time) (Explanation, inventory.Item, *inventory.Rejection) {
	e := Explanation{RulesVersion: r.Version, At: at, Steps: []Step{}, Rounding: r.rounding}
	if c.Price != nil {
		e.Start = *c.Price
	}
	t := trace{rounding: r.rounding}
	item, rej := r.apply(c, lim, at, &t)
	e.Steps = append(e.Steps, t.steps...)
	if rej != nil {
		e.Rejection = rej
		return e, item, rej
	}
	e.Start, e.Unrounded, e.Rounding, e.Cap, e.PriceCents = item.Price, t.unrounded, t.rounding, t.cap, item.PriceCents
	return e, item, nil
}

// actions writes a rule's actions as the rules file names them.
func actions(r Rule) string {
	var out []string
	for _, a := range []struct{ name, v, unit string }{
		{"set", r.Set, ""}, {"markup", r.Markup, "%"}, {"discount", r.Discount, "%"},
		{"min_margin", r.MinMargin, "%"}, {"min", r.Min, ""}, {"max", r.Max, ""}, {"rounding", r.Rounding, ""},
	} {
		if a.v != "" {
			out = append(out, fmt.Sprintf("%s %s%s", a.name, a.v, a.unit))
		}
	}
	if r.Stop {
		out = append(out, "stop")
	}
	return strings.Join(out, ", ")
}
