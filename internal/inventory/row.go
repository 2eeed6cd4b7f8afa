package inventory

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Row is one row of the ERP view as read, before anything is trusted: every
// column nullable, every number as the exact text the ERP gave (never a
// float), so that no value a real view can hold makes the read itself fail.
type Row struct {
	SKU          *string   `json:"sku"`
	Quantity     *string   `json:"quantity"`
	Price        *string   `json:"price"`
	Cost         *string   `json:"cost,omitempty"`
	Category     *string   `json:"category,omitempty"`
	LastModified time.Time `json:"last_modified"`
	// Hash is the ERP's fingerprint of the row as it was read: it changes
	// when any of the values above does. The storefront keeps it, so that a
	// reconcile can compare the two sides chunk by chunk without reading
	// every row.
	Hash int64 `json:"hash,omitempty"`
}

// Cursor is the position of the row in the view's (LastModified, SKU) order.
func (r Row) Cursor() Cursor {
	if r.SKU == nil {
		return Cursor{LastModified: r.LastModified, SKUNull: true}
	}
	return Cursor{LastModified: r.LastModified, SKU: *r.SKU}
}

// Clock is the ERP server's clock at the start of a read.
type Clock struct {
	// Instant is the ERP's time as an instant (UTC).
	Instant time.Time `json:"instant"`
	// Wall is the same time in the LastModified column's convention: the
	// ERP's local wall clock labelled UTC for a column without an offset
	// written in local time, else equal to Instant. Rows are compared with it.
	Wall time.Time `json:"wall"`
}

// Offset is how far the column's convention is ahead of UTC: the ERP's UTC
// offset for a local-time column, else zero. It drops when daylight saving
// ends, and the wall clock then repeats an interval.
func (c Clock) Offset() time.Duration { return c.Wall.Sub(c.Instant) }

// Limits bound what a number or a version may be before any arithmetic is
// done with it: a price of 1e100000 is refused by its length, never parsed.
type Limits struct {
	// IntegerDigits is the most digits before the decimal point (13: up to
	// 9,999,999,999,999).
	IntegerDigits int
	// FractionDigits is the most significant digits after it; trailing
	// zeros, as in a decimal(38,20) column, do not count.
	FractionDigits int
	// FloorFractionalQuantity rounds a fractional quantity down instead of
	// rejecting it.
	FloorFractionalQuantity bool
	// FutureAllowance is how far past the ERP clock a row's LastModified may
	// be before it is rejected as a version from the future.
	FutureAllowance time.Duration
}

// Default limits.
const (
	DefaultIntegerDigits   = 13
	DefaultFractionDigits  = 4
	DefaultFutureAllowance = time.Hour
	// MaxIntegerDigits keeps every amount in cents well inside int64.
	MaxIntegerDigits = 15
	// maxWallOffset is the largest UTC offset a wall clock can have.
	maxWallOffset = 14 * time.Hour
)

// DefaultLimits are the limits when none are configured.
func DefaultLimits() Limits {
	return Limits{IntegerDigits: DefaultIntegerDigits, FractionDigits: DefaultFractionDigits, FutureAllowance: DefaultFutureAllowance}
}

// OrDefault is lim, or DefaultLimits when lim is zero (not configured).
func (lim Limits) OrDefault() Limits {
	if lim == (Limits{}) {
		return DefaultLimits()
	}
	return lim
}

// Validate checks the limits themselves.
func (lim Limits) Validate() error {
	var errs []error
	if lim.IntegerDigits < 1 || lim.IntegerDigits > MaxIntegerDigits {
		errs = append(errs, fmt.Errorf("integer digits %d: want 1 to %d", lim.IntegerDigits, MaxIntegerDigits))
	}
	if lim.FractionDigits < 0 || lim.FractionDigits > 12 {
		errs = append(errs, fmt.Errorf("fraction digits %d: want 0 to 12", lim.FractionDigits))
	}
	if lim.FutureAllowance < 0 {
		errs = append(errs, errors.New("future allowance must not be negative"))
	}
	return errors.Join(errs...)
}

func (lim Limits) integerDigits() int {
	if lim.IntegerDigits <= 0 || lim.IntegerDigits > MaxIntegerDigits {
		return DefaultIntegerDigits
	}
	return lim.IntegerDigits
}

func (lim Limits) tooManyDigits(n int64) bool {
	bound := int64(1)
	for range lim.integerDigits() {
		bound *= 10
	}
	return n >= bound || n <= -bound
}

// maxDecimalText bounds the text of a number before its digits are looked
// at: a sign, 38 digits, a point and 38 more is as long as an ERP decimal gets.
const maxDecimalText = 80

// Decimal checks that s is a plain decimal number within the limits and
// returns it normalised: no '+', no leading zeros, no trailing zeros after
// the point ("012.50000" is "12.5"). It does no arithmetic, so its cost is
// bounded by maxDecimalText whatever s holds.
func (lim Limits) Decimal(s string) (string, error) {
	if len(s) > maxDecimalText {
		return "", fmt.Errorf("has %d characters, more than any number within the limits", len(s))
	}
	d, err := parsePlainDecimal(s)
	if err != nil {
		return "", err
	}
	whole := strings.TrimLeft(d.whole, "0")
	frac := strings.TrimRight(d.frac, "0")
	if n := lim.integerDigits(); len(whole) > n {
		return "", fmt.Errorf("%d digits before the point, the limit is %d", len(whole), n)
	}
	if len(frac) > lim.FractionDigits {
		return "", fmt.Errorf("%d digits after the point, the limit is %d", len(frac), lim.FractionDigits)
	}
	if whole == "" {
		whole = "0"
	}
	out := whole
	if frac != "" {
		out += "." + frac
	}
	if d.neg && out != "0" {
		out = "-" + out
	}
	return out, nil
}

