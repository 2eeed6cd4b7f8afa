package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/inventory"
)

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func cursorAt(sec int, sku string) inventory.Cursor {
	return inventory.Cursor{LastModified: t0.Add(time.Duration(sec) * time.Second), SKU: sku}
}

// fetchCall records one FetchAndPublish call as the workflow made it.
type fetchCall struct {
	in activities.FetchInput
	at time.Time
}

// pollEnv runs PollERP against a scripted FetchAndPublish: the i-th call
// returns script[i] (the last entry repeats).
type pollEnv struct {
	*testsuite.TestWorkflowEnvironment
	calls []fetchCall
}

func newPollEnv(t *testing.T, script ...activities.FetchResult) *pollEnv {
	var s testsuite.WorkflowTestSuite
	e := &pollEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment()}
	e.SetStartTime(t0)
	var a *activities.Fetcher
	e.RegisterActivity(a)
	e.OnActivity(a.FetchAndPublish, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FetchInput) (activities.FetchResult, error) {
			e.calls = append(e.calls, fetchCall{in: in, at: e.Now().UTC()})
			r := script[min(len(e.calls), len(script))-1]
			return r, nil
		})
	return e
}

// continuedAs returns the input the workflow continued as new with.
func continuedAs(t *testing.T, err error) PollInput {
	t.Helper()
	return continuedWith[PollInput](t, err)
}

// continuedWith returns the input a workflow continued as new with.
func continuedWith[T any](t *testing.T, err error) T {
	t.Helper()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "want continue-as-new, got %v", err)
	var in T
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
	return in
}

func TestPollERPAdvancesCursorAndContinuesAsNewWithIt(t *testing.T) {
	e := newPollEnv(t,
		activities.FetchResult{Cursor: cursorAt(1, "A"), Rows: 10},
		activities.FetchResult{Cursor: cursorAt(2, "B"), Rows: 5},
		activities.FetchResult{Cursor: cursorAt(3, "C"), Rows: 1},
	)
	e.ExecuteWorkflow(PollERP, PollInput{Cursor: cursorAt(0, "0"), PollsPerRun: 3, Totals: PollTotal{Polls: 7, Rows: 100}})

	require.True(t, e.IsWorkflowCompleted())
	require.Len(t, e.calls, 3)
	require.Equal(t, cursorAt(0, "0"), e.calls[0].in.Cursor)
	require.Equal(t, cursorAt(1, "A"), e.calls[1].in.Cursor)
	require.Equal(t, cursorAt(2, "B"), e.calls[2].in.Cursor)
	require.Equal(t, DefaultPageSize, e.calls[0].in.PageSize)
	require.Equal(t, DefaultPollInterval, e.calls[1].at.Sub(e.calls[0].at), "an idle poller waits the interval")

	next := continuedAs(t, e.GetWorkflowError())
	require.Equal(t, cursorAt(3, "C"), next.Cursor)
	require.Equal(t, PollTotal{Polls: 10, Rows: 116}, next.Totals)
	require.Equal(t, DefaultPollInterval, next.Interval, "settings carry over")
}

func TestPollERPReadsABacklogWithoutWaiting(t *testing.T) {
	e := newPollEnv(t,
		activities.FetchResult{Cursor: cursorAt(1, "A"), Rows: 100, More: true},
		activities.FetchResult{Cursor: cursorAt(2, "B"), Rows: 100, More: true},
		activities.FetchResult{Cursor: cursorAt(3, "C"), Rows: 3},
	)
	timers := 0
	e.SetOnTimerScheduledListener(func(string, time.Duration) { timers++ })
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 4, Interval: time.Minute})

	require.Len(t, e.calls, 4)
	require.Equal(t, e.calls[0].at, e.calls[2].at, "backlog pages are read back to back")
	require.Equal(t, time.Minute, e.calls[3].at.Sub(e.calls[2].at), "then the poller waits the interval")
	require.Equal(t, cursorAt(3, "C"), e.calls[3].in.Cursor)
	require.Equal(t, 1, timers)
}

