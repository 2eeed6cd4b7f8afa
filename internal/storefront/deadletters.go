package storefront

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/invsync/invsync/internal/deadletter"
)

// putDeadLettersSQL writes letters in one statement. A letter that exists
// keeps its first_at and takes the newer reason and the higher attempt count:
// the same failure seen again is one letter, and a replay that fails again
// counts up. DISTINCT ON keeps one of the letters with the same ID in one call
// (ON CONFLICT may not touch a row twice), the one with the most attempts.
const putDeadLettersSQL = `
INSERT INTO dead_letters AS d (id, stage, reason_code, reason, sku, batch_id, erp_cursor, attempts,
    payload, payload_size, payload_sha256)
SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::jsonb[], $8::int[], $9::bytea[], $10::int[], $11::text[])
    AS u(id, stage, reason_code, reason, sku, batch_id, erp_cursor, attempts, payload, payload_size, payload_sha256)
ORDER BY id, attempts DESC
ON CONFLICT (id) DO UPDATE SET
    stage       = excluded.stage,
    reason_code = excluded.reason_code,
    reason      = excluded.reason,
    batch_id    = excluded.batch_id,
    attempts    = greatest(d.attempts, excluded.attempts),
    last_at     = now()
WHERE (d.reason_code, d.reason, d.attempts) IS DISTINCT FROM (excluded.reason_code, excluded.reason, greatest(d.attempts, excluded.attempts))`

// PutDeadLetters keeps letters; see deadletter.Writer.
func (s *Store) PutDeadLetters(ctx context.Context, letters []deadletter.Letter) error {
	if len(letters) == 0 {
		return nil
	}
	n := len(letters)
	var (
		ids, stages, codes, reasons, skus, batches, sums = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		cursors  = make([][]byte, n)
		attempts = make([]int32, n)
		payloads = make([][]byte, n)
		sizes    = make([]int32, n)
	)
	for i, l := range letters {
		ids[i], stages[i], codes[i], reasons[i] = l.ID, l.Stage, l.Reason.Code, l.Reason.Message
		skus[i], batches[i], sums[i] = l.SKU, l.BatchID, l.PayloadSHA256
		if l.Cursor != nil {
			cursors[i], _ = json.Marshal(l.Cursor)
		}
		attempts[i], sizes[i] = int32(max(l.Attempts, 1)), int32(l.PayloadSize)
		payloads[i] = l.Payload
		if payloads[i] == nil {
			payloads[i] = []byte{}
		}
	}
	if _, err := s.pool.Exec(ctx, putDeadLettersSQL, ids, stages, codes, reasons, skus, batches, cursors, attempts,
		payloads, sizes, sums); err != nil {
		return fmt.Errorf("storefront: dead letters: %w", err)
	}
	return nil
}

// filterArgs are a filter's query arguments as filterSQL reads them: $1 the
// IDs (NULL: any) and $2 the reason code (empty: any).
func filterArgs(f deadletter.Filter) (ids []string, reason string) {
	if len(f.IDs) > 0 {
		ids = f.IDs
	}
	return ids, f.Reason
}

const filterSQL = `($1::text[] IS NULL OR id = ANY($1)) AND ($2::text = '' OR reason_code = $2)`

// letterColumns are read by scanLetter, payload last.
const letterColumns = `id, stage, reason_code, reason, sku, batch_id, erp_cursor, attempts, payload_size, payload_sha256,
    first_at, last_at`

// ErrLimit is returned for a limit that is not positive: the queries that
// take one never return an unbounded set.
var ErrLimit = errors.New("storefront: dead letters: limit must be positive")

// ListDeadLetters returns up to limit letters of the filter, most recently
// written first, without their payloads: a listing stays small however large
// the letters are.
func (s *Store) ListDeadLetters(ctx context.Context, f deadletter.Filter, limit int) ([]deadletter.Letter, error) {
	if limit <= 0 {
		return nil, ErrLimit
	}
	ids, reason := filterArgs(f)
	return s.queryLetters(ctx, false, `SELECT `+letterColumns+` FROM dead_letters WHERE `+filterSQL+`
ORDER BY last_at DESC, id LIMIT $3`, ids, reason, limit)
}

