// Package workflows holds the two Temporal workflows of the pipeline:
// PollERP, the long-running change detector, and ApplyChanges, one per batch
// of changes taken off RabbitMQ.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

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

// PollWorkflowID is the fixed ID of the poller of a source: starting it twice
// finds the running one.
func PollWorkflowID(source string) string { return "invsync-poll-" + source }

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

// PollERP polls the ERP for changed rows, forever: read and publish what
// changed since the cursor, then wait for the interval, a poll-now signal or a
// cursor reset. The cursor lives only in this workflow's state.
func PollERP(ctx workflow.Context, in PollInput) error {
	p := &poller{in: in.withDefaults()}
	if err := p.setup(ctx); err != nil {
		return err
	}
	return p.run(ctx)
}

type poller struct {
	in       PollInput
	status   PollStatus
	pollNow  bool
	resets   int // bumped by each reset; a fetch started before a reset is discarded
	pollsRun int
}

func (p *poller) setup(ctx workflow.Context) error {
	if p.in.LastLookback.IsZero() {
		// The first look-back comes one LookbackEvery after the poller
		// starts, not right after its first sync has read everything.
		p.in.LastLookback = workflow.Now(ctx)
	}
	p.status = PollStatus{State: StateIdle}
	if p.in.Paused {
		p.status.State = StatePaused
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PollStatus, error) {
		s := p.status
		s.Cursor, s.Totals, s.LastLookbackAt = p.in.Cursor, p.in.Totals, p.in.LastLookback
		return s, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateResetCursor,
		func(ctx workflow.Context, req ResetCursorRequest) (inventory.Cursor, error) {
			prev := p.in.Cursor
			p.in.Cursor = req.Cursor
			p.status.CaughtUpTo = req.Cursor.LastModified
			p.resets++
			workflow.GetLogger(ctx).Info("cursor reset", "from", prev.String(), "to", req.Cursor.String())
			return prev, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req ResetCursorRequest) error {
			return validateCursor(req.Cursor, workflow.Now(ctx))
		}},
	); err != nil {
		return err
	}
	for _, s := range p.signals() {
		ch := workflow.GetSignalChannel(ctx, s.name)
		workflow.Go(ctx, func(ctx workflow.Context) {
			for ch.Receive(ctx, nil) {
				s.apply()
			}
		})
	}
	return nil
}

type signal struct {
	name  string
	apply func()
}

// signals lists the signal handlers in a fixed order, as determinism needs.
func (p *poller) signals() []signal {
	return []signal{
		{SignalPause, func() { p.in.Paused = true }},
		{SignalResume, func() { p.in.Paused = false }},
		{SignalPollNow, func() { p.pollNow = true }},
	}
}

func validateCursor(c inventory.Cursor, now time.Time) error {
	switch {
	case c.LastModified.IsZero() && c.SKU != "":
		return errors.New("a cursor with a sku needs a last_modified")
	case c.LastModified.After(now):
		return fmt.Errorf("cursor %s is in the future: the rows up to it would be skipped", c)
	}
	return nil
}

func (p *poller) run(ctx workflow.Context) error {
	for {
		if p.in.Paused {
			p.status.State, p.status.NextPollAt = StatePaused, time.Time{}
			if err := workflow.Await(ctx, func() bool { return !p.in.Paused }); err != nil {
				return err
			}
		}
		res, err := p.poll(ctx)
		if err != nil && temporal.IsCanceledError(err) {
			return err
		}
		p.pollsRun++
		if p.pollsRun >= p.in.PollsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return p.continueAsNew(ctx)
		}
		if err == nil && res.More && !res.Throttled {
			continue // a backlog remains: read on at once
		}
		if err == nil && !res.Throttled && p.lookbackDue(ctx) {
			if err = p.lookback(ctx); err != nil && temporal.IsCanceledError(err) {
				return err
			}
		}
		p.status.State = StateIdle
		switch {
		case err != nil:
			p.status.State = StateFailing
		case res.Throttled:
			p.status.State = StateThrottled
		}
		wait := p.in.Interval
		switch {
		case err != nil:
			wait = min(wait, failingRetry)
		case res.Settling:
			wait = min(wait, max(p.in.SettleDelay, time.Second))
		}
		p.status.NextPollAt = workflow.Now(ctx).Add(wait)
		resets := p.resets
		if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool {
			return p.pollNow || p.in.Paused || p.resets != resets
		}); err != nil {
			return err
		}
	}
}

// poll runs one FetchAndPublish and moves the cursor to where it stopped,
// unless the cursor was reset meanwhile.
func (p *poller) poll(ctx workflow.Context) (activities.FetchResult, error) {
	// A failing poller says so until a poll succeeds, retries included.
	if p.status.State != StateFailing {
		p.status.State = StatePolling
	}
	p.status.NextPollAt = time.Time{}
	p.pollNow = false
	resets := p.resets
	res, err := p.fetch(ctx, p.in.Cursor, time.Time{})
	p.in.Totals.Polls++
	p.status.LastPollAt = workflow.Now(ctx)
	if err != nil {
		p.status.LastError = err.Error()
		workflow.GetLogger(ctx).Error("poll failed", "error", err)
		return res, err
	}
	p.status.State, p.status.LastError = StatePolling, ""
	p.status.LastRows = res.Rows
	p.status.ERPClock = res.ERPClock
	p.status.Backlog = res.Backlog
	if p.resets == resets && res.CaughtUpTo.After(p.status.CaughtUpTo) {
		p.status.CaughtUpTo = res.CaughtUpTo
	}
	p.in.Totals.Rows += int64(res.Rows)
	p.in.Totals.Rejected += int64(res.Rejected)
	p.status.FutureRows = res.Future
	switch {
	case p.resets != resets:
	case res.Cursor.LastModified.Before(p.in.Cursor.LastModified):
		// Never expected; moving back would re-read, never skip, but a
		// cursor that goes back is a fault to see, not to follow.
		workflow.GetLogger(ctx).Error("poll returned an earlier cursor; keeping the current one",
			"cursor", p.in.Cursor.String(), "returned", res.Cursor.String())
	default:
		p.in.Cursor = res.Cursor
	}
	p.rewind(ctx, res)
	return res, nil
}

