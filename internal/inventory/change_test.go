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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			item, rej := Validate(c, tt.policy)
			if tt.code == "" {
				if rej != nil {
					t.Fatalf("rejected: %v", rej)
				}
				if item.SKU != c.SKU || item.Quantity != *c.Quantity || item.LastModified != at {
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
