package pricing

import (
	"sync"
	"time"

	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
	"github.com/shopspring/decimal"

	"github.com/invsync/invsync/internal/inventory"
)

// The variables a condition may read, as declared in celEnv.
const (
	varSKU = iota
	varCategory
	varQuantity
	varPrice
	varCost
	varHasCost
	varChangedAt
	numVars
)

// rowVars is the activation the conditions of one row are evaluated with.
//
// A map[string]any built per row costs a map, a boxed value per variable
// whether a condition reads it or not, and a conversion to a CEL value on
// every read. rowVars keeps the row's values as they are and converts a
// variable to its CEL value the first time a condition reads it, once for
// all the rules of the row (the price and cost are worked out in cents only
// then: most conditions read neither). It also holds the row's CEL execution
// frame, so that one frame serves every condition of the row instead of one
// being set up and torn down per condition. rowVars values are pooled: one serves one
// row on one goroutine, from newRowVars to release.
type rowVars struct {
	sku, category string
	quantity      int64
	price, cost   decimal.Decimal
	hasCost       bool
	changedAt     time.Time
	vals          [numVars]ref.Val // converted so far
	frame         *interpreter.ExecutionFrame
}

var rowVarsPool = sync.Pool{New: func() any { return new(rowVars) }}

// newRowVars returns the activation for a validated change of the price and,
// when it has one, the cost given. Its caller releases it when done with the
// row.
func newRowVars(c inventory.Change, price, cost decimal.Decimal) *rowVars {
	v := rowVarsPool.Get().(*rowVars)
	v.sku, v.category = c.SKU, deref(c.Category)
	v.quantity = *c.Quantity
	v.price, v.cost, v.hasCost = price, cost, c.Cost != nil
	v.changedAt = c.LastModified
	v.frame, _ = interpreter.NewExecutionFrame(v) // fails only for an activation that supplies functions
	return v
}

// input is what a program evaluates the row's conditions with.
func (v *rowVars) input() any {
	if v.frame != nil {
		return v.frame
	}
	return v
}

// release returns v and its frame to their pools, holding nothing of the row.
func (v *rowVars) release() {
	if v.frame != nil {
		v.frame.Close()
	}
	*v = rowVars{}
	rowVarsPool.Put(v)
}

// ResolveName implements interpreter.Activation.
func (v *rowVars) ResolveName(name string) (any, bool) {
	var i int
	switch name {
	case "sku":
		i = varSKU
	case "category":
		i = varCategory
	case "quantity":
		i = varQuantity
	case "price":
		i = varPrice
	case "cost":
		i = varCost
	case "has_cost":
		i = varHasCost
	case "changed_at":
		i = varChangedAt
	default:
		return nil, false
	}
	if v.vals[i] == nil {
		v.vals[i] = v.value(i)
	}
	return v.vals[i], true
}

// value is variable i as a CEL value.
func (v *rowVars) value(i int) ref.Val {
	switch i {
	case varSKU:
		return types.String(v.sku)
	case varCategory:
		return types.String(v.category)
	case varQuantity:
		return types.Int(v.quantity)
	case varPrice:
		return types.Int(cents(v.price))
	case varCost:
		if !v.hasCost {
			return types.Int(0)
		}
		return types.Int(cents(v.cost))
	case varHasCost:
		return types.Bool(v.hasCost)
	default:
		return types.Timestamp{Time: v.changedAt.UTC()}
	}
}

// Parent implements interpreter.Activation: rowVars is the only scope.
func (v *rowVars) Parent() interpreter.Activation { return nil }

// foldConstantConversions is a CEL program decorator that performs a type
// conversion of a constant, such as timestamp("2026-11-27T00:00:00Z"), once
// when the program is built instead of on every evaluation. A conversion is
// a pure function of its argument, so the value is the same either way.
//
// It is narrower than cel.OptOptimize on purpose: a conversion that fails is
// left in place, so it fails when, and only when, it is evaluated, exactly as
// without the decorator (OptOptimize would refuse the whole rules file); and
// set membership tests keep CEL's ordinary comparison.
func foldConstantConversions(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	call, ok := i.(interpreter.InterpretableCall)
	if !ok || !overloads.IsTypeConversionFunction(call.Function()) {
		return i, nil
	}
	args := call.Args()
	if len(args) != 1 {
		return i, nil
	}
	if _, ok := args[0].(interpreter.InterpretableConst); !ok {
		return i, nil
	}
	frame, err := interpreter.NewExecutionFrame(interpreter.EmptyActivation())
	if err != nil {
		return i, nil
	}
	v := call.Exec(frame)
	frame.Close()
	if types.IsUnknownOrError(v) {
		return i, nil
	}
	return interpreter.NewConstValue(call.ID(), v), nil
}
