// Package workflows holds the Temporal workflows of the pipeline: PollERP,
// the long-running change detector; ApplyChanges, one per batch of changes
// taken off RabbitMQ; Reprice, which prices the stored rows again when the
// rules change or a promotion starts or ends; and the dead-letter operations
// an operator runs.
//
// This file is their contract with the world outside a worker: the names an
// operator or a program signals, queries and updates, the states the poller
// reports, the defaults, the workflow IDs, and the types that go in and come
// out. Those types and their JSON field names are in the histories of running
// and recorded workflows, so they change only in ways old histories still
// decode. The other files hold what the workflows do.
package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/inventory"
)

// Names an operator uses with the temporal CLI.
const (
	SignalPause       = "pause"
	SignalResume      = "resume"
	SignalPollNow     = "poll-now"
	QueryStatus       = "status"
	UpdateResetCursor = "reset-cursor"
	// SignalRulesChanged carries the version of the rules a worker has
	// loaded to the Reprice workflow; workers send it as they start and
	// whenever they reload the rules file.
	SignalRulesChanged = "rules-changed"
)

// Poller states, as reported by the status query.
const (
	StatePolling   = "polling"
	StateIdle      = "idle"
	StateThrottled = "throttled"
	StatePaused    = "paused"
	// StateFailing: the last poll failed after its retries (the ERP or
	// RabbitMQ is down or too slow); the poller tries again each interval.
	StateFailing = "failing"
)

// Defaults for PollInput fields left zero.
const (
	DefaultPollInterval = 30 * time.Second
	DefaultPageSize     = 5000
	DefaultPagesPerPoll = 20
	DefaultSettleDelay  = 5 * time.Second
	DefaultPollsPerRun  = 200
	DefaultERPTaskQueue = "invsync-erp"
)

// Defaults the starter gives a poller's look-back: a commit that lands more
// than a few minutes after its LastModified is rare, and each re-read costs
// the rows changed in the window, every one a no-op downstream. A PollInput
// left zero has no look-back.
const (
	DefaultLookback      = 10 * time.Minute
	DefaultLookbackEvery = 5 * time.Minute
)

// DefaultApplyTaskQueue is where ApplyChanges workflows and their activities
// run.
const DefaultApplyTaskQueue = "invsync-apply"

// PollWorkflowID is the fixed ID of the poller of a source: starting it twice
// finds the running one.
func PollWorkflowID(source string) string { return "invsync-poll-" + source }

