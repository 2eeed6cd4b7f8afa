package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
)

// DeadLetterQueue is what the DLQ operations need of the dead-letter store
// (the storefront's PostgreSQL).
type DeadLetterQueue interface {
	deadletter.Writer
	ListDeadLetters(ctx context.Context, f deadletter.Filter, limit int) ([]deadletter.Letter, error)
	GetDeadLetters(ctx context.Context, ids []string) ([]deadletter.Letter, error)
	CountDeadLetters(ctx context.Context) (deadletter.Counts, error)
	DeadLetterChunk(ctx context.Context, f deadletter.Filter, after string, limit int) ([]deadletter.Letter, error)
	DeleteDeadLetters(ctx context.Context, ids []string) (int64, error)
	DeleteDeadLetterChunk(ctx context.Context, f deadletter.Filter, after string, limit int) ([]string, error)
	DeadLettersOfSKU(ctx context.Context, sku string, limit int) ([]deadletter.Letter, error)
}

// Bounds of the DLQ operations. A workflow's input and result must stay well
// under Temporal's payload limit (2 MB) whatever the size of the DLQ, so
// listings are bounded, payloads are only shown a few at a time, and replays
// and purges return counts and example IDs.
const (
	// DefaultListLimit is the number of letters a listing shows unless told.
	DefaultListLimit = 50
	// MaxListLimit bounds a listing (no payloads: well under 1 MB).
	MaxListLimit = 1000
	// MaxShow bounds the letters shown with their payloads (each at most
	// deadletter.MaxPayload).
	MaxShow = 100
	// MaxSelectIDs bounds the IDs a listing, replay or purge names.
	MaxSelectIDs = 1000
	// MaxExamples bounds each list of IDs in a replay's or purge's result.
	MaxExamples = 100
	// ChunkSize is how many letters a replay or purge handles at a time,
	// heartbeating its progress after each chunk.
	ChunkSize = 500
)

// dlqInputError is the error of an input no retry can make valid.
func dlqInputError(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
}

// validateFilter says what is wrong with the letters a listing, replay or
// purge narrows itself to: too many IDs.
func validateFilter(f deadletter.Filter) error {
	if len(f.IDs) > MaxSelectIDs {
		return fmt.Errorf("%d IDs: name at most %d", len(f.IDs), MaxSelectIDs)
	}
	return nil
}

// ListDeadLettersInput says which letters to list: the most recently written
// Limit of them, narrowed to some IDs or to one reason code.
type ListDeadLettersInput struct {
	deadletter.Filter
	// Limit is 1 to MaxListLimit; 0 is DefaultListLimit.
	Limit int `json:"limit,omitempty"`
}

// Validate says what is wrong with the input.
func (in ListDeadLettersInput) Validate() error {
	if in.Limit < 0 || in.Limit > MaxListLimit {
		return fmt.Errorf("limit %d: list 1 to %d letters at a time", in.Limit, MaxListLimit)
	}
	return validateFilter(in.Filter)
}

// ListDeadLettersResult is a page of letters, without payloads, and the
// counts of all of them.
type ListDeadLettersResult struct {
	Letters []deadletter.Letter `json:"letters"`
	Counts  deadletter.Counts   `json:"counts"`
}

// ListDeadLetters lists letters, most recently written first, without their
// payloads. Reading changes nothing.
func (a *Applier) ListDeadLetters(ctx context.Context, in ListDeadLettersInput) (ListDeadLettersResult, error) {
	if err := in.Validate(); err != nil {
		return ListDeadLettersResult{}, dlqInputError(err)
	}
	limit := in.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	letters, err := a.DeadLetters.ListDeadLetters(ctx, in.Filter, limit)
	if err != nil {
		return ListDeadLettersResult{}, err
	}
	counts, err := a.DeadLetters.CountDeadLetters(ctx)
	if err != nil {
		return ListDeadLettersResult{}, err
	}
	return ListDeadLettersResult{Letters: letters, Counts: counts}, nil
}

// ShowDeadLettersInput names the letters to show in full.
type ShowDeadLettersInput struct {
	IDs []string `json:"ids"`
}

// Validate says what is wrong with the input.
func (in ShowDeadLettersInput) Validate() error {
	if len(in.IDs) == 0 || len(in.IDs) > MaxShow {
		return fmt.Errorf("name 1 to %d letters to show, not %d", MaxShow, len(in.IDs))
	}
	return nil
}

// ShowDeadLettersResult is the letters found, payloads included, and the IDs
// of none.
type ShowDeadLettersResult struct {
	Letters  []deadletter.Letter `json:"letters"`
	NotFound []string            `json:"not_found,omitempty"`
}

// ShowDeadLetters returns letters in full, payload included.
func (a *Applier) ShowDeadLetters(ctx context.Context, in ShowDeadLettersInput) (ShowDeadLettersResult, error) {
	if err := in.Validate(); err != nil {
		return ShowDeadLettersResult{}, dlqInputError(err)
	}
	letters, err := a.DeadLetters.GetDeadLetters(ctx, in.IDs)
	if err != nil {
		return ShowDeadLettersResult{}, err
	}
	res := ShowDeadLettersResult{Letters: letters}
	for _, id := range in.IDs {
		if !slices.ContainsFunc(letters, func(l deadletter.Letter) bool { return l.ID == id }) {
			res.NotFound = append(res.NotFound, id)
		}
	}
	return res, nil
}

