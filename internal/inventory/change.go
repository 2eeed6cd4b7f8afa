// Package inventory holds the unit the pipeline moves, one ERP row version, and
// the rules that decide whether the storefront may take it.
package inventory

import (
	"fmt"
	"time"
)

// MaxSKULength is the longest SKU the storefront accepts.
const MaxSKULength = 64

// Change is one version of one ERP row as read by the poller. It is what a
// RabbitMQ message carries. Quantity and Price are pointers because the ERP
// view may hold NULLs; validation, not decoding, rejects them.
type Change struct {
	SKU      string  `json:"sku"`
	Quantity *int64  `json:"quantity"`
	Price    *string `json:"price"` // exact decimal text as the ERP returned it
	// Cost and Category are read when the view maps them (for pricing).
	Cost     *string `json:"cost,omitempty"`
	Category *string `json:"category,omitempty"`
	// LastModified is the ERP's own change time: the row's version.
	LastModified time.Time `json:"last_modified"`
	// ObservedAt is the ERP clock of the read that saw this version. It breaks
	// ties when the ERP wrote two different contents with one LastModified: the
	// later read saw the later content.
	ObservedAt time.Time `json:"observed_at"`
}

// MessageID names a row version; duplicates of one version share it.
func (c Change) MessageID() string {
	return c.SKU + "@" + c.LastModified.UTC().Format(time.RFC3339Nano)
}

// Cursor is the poller's position in the ERP view: the last row it has
// published, ordered by (LastModified, SKU). The zero Cursor means "from the
// start".
type Cursor struct {
	LastModified time.Time `json:"last_modified"`
	SKU          string    `json:"sku"`
}

// IsZero reports whether the cursor is at the start of the view.
func (c Cursor) IsZero() bool { return c.LastModified.IsZero() && c.SKU == "" }

func (c Cursor) String() string {
	if c.IsZero() {
		return "start"
	}
	return fmt.Sprintf("%s/%q", c.LastModified.UTC().Format(time.RFC3339Nano), c.SKU)
}

// CursorOf returns the cursor positioned on c.
func CursorOf(c Change) Cursor { return Cursor{LastModified: c.LastModified, SKU: c.SKU} }

// Item is a validated change, in the storefront's units.
type Item struct {
	SKU          string
	Quantity     int64
	PriceCents   int64
	LastModified time.Time
	ObservedAt   time.Time
	// RulesVersion names the pricing rules that set PriceCents.
	RulesVersion string
}

// Policy holds the validation choices an operator makes.
type Policy struct {
	// Backorder accepts a negative quantity as stock on backorder instead of
	// rejecting the row.
	Backorder bool
}

// Reason codes for rejected rows. They are stable: operators filter the DLQ on
// them.
const (
	ReasonSKUEmpty            = "sku_empty"
	ReasonSKUTooLong          = "sku_too_long"
	ReasonQuantityMissing     = "quantity_missing"
	ReasonQuantityNegative    = "quantity_negative"
	ReasonPriceMissing        = "price_missing"
	ReasonPriceInvalid        = "price_invalid"
	ReasonPriceNegative       = "price_negative"
	ReasonLastModifiedMissing = "last_modified_missing"
	ReasonUndecodable         = "undecodable"
	ReasonStorefrontRejected  = "storefront_rejected"
	ReasonCostMissing         = "cost_missing"
	ReasonCostInvalid         = "cost_invalid"
	ReasonPriceRuleFailed     = "price_rule_failed"
)

// Rejection says why a change cannot be applied.
type Rejection struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (r *Rejection) Error() string { return r.Code + ": " + r.Message }

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Validate turns a change into a storefront item or says why it cannot be one.
func Validate(c Change, policy Policy) (Item, *Rejection) {
	switch {
	case c.SKU == "":
		return Item{}, reject(ReasonSKUEmpty, "sku is empty")
	case len(c.SKU) > MaxSKULength:
		return Item{}, reject(ReasonSKUTooLong, "sku is %d bytes, the limit is %d", len(c.SKU), MaxSKULength)
	case c.LastModified.IsZero():
		return Item{}, reject(ReasonLastModifiedMissing, "last_modified is missing")
	case c.Quantity == nil:
		return Item{}, reject(ReasonQuantityMissing, "quantity is missing")
	case *c.Quantity < 0 && !policy.Backorder:
		return Item{}, reject(ReasonQuantityNegative, "quantity %d is negative (backorders are not allowed)", *c.Quantity)
	case c.Price == nil:
		return Item{}, reject(ReasonPriceMissing, "price is missing")
	}
	cents, err := ParseCents(*c.Price)
	if err != nil {
		return Item{}, reject(ReasonPriceInvalid, "price %q: %v", *c.Price, err)
	}
	if cents < 0 {
		return Item{}, reject(ReasonPriceNegative, "price %s is negative", *c.Price)
	}
	return Item{
		SKU:          c.SKU,
		Quantity:     *c.Quantity,
		PriceCents:   cents,
		LastModified: c.LastModified,
		ObservedAt:   c.ObservedAt,
	}, nil
}
