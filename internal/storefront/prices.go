package storefront

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/invsync/invsync/internal/inventory"
)

// PricedRow is a storefront row as re-pricing reads it: the ERP's values the
// rules read, and what the row shows.
type PricedRow struct {
	// Item holds the ERP's values as last written (erp_quantity, erp_price,
	// erp_cost, erp_category, erp_hash) and the row's version; its
	// PriceCents and RulesVersion are left zero.
	Item inventory.Item
	// PriceCents is the price shown (price_cents), a hand edit included.
	PriceCents int64
	// RulesVersion names the rules that set it.
	RulesVersion string
}

// pricedRowsSQL reads the rows that can be priced again: those with the
// ERP's values (rows written before they were kept have none) that are not
// discontinued. The primary key orders them.
const pricedRowsSQL = `
SELECT sku, erp_quantity, erp_price, erp_cost, erp_category, coalesce(erp_hash, 0), erp_modified, observed_at,
    price_cents, rules_version
FROM inventory
WHERE sku > $1 AND erp_price IS NOT NULL AND erp_quantity IS NOT NULL AND deleted_at IS NULL
ORDER BY sku
LIMIT $2`

// PricedRows reads up to limit rows that can be priced again, by SKU, after
// the SKU after ("" from the first).
func (s *Store) PricedRows(ctx context.Context, after string, limit int) ([]PricedRow, error) {
	rows, err := s.pool.Query(ctx, pricedRowsSQL, after, limit)
	if err != nil {
		return nil, fmt.Errorf("storefront: priced rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PricedRow, error) {
		var r PricedRow
		it := &r.Item
		err := row.Scan(&it.SKU, &it.Quantity, &it.Price, &it.Cost, &it.Category, &it.ERPHash, &it.LastModified,
			&it.ObservedAt, &r.PriceCents, &r.RulesVersion)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("storefront: priced rows: %w", err)
	}
	return out, nil
}

// Price is a new price for a row, and the version of the row it was worked
// out from.
type Price struct {
	SKU          string
	PriceCents   int64
	RulesVersion string
	// LastModified and ObservedAt are the row's version as read.
	LastModified, ObservedAt time.Time
	// WrittenBy names the pass that priced it, stored as the row's writer.
	WrittenBy string
}

// setPricesSQL writes new prices in one statement. A row whose version
// changed since it was read was written by a newer upsert, which priced it
// with the rules of its own time, and a row discontinued since is no longer
// sold: both are left alone.
const setPricesSQL = `
UPDATE inventory AS t SET
    price_cents   = u.price_cents,
    priced_cents  = u.price_cents,
    rules_version = u.rules_version,
    synced_at     = clock_timestamp(),
    written_by    = nullif(u.written_by, '')
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[])
    AS u(sku, price_cents, rules_version, erp_modified, observed_at, written_by)
WHERE t.sku = u.sku
  AND t.erp_modified = u.erp_modified
  AND t.observed_at = u.observed_at
  AND t.deleted_at IS NULL`

// SetPrices writes new prices (price_cents, priced_cents, rules_version,
// written_by) to
// rows whose version is still the one read, and returns how many it wrote.
func (s *Store) SetPrices(ctx context.Context, prices []Price) (int, error) {
	if len(prices) == 0 {
		return 0, nil
	}
	skus := make([]string, len(prices))
	cents := make([]int64, len(prices))
	versions := make([]string, len(prices))
	modified := make([]time.Time, len(prices))
	observed := make([]time.Time, len(prices))
	writers := make([]string, len(prices))
	for i, p := range prices {
		skus[i], cents[i], versions[i], modified[i], observed[i] = p.SKU, p.PriceCents, p.RulesVersion, p.LastModified, p.ObservedAt
		writers[i] = p.WrittenBy
	}
	tag, err := s.pool.Exec(ctx, setPricesSQL, skus, cents, versions, modified, observed, writers)
	if err != nil {
		return 0, fmt.Errorf("storefront: set prices: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