func TestPollERPHoldsBackWhenThrottled(t *testing.T) {
	e := newPollEnv(t,
		activities.FetchResult{Cursor: cursorAt(1, "A"), Rows: 100, More: true, Throttled: true},
		activities.FetchResult{Cursor: cursorAt(2, "B"), Rows: 1},
	)
	e.RegisterDelayedCallback(func() {
		s := queryStatus(t, e.TestWorkflowEnvironment)
		require.Equal(t, StateThrottled, s.State)
	}, time.Second)
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 2})
	require.Len(t, e.calls, 2)
	require.Equal(t, DefaultPollInterval, e.calls[1].at.Sub(e.calls[0].at))
}

func queryStatus(t *testing.T, e *testsuite.TestWorkflowEnvironment) PollStatus {
	t.Helper()
	return queryStatusOf[PollStatus](t, e)
}

// queryStatusOf answers a workflow's status query.
func queryStatusOf[T any](t *testing.T, e *testsuite.TestWorkflowEnvironment) T {
	t.Helper()
	v, err := e.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var s T
	require.NoError(t, v.Get(&s))
	return s
}

func TestPollERPPauseResumeAndPollNow(t *testing.T) {
	e := newPollEnv(t, activities.FetchResult{Cursor: cursorAt(1, "A"), Rows: 1})
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalPause, nil) }, 10*time.Second)
	e.RegisterDelayedCallback(func() {
		s := queryStatus(t, e.TestWorkflowEnvironment)
		require.Equal(t, StatePaused, s.State)
		require.Len(t, e.calls, 1, "a paused poller does not poll")
		e.SignalWorkflow(SignalPollNow, nil) // ignored while paused
	}, 10*time.Minute)
	e.RegisterDelayedCallback(func() {
		require.Len(t, e.calls, 1)
		e.SignalWorkflow(SignalResume, nil)
	}, 20*time.Minute)
	e.RegisterDelayedCallback(func() {
		s := queryStatus(t, e.TestWorkflowEnvironment)
		require.Equal(t, StateIdle, s.State)
		require.Equal(t, cursorAt(1, "A"), s.Cursor)
		require.Equal(t, int64(2), s.Totals.Polls)
		e.SignalWorkflow(SignalPollNow, nil)
	}, 20*time.Minute+5*time.Second)
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 3})

	require.Len(t, e.calls, 3)
	require.Equal(t, t0, e.calls[0].at)
	require.Equal(t, t0.Add(20*time.Minute), e.calls[1].at, "resume polls at once")
	require.Equal(t, t0.Add(20*time.Minute+5*time.Second), e.calls[2].at, "poll-now cuts the wait short")
	continuedAs(t, e.GetWorkflowError())
}

func TestPollERPPausedStateSurvivesContinueAsNew(t *testing.T) {
	e := newPollEnv(t, activities.FetchResult{Cursor: cursorAt(1, "A")})
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalPause, nil) }, 0)
	// A cursor: the first poll starts at once, before the signal is taken.
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 1, Cursor: cursorAt(0, "0")})
	require.True(t, continuedAs(t, e.GetWorkflowError()).Paused)
}

func TestPollERPResetCursor(t *testing.T) {
	e := newPollEnv(t, activities.FetchResult{Cursor: cursorAt(50, "Z"), Rows: 1})
	type outcome struct {
		prev inventory.Cursor
		err  error
	}
	results := map[string]*outcome{}
	update := func(name string, c inventory.Cursor) {
		o := &outcome{}
		results[name] = o
		e.UpdateWorkflow(UpdateResetCursor, name, &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { o.err = err },
			OnComplete: func(v any, err error) { o.err = err; o.prev, _ = v.(inventory.Cursor) },
		}, ResetCursorRequest{Cursor: c})
	}
	e.RegisterDelayedCallback(func() {
		update("future", inventory.Cursor{LastModified: t0.Add(24 * time.Hour)})
		update("sku-only", inventory.Cursor{SKU: "A"})
		update("ok", cursorAt(-3600, "M"))
	}, 10*time.Second)
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 2})

	require.ErrorContains(t, results["future"].err, "in the future")
	require.ErrorContains(t, results["sku-only"].err, "needs a last_modified")
	require.NoError(t, results["ok"].err)
	require.Equal(t, cursorAt(50, "Z"), results["ok"].prev, "the update returns the cursor it replaced")
	require.Len(t, e.calls, 2)
	require.Equal(t, cursorAt(-3600, "M"), e.calls[1].in.Cursor, "the next poll reads from the reset cursor")
	require.Equal(t, t0.Add(10*time.Second), e.calls[1].at, "a reset polls at once")
}