// SelectDeadLetters picks letters by ID, or all of them; Reason narrows
// either to letters with that reason code.
type SelectDeadLetters struct {
	deadletter.Filter
	All bool `json:"all,omitempty"`
}

// Validate says what is wrong with a selection: one that selects nothing,
// or names too many IDs.
func (s SelectDeadLetters) Validate() error {
	switch {
	case !s.All && len(s.IDs) == 0:
		return errors.New("name the dead letters by ID, or select all")
	case s.All && len(s.IDs) > 0:
		return errors.New("name the dead letters by ID or select all, not both")
	}
	if err := validateFilter(s.Filter); err != nil {
		return fmt.Errorf("%w, or select all (narrowed by reason)", err)
	}
	return nil
}

// ReplayResult says what became of replayed letters: counts, and the first
// MaxExamples IDs of those still in the DLQ.
type ReplayResult struct {
	// Read is the number of selected letters the replay went through.
	Read    int `json:"read"`
	Applied int `json:"applied"`
	// Stale letters were older than what the storefront has (the ERP row
	// was fixed since, and its fix synced): nothing to do.
	Stale int `json:"stale"`
	// Rejected letters failed again; they stay with their new reason and one
	// more attempt.
	Rejected         int            `json:"rejected"`
	RejectedByReason map[string]int `json:"rejected_by_reason,omitempty"`
	RejectedIDs      []string       `json:"rejected_ids,omitempty"`
	// ERPRows are letters of ERP rows the poller could not turn into a change.
	// They cannot be replayed and stay: the fix is in the ERP, and once made
	// it syncs by itself (then purge them).
	ERPRows int `json:"erp_rows"`
	// NotChanges are letters of messages that are not a change (or were cut
	// to deadletter.MaxPayload). They cannot be replayed and stay.
	NotChanges int      `json:"not_changes"`
	SkippedIDs []string `json:"skipped_ids,omitempty"`
	// NotFound are the named IDs with no letter (the first MaxExamples).
	NotFound     []string `json:"not_found,omitempty"`
	RulesVersion string   `json:"rules_version"`
}

// replayProgress is a replay's heartbeat: where a retry picks up.
type replayProgress struct {
	After  string       `json:"after"`
	Found  []string     `json:"found,omitempty"` // named IDs seen so far
	Result ReplayResult `json:"result"`
}

// ReplayDeadLetters runs the selected letters through validation, pricing
// and the upsert again, with the rules in force now, ChunkSize at a time.
// Letters that are applied or found stale leave the DLQ; those that fail
// again are written back with their new reason and one more attempt (same
// ID); those that cannot be replayed stay as they are. Each chunk's progress
// is heartbeated, so a retried attempt picks up after the last chunk done.
func (a *Applier) ReplayDeadLetters(ctx context.Context, in SelectDeadLetters) (ReplayResult, error) {
	if err := in.Validate(); err != nil {
		return ReplayResult{}, dlqInputError(err)
	}
	var p replayProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &p); err != nil {
			return ReplayResult{}, err
		}
	}
	batchID := "replay-" + activity.GetInfo(ctx).WorkflowExecution.ID
	for {
		chunk, err := a.DeadLetters.DeadLetterChunk(ctx, in.Filter, p.After, ChunkSize)
		if err != nil {
			return p.Result, err
		}
		if len(chunk) == 0 {
			break
		}
		if err := a.replayChunk(ctx, batchID, chunk, &p.Result); err != nil {
			return p.Result, err
		}
		p.After = chunk[len(chunk)-1].ID
		p.Found = namedSeen(p.Found, in.IDs, chunk)
		activity.RecordHeartbeat(ctx, p)
		if len(chunk) < ChunkSize {
			break
		}
	}
	p.Result.NotFound = namedMissing(in.IDs, p.Found)
	return p.Result, nil
}

