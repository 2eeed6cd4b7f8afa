package pricing

import (
	"os"
	"testing"
	"time"

	"github.com/invsync/invsync/internal/inventory"
)

// FuzzApply prices any row the ERP or a message can hold with the demo rules:
// it is refused with a reason or priced within the limits, the same way every
// time, quickly.
func FuzzApply(f *testing.F) {
	f.Add("SKU-0000001", int64(3), "19.99", "12.50", "electronics", int64(0))
	f.Add("A", int64(-1), "1e100000", "1e100000", "", int64(1))
	f.Add("B", int64(1), "9999999999999.9999", "9999999999999.9999", "electronics", int64(-1))
	f.Add("C", int64(9_999_999_999_999), "0.0001", "", "garden", int64(2_000_000))
	f.Add("D\x00", int64(1), "-0.00", "-5", "a\nb", int64(0))
	b, err := os.ReadFile("../../dev/pricing.yaml")
	if err != nil {
		f.Fatal(err)
	}
	rules, err := Parse(b)
	if err != nil {
		f.Fatal(err)
	}
	lim := inventory.DefaultLimits()
	base := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, sku string, qty int64, price, cost, category string, minutes int64) {
		at := base.Add(time.Duration(minutes%(1<<20)) * time.Minute)
		c := inventory.Change{SKU: sku, Quantity: &qty, Price: &price, Category: &category, LastModified: at, ObservedAt: at}
		if cost != "" {
			c.Cost = &cost
		}
		start := time.Now()
		item, rej := rules.Apply(c, lim, at)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("pricing took %s", d)
		}
		again, rej2 := rules.Apply(c, lim, at)
		if item != again || (rej == nil) != (rej2 == nil) {
			t.Fatalf("the same row priced twice differs: %+v %v / %+v %v", item, rej, again, rej2)
		}
		if rej != nil {
			return
		}
		if item.PriceCents < 0 || item.PriceCents >= 1e15 {
			t.Fatalf("priced at %d cents", item.PriceCents)
		}
	})
}
