package inventory

import (
	"errors"
	"math"
	"strings"
)

// ParseCents reads an exact decimal ("12.5", "-0.125", "7") into cents without
// ever passing through a float. Digits beyond the cent are rounded half away
// from zero, which is how ERP money(4) prices become shelf prices.
func ParseCents(s string) (int64, error) {
	s = strings.TrimSpace(s)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, errors.New("not a decimal number")
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, errors.New("not a decimal number")
	}
	var cents uint64
	for _, d := range whole {
		cents = cents*10 + uint64(d-'0')
		if cents > math.MaxInt64/100 {
			return 0, errors.New("out of range")
		}
	}
	cents *= 100
	frac += "000"
	cents += uint64(frac[0]-'0')*10 + uint64(frac[1]-'0')
	if frac[2] >= '5' {
		cents++
	}
	if cents > math.MaxInt64 {
		return 0, errors.New("out of range")
	}
	if neg {
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