// quantity turns a checked decimal into a whole quantity.
func (lim Limits) quantity(s string) (int64, *Rejection) {
	d, err := lim.Decimal(s)
	if err != nil {
		return 0, reject(ReasonQuantityInvalid, "quantity %s: %v", Quote(s), err)
	}
	whole, frac, _ := strings.Cut(d, ".")
	n, err := strconv.ParseInt(whole, 10, 64) // at most MaxIntegerDigits digits: no overflow
	if err != nil {
		return 0, reject(ReasonQuantityInvalid, "quantity %s: %v", Quote(s), err)
	}
	if frac != "" {
		if !lim.FloorFractionalQuantity {
			return 0, reject(ReasonQuantityFractional, "quantity %s is not a whole number", d)
		}
		if strings.HasPrefix(whole, "-") {
			n-- // round down, towards minus infinity
		}
	}
	return n, nil
}

func (lim Limits) checkVersion(c Change, now time.Time) *Rejection {
	switch {
	case c.LastModified.IsZero():
		return reject(ReasonLastModifiedMissing, "last_modified is missing")
	case c.ObservedAt.IsZero():
		return reject(ReasonLastModifiedMissing, "observed_at is missing")
	case c.ObservedAt.After(now.Add(lim.FutureAllowance)):
		return reject(ReasonVersionInFuture, "observed_at %s is after this worker's clock", c.ObservedAt.UTC().Format(time.RFC3339))
	case c.LastModified.After(c.ObservedAt.Add(maxWallOffset + lim.FutureAllowance)):
		// LastModified may be a local wall clock: allow for any UTC offset.
		return reject(ReasonVersionInFuture, "last_modified %s is after the ERP clock of the read (%s)",
			c.LastModified.UTC().Format(time.RFC3339), c.ObservedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// ParseRow turns an ERP row read at clock into a change, or says why it
// cannot become one. It runs in the poller, before anything is published, so
// nothing a row holds can break a transport limit downstream. Choices that
// depend on the pricing rules (backorders) are left to the apply side.
func ParseRow(r Row, clock Clock, lim Limits) (Change, *Rejection) {
	if r.SKU == nil {
		return Change{}, reject(ReasonSKUEmpty, "sku is NULL")
	}
	if r.LastModified.After(clock.Wall.Add(lim.FutureAllowance)) {
		return Change{}, reject(ReasonVersionInFuture, "last_modified %s is more than %s past the ERP clock",
			r.LastModified.UTC().Format(time.RFC3339Nano), lim.FutureAllowance)
	}
	c := Change{SKU: *r.SKU, Price: r.Price, Cost: r.Cost, Category: r.Category,
		LastModified: r.LastModified, ObservedAt: clock.Instant, ERPHash: r.Hash}
	if r.Quantity != nil {
		q, rej := lim.quantity(*r.Quantity)
		if rej != nil {
			return Change{}, rej
		}
		c.Quantity = &q
	}
	for _, p := range []**string{&c.Price, &c.Cost} {
		if *p == nil {
			continue
		}
		if d, err := lim.Decimal(**p); err == nil {
			*p = &d
		}
	}
	// The checks of the apply side, but for backorders: a row they would
	// reject is not worth a message.
	if _, rej := Validate(c, lim, Policy{Backorder: true}, clock.Instant); rej != nil {
		return Change{}, rej
	}
	return c, nil
}

// CheckSKU says whether s can be a storefront SKU.
func CheckSKU(s string) error {
	if rej := checkSKU(s); rej != nil {
		return rej
	}
	return nil
}

func checkSKU(s string) *Rejection {
	switch {
	case s == "":
		return reject(ReasonSKUEmpty, "sku is empty")
	case len(s) > MaxSKULength:
		return reject(ReasonSKUTooLong, "sku %s is %d bytes, the limit is %d", Quote(s), len(s), MaxSKULength)
	case !utf8.ValidString(s):
		return reject(ReasonSKUInvalid, "sku %s is not valid UTF-8", Quote(s))
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return reject(ReasonSKUInvalid, "sku %s holds control characters", Quote(s))
	}
	return nil
}

// MaxCategoryLength is the longest category the pricing rules see, in bytes.
const MaxCategoryLength = 256

func checkCategory(s string) *Rejection {
	switch {
	case len(s) > MaxCategoryLength:
		return reject(ReasonCategoryInvalid, "category %s is %d bytes, the limit is %d", Quote(s), len(s), MaxCategoryLength)
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		return reject(ReasonCategoryInvalid, "category %s is not plain text", Quote(s))
	}
	return nil
}

// quoteBytes is how much of a value Quote shows.
const quoteBytes = 64

// Quote shows a value from the ERP or a message safely in a log, a reason or
// a terminal: quoted with control characters and invalid UTF-8 escaped, cut
// to its first 64 bytes with its length and a hash that tells two long values
// apart.
func Quote(s string) string {
	if len(s) <= quoteBytes {
		return strconv.Quote(s)
	}
	cut := s[:quoteBytes]
	for !utf8.ValidString(cut) && len(cut) > quoteBytes-utf8.UTFMax {
		cut = cut[:len(cut)-1]
	}
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%s…(%d bytes, sha256 %x)", strconv.Quote(cut), len(s), sum[:4])
}
