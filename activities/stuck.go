package activities

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// StuckAfter is how long a batch may keep failing before it shows as stuck.
const StuckAfter = time.Minute

// forgetAfter drops a batch not heard of for this long: it finished on
// another worker, or its workflow ended.
const forgetAfter = 5 * time.Minute

// StuckBatches tracks the batches whose upsert keeps failing, so that a
// storefront refusing a whole batch is seen rather than retried in silence.
// It is safe for concurrent use; a nil *StuckBatches tracks nothing.
type StuckBatches struct {
	mu      sync.Mutex
	batches map[string]StuckBatch
	now     func() time.Time
}

// StuckBatch is a batch failing since Since.
type StuckBatch struct {
	ID        string    `json:"id"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error"`
	seen      time.Time
}

// NewStuckBatches returns an empty tracker.
func NewStuckBatches() *StuckBatches {
	return &StuckBatches{batches: map[string]StuckBatch{}, now: time.Now}
}

// failed records a failed attempt of the batch, dated from when its first
// attempt was scheduled.
func (s *StuckBatches) failed(ctx context.Context, id string, err error) {
	if s == nil {
		return
	}
	now := s.now()
	since := now
	if activity.IsActivity(ctx) {
		since = activity.GetInfo(ctx).ScheduledTime
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.batches[id]
	if !ok || since.Before(b.Since) {
		b = StuckBatch{ID: id, Since: since}
	}
	b.seen, b.LastError = now, err.Error()
	s.batches[id] = b
}

func (s *StuckBatches) done(id string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.batches, id)
}

// List returns the batches failing for at least StuckAfter, oldest first.
func (s *StuckBatches) List() []StuckBatch {
	if s == nil {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []StuckBatch
	for _, id := range slices.Sorted(maps.Keys(s.batches)) {
		b := s.batches[id]
		switch {
		case now.Sub(b.seen) > forgetAfter:
			delete(s.batches, id)
		case now.Sub(b.Since) >= StuckAfter:
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b StuckBatch) int { return a.Since.Compare(b.Since) })
	return out
}
