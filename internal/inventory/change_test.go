package inventory

import (
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestParseCents(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"12", 1200, false},
		{"12.5", 1250, false},
		{"12.34", 1234, false},
		{"12.3449", 1234, false},
		{"12.345", 1235, false},
		{"0.005", 1, false},
		{"0.0049", 0, false},
		{"-1.255", -126, false},
		{".5", 50, false},
		{"7.", 700, false},
		{" 3.10 ", 310, false},
		{"92233720368547758.07", 9223372036854775807, false},
		{"92233720368547758.08", 0, true},
		{"", 0, true},
		{".", 0, true},
		{"1e3", 0, true},
		{"1,5", 0, true},
		{"--1", 0, true},
		{"NaN", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseCents(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseCents(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseCents(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	good := Change{SKU: "A-1", Quantity: ptr(int64(3)), Price: ptr("9.99"), LastModified: at, ObservedAt: at}
	tests := []struct {
		name   string
		mutate func(*Change)
		code   string
		policy Policy
	}{
		{"valid", func(*Change) {}, "", Policy{}},
		{"zero quantity is stock-out, not an error", func(c *Change) { c.Quantity = ptr(int64(0)) }, "", Policy{}},
		{"empty sku", func(c *Change) { c.SKU = "" }, ReasonSKUEmpty, Policy{}},
		{"long sku", func(c *Change) { c.SKU = strings.Repeat("x", MaxSKULength+1) }, ReasonSKUTooLong, Policy{}},
		{"max sku", func(c *Change) { c.SKU = strings.Repeat("x", MaxSKULength) }, "", Policy{}},
		{"no last modified", func(c *Change) { c.LastModified = time.Time{} }, ReasonLastModifiedMissing, Policy{}},
		{"null quantity", func(c *Change) { c.Quantity = nil }, ReasonQuantityMissing, Policy{}},
		{"negative quantity", func(c *Change) { c.Quantity = ptr(int64(-1)) }, ReasonQuantityNegative, Policy{}},
		{"negative quantity as backorder", func(c *Change) { c.Quantity = ptr(int64(-4)) }, "", Policy{Backorder: true}},
		{"backorder does not excuse a missing quantity", func(c *Change) { c.Quantity = nil }, ReasonQuantityMissing, Policy{Backorder: true}},
		{"null price", func(c *Change) { c.Price = nil }, ReasonPriceMissing, Policy{}},
		{"garbage price", func(c *Change) { c.Price = ptr("abc") }, ReasonPriceInvalid, Policy{}},
		{"negative price", func(c *Change) { c.Price = ptr("-0.01") }, ReasonPriceNegative, Policy{}},
		{"huge price", func(c *Change) { c.Price = ptr("1e100000") }, ReasonPriceInvalid, Policy{}},
		{"100,000-digit price", func(c *Change) { c.Price = ptr(strings.Repeat("9", 100000)) }, ReasonPriceInvalid, Policy{}},
		{"14-digit price", func(c *Change) { c.Price = ptr("12345678901234") }, ReasonPriceInvalid, Policy{}},
		{"13-digit price", func(c *Change) { c.Price = ptr("1234567890123.9999") }, "", Policy{}},
		{"5 fraction digits", func(c *Change) { c.Price = ptr("1.00001") }, ReasonPriceInvalid, Policy{}},
		{"decimal(38,20) price", func(c *Change) { c.Price = ptr("12.50000000000000000000") }, "", Policy{}},
		{"huge cost", func(c *Change) { c.Cost = ptr("1" + strings.Repeat("0", 20)) }, ReasonCostInvalid, Policy{}},
		{"14-digit quantity", func(c *Change) { c.Quantity = ptr(int64(99_999_999_999_999)) }, ReasonQuantityInvalid, Policy{}},
		{"control characters in sku", func(c *Change) { c.SKU = "A\x00B" }, ReasonSKUInvalid, Policy{}},
		{"invalid UTF-8 sku", func(c *Change) { c.SKU = "A\xffB" }, ReasonSKUInvalid, Policy{}},
		{"unicode sku", func(c *Change) { c.SKU = "Größe-Ü-木" }, "", Policy{}},
		{"category with a newline", func(c *Change) { c.Category = ptr("a\nb") }, ReasonCategoryInvalid, Policy{}},
		{"observed in the future", func(c *Change) { c.ObservedAt = at.Add(2 * time.Hour) }, ReasonVersionInFuture, Policy{}},
		{"far-future version", func(c *Change) { c.LastModified = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }, ReasonVersionInFuture, Policy{}},
		{"local wall clock ahead of UTC", func(c *Change) { c.LastModified = at.Add(13 * time.Hour) }, "", Policy{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			item, rej := Validate(c, DefaultLimits(), tt.policy, at)
			if tt.code == "" {
				if rej != nil {
					t.Fatalf("rejected: %v", rej)
				}
				if item.SKU != c.SKU || item.Quantity != *c.Quantity || item.LastModified != c.LastModified {
					t.Fatalf("item %+v does not carry change %+v", item, c)
				}
				return
			}
			if rej == nil || rej.Code != tt.code {
				t.Fatalf("rejection = %v, want code %s", rej, tt.code)
			}
			if rej.Message == "" {
				t.Fatal("rejection has no message")
			}
		})
	}
}