// rewind moves the cursor back when the ERP's clock went back since the last
// poll. A column written in local time repeats the hour after daylight saving
// ends: rows written then carry times the cursor has passed. Every such row
// is at or after the last clock before the change minus the drop, so reading
// again from there misses none; rows read twice are no-ops downstream.
func (p *poller) rewind(ctx workflow.Context, res activities.FetchResult) {
	prevClock, prevOffset := p.in.ERPClock, p.in.ERPOffset
	p.in.ERPClock, p.in.ERPOffset = res.ERPClock, res.ERPOffset
	if prevClock.IsZero() || res.ERPOffset >= prevOffset {
		return
	}
	from := prevClock.Add(-(prevOffset - res.ERPOffset))
	if !from.Before(p.in.Cursor.LastModified) {
		return
	}
	workflow.GetLogger(ctx).Warn("the ERP's clock went back: reading the repeated interval again",
		"offset_before", prevOffset.String(), "offset_now", res.ERPOffset.String(),
		"cursor", p.in.Cursor.String(), "from", from.UTC().Format(time.RFC3339Nano))
	p.in.Cursor = inventory.Cursor{LastModified: from}
	p.status.CaughtUpTo = from
	p.in.Totals.Rewinds++
}

// fetch runs one FetchAndPublish from the cursor; a non-zero stopAt bounds
// the read (a look-back).
func (p *poller) fetch(ctx workflow.Context, from inventory.Cursor, stopAt time.Time) (activities.FetchResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           p.in.ERPTaskQueue,
		StartToCloseTimeout: 15 * time.Minute,
		// The activity heartbeats every few seconds: a worker that died
		// mid-poll is noticed quickly and the retry resumes at the last
		// confirmed page.
		HeartbeatTimeout: 15 * time.Second,
		RetryPolicy:      pollRetry,
	})
	var a *activities.Poller
	var res activities.FetchResult
	err := workflow.ExecuteActivity(actx, a.FetchAndPublish, activities.FetchInput{
		Cursor:      from,
		StopAt:      stopAt,
		PageSize:    p.in.PageSize,
		MaxPages:    p.in.PagesPerPoll,
		SettleDelay: p.in.SettleDelay,
		HighWater:   p.in.QueueHighWater,
	}).Get(ctx, &res)
	return res, err
}

// pollRetry retries a failed poll a few times with backoff, then lets the
// poller report it as failing and try again at its next interval: an ERP
// outage shows in the status instead of hiding in an endless retry.
var pollRetry = &temporal.RetryPolicy{
	InitialInterval:    500 * time.Millisecond,
	BackoffCoefficient: 2,
	// Short gaps: a broker or ERP that was away for seconds is read again
	// within two seconds of its return. Each attempt is one clock query
	// when the ERP is down, and none at the ERP when the broker is (the
	// queue's depth is read first).
	MaximumInterval: 2 * time.Second,
	MaximumAttempts: 8,
}

// failingRetry is the longest a failing poller waits before it tries again.
const failingRetry = 5 * time.Second

// lookbackDue reports whether a look-back should run now. Histories from
// before look-backs existed replay without one.
func (p *poller) lookbackDue(ctx workflow.Context) bool {
	if p.in.Lookback <= 0 || p.in.Cursor.IsZero() {
		return false
	}
	if workflow.GetVersion(ctx, "lookback", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	return workflow.Now(ctx).Sub(p.in.LastLookback) >= p.in.LookbackEvery
}

// lookback re-reads the rows from Lookback before the cursor up to it, so a
// row committed after the cursor passed its LastModified is still
// published. The main cursor does not move.
func (p *poller) lookback(ctx workflow.Context) error {
	stop := p.in.Cursor.LastModified
	from := inventory.Cursor{LastModified: stop.Add(-p.in.Lookback)}
	p.status.State = StatePolling
	for {
		res, err := p.fetch(ctx, from, stop)
		if err != nil {
			p.status.LastError = err.Error()
			workflow.GetLogger(ctx).Error("look-back failed", "error", err)
			return err
		}
		p.in.Totals.Reread += int64(res.Rows)
		if !res.More || res.Throttled {
			break
		}
		from = res.Cursor
	}
	p.in.LastLookback = workflow.Now(ctx)
	return nil
}

func (p *poller) continueAsNew(ctx workflow.Context) error {
	// Take in signals that arrived with this task so none is lost, and let
	// running update handlers finish.
	// (A pending poll-now needs nothing: a new run polls first.)
	for _, s := range p.signals() {
		for workflow.GetSignalChannel(ctx, s.name).ReceiveAsync(nil) {
			s.apply()
		}
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, PollERP, p.in)
}