// replayChunk replays one chunk and counts what became of it in res.
func (a *Applier) replayChunk(ctx context.Context, batchID string, chunk []deadletter.Letter, res *ReplayResult) error {
	var changes []inventory.Change
	// The letters behind each change, by the change's letter ID: the letter
	// UpsertBatch returns for a change that fails again is named after the
	// change, and is written back under the ID of the letter replayed.
	origins := map[string][]deadletter.Letter{}
	var skipped []deadletter.Letter
	var erpRows, notChanges int
	for _, l := range chunk {
		if l.Stage == deadletter.StagePoller {
			skipped, erpRows = append(skipped, l), erpRows+1
			continue
		}
		if len(l.Payload) < l.PayloadSize { // cut: not the whole message
			skipped, notChanges = append(skipped, l), notChanges+1
			continue
		}
		c, err := inventory.DecodeChange(l.Payload)
		if err != nil {
			skipped, notChanges = append(skipped, l), notChanges+1
			continue
		}
		id := deadletter.ForChange(c, inventory.Rejection{}, "", "").ID
		origins[id] = append(origins[id], l)
		changes = append(changes, c)
	}
	var up UpsertResult
	var rejected []deadletter.Letter
	if len(changes) > 0 {
		var err error
		if up, rejected, err = a.apply(ctx, batchID, changes, writer{by: strings.TrimPrefix(batchID, "replay-")}); err != nil {
			return err
		}
	}
	var again []deadletter.Letter
	rejectedBy := map[string]int{}
	handled := map[string]bool{} // a change in the chunk twice is rejected twice
	for _, r := range rejected {
		if handled[r.ID] {
			continue
		}
		handled[r.ID] = true
		ls, ok := origins[r.ID]
		if !ok { // cannot happen; kept rather than lost if it does
			again = append(again, r)
			continue
		}
		delete(origins, r.ID)
		for _, l := range ls {
			back := r
			back.ID, back.Attempts = l.ID, l.Attempts+1
			again = append(again, back)
			rejectedBy[back.Reason.Code]++
		}
	}
	// Write back what failed before removing what went through: a retry
	// after a failure in between finds every letter still there.
	if err := a.DeadLetters.PutDeadLetters(ctx, again); err != nil {
		return err
	}
	var done []string
	for _, ls := range origins {
		for _, l := range ls {
			done = append(done, l.ID)
		}
	}
	if _, err := a.DeadLetters.DeleteDeadLetters(ctx, done); err != nil {
		return err
	}

	res.Read += len(chunk)
	res.Applied += up.Applied
	res.Stale += up.Stale
	res.ERPRows += erpRows
	res.NotChanges += notChanges
	res.RulesVersion = up.RulesVersion
	if res.RulesVersion == "" {
		res.RulesVersion = a.rules().Version
	}
	for code, n := range rejectedBy {
		if res.RejectedByReason == nil {
			res.RejectedByReason = map[string]int{}
		}
		res.RejectedByReason[code] += n
		res.Rejected += n
	}
	for _, l := range again {
		res.RejectedIDs = withExamples(res.RejectedIDs, l.ID)
	}
	for _, l := range skipped {
		res.SkippedIDs = withExamples(res.SkippedIDs, l.ID)
	}
	return nil
}

// PurgeDeadLettersResult counts the letters removed for good.
type PurgeDeadLettersResult struct {
	Purged int `json:"purged"`
	// PurgedIDs are the first MaxExamples of them.
	PurgedIDs []string `json:"purged_ids,omitempty"`
	// NotFound are the named IDs with no letter (the first MaxExamples).
	NotFound []string `json:"not_found,omitempty"`
}

// purgeProgress is a purge's heartbeat: where a retry picks up.
type purgeProgress struct {
	After  string                 `json:"after"`
	Found  []string               `json:"found,omitempty"`
	Result PurgeDeadLettersResult `json:"result"`
}

// PurgeDeadLetters removes the selected letters for good, ChunkSize at a
// time, heartbeating its progress after each chunk.
func (a *Applier) PurgeDeadLetters(ctx context.Context, in SelectDeadLetters) (PurgeDeadLettersResult, error) {
	if err := in.Validate(); err != nil {
		return PurgeDeadLettersResult{}, dlqInputError(err)
	}
	var p purgeProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &p); err != nil {
			return PurgeDeadLettersResult{}, err
		}
	}
	for {
		ids, err := a.DeadLetters.DeleteDeadLetterChunk(ctx, in.Filter, p.After, ChunkSize)
		if err != nil {
			return p.Result, err
		}
		if len(ids) == 0 {
			break
		}
		p.Result.Purged += len(ids)
		p.Result.PurgedIDs = withExamples(p.Result.PurgedIDs, ids...)
		p.After = ids[len(ids)-1]
		for _, id := range ids {
			if slices.Contains(in.IDs, id) {
				p.Found = append(p.Found, id)
			}
		}
		activity.RecordHeartbeat(ctx, p)
		if len(ids) < ChunkSize {
			break
		}
	}
	p.Result.NotFound = namedMissing(in.IDs, p.Found)
	return p.Result, nil
}

// withExamples adds ids to examples, up to MaxExamples in all.
func withExamples(examples []string, ids ...string) []string {
	return append(examples, ids[:min(len(ids), max(MaxExamples-len(examples), 0))]...)
}

// namedSeen adds to seen the named IDs that are in chunk.
func namedSeen(seen, named []string, chunk []deadletter.Letter) []string {
	for _, l := range chunk {
		if slices.Contains(named, l.ID) {
			seen = append(seen, l.ID)
		}
	}
	return seen
}

// namedMissing is the named IDs not seen, the first MaxExamples of them.
func namedMissing(named, seen []string) []string {
	var out []string
	for _, id := range named {
		if !slices.Contains(seen, id) && !slices.Contains(out, id) {
			out = withExamples(out, id)
		}
	}
	return out
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
