package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/inventory"
)

// RegisterERP registers what runs on the ERP task queue: the PollERP and
// Reconcile workflows, the poll activities of p and the reconcile activity
// of rc. Their names are those of the functions and of the methods, which
// histories and the temporal CLI use.
func RegisterERP(r worker.Registry, p *activities.Fetcher, rc *activities.Reconciler) {
	r.RegisterWorkflow(PollERP)
	r.RegisterWorkflow(Reconcile)
	r.RegisterActivity(p)
	r.RegisterActivity(rc)
}

// PollERP polls the ERP for changed rows, forever: read and publish what
// changed since the cursor, then wait for the interval, a poll-now signal or a
// cursor reset. The cursor lives only in this workflow's state.
func PollERP(ctx workflow.Context, in PollInput) error {
	p := &pollERP{in: in.withDefaults()}
	if err := p.setup(ctx); err != nil {
		return err
	}
	return p.run(ctx)
}

type pollERP struct {
	in PollInput
	// status is what the status query answers, but for the fields it takes
	// from in and the State it derives from facts.
	status   PollStatus
	facts    pollFacts
	pollNow  bool
	resets   int // bumped by each reset; a fetch started before a reset is discarded
	pollsRun int
}

// pollFacts are what the poller's state is derived from. Each is kept where
// it changes; which state wins when several hold is decided in state alone,
// so the loop need not know what the status query will say.
type pollFacts struct {
	// paused: the run loop waits for a resume. A pause signal sets
	// PollInput.Paused at once; a poll already running finishes first and
	// is reported as such.
	paused bool
	// polling: a poll, the polls of a backlog read back to back, or a
	// look-back run; false while the poller waits for the next poll.
	polling bool
	// failing: the last poll or look-back failed after its retries. It
	// holds until a poll succeeds or the poller is paused.
	failing bool
	// throttled: the last poll held back its reads because the changes
	// queue was too deep.
	throttled bool
}

// state derives the status query's State from the facts. A failing poller
// says so until a poll succeeds, retries included.
func (f pollFacts) state() string {
	switch {
	case f.paused:
		return StatePaused
	case f.failing:
		return StateFailing
	case f.polling:
		return StatePolling
	case f.throttled:
		return StateThrottled
	}
	return StateIdle
}

func (p *pollERP) setup(ctx workflow.Context) error {
	if p.in.LastLookback.IsZero() {
		// The first look-back comes one LookbackEvery after the poller
		// starts, not right after its first sync has read everything.
		p.in.LastLookback = workflow.Now(ctx)
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PollStatus, error) {
		s := p.status
		s.State = p.facts.state()
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
func (p *pollERP) signals() []signal {
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

func (p *pollERP) run(ctx workflow.Context) error {
	if p.in.Cursor.IsZero() && p.in.Totals.Polls == 0 {
		p.resume(ctx)
	}
	for {
		if p.in.Paused {
			// A pause ends a failing spell: after the resume, the poller
			// says polling until a poll fails again.
			p.facts = pollFacts{paused: true}
			p.status.NextPollAt = time.Time{}
			if err := workflow.Await(ctx, func() bool { return !p.in.Paused }); err != nil {
				return err
			}
			p.facts.paused = false
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
		p.facts.polling = false
		p.facts.failing = err != nil
		p.facts.throttled = err == nil && res.Throttled
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
func (p *pollERP) poll(ctx workflow.Context) (activities.FetchResult, error) {
	p.facts.polling = true
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
	p.facts.failing, p.status.LastError = false, ""
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

// resume starts a new poller a look-back before the newest ERP version the
// storefront holds, not at the start of the view: a poller that was
// terminated, or started in a new namespace, need not read 500,000 rows
// again to find the few that changed. The look-back covers rows committed
// late, as it does in a running poller. If the storefront cannot say, the
// poller starts from the start: slower, never wrong. Histories from before
// this replay without it.
func (p *pollERP) resume(ctx workflow.Context) {
	if workflow.GetVersion(ctx, "resume-from-storefront", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           p.in.ERPTaskQueue,
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         pollRetry,
	})
	var a *activities.Fetcher
	var newest time.Time
	if err := workflow.ExecuteActivity(actx, a.NewestVersion).Get(ctx, &newest); err != nil {
		workflow.GetLogger(ctx).Warn("cannot ask the storefront where it stands; reading the view from the start", "error", err)
		return
	}
	if newest.IsZero() {
		return
	}
	back := p.in.Lookback
	if back <= 0 {
		back = DefaultLookback
	}
	p.in.Cursor = inventory.Cursor{LastModified: newest.Add(-back)}
	p.status.CaughtUpTo = p.in.Cursor.LastModified
	workflow.GetLogger(ctx).Info("resuming from the storefront's newest version", "newest", newest.Format(time.RFC3339Nano),
		"cursor", p.in.Cursor.String())
}

// rewind moves the cursor back when the ERP's clock went back since the last
// poll. A column written in local time repeats the hour after daylight saving
// ends: rows written then carry times the cursor has passed. Every such row
// is at or after the last clock before the change minus the drop, so reading
// again from there misses none; rows read twice are no-ops downstream.
func (p *pollERP) rewind(ctx workflow.Context, res activities.FetchResult) {
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
func (p *pollERP) fetch(ctx workflow.Context, from inventory.Cursor, stopAt time.Time) (activities.FetchResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           p.in.ERPTaskQueue,
		StartToCloseTimeout: 15 * time.Minute,
		// The activity heartbeats every few seconds: a worker that died
		// mid-poll is noticed quickly and the retry resumes at the last
		// confirmed page.
		HeartbeatTimeout: 15 * time.Second,
		RetryPolicy:      pollRetry,
	})
	var a *activities.Fetcher
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
func (p *pollERP) lookbackDue(ctx workflow.Context) bool {
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
func (p *pollERP) lookback(ctx workflow.Context) error {
	stop := p.in.Cursor.LastModified
	from := inventory.Cursor{LastModified: stop.Add(-p.in.Lookback)}
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

func (p *pollERP) continueAsNew(ctx workflow.Context) error {
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