// failingPollEnv runs PollERP against a FetchAndPublish whose first
// failures attempts fail with err; later ones succeed at cursor 9/"Z".
func failingPollEnv(failures int, err error) (*testsuite.TestWorkflowEnvironment, *int) {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.SetStartTime(t0)
	var a *activities.Fetcher
	e.RegisterActivity(a)
	attempts := new(int)
	e.OnActivity(a.FetchAndPublish, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.FetchInput) (activities.FetchResult, error) {
			*attempts++
			if *attempts <= failures {
				return activities.FetchResult{}, err
			}
			return activities.FetchResult{Cursor: cursorAt(9, "Z"), Rows: 3}, nil
		})
	return e, attempts
}

func TestPollERPKeepsPollingAfterAFailedPoll(t *testing.T) {
	e, attempts := failingPollEnv(1, temporal.NewNonRetryableApplicationError("view missing", "Config", nil))
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 2})
	require.Equal(t, 2, *attempts, "a non-retryable failure is not retried, the next poll comes")
	require.Equal(t, cursorAt(9, "Z"), continuedAs(t, e.GetWorkflowError()).Cursor)
}

func TestPollERPLooksAgainOnceSettlingRowsSettle(t *testing.T) {
	e := newPollEnv(t,
		activities.FetchResult{Cursor: cursorAt(1, "A"), Rows: 1, Settling: true},
		activities.FetchResult{Cursor: cursorAt(2, "B"), Rows: 1},
	)
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 3, SettleDelay: 5 * time.Second})
	require.Len(t, e.calls, 3)
	require.Equal(t, 5*time.Second, e.calls[1].at.Sub(e.calls[0].at), "settling rows are read after the settle delay")
	require.Equal(t, DefaultPollInterval, e.calls[2].at.Sub(e.calls[1].at))
}

// TestPollERPReportsAnERPOutage fails the poll activity with a retryable
// error: after its few retries the poller says it is failing, keeps its
// cursor, tries again at the next interval and recovers.
func TestPollERPReportsAnERPOutage(t *testing.T) {
	e, attempts := failingPollEnv(int(pollRetry.MaximumAttempts), errors.New("dial tcp erp:1433: connection refused"))
	var during PollStatus
	e.RegisterDelayedCallback(func() {
		v, err := e.QueryWorkflow(QueryStatus)
		require.NoError(t, err)
		require.NoError(t, v.Get(&during))
	}, 13*time.Second) // after the retries (0.5+1+2+2+2+2+2 s), before the failing poller tries again (5 s)
	e.ExecuteWorkflow(PollERP, PollInput{Cursor: cursorAt(1, "A"), PollsPerRun: 2})

	require.Equal(t, StateFailing, during.State)
	require.Contains(t, during.LastError, "connection refused")
	require.Equal(t, cursorAt(1, "A"), during.Cursor, "a failed poll does not move the cursor")
	require.Equal(t, int(pollRetry.MaximumAttempts)+1, *attempts, "retried with backoff, then tried again")
	require.Equal(t, cursorAt(9, "Z"), continuedAs(t, e.GetWorkflowError()).Cursor)
}

func TestPollERPNeverMovesTheCursorBack(t *testing.T) {
	e := newPollEnv(t,
		activities.FetchResult{Cursor: cursorAt(5, "E"), Rows: 1},
		activities.FetchResult{Cursor: cursorAt(2, "B"), Rows: 1},
	)
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 2})
	require.Equal(t, cursorAt(5, "E"), continuedAs(t, e.GetWorkflowError()).Cursor)
}

