package inventory

import (
	"errors"
	"math"
	"strings"
)

// plainDecimal is a number as the ERP and the messages write it: an optional
// sign, digits, an optional point and more digits, with no exponent and no
// separators. Both the checks of Limits.Decimal and ParseCents read it here,
// so what counts as a number is decided once.
type plainDecimal struct {
	neg         bool
	whole, frac string // digits only; either may be empty, not both
}

var errNotDecimal = errors.New("not a decimal number")

// parsePlainDecimal splits s, less surrounding space, into its sign and
// digits, or says it is not a plain decimal.
func parsePlainDecimal(s string) (plainDecimal, error) {
	s = strings.TrimSpace(s)
	var d plainDecimal
	switch {
	case strings.HasPrefix(s, "-"):
		d.neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	d.whole, d.frac, _ = strings.Cut(s, ".")
	if d.whole == "" && d.frac == "" || !allDigits(d.whole) || !allDigits(d.frac) {
		return plainDecimal{}, errNotDecimal
	}
	return d, nil
}

// ParseCents reads an exact decimal ("12.5", "-0.125", "7") into cents without
// ever passing through a float. Digits beyond the cent are rounded half away
// from zero, which is how ERP money(4) prices become shelf prices.
func ParseCents(s string) (int64, error) {
	d, err := parsePlainDecimal(s)
	if err != nil {
		return 0, err
	}
	var cents uint64
	for _, c := range d.whole {
		cents = cents*10 + uint64(c-'0')
		if cents > math.MaxInt64/100 {
			return 0, errors.New("out of range")
		}
	}
	cents *= 100
	frac := d.frac + "000"
	cents += uint64(frac[0]-'0')*10 + uint64(frac[1]-'0')
	if frac[2] >= '5' {
		cents++
	}
	if cents > math.MaxInt64 {
		return 0, errors.New("out of range")
	}
	if d.neg {
		return -int64(cents), nil
	}
	return int64(cents), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
