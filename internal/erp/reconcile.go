package erp

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/invsync/invsync/internal/inventory"
)

// Digest sums up one chunk of the view for the reconcile, which checks that
// the storefront holds what the ERP view holds. Every row read carries the
// ERP's fingerprint of it (inventory.Row.Hash), and the storefront keeps that
// fingerprint. The reconcile walks both sides in chunks of SKUs and compares
// a digest of each chunk, computed on each side in SQL: a count, a sum and a
// SKU a chunk cross the wire, so the ERP view is read once, by the ERP
// itself, and rows are transferred only for the chunks whose digests differ.
//
// Chunks are cut in the SKU column's own order and collation, which this code
// never imitates: the bounds are the ERP's own SKUs, handed back to it, and
// compared as the keyset compares its cursor. NULL SKUs, the empty SKU (no
// storefront holds one: inventory.CheckSKU) and rows without a readable
// LastModified (NULL, or infinite in PostgreSQL) are in no chunk.
type Digest struct {
	// Rows is how many rows the chunk holds.
	Rows int64
	// Sum is the sum of the rows' fingerprints as exact decimal text, "0"
	// for none: what sum(hash::numeric)::text gives in PostgreSQL.
	Sum string
	// Last is the chunk's last SKU, as text; "" when the chunk is empty. The
	// next chunk starts after it.
	Last string
}

// MaxLookup is the most SKUs Lookup takes at once.
const MaxLookup = 1000

// Digest sums up the chunk after the SKU after ("" for the first): its first
// limit rows in the SKU column's order, and every further row that ties with
// the last on SKU, so that the rows of a SKU the view repeats are never split
// between two chunks (the storefront holds one row a SKU and could not split
// it alike). An empty chunk (Rows 0) is the end. One statement gives the
// count, the sum and the last SKU, so a chunk that matches the storefront's
// costs one round trip and no rows.
func (s *Source) Digest(ctx context.Context, after string, limit int) (Digest, error) {
	if limit < 1 {
		return Digest{}, fmt.Errorf("erp digest: limit %d, want at least 1", limit)
	}
	d, err := s.dialect(ctx)
	if err != nil {
		return Digest{}, err
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return Digest{}, err
	}
	defer end()
	var g Digest
	if err := s.db.QueryRowContext(ctx, d.digest, after, limit).Scan(&g.Rows, &g.Sum, &g.Last); err != nil {
		return Digest{}, fmt.Errorf("erp digest after %s: %w", inventory.Quote(after), err)
	}
	return g, nil
}

// Range returns the rows whose SKU is after after and at most through, in
// the SKU column's order: with after and through from two Digests, exactly
// the rows of the chunk the second sums up. through "" reads to the end.
func (s *Source) Range(ctx context.Context, after, through string) ([]inventory.Row, error) {
	d, err := s.dialect(ctx)
	if err != nil {
		return nil, err
	}
	stmt, args := d.rangeTo, []any{after, through}
	if through == "" {
		stmt, args = d.rangeAll, []any{after}
	}
	rows, err := s.read(ctx, d, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("erp rows after %s through %s: %w", inventory.Quote(after), inventory.Quote(through), err)
	}
	return rows, nil
}

// Lookup returns the rows whose SKU equals one of skus in the ERP's
// collation (a case-insensitive collation matches other cases too), in SKU
// order: at most MaxLookup SKUs, sent in one parameter, so any characters
// arrive as they are. A SKU the view does not hold is simply not there.
func (s *Source) Lookup(ctx context.Context, skus []string) ([]inventory.Row, error) {
	if len(skus) > MaxLookup {
		return nil, fmt.Errorf("erp lookup: %d SKUs, at most %d at once", len(skus), MaxLookup)
	}
	for _, sku := range skus {
		if !utf8.ValidString(sku) {
			return nil, fmt.Errorf("erp lookup: sku %s is not valid UTF-8", inventory.Quote(sku))
		}
	}
	if len(skus) == 0 {
		return nil, nil
	}
	d, err := s.dialect(ctx)
	if err != nil {
		return nil, err
	}
	list, err := d.skuList(skus)
	if err != nil {
		return nil, fmt.Errorf("erp lookup: %w", err)
	}
	rows, err := s.read(ctx, d, d.lookup, list)
	if err != nil {
		return nil, fmt.Errorf("erp lookup of %d SKUs: %w", len(skus), err)
	}
	return rows, nil
}
