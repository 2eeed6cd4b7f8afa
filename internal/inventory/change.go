// Package inventory holds the unit the pipeline moves, one ERP row version, and
// the rules that decide whether the storefront may take it.
package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// MaxSKULength is the longest SKU the storefront accepts, in bytes.
const MaxSKULength = 64

// Change is one version of one ERP row as read by the poller. It is what a
// RabbitMQ message carries. Quantity and Price are pointers because the ERP
// view may hold NULLs; validation, not decoding, rejects them.
type Change struct {
	SKU      string  `json:"sku"`
	Quantity *int64  `json:"quantity"`
	Price    *string `json:"price"` // exact decimal text, checked against the limits
	// Cost and Category are read when the view maps them (for pricing).
	Cost     *string `json:"cost,omitzero"`
	Category *string `json:"category,omitzero"`
	// LastModified is the ERP's own change time, in the column's convention
	// (a wall-clock time labelled UTC when the column has no offset).
	LastModified time.Time `json:"last_modified"`
	// ObservedAt is the instant, by the ERP's clock, of the read that saw this
	// version. Reads of one row see its versions in order, so (ObservedAt,
	// LastModified) orders versions even when the ERP's wall clock goes back
	// (daylight saving) or a row is restored with an older LastModified.
	ObservedAt time.Time `json:"observed_at"`
	// ERPHash is the ERP's fingerprint of the row as read (see
	// Row.Hash); the storefront keeps it so a reconcile can compare chunks
	// of rows without reading them. Zero: not known (an older message).
	ERPHash int64 `json:"erp_hash,omitzero"`
}

// MessageID names a row version; duplicates of one version share it. It stays
// within the AMQP limit of 255 bytes whatever the SKU holds: a SKU that is
// long or not plain printable text is replaced by its hash.
func (c Change) MessageID() string {
	sku := c.SKU
	if len(sku) > MaxSKULength || CheckSKU(sku) != nil {
		sum := sha256.Sum256([]byte(sku))
		sku = "sha256:" + hex.EncodeToString(sum[:16])
	}
	return sku + "@" + c.LastModified.UTC().Format(time.RFC3339Nano)
}

// Cursor is the poller's position in the ERP view: the last row it has
// published, ordered by (LastModified, SKU). The zero Cursor means "from the
// start".
type Cursor struct {
	LastModified time.Time `json:"last_modified"`
	SKU          string    `json:"sku"`
	// SKUNull is true when the last row read had no SKU (a view with an
	// outer join): the ERP compares with a NULL SKU, not an empty one.
	SKUNull bool `json:"sku_null,omitempty"`
}

// IsZero reports whether the cursor is at the start of the view.
func (c Cursor) IsZero() bool { return c.LastModified.IsZero() && c.SKU == "" && !c.SKUNull }

func (c Cursor) String() string {
	if c.IsZero() {
		return "start"
	}
	if c.SKUNull {
		return c.LastModified.UTC().Format(time.RFC3339Nano) + "/NULL"
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
	// Price, Cost and Category are the ERP's values the rules read (Price
	// normalised by the limits), kept beside the result so that a row can be
	// priced again without the ERP.
	Price          string
	Cost, Category *string
	// ERPHash is the change's ERPHash.
	ERPHash int64
	// WrittenBy names what writes the item (a workflow ID), and Verdict,
	// for a row a reconcile writes, what it found; both are stored with the
	// row for operators. Empty: not recorded.
	WrittenBy, Verdict string
}

// Policy holds the validation choices an operator makes in the rules file.
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
	ReasonSKUInvalid          = "sku_invalid" // not UTF-8, or control characters
	ReasonQuantityMissing     = "quantity_missing"
	ReasonQuantityInvalid     = "quantity_invalid" // not a decimal, or out of range
	ReasonQuantityFractional  = "quantity_fractional"
	ReasonQuantityNegative    = "quantity_negative"
	ReasonPriceMissing        = "price_missing"
	ReasonPriceInvalid        = "price_invalid"
	ReasonPriceNegative       = "price_negative"
	ReasonCostInvalid         = "cost_invalid"
	ReasonCategoryInvalid     = "category_invalid"
	ReasonLastModifiedMissing = "last_modified_missing"
	ReasonVersionInFuture     = "version_in_future"
	ReasonUndecodable         = "undecodable"
	ReasonOversized           = "oversized"
	ReasonTemporalRefused     = "temporal_refused"
	ReasonStorefrontRejected  = "storefront_rejected"
	ReasonCostMissing         = "cost_missing"
	ReasonPriceRuleFailed     = "price_rule_failed"
	ReasonPriceOutOfRange     = "price_out_of_range"
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
// Every number is checked against lim before any arithmetic, so a message
// holding a hostile number costs no more than a well-formed one. It is pure:
// now is the caller's clock, for versions that claim to come from the future.
func Validate(c Change, lim Limits, policy Policy, now time.Time) (Item, *Rejection) {
	if rej := checkSKU(c.SKU); rej != nil {
		return Item{}, rej
	}
	if rej := lim.checkVersion(c, now); rej != nil {
		return Item{}, rej
	}
	switch {
	case c.Quantity == nil:
		return Item{}, reject(ReasonQuantityMissing, "quantity is missing")
	case lim.tooManyDigits(*c.Quantity):
		return Item{}, reject(ReasonQuantityInvalid, "quantity %d has more than %d digits", *c.Quantity, lim.integerDigits())
	case *c.Quantity < 0 && !policy.Backorder:
		return Item{}, reject(ReasonQuantityNegative, "quantity %d is negative (backorders are not allowed)", *c.Quantity)
	case c.Price == nil:
		return Item{}, reject(ReasonPriceMissing, "price is missing")
	}
	price, err := lim.Decimal(*c.Price)
	if err != nil {
		return Item{}, reject(ReasonPriceInvalid, "price %s: %v", Quote(*c.Price), err)
	}
	cents, err := ParseCents(price)
	if err != nil {
		return Item{}, reject(ReasonPriceInvalid, "price %s: %v", Quote(price), err)
	}
	if cents < 0 {
		return Item{}, reject(ReasonPriceNegative, "price %s is negative", price)
	}
	if c.Cost != nil {
		if _, err := lim.Decimal(*c.Cost); err != nil {
			return Item{}, reject(ReasonCostInvalid, "cost %s: %v", Quote(*c.Cost), err)
		}
	}
	if c.Category != nil {
		if rej := checkCategory(*c.Category); rej != nil {
			return Item{}, rej
		}
	}
	return Item{
		SKU:          c.SKU,
		Quantity:     *c.Quantity,
		PriceCents:   cents,
		LastModified: c.LastModified,
		ObservedAt:   c.ObservedAt,
		Price:        price,
		Cost:         c.Cost,
		Category:     c.Category,
		ERPHash:      c.ERPHash,
	}, nil
}

// Change is the change an item was made from, as far as pricing reads it:
// what re-pricing a stored row starts from.
func (it Item) Change() Change {
	q, p := it.Quantity, it.Price
	return Change{SKU: it.SKU, Quantity: &q, Price: &p, Cost: it.Cost, Category: it.Category,
		LastModified: it.LastModified, ObservedAt: it.ObservedAt, ERPHash: it.ERPHash}
}
