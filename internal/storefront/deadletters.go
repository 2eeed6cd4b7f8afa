package storefront

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/invsync/invsync/internal/deadletter"
)

// putDeadLettersSQL writes letters in one statement. A letter that exists
// keeps its first_at and takes the newer reason and the higher attempt count:
// the same failure seen again is one letter, and a replay that fails again
// counts up.
const putDeadLettersSQL = `
INSERT INTO dead_letters AS d (id, stage, reason_code, reason, sku, batch_id, erp_cursor, attempts,
    payload, payload_size, payload_sha256)
SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::jsonb[], $8::int[], $9::bytea[], $10::int[], $11::text[])
ORDER BY id
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
