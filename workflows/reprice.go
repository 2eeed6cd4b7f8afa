package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
)

// Reprice keeps every stored row priced by the rules in force for the
// current instant, where the ERP sends nothing: the rules change, or a
// promotion's window starts or ends.
//
// It walks every row in passes, a chunk at a time, each row priced for the
// pass's instant: when it started, or the boundary it woke for. A
// rules-changed signal with another version stops the pass under way and
// starts one over with the new rules; the version it has is ignored. After a
// pass it sleeps on a durable timer until the rules' next boundary, and then
// prices the rows for exactly that instant, so a promotion starts and ends on
// time across restarts; with no boundary ahead it waits for new rules.
//
// The rules themselves are never in its history: it names their version,
// and the activity prices with the worker's own rules of that version.
func Reprice(ctx workflow.Context, in RepriceInput) error {
	r := &reprice{in: in.withDefaults(), latest: in.RulesVersion}
	if err := r.setup(ctx); err != nil {
		return err
	}
	return r.run(ctx)
}

type reprice struct {
	in RepriceInput
	// latest is the last version signalled; a pass for another is stale.
	latest string
	// cancelChunk cancels the chunk under way, nil between chunks: a chunk
	// for rules no worker has any longer retries until it is cancelled.
	cancelChunk workflow.CancelFunc
	chunksRun   int
}

func (r *reprice) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (RepriceStatus, error) {
		state := StateRepricing
		if r.in.Waiting {
			state = StateWaiting
		}
		return RepriceStatus{RulesVersion: r.in.RulesVersion, State: state, Pass: r.in.Pass,
			NextBoundary: r.in.NextBoundary, Passes: r.in.Passes}, nil
	}); err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(ctx, SignalRulesChanged)
	workflow.Go(ctx, func(ctx workflow.Context) {
		var version string
		for ch.Receive(ctx, &version) {
			r.rulesChanged(version)
		}
	})
	return nil
}

// rulesChanged takes in a signalled version.
func (r *reprice) rulesChanged(version string) {
	if version == "" {
		return
	}
	r.latest = version
	if r.superseded() && r.cancelChunk != nil {
		r.cancelChunk()
	}
}

// superseded reports whether rules other than the pass's were signalled.
func (r *reprice) superseded() bool { return r.latest != r.in.RulesVersion }

func (r *reprice) run(ctx workflow.Context) error {
	for {
		if r.superseded() {
			workflow.GetLogger(ctx).Info("new pricing rules: re-pricing every row",
				"from", r.in.RulesVersion, "to", r.latest, "stopped_at", r.in.Pass.Cursor)
			r.in.RulesVersion, r.in.Pass, r.in.Waiting = r.latest, RepricePass{}, false
		}
		switch {
		case r.in.Waiting:
			at, err := r.wait(ctx)
			if err != nil {
				return err
			}
			if at.IsZero() {
				continue // new rules
			}
			r.in.Pass, r.in.Waiting, r.in.NextBoundary = RepricePass{At: at}, false, time.Time{}
		case r.in.Pass.At.IsZero():
			r.in.Pass = RepricePass{At: workflow.Now(ctx)}
		}
		if err := r.chunk(ctx); err != nil {
			return err
		}
		if r.chunksRun >= r.in.ChunksPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return r.continueAsNew(ctx)
		}
	}
}

// wait sleeps until the next boundary, or until new rules are signalled.
// It returns the boundary, or zero for new rules.
func (r *reprice) wait(ctx workflow.Context) (time.Time, error) {
	next := r.in.NextBoundary
	if next.IsZero() {
		return time.Time{}, workflow.Await(ctx, r.superseded)
	}
	if d := next.Sub(workflow.Now(ctx)); d > 0 {
		signalled, err := workflow.AwaitWithTimeout(ctx, d, r.superseded)
		if err != nil || signalled {
			return time.Time{}, err
		}
	}
	return next, nil
}

// chunk prices the next chunk of the pass and moves its cursor on; the last
// chunk ends the pass. A chunk cut short by new rules changes nothing here:
// the pass starts over.
func (r *reprice) chunk(ctx workflow.Context) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		// The chunk heartbeats every second: a worker that died holding it
		// is noticed in seconds.
		HeartbeatTimeout: 5 * time.Second,
		RetryPolicy:      retryForever,
	})
	actx, r.cancelChunk = workflow.WithCancel(actx)
	p := &r.in.Pass
	var a *activities.Applier
	var res activities.RepriceChunkResult
	err := workflow.ExecuteActivity(actx, a.RepriceChunk, activities.RepriceChunkInput{
		RulesVersion: r.in.RulesVersion, After: p.Cursor, Rows: r.in.ChunkRows, At: p.At,
	}).Get(ctx, &res)
	r.cancelChunk = nil
	r.chunksRun++
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case r.superseded():
		return nil
	case err != nil && temporal.IsCanceledError(err):
		return nil // cancelled for rules signalled and then taken back: run it again
	case err != nil:
		return err
	}
	p.Cursor = res.Last
	p.Read += int64(res.Read)
	p.Changed += int64(res.Changed)
	p.Rejected += int64(res.Rejected)
	if res.Done {
		r.in.Passes++
		r.in.Waiting, r.in.NextBoundary = true, res.NextBoundary
		workflow.GetLogger(ctx).Info("re-pricing pass done", "rules", r.in.RulesVersion, "at", p.At,
			"read", p.Read, "changed", p.Changed, "rejected", p.Rejected, "next_boundary", res.NextBoundary)
	}
	return nil
}

func (r *reprice) continueAsNew(ctx workflow.Context) error {
	// Take in signals that arrived with this task so none is lost.
	ch := workflow.GetSignalChannel(ctx, SignalRulesChanged)
	var version string
	for ch.ReceiveAsync(&version) {
		r.rulesChanged(version)
	}
	if r.superseded() {
		r.in.RulesVersion, r.in.Pass, r.in.Waiting = r.latest, RepricePass{}, false
	}
	return workflow.NewContinueAsNewError(ctx, Reprice, r.in)
}
