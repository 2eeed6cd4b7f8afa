package storefront

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/invsync/invsync/internal/deadletter"
)

// StoredRow is one storefront row in full, as an operator reads it to
// explain a SKU.
type StoredRow struct {
	SKU string `json:"sku"`
	// Quantity and PriceCents are what the shop shows, hand edits included.
	Quantity   int64 `json:"quantity"`
	PriceCents int64 `json:"price_cents"`
	// ERPQuantity and PricedCents are what invsync wrote; nil for rows
	// written before they were kept.
	ERPQuantity *int64 `json:"erp_quantity,omitempty"`
	PricedCents *int64 `json:"priced_cents,omitempty"`
	// ERPPrice, ERPCost and ERPCategory are the ERP's values the rules read.
	ERPPrice    *string `json:"erp_price,omitempty"`
	ERPCost     *string `json:"erp_cost,omitempty"`
	ERPCategory *string `json:"erp_category,omitempty"`
	ERPHash     int64   `json:"erp_hash,omitempty"`
	// ERPModified is the ERP's last-modified time of the version shown, and
	// ObservedAt the ERP's clock at the read that saw it.
	ERPModified  time.Time  `json:"erp_modified"`
	ObservedAt   time.Time  `json:"observed_at"`
	SyncedAt     time.Time  `json:"synced_at"`
	RulesVersion string     `json:"rules_version"`
	DeletedAt    *time.Time `json:"deleted_at,omitempty"`
	WrittenBy    string     `json:"written_by,omitempty"`
	// ReconcileVerdict and ReconciledAt are what the last reconcile that
	// wrote the row found, and when.
	ReconcileVerdict string     `json:"reconcile_verdict,omitempty"`
	ReconciledAt     *time.Time `json:"reconciled_at,omitempty"`
}

// Drifted reports whether the row shows other values than invsync wrote: a
// hand edit (rows without the values kept cannot tell, and say no).
func (r StoredRow) Drifted() bool {
	if r.DeletedAt != nil {
		return r.Quantity != 0
	}
	return r.ERPQuantity != nil && r.PricedCents != nil && (r.Quantity != *r.ERPQuantity || r.PriceCents != *r.PricedCents)
}

// StoredRow reads the row of a SKU; false when the storefront has none.
func (s *Store) StoredRow(ctx context.Context, sku string) (StoredRow, bool, error) {
	var r StoredRow
	var writtenBy, verdict *string
	var hash *int64
	err := s.pool.QueryRow(ctx, `
		SELECT sku, quantity, price_cents, erp_quantity, priced_cents, erp_price, erp_cost, erp_category, erp_hash,
		       erp_modified, observed_at, synced_at, rules_version, deleted_at, written_by, reconcile_verdict, reconciled_at
		FROM inventory WHERE sku = $1`, sku).Scan(&r.SKU, &r.Quantity, &r.PriceCents, &r.ERPQuantity, &r.PricedCents,
		&r.ERPPrice, &r.ERPCost, &r.ERPCategory, &hash, &r.ERPModified, &r.ObservedAt, &r.SyncedAt, &r.RulesVersion,
		&r.DeletedAt, &writtenBy, &verdict, &r.ReconciledAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredRow{}, false, nil
	}
	if err != nil {
		return StoredRow{}, false, fmt.Errorf("storefront: row %q: %w", sku, err)
	}
	if hash != nil {
		r.ERPHash = *hash
	}
	if writtenBy != nil {
		r.WrittenBy = *writtenBy
	}
	if verdict != nil {
		r.ReconcileVerdict = *verdict
	}
	r.ERPModified, r.ObservedAt, r.SyncedAt = r.ERPModified.UTC(), r.ObservedAt.UTC(), r.SyncedAt.UTC()
	for _, t := range []**time.Time{&r.DeletedAt, &r.ReconciledAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	return r, true, nil
}

// DeadLettersOfSKU returns up to limit letters of a SKU, most recently
// written first, without their payloads.
func (s *Store) DeadLettersOfSKU(ctx context.Context, sku string, limit int) ([]deadletter.Letter, error) {
	if limit <= 0 {
		return nil, ErrLimit
	}
	return s.queryLetters(ctx, false, `SELECT `+letterColumns+` FROM dead_letters WHERE sku = $1
ORDER BY last_at DESC, id LIMIT $2`, sku, limit)
}