// GetDeadLetters returns the letters with the IDs, payloads included, most
// recently written first. IDs without a letter are left out.
func (s *Store) GetDeadLetters(ctx context.Context, ids []string) ([]deadletter.Letter, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return s.queryLetters(ctx, true, `SELECT `+letterColumns+`, payload FROM dead_letters WHERE id = ANY($1)
ORDER BY last_at DESC, id`, ids)
}

// DeadLetterChunk returns up to limit letters of the filter with IDs after
// the given one, in ID order, payloads included. An operation over many
// letters reads them chunk by chunk, each chunk after the last ID of the one
// before, and so passes over each letter once even as it rewrites some.
func (s *Store) DeadLetterChunk(ctx context.Context, f deadletter.Filter, after string, limit int) ([]deadletter.Letter, error) {
	if limit <= 0 {
		return nil, ErrLimit
	}
	ids, reason := filterArgs(f)
	return s.queryLetters(ctx, true, `SELECT `+letterColumns+`, payload FROM dead_letters WHERE `+filterSQL+` AND id > $3
ORDER BY id LIMIT $4`, ids, reason, after, limit)
}

// CountDeadLetters counts the letters, in all and by reason code.
func (s *Store) CountDeadLetters(ctx context.Context) (deadletter.Counts, error) {
	c := deadletter.Counts{ByReason: map[string]int64{}}
	rows, _ := s.pool.Query(ctx, `SELECT reason_code, count(*) FROM dead_letters GROUP BY reason_code`)
	var code string
	var n int64
	_, err := pgx.ForEachRow(rows, []any{&code, &n}, func() error {
		c.ByReason[code] = n
		c.Total += n
		return nil
	})
	if err != nil {
		return deadletter.Counts{}, fmt.Errorf("storefront: count dead letters: %w", err)
	}
	return c, nil
}

// DeleteDeadLetters removes the letters with the IDs and returns how many
// there were. No IDs removes nothing.
func (s *Store) DeleteDeadLetters(ctx context.Context, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM dead_letters WHERE id = ANY($1)`, ids)
	if err != nil {
		return 0, fmt.Errorf("storefront: delete dead letters: %w", err)
	}
	return tag.RowsAffected(), nil
}

// DeleteDeadLetterChunk removes up to limit letters of the filter with IDs
// after the given one, in ID order, and returns their IDs in that order. A
// purge of any size goes chunk by chunk, as DeadLetterChunk reads, so it
// ends even while new letters arrive.
func (s *Store) DeleteDeadLetterChunk(ctx context.Context, f deadletter.Filter, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, ErrLimit
	}
	ids, reason := filterArgs(f)
	rows, _ := s.pool.Query(ctx, `DELETE FROM dead_letters WHERE id IN (
    SELECT id FROM dead_letters WHERE `+filterSQL+` AND id > $3 ORDER BY id LIMIT $4)
RETURNING id`, ids, reason, after, limit)
	deleted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("storefront: delete dead letters: %w", err)
	}
	slices.Sort(deleted) // RETURNING follows no order
	return deleted, nil
}

func (s *Store) queryLetters(ctx context.Context, withPayload bool, sql string, args ...any) ([]deadletter.Letter, error) {
	rows, _ := s.pool.Query(ctx, sql, args...)
	letters, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (deadletter.Letter, error) {
		var d deadletter.Letter
		var cursor []byte
		dest := []any{&d.ID, &d.Stage, &d.Reason.Code, &d.Reason.Message, &d.SKU, &d.BatchID, &cursor, &d.Attempts,
			&d.PayloadSize, &d.PayloadSHA256, &d.At, &d.LastAt}
		if withPayload {
			dest = append(dest, &d.Payload)
		}
		if err := r.Scan(dest...); err != nil {
			return d, err
		}
		if cursor != nil {
			if err := json.Unmarshal(cursor, &d.Cursor); err != nil {
				return d, fmt.Errorf("letter %s: cursor: %w", d.ID, err)
			}
		}
		d.At, d.LastAt = d.At.UTC(), d.LastAt.UTC()
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("storefront: read dead letters: %w", err)
	}
	return letters, nil
}