// TestPollERPLooksBackBehindTheCursor: every LookbackEvery (the first one
// LookbackEvery after the start), once caught up, the poller re-reads the
// window behind its cursor, paging through it, and its own cursor stays
// where it was.
func TestPollERPLooksBackBehindTheCursor(t *testing.T) {
	e := newPollEnv(t,
		activities.FetchResult{Cursor: cursorAt(600, "M"), Rows: 10},              // poll at 0 s
		activities.FetchResult{Cursor: cursorAt(600, "M")},                        // poll at 60 s
		activities.FetchResult{Cursor: cursorAt(600, "M")},                        // poll at 120 s
		activities.FetchResult{Cursor: cursorAt(400, "K"), Rows: 100, More: true}, // look-back, page 1
		activities.FetchResult{Cursor: cursorAt(600, "M"), Rows: 20},              // look-back, page 2
		activities.FetchResult{Cursor: cursorAt(601, "N"), Rows: 1},               // poll at 180 s
		activities.FetchResult{Cursor: cursorAt(601, "N")},                        // poll at 240 s
	)
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 5, Interval: time.Minute, Lookback: 5 * time.Minute, LookbackEvery: 90 * time.Second})

	require.Len(t, e.calls, 7)
	for i, isLookback := range []bool{false, false, false, true, true, false, false} {
		require.Equal(t, isLookback, !e.calls[i].in.StopAt.IsZero(), "call %d at %s", i, e.calls[i].at.Sub(t0))
	}
	lb := e.calls[3]
	require.Equal(t, 120*time.Second, lb.at.Sub(t0), "the first look-back once LookbackEvery has passed")
	require.Equal(t, inventory.Cursor{LastModified: t0.Add(300 * time.Second)}, lb.in.Cursor, "from Lookback before the cursor")
	require.Equal(t, t0.Add(600*time.Second), lb.in.StopAt, "up to the cursor")
	require.Equal(t, cursorAt(400, "K"), e.calls[4].in.Cursor, "a long window is paged")
	require.Equal(t, lb.in.StopAt, e.calls[4].in.StopAt)
	require.Equal(t, cursorAt(600, "M"), e.calls[5].in.Cursor, "the poller's cursor did not move")
	next := continuedAs(t, e.GetWorkflowError())
	require.Equal(t, int64(100+20), next.Totals.Reread)
	require.Equal(t, 5*time.Minute, next.Lookback, "settings carry over")
	require.False(t, next.LastLookback.IsZero())
}

// TestPollERPReadsTheRepeatedHourAgain: the ERP writes local wall-clock
// times; when its UTC offset drops by an hour (daylight saving ends), rows
// written in the repeated hour carry times behind the cursor. The poller
// moves its cursor back to the last clock before the change less the drop,
// once, and goes on from there.
func TestPollERPReadsTheRepeatedHourAgain(t *testing.T) {
	wall := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	e := newPollEnv(t,
		activities.FetchResult{Cursor: inventory.Cursor{LastModified: wall(58), SKU: "A"}, ERPClock: wall(59), ERPOffset: 2 * time.Hour},
		// Daylight saving ended: the wall clock reads an hour less.
		activities.FetchResult{Cursor: inventory.Cursor{LastModified: wall(58), SKU: "A"}, ERPClock: wall(0), ERPOffset: time.Hour},
		activities.FetchResult{Cursor: inventory.Cursor{LastModified: wall(1), SKU: "B"}, ERPClock: wall(1), ERPOffset: time.Hour},
	)
	e.ExecuteWorkflow(PollERP, PollInput{PollsPerRun: 3})

	next := continuedAs(t, e.GetWorkflowError())
	require.Len(t, e.calls, 3)
	require.Equal(t, inventory.Cursor{LastModified: wall(59).Add(-time.Hour)}, e.calls[2].in.Cursor,
		"the third poll reads again from the last clock before the change less the hour")
	require.Equal(t, inventory.Cursor{LastModified: wall(1), SKU: "B"}, next.Cursor, "and goes on from there")
	require.Equal(t, int64(1), next.Totals.Rewinds, "once")
	require.Equal(t, time.Hour, next.ERPOffset)
}
