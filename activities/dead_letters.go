package activities

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
)

// DeadLetterQueue is what the DLQ operations need of the dead-letter queue.
type DeadLetterQueue interface {
	Peek(ctx context.Context, limit int) ([]queue.Letter, error)
	Take(ctx context.Context, ids []string, all bool, limit int, handle func(context.Context, []queue.Letter) error) ([]queue.Letter, error)
}

// ListDeadLettersInput says which letters to show: those with the IDs, or
// the first Limit.
type ListDeadLettersInput struct {
	IDs   []string `json:"ids,omitempty"`
	Limit int      `json:"limit,omitempty"`
}

// ListDeadLetters returns letters from the DLQ without removing any.
func (a *Applier) ListDeadLetters(ctx context.Context, in ListDeadLettersInput) ([]queue.Letter, error) {
	limit := in.Limit
	if len(in.IDs) > 0 {
		limit = queue.MaxTake // look through the queue for them
	}
	all, err := a.DLQ.Peek(ctx, limit)
	if err != nil || len(in.IDs) == 0 {
		return all, err
	}
	var out []queue.Letter
	for _, l := range all {
		if slices.Contains(in.IDs, l.ID) {
			out = append(out, l)
		}
	}
	return out, nil
}

// SelectDeadLetters picks letters by ID, or all of them (up to Limit).
type SelectDeadLetters struct {
	IDs   []string `json:"ids,omitempty"`
	All   bool     `json:"all,omitempty"`
	Limit int      `json:"limit,omitempty"`
}

// Validate says what is wrong with a selection that selects nothing.
func (s SelectDeadLetters) Validate() error {
	if !s.All && len(s.IDs) == 0 {
		return errors.New("name the dead letters by ID, or select all")
	}
	return nil
}

func (s SelectDeadLetters) check() error {
	if err := s.Validate(); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "Selection", nil)
	}
	return nil
}

// ReplayResult says what became of replayed letters.
type ReplayResult struct {
	Taken   int `json:"taken"`
	Applied int `json:"applied"`
	// Stale letters were older than what the storefront has (the ERP row
	// was fixed since, and its fix synced): nothing to do.
	Stale int `json:"stale"`
	// Rejected letters failed again and are back in the DLQ, their attempts
	// counted up.
	Rejected     []queue.Letter `json:"rejected,omitempty"`
	RulesVersion string         `json:"rules_version"`
}

// ReplayDeadLetters takes the selected letters off the DLQ and runs them
// through validation, pricing and the upsert again, with the rules in force
// now. Those that fail again go back to the DLQ with their new reason; the
// originals leave the DLQ only once that is done.
func (a *Applier) ReplayDeadLetters(ctx context.Context, in SelectDeadLetters) (ReplayResult, error) {
	if err := in.check(); err != nil {
		return ReplayResult{}, err
	}
	var res ReplayResult
	_, err := a.DLQ.Take(ctx, in.IDs, in.All, in.Limit, func(ctx context.Context, letters []queue.Letter) error {
		res = ReplayResult{Taken: len(letters)}
		attempts := map[string]int{} // by SKU, for letters that fail again
		var batch UpsertInput
		var again []deadletter.Letter
		batch.BatchID = "replay-" + activity.GetInfo(ctx).ActivityID + "-" + activity.GetInfo(ctx).WorkflowExecution.RunID
		for _, l := range letters {
			var c inventory.Change
			if err := json.Unmarshal([]byte(l.Payload), &c); err != nil {
				d := deadletter.ForMessage([]byte(l.Payload), inventory.Rejection{Code: l.ReasonCode, Message: l.Reason}, deadletter.StageApply)
				d.Attempts = l.Attempts + 1
				again = append(again, d)
				continue
			}
			attempts[c.SKU] = max(attempts[c.SKU], l.Attempts)
			batch.Changes = append(batch.Changes, c)
		}
		up, err := a.UpsertBatch(ctx, batch)
		if err != nil {
			return err
		}
		res.Applied, res.Stale, res.RulesVersion = up.Applied, up.Stale, up.RulesVersion
		for _, r := range up.Rejected {
			r.Attempts = attempts[r.SKU] + 1
			again = append(again, r)
		}
		if err := a.DeadLetter(ctx, DeadLetterInput{BatchID: batch.BatchID, Letters: again}); err != nil {
			return err
		}
		for _, d := range again {
			res.Rejected = append(res.Rejected, queue.Letter{ID: d.ID, SKU: d.SKU, ReasonCode: d.Reason.Code,
				Reason: d.Reason.Message, Attempts: d.Attempts, Payload: string(d.Payload)})
		}
		return nil
	})
	return res, err
}

// PurgeDeadLettersResult lists the letters removed for good.
type PurgeDeadLettersResult struct {
	Purged []queue.Letter `json:"purged"`
}

// PurgeDeadLetters removes the selected letters from the DLQ for good.
func (a *Applier) PurgeDeadLetters(ctx context.Context, in SelectDeadLetters) (PurgeDeadLettersResult, error) {
	if err := in.check(); err != nil {
		return PurgeDeadLettersResult{}, err
	}
	taken, err := a.DLQ.Take(ctx, in.IDs, in.All, in.Limit, func(context.Context, []queue.Letter) error { return nil })
	if err != nil {
		return PurgeDeadLettersResult{}, err
	}
	return PurgeDeadLettersResult{Purged: taken}, nil
}

// DeadLetterInput is the rows a batch gives up on.
type DeadLetterInput struct {
	BatchID string              `json:"batch_id"`
	Letters []deadletter.Letter `json:"letters"`
}

// DeadLetter keeps rejected rows as dead letters, each with its reason. It is
// idempotent: a retry writes the same letters again, which changes nothing.
func (a *Applier) DeadLetter(ctx context.Context, in DeadLetterInput) error {
	if len(in.Letters) == 0 {
		return nil
	}
	if err := a.DeadLetters.PutDeadLetters(ctx, in.Letters); err != nil {
		return err
	}
	for _, l := range in.Letters {
		a.Metrics.Rejected(ctx, l.Reason.Code)
	}
	return nil
}
