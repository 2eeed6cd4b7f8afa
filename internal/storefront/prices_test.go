package storefront

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

// pricedItem is an item as the apply side writes it, with the ERP's values.
func pricedItem(sku string, qty int64, price string, modSec, obsSec int) inventory.Item {
	it := item(sku, qty, modSec, obsSec)
	it.Price, it.RulesVersion, it.ERPHash = price, "v1", int64(len(sku))
	cents, err := inventory.ParseCents(price)
	if err != nil {
		panic(err)
	}
	it.PriceCents = cents
	return it
}

func TestPricedRowsReadsTheERPValuesInSKUOrder(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	cost, cat := "4.5", "tools"
	withCost := pricedItem("C", 3, "9.99", 10, 20)
	withCost.Cost, withCost.Category = &cost, &cat
	var items []inventory.Item
	for i := range 5 {
		items = append(items, pricedItem(fmt.Sprintf("R%d", i), int64(i), "1.50", 10, 20))
	}
	_, err := s.Upsert(ctx, append(items, withCost, pricedItem("D", 1, "2", 10, 20)))
	require.NoError(t, err)
	// A row from before the ERP's values were kept, and a discontinued
	// one, cannot be priced again.
	_, err = s.pool.Exec(ctx, `INSERT INTO inventory (sku, quantity, price_cents, erp_modified, observed_at) VALUES ('B', 1, 100, $1, $1)`, t0)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, `UPDATE inventory SET deleted_at = now(), quantity = 0 WHERE sku = 'D'`)
	require.NoError(t, err)
	// A hand edit shows in the price shown, not in the ERP's values.
	_, err = s.pool.Exec(ctx, `UPDATE inventory SET price_cents = 7, quantity = 99 WHERE sku = 'C'`)
	require.NoError(t, err)

	rows, err := s.PricedRows(ctx, "", 2)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, PricedRow{
		Item: inventory.Item{SKU: "C", Quantity: 3, Price: "9.99", Cost: &cost, Category: &cat, ERPHash: 1,
			LastModified: t0.Add(10 * time.Second), ObservedAt: t0.Add(20 * time.Second)},
		PriceCents: 7, RulesVersion: "v1",
	}, utc(rows[0]))
	require.Equal(t, "R0", rows[1].Item.SKU)
	require.Nil(t, rows[1].Item.Cost)
	require.Nil(t, rows[1].Item.Category)

	var skus []string
	for after := ""; ; {
		rows, err := s.PricedRows(ctx, after, 2)
		require.NoError(t, err)
		for _, r := range rows {
			skus = append(skus, r.Item.SKU)
		}
		if len(rows) < 2 {
			break
		}
		after = rows[len(rows)-1].Item.SKU
	}
	require.Equal(t, []string{"C", "R0", "R1", "R2", "R3", "R4"}, skus)
}

func utc(r PricedRow) PricedRow {
	r.Item.LastModified, r.Item.ObservedAt = r.Item.LastModified.UTC(), r.Item.ObservedAt.UTC()
	return r
}

func TestSetPricesWritesRowsStillAtTheVersionRead(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	_, err := s.Upsert(ctx, []inventory.Item{
		pricedItem("A", 1, "10", 10, 20), pricedItem("B", 1, "10", 10, 20), pricedItem("C", 1, "10", 10, 20),
		pricedItem("D", 1, "10", 10, 20),
	})
	require.NoError(t, err)
	read, err := s.PricedRows(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, read, 4)
	before := get(t, s, "A")

	// Meanwhile B is read again from the ERP with a new price, and C is
	// discontinued.
	_, err = s.Upsert(ctx, []inventory.Item{pricedItem("B", 1, "12", 11, 30)})
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, `UPDATE inventory SET deleted_at = now(), quantity = 0 WHERE sku = 'C'`)
	require.NoError(t, err)

	var prices []Price
	for _, r := range read {
		prices = append(prices, Price{SKU: r.Item.SKU, PriceCents: 800, RulesVersion: "v2",
			LastModified: r.Item.LastModified, ObservedAt: r.Item.ObservedAt})
	}
	n, err := s.SetPrices(ctx, prices)
	require.NoError(t, err)
	require.Equal(t, 2, n, "A and D are written; B has a newer version, C is discontinued")

	price := func(sku string) (shown, priced int64, version string) {
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT price_cents, priced_cents, rules_version FROM inventory WHERE sku = $1`, sku).
			Scan(&shown, &priced, &version))
		return
	}
	for _, tt := range []struct {
		sku     string
		shown   int64
		version string
	}{{"A", 800, "v2"}, {"D", 800, "v2"}, {"B", 1200, "v1"}, {"C", 1000, "v1"}} {
		shown, priced, version := price(tt.sku)
		require.Equal(t, []any{tt.shown, tt.shown, tt.version}, []any{shown, priced, version}, tt.sku)
	}
	after := get(t, s, "A")
	require.True(t, after.SyncedAt.After(before.SyncedAt), "a written row's synced_at moves")
	require.Equal(t, before.ERPModified, after.ERPModified, "its version does not")

	// A re-priced row is no hand edit: a later read of the same version
	// with the same price changes nothing.
	again := pricedItem("A", 1, "8", 10, 40)
	again.Price, again.RulesVersion = "10", "v2"
	res, err := s.Upsert(ctx, []inventory.Item{again})
	require.NoError(t, err)
	require.Zero(t, res.Applied)

	n, err = s.SetPrices(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, n)
}