// ApplyWorkflowID derives the workflow ID from the batch's message bodies, so
// a batch redelivered after a consumer crash maps to the workflow already
// started for it. Order does not matter.
func ApplyWorkflowID(bodies [][]byte) string {
	sums := make([][32]byte, len(bodies))
	for i, b := range bodies {
		sums[i] = sha256.Sum256(b)
	}
	slices.SortFunc(sums, func(a, b [32]byte) int { return slices.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	return "invsync-apply-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// PollInput configures the poller and carries its state across
// continue-as-new.
type PollInput struct {
	Cursor       inventory.Cursor `json:"cursor"`
	Paused       bool             `json:"paused"`
	Interval     time.Duration    `json:"interval"`
	PageSize     int              `json:"page_size"`
	PagesPerPoll int              `json:"pages_per_poll"`
	SettleDelay  time.Duration    `json:"settle_delay"`
	// QueueHighWater holds reads back while the changes queue has this many
	// ready messages; 0 disables it.
	QueueHighWater int    `json:"queue_high_water"`
	ERPTaskQueue   string `json:"erp_task_queue"`
	// PollsPerRun bounds one run's history; the poller then continues as new.
	PollsPerRun int `json:"polls_per_run"`
	// Lookback is how far behind the cursor the poller re-reads, every
	// LookbackEvery, for rows committed late with an older LastModified.
	// Zero disables it. Re-read rows are no-ops downstream.
	Lookback      time.Duration `json:"lookback,omitempty"`
	LookbackEvery time.Duration `json:"lookback_every,omitempty"`
	// LastLookback is when the last look-back finished.
	LastLookback time.Time `json:"last_lookback,omitzero"`
	// ERPClock and ERPOffset are the ERP's clock and UTC offset at the last
	// poll: when the offset drops (daylight saving ends), the wall clock
	// repeats an interval and the poller reads it again.
	ERPClock  time.Time     `json:"erp_clock,omitzero"`
	ERPOffset time.Duration `json:"erp_offset,omitempty"`
	Totals    PollTotal     `json:"totals"`
}

// PollTotal counts work across runs.
type PollTotal struct {
	Polls int64 `json:"polls"`
	Rows  int64 `json:"rows"`
	// Reread counts rows published again by look-backs.
	Reread int64 `json:"reread,omitempty"`
	// Rejected counts rows read that could not become changes: each is a
	// dead letter, and the cursor moved past it.
	Rejected int64 `json:"rejected,omitempty"`
	// Rewinds counts the times the ERP's clock went back (daylight saving
	// ended) and the poller read the repeated interval again.
	Rewinds int64 `json:"rewinds,omitempty"`
}

// withDefaults says what a zero field of PollInput means.
func (in PollInput) withDefaults() PollInput {
	if in.Interval <= 0 {
		in.Interval = DefaultPollInterval
	}
	if in.PageSize <= 0 {
		in.PageSize = DefaultPageSize
	}
	if in.PagesPerPoll <= 0 {
		in.PagesPerPoll = DefaultPagesPerPoll
	}
	if in.SettleDelay < 0 {
		in.SettleDelay = 0
	}
	if in.ERPTaskQueue == "" {
		in.ERPTaskQueue = DefaultERPTaskQueue
	}
	if in.PollsPerRun <= 0 {
		in.PollsPerRun = DefaultPollsPerRun
	}
	if in.Lookback > 0 && in.LookbackEvery <= 0 {
		in.LookbackEvery = in.Interval
	}
	return in
}

// PollStatus answers the status query.
type PollStatus struct {
	State      string           `json:"state"`
	Cursor     inventory.Cursor `json:"cursor"`
	Totals     PollTotal        `json:"totals"`
	LastPollAt time.Time        `json:"last_poll_at"`
	LastRows   int              `json:"last_rows"`
	ERPClock   time.Time        `json:"erp_clock"`
	// CaughtUpTo is the ERP time up to which every row has been published.
	CaughtUpTo time.Time `json:"caught_up_to,omitzero"`
	// Backlog is the number of rows the last poll left unread (0 once
	// caught up).
	Backlog    int64     `json:"backlog"`
	NextPollAt time.Time `json:"next_poll_at,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	// LastLookbackAt is when the last look-back finished.
	LastLookbackAt time.Time `json:"last_lookback_at,omitzero"`
	// FutureRows is the number of ERP rows dated past the ERP clock by more
	// than the allowance that the last poll found (dead letters until the
	// ERP fixes them).
	FutureRows int `json:"future_rows,omitempty"`
}

// ResetCursorRequest moves the cursor, e.g. back to re-read a period.
type ResetCursorRequest struct {
	Cursor inventory.Cursor `json:"cursor"`
}

// ApplyInput names one batch of changes from the changes queue. The consumer
// staged the batch's changes in the storefront under BatchID, so history
// holds the batch's name and size, not its rows.
type ApplyInput struct {
	BatchID string `json:"batch_id"`
	Rows    int    `json:"rows,omitempty"`
	// Changes carries the batch itself in workflows started before batches
	// were staged.
	Changes []inventory.Change `json:"changes,omitempty"`
}

// ApplyResult counts what became of the batch.
type ApplyResult struct {
	Applied  int `json:"applied"`
	Stale    int `json:"stale"`
	Rejected int `json:"rejected"`
}

// PurgeInput selects letters to remove for good. Confirm must be true: a
// purge cannot be undone. Operator names who asks (see ValidateOperator); a
// purge without one is refused, and the name is logged and returned with
// the result.
//
// The other dead-letter workflows take and return the activities' own types
// (activities.ListDeadLettersInput, ShowDeadLettersInput, SelectDeadLetters
// and their results): each passes its input straight to one activity.
type PurgeInput struct {
	activities.SelectDeadLetters
	Confirm  bool   `json:"confirm"`
	Operator string `json:"operator,omitempty"`
}

// ReconcileWorkflowID is the fixed ID of the reconcile of a source, and of
// the Temporal Schedule that starts it: at most one runs at a time.
func ReconcileWorkflowID(source string) string { return "invsync-reconcile-" + source }

// Defaults for ReconcileInput fields left zero, and the starter's schedule.
const (
	DefaultReconcileChunkRows = 5000
	// DefaultReconcileChunksPerStep and DefaultReconcileStepTime bound one
	// reconcile activity, so the poller's reads take turns with it on the
	// ERP task queue.
	DefaultReconcileChunksPerStep = 200
	DefaultReconcileStepTime      = 5 * time.Second
	DefaultReconcileStepsPerRun   = 500
	DefaultReconcileEvery         = 24 * time.Hour
)

// ReconcileInput configures a reconcile and carries its progress across
// continue-as-new.
type ReconcileInput struct {
	ChunkRows int `json:"chunk_rows,omitempty"`
	// Policy is what becomes of a row the ERP no longer has:
	// activities.PolicyDiscontinue (default) or activities.PolicyDelete.
	Policy       string `json:"policy,omitempty"`
	ERPTaskQueue string `json:"erp_task_queue,omitempty"`
	// StepsPerRun bounds one run's history; the reconcile then continues
	// as new.
	StepsPerRun int `json:"steps_per_run,omitempty"`
	// After and Counts are the progress so far.
	After  string                     `json:"after,omitempty"`
	Counts activities.ReconcileCounts `json:"counts"`
}

func (in ReconcileInput) withDefaults() ReconcileInput {
	if in.ChunkRows <= 0 {
		in.ChunkRows = DefaultReconcileChunkRows
	}
	if in.Policy == "" {
		in.Policy = activities.PolicyDiscontinue
	}
	if in.ERPTaskQueue == "" {
		in.ERPTaskQueue = DefaultERPTaskQueue
	}
	if in.StepsPerRun <= 0 {
		in.StepsPerRun = DefaultReconcileStepsPerRun
	}
	return in
}

// ReconcileStatus answers the status query of a reconcile, and is its
// result.
type ReconcileStatus struct {
	// After is the last SKU of the chunks done.
	After  string                     `json:"after"`
	Done   bool                       `json:"done"`
	Counts activities.ReconcileCounts `json:"counts"`
}

// Reprice states, as reported by its status query.
const (
	// StateRepricing: a pass is under way.
	StateRepricing = "repricing"
	// StateWaiting: the last pass is done; the next comes with new rules or
	// at the next start or end of a promotion.
	StateWaiting = "waiting"
)

// Defaults for RepriceInput fields left zero.
const (
	// DefaultRepriceChunkRows is the rows one RepriceChunk reads and prices:
	// a few seconds' work, so a pass superseded by new rules stops soon.
	DefaultRepriceChunkRows = 5000
	// DefaultRepriceChunksPerRun bounds one run's history; Reprice then
	// continues as new.
	DefaultRepriceChunksPerRun = 200
)

// RepriceWorkflowID is the fixed ID of the Reprice workflow of a source: one
// at a time prices its rows, and each worker signals the same one.
func RepriceWorkflowID(source string) string { return "invsync-reprice-" + source }

// RepriceInput configures the Reprice workflow and carries its state across
// continue-as-new. A worker starts it with RulesVersion alone: a pass for
// those rules begins at once.
type RepriceInput struct {
	// RulesVersion names the rules every row is priced with.
	RulesVersion string `json:"rules_version"`
	ChunkRows    int    `json:"chunk_rows,omitempty"`
	ChunksPerRun int    `json:"chunks_per_run,omitempty"`
	// Pass is the pass under way, or the last one done while Waiting.
	Pass RepricePass `json:"pass,omitzero"`
	// Waiting: the last pass is done, and the next is for NextBoundary (zero:
	// none until new rules).
	Waiting      bool      `json:"waiting,omitempty"`
	NextBoundary time.Time `json:"next_boundary,omitzero"`
	// Passes counts the passes done, across runs.
	Passes int64 `json:"passes,omitempty"`
}

// RepricePass is one walk over every row, pricing each for the instant At.
type RepricePass struct {
	At time.Time `json:"at"`
	// Cursor is the last SKU done; "" before the first chunk.
	Cursor   string `json:"cursor"`
	Read     int64  `json:"read"`
	Changed  int64  `json:"changed"`
	Rejected int64  `json:"rejected"`
}

// withDefaults says what a zero field of RepriceInput means.
func (in RepriceInput) withDefaults() RepriceInput {
	if in.ChunkRows <= 0 {
		in.ChunkRows = DefaultRepriceChunkRows
	}
	if in.ChunksPerRun <= 0 {
		in.ChunksPerRun = DefaultRepriceChunksPerRun
	}
	return in
}

// RepriceStatus answers the Reprice workflow's status query.
type RepriceStatus struct {
	RulesVersion string `json:"rules_version"`
	State        string `json:"state"`
	// Pass is the pass under way, or the last one done while waiting.
	Pass RepricePass `json:"pass"`
	// NextBoundary is when the next pass is due for a promotion starting or
	// ending; zero: none.
	NextBoundary time.Time `json:"next_boundary,omitzero"`
	Passes       int64     `json:"passes"`
}
