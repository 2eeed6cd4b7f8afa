package storefront

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// BatchRetention is how long an applied batch's outcome is kept: far longer
// than a batch's messages can be redelivered (minutes), so a redelivered
// batch finds its outcome instead of being staged again.
const BatchRetention = 24 * time.Hour

// ErrNotStaged is the error for a batch that was never staged, or whose
// outcome is older than BatchRetention.
var ErrNotStaged = errors.New("storefront: batch not staged")

// StageBatch keeps a batch's changes under its ID until it is applied.
// Staging an ID already staged changes nothing: the ID derives from the
// batch's messages, so a batch redelivered after a crash is the same batch.
func (s *Store) StageBatch(ctx context.Context, id string, rows int, changes []byte) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO batches (id, rows, changes) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, id, rows, changes); err != nil {
		return fmt.Errorf("storefront: stage batch %s: %w", id, err)
	}
	return nil
}

// StagedBatch is a staged batch: its changes until it is applied, its
// outcome after.
type StagedBatch struct {
	Changes []byte
	Outcome []byte
}

// Applied reports whether the batch has been applied.
func (b StagedBatch) Applied() bool { return b.Outcome != nil }

// Batch returns the staged batch id, or ErrNotStaged.
func (s *Store) Batch(ctx context.Context, id string) (StagedBatch, error) {
	var b StagedBatch
	err := s.pool.QueryRow(ctx, `SELECT changes, outcome FROM batches WHERE id = $1`, id).Scan(&b.Changes, &b.Outcome)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("%w: %s", ErrNotStaged, id)
	}
	if err != nil {
		return b, fmt.Errorf("storefront: read batch %s: %w", id, err)
	}
	return b, nil
}

// FinishBatch records a batch's outcome and drops its changes. It also
// deletes a few batches applied longer than BatchRetention ago, so the table
// stays as small as the batches in flight.
func (s *Store) FinishBatch(ctx context.Context, id string, outcome []byte) error {
	if _, err := s.pool.Exec(ctx, `
		WITH expired AS (
		    DELETE FROM batches WHERE id IN (
		        SELECT id FROM batches WHERE applied_at < now() - make_interval(secs => $3) LIMIT 100))
		UPDATE batches SET changes = NULL, outcome = $2, applied_at = now() WHERE id = $1`,
		id, outcome, BatchRetention.Seconds()); err != nil {
		return fmt.Errorf("storefront: finish batch %s: %w", id, err)
	}
	return nil
}
