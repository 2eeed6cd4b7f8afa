package inventory

import (
	"strings"
	"testing"
	"time"
	"unicode"
)

var fuzzNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// FuzzDecodeChange feeds any message body through decoding and validation,
// as the consumers and the apply activity do. Whatever the body holds, it is
// refused with a reason (as a whole, or element by element) or each element
// becomes an item within the limits, quickly; nothing derived from it breaks
// a transport limit, and what is taken survives being published again.
func FuzzDecodeChange(f *testing.F) {
	f.Add([]byte(`{"sku":"A-1","quantity":3,"price":"9.99","last_modified":"2026-11-01T08:00:00Z","observed_at":"2026-11-01T08:00:00Z"}`))
	f.Add([]byte(`{"SKU":"A-1","quantity":3,"price":"9.99","last_modified":"2026-11-01T08:00:00Z","observed_at":"2026-11-01T08:00:00Z"}`))
	f.Add([]byte(`{"sku":"A-1","quantity":3,"price":"1e100000","last_modified":"9999-12-31T00:00:00Z","observed_at":"2026-11-01T08:00:00Z"}`))
	f.Add([]byte(`{"sku":"\u0000\u001b[31m","quantity":-9223372036854775808,"price":"-0","cost":"99999999999999.99999"}`))
	f.Add([]byte(`{"sku":"A","sku":"B"}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`[{"sku":"A-1","quantity":3,"price":"9.99","last_modified":"2026-11-01T08:00:00Z","observed_at":"2026-11-01T08:00:00Z"},null,{"sku":"B"},"x"]`))
	f.Add([]byte(`[{"sku":"A-1"}]]`))
	f.Add([]byte("\xff\xfe{"))
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		start := time.Now()
		changes, bad, err := DecodeChangeSet(body)
		if err != nil {
			checkShown(t, err.Error())
			return
		}
		for _, b := range bad {
			checkShown(t, b.Err.Error())
		}
		for _, c := range changes {
			checkChange(t, c, lim)
		}
		if time.Since(start) > time.Second {
			t.Fatalf("took %s", time.Since(start))
		}
		sets, err := EncodeChangeSets(changes, DefaultSetBytes)
		if err != nil {
			t.Fatalf("a decoded change does not encode: %v", err)
		}
		n := 0
		for _, set := range sets {
			again, bad, err := DecodeChangeSet(set)
			if err != nil || len(bad) > 0 {
				t.Fatalf("a published set does not decode: %v %v", err, bad)
			}
			n += len(again)
		}
		if n != len(changes) {
			t.Fatalf("%d changes published, %d decoded", len(changes), n)
		}
	})
}

// checkChange validates a decoded change: it is refused with a reason that is
// safe to show, or it is an item within the limits.
func checkChange(t *testing.T, c Change, lim Limits) {
	if id := c.MessageID(); len(id) > 255 {
		t.Fatalf("message ID of %d bytes", len(id))
	}
	item, rej := Validate(c, lim, Policy{Backorder: true}, fuzzNow)
	if rej != nil {
		checkShown(t, rej.Message)
		return
	}
	if CheckSKU(item.SKU) != nil || len(item.SKU) > MaxSKULength {
		t.Fatalf("accepted SKU %q", item.SKU)
	}
	if item.Quantity >= 1e13 || item.Quantity <= -1e13 {
		t.Fatalf("accepted quantity %d", item.Quantity)
	}
	if item.PriceCents < 0 || item.PriceCents >= 1e15+100 {
		t.Fatalf("accepted price %d cents", item.PriceCents)
	}
	if item.LastModified.After(item.ObservedAt.Add(15*time.Hour + lim.FutureAllowance)) {
		t.Fatalf("accepted a version from the future: %v", item.LastModified)
	}
}

// FuzzParseRow feeds any values an ERP view can hold through ParseRow, as
// the poller does before it publishes.
func FuzzParseRow(f *testing.F) {
	f.Add("SKU-1", "12.00000000000000000000", "19.99", "10", "tools")
	f.Add("", "2.5", "-1", "", "")
	f.Add(strings.Repeat("L", 300), "1e300", "1e100000", "NaN", "a\nb")
	f.Add("A\x00B", "-0.0000", "0000000000012.5000", "+3", "\xff")
	lim := DefaultLimits()
	clock := Clock{Instant: fuzzNow, Wall: fuzzNow.Add(time.Hour)}
	f.Fuzz(func(t *testing.T, sku, qty, price, cost, category string) {
		r := Row{SKU: &sku, Quantity: &qty, Price: &price, Cost: &cost, Category: &category, LastModified: fuzzNow}
		c, rej := ParseRow(r, clock, lim)
		if rej != nil {
			checkShown(t, rej.Message)
			return
		}
		if _, rej := Validate(c, lim, Policy{Backorder: true}, fuzzNow); rej != nil {
			t.Fatalf("ParseRow accepted what Validate refuses: %v", rej)
		}
		if _, err := lim.Decimal(*c.Price); err != nil || *c.Price != mustDecimal(t, lim, *c.Price) {
			t.Fatalf("price %q is not normalised", *c.Price)
		}
	})
}

func mustDecimal(t *testing.T, lim Limits, s string) string {
	t.Helper()
	d, err := lim.Decimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkShown requires a message meant for people and logs to be bounded and
// free of control characters.
func checkShown(t *testing.T, msg string) {
	t.Helper()
	if len(msg) > 400 {
		t.Fatalf("message of %d bytes: %.100q", len(msg), msg)
	}
	if strings.IndexFunc(msg, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		t.Fatalf("message holds control characters: %q", msg)
	}
}
