package storefront

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// A reconcile compares the ERP and the storefront in chunks of SKUs: each
// side sums, in SQL, the ERP's fingerprints of the rows of a chunk, and only
// a chunk whose sums differ has its rows compared one by one. Ranges are
// (after, through]; an empty through has no upper bound.

// ChunkDigest sums up the storefront's rows of one chunk.
type ChunkDigest struct {
	// Rows counts the rows for sale (not discontinued).
	Rows int64
	// Sum is the sum of their ERP fingerprints, as integer text ("0": none),
	// as the ERP's own sum is written.
	Sum string
	// Suspect counts rows whose fingerprint says nothing: none kept (written
	// before fingerprints were), or edited by hand since invsync wrote them,
	// or discontinued but still showing stock. A chunk with one is compared
	// row by row whatever the sums say.
	Suspect int64
}

// drifted is true for a row that no longer shows what invsync wrote.
const drifted = `(erp_hash IS NULL
    OR (deleted_at IS NULL AND (quantity, price_cents) IS DISTINCT FROM (erp_quantity, priced_cents))
    OR (deleted_at IS NOT NULL AND quantity <> 0))`

// Digest sums up the rows with after < sku <= through.
func (s *Store) Digest(ctx context.Context, after, through string) (ChunkDigest, error) {
	var d ChunkDigest
	err := s.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE deleted_at IS NULL),
		       coalesce(sum(erp_hash::numeric) FILTER (WHERE deleted_at IS NULL), 0)::text,
		       count(*) FILTER (WHERE `+drifted+`)
		FROM inventory
		WHERE sku > $1 AND ($2::text IS NULL OR sku <= $2)`, after, upper(through)).Scan(&d.Rows, &d.Sum, &d.Suspect)
	if err != nil {
		return d, fmt.Errorf("storefront: digest of (%q, %q]: %w", after, through, err)
	}
	return d, nil
}

// Verdicts a reconcile records on the rows it writes.
const (
	// VerdictDiffered: the ERP's row changed without the storefront
	// hearing of it (a restore from backup, a change the stream missed).
	VerdictDiffered = "fixed: differed from the ERP"
	// VerdictHandEdit: the row showed other values than invsync wrote.
	VerdictHandEdit = "fixed: edited by hand"
	// VerdictMissing: the storefront lacked a row the ERP has.
	VerdictMissing = "fixed: missing from the storefront"
	// VerdictUnknown: no fingerprint was kept (a row written before they
	// were), so the row was written again to have one.
	VerdictUnknown = "fixed: no ERP fingerprint kept"
	// VerdictRestored: a discontinued row is back in the ERP.
	VerdictRestored = "restored"
	// VerdictDiscontinued: the ERP no longer has the row.
	VerdictDiscontinued = "discontinued: gone from the ERP"
)

// Key is what a reconcile compares of a storefront row.
type Key struct {
	SKU string
	// ERPHash is the ERP's fingerprint of the row as last written; 0 when
	// none was kept.
	ERPHash      int64
	Discontinued bool
	// Drifted: the row shows something other than what invsync wrote.
	Drifted bool
}

// Keys returns the keys of the rows with after < sku <= through.
func (s *Store) Keys(ctx context.Context, after, through string) ([]Key, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT sku, coalesce(erp_hash, 0), deleted_at IS NOT NULL, `+drifted+`
		FROM inventory
		WHERE sku > $1 AND ($2::text IS NULL OR sku <= $2)`, after, upper(through))
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) {
		var k Key
		err := r.Scan(&k.SKU, &k.ERPHash, &k.Discontinued, &k.Drifted)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("storefront: keys of (%q, %q]: %w", after, through, err)
	}
	return keys, nil
}

func upper(through string) any {
	if through == "" {
		return nil
	}
	return through
}

// Discontinue marks rows the ERP no longer has: quantity 0 and deleted_at
// set, or, with remove, deletes them. seenAt is the instant, by the ERP's
// clock, of the read that found them missing; it becomes the row's version,
// so a change read before it and applied after cannot bring the row back,
// and a row written by a later read is left alone. A discontinued row
// records writtenBy (the reconcile's workflow ID) as its writer and
// VerdictDiscontinued as its verdict. It returns the number of rows it
// changed.
func (s *Store) Discontinue(ctx context.Context, skus []string, seenAt time.Time, remove bool, writtenBy string) (int, error) {
	if len(skus) == 0 {
		return 0, nil
	}
	stmt := `UPDATE inventory SET deleted_at = clock_timestamp(), quantity = 0, observed_at = $2,
			written_by = nullif($3, ''), reconcile_verdict = $4, reconciled_at = clock_timestamp()
		WHERE sku = ANY($1) AND deleted_at IS NULL AND observed_at < $2`
	args := []any{skus, seenAt, writtenBy, VerdictDiscontinued}
	if remove {
		stmt, args = `DELETE FROM inventory WHERE sku = ANY($1) AND observed_at < $2`, args[:2]
	}
	tag, err := s.pool.Exec(ctx, stmt, args...)
	if err != nil {
		return 0, fmt.Errorf("storefront: discontinue %d rows: %w", len(skus), err)
	}
	return int(tag.RowsAffected()), nil
}

// NewestVersion is the latest ERP LastModified the storefront holds, zero
// when it holds none: where a poller with no history of its own resumes.
func (s *Store) NewestVersion(ctx context.Context) (time.Time, error) {
	var t *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT max(erp_modified) FROM inventory`).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("storefront: newest version: %w", err)
	}
	if t == nil {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}
