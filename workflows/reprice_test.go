package workflows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/invsync/invsync/activities"
)

// chunkCall records one RepriceChunk call as the workflow made it.
type chunkCall struct {
	in activities.RepriceChunkInput
	at time.Time // the test clock when it ran
}

// repriceEnv runs Reprice against a RepriceChunk stand-in: a storefront of
// rows SKU-00..SKU-(rows-1), a worker whose rules are version and whose
// windows start or end at boundaries.
type repriceEnv struct {
	*testsuite.TestWorkflowEnvironment
	rows       int
	version    string
	boundaries []time.Time
	calls      []chunkCall
	// onCall, when set, runs at the start of each call (the worker
	// reloading its rules, say).
	onCall func(n int)
}

func newRepriceEnv(rows int, version string, boundaries ...time.Time) *repriceEnv {
	var s testsuite.WorkflowTestSuite
	e := &repriceEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), rows: rows, version: version, boundaries: boundaries}
	e.SetStartTime(t0)
	var a *activities.Applier
	e.RegisterActivity(a)
	e.OnActivity(a.RepriceChunk, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RepriceChunkInput) (activities.RepriceChunkResult, error) {
			e.calls = append(e.calls, chunkCall{in: in, at: e.Now().UTC()})
			if e.onCall != nil {
				e.onCall(len(e.calls))
			}
			if in.RulesVersion != e.version {
				return activities.RepriceChunkResult{}, temporal.NewApplicationError(
					"this worker has not reloaded the rules file yet", activities.ErrTypeRulesVersion)
			}
			return e.chunk(in), nil
		})
	return e
}

func sku(i int) string { return fmt.Sprintf("SKU-%02d", i) }

// chunk reads the rows after in.After, every one changed.
func (e *repriceEnv) chunk(in activities.RepriceChunkInput) activities.RepriceChunkResult {
	res := activities.RepriceChunkResult{Last: in.After}
	for i := 0; i < e.rows && res.Read < in.Rows; i++ {
		if sku(i) > in.After {
			res.Last, res.Read = sku(i), res.Read+1
		}
	}
	res.Changed, res.Done = res.Read, res.Read < in.Rows
	for _, b := range e.boundaries {
		if b.After(in.At) {
			res.NextBoundary = b
			break
		}
	}
	return res
}

func (e *repriceEnv) status(t *testing.T) RepriceStatus {
	t.Helper()
	return queryStatusOf[RepriceStatus](t, e.TestWorkflowEnvironment)
}

// stopAt cancels the workflow, which otherwise waits for ever.
func (e *repriceEnv) stopAt(d time.Duration) {
	e.RegisterDelayedCallback(e.CancelWorkflow, d)
}

func (e *repriceEnv) afters() []string {
	var out []string
	for _, c := range e.calls {
		out = append(out, c.in.RulesVersion+":"+c.in.After)
	}
	return out
}

func TestRepriceStartsOverForNewRulesAndIgnoresTheSame(t *testing.T) {
	e := newRepriceEnv(10, "v1")
	e.onCall = func(n int) {
		if n == 2 {
			e.version = "v2" // the worker reloads its rules file mid-pass
		}
	}
	e.RegisterDelayedCallback(func() {
		s := e.status(t)
		require.Equal(t, StateRepricing, s.State, "the chunk for v1 is retried until new rules come")
		require.Equal(t, "v1", s.RulesVersion)
		require.Equal(t, RepricePass{At: t0, Cursor: sku(2), Read: 3, Changed: 3}, utcPass(s.Pass))
		e.SignalWorkflow(SignalRulesChanged, "v2")
	}, 2500*time.Millisecond)
	e.RegisterDelayedCallback(func() {
		s := e.status(t)
		require.Equal(t, StateWaiting, s.State)
		require.Equal(t, "v2", s.RulesVersion)
		require.Equal(t, int64(1), s.Passes, "the pass superseded is not counted")
		require.Equal(t, RepricePass{At: t0.Add(2500 * time.Millisecond), Cursor: sku(9), Read: 10, Changed: 10}, utcPass(s.Pass))
		e.SignalWorkflow(SignalRulesChanged, "v2") // another worker starting: ignored
	}, time.Minute)
	e.stopAt(time.Hour)
	e.ExecuteWorkflow(Reprice, RepriceInput{RulesVersion: "v1", ChunkRows: 3})

	require.True(t, temporal.IsCanceledError(e.GetWorkflowError()), "%v", e.GetWorkflowError())
	calls := e.afters()
	require.Equal(t, []string{"v1:", "v1:" + sku(2)}, calls[:2])
	retries := 0
	for _, c := range calls[2:] {
		if c != "v1:"+sku(2) {
			break
		}
		retries++
	}
	require.Positive(t, retries, "the chunk for v1 failed on the worker with v2 until the signal")
	require.Equal(t, []string{"v2:", "v2:" + sku(2), "v2:" + sku(5), "v2:" + sku(8)}, calls[2+retries:],
		"the new pass starts from the first SKU; the same version again starts none")
	for _, c := range e.calls[2+retries:] {
		require.Equal(t, t0.Add(2500*time.Millisecond), c.in.At.UTC(), "the new pass is for the instant it started")
		require.Equal(t, 3, c.in.Rows)
	}
}

func TestRepriceRunsAPassAtEachBoundary(t *testing.T) {
	start, end := t0.Add(90*time.Minute), t0.Add(3*time.Hour+17*time.Second)
	e := newRepriceEnv(4, "v1", start, end)
	e.RegisterDelayedCallback(func() {
		s := e.status(t)
		require.Equal(t, StateWaiting, s.State)
		require.Equal(t, start, s.NextBoundary.UTC())
		require.Equal(t, int64(1), s.Passes)
	}, time.Hour)
	e.RegisterDelayedCallback(func() {
		s := e.status(t)
		require.Equal(t, end, s.NextBoundary.UTC())
		require.Equal(t, start, s.Pass.At.UTC())
		require.Equal(t, int64(2), s.Passes)
	}, 2*time.Hour)
	e.stopAt(24 * time.Hour)
	e.ExecuteWorkflow(Reprice, RepriceInput{RulesVersion: "v1"})

	require.True(t, temporal.IsCanceledError(e.GetWorkflowError()), "%v", e.GetWorkflowError())
	require.Len(t, e.calls, 3, "a pass at the start, one at each boundary, then none: no boundary is left")
	for i, want := range []time.Time{t0, start, end} {
		c := e.calls[i]
		require.Equal(t, want, c.in.At.UTC(), "pass %d is for exactly its instant", i)
		require.Equal(t, want, c.at, "pass %d runs when its instant comes", i)
		require.Equal(t, "", c.in.After)
		require.Equal(t, DefaultRepriceChunkRows, c.in.Rows)
	}
}

func TestRepriceContinuesAsNewWithItsPass(t *testing.T) {
	e := newRepriceEnv(10, "v1")
	e.ExecuteWorkflow(Reprice, RepriceInput{RulesVersion: "v1", ChunkRows: 3, ChunksPerRun: 2, Passes: 4})
	next := continuedWith[RepriceInput](t, e.GetWorkflowError())
	require.Equal(t, RepriceInput{RulesVersion: "v1", ChunkRows: 3, ChunksPerRun: 2, Passes: 4,
		Pass: RepricePass{At: t0, Cursor: sku(5), Read: 6, Changed: 6}}, utcInput(next))

	// The next run goes on from the cursor, for the same instant, and
	// carries the wait for the next boundary once the pass is done.
	e = newRepriceEnv(10, "v1", t0.Add(time.Hour))
	e.SetStartTime(t0.Add(time.Minute))
	e.ExecuteWorkflow(Reprice, next)
	require.Equal(t, []string{"v1:" + sku(5), "v1:" + sku(8)}, e.afters())
	require.Equal(t, t0, e.calls[0].in.At.UTC())
	next = continuedWith[RepriceInput](t, e.GetWorkflowError())
	require.Equal(t, RepriceInput{RulesVersion: "v1", ChunkRows: 3, ChunksPerRun: 2, Passes: 5, Waiting: true,
		NextBoundary: t0.Add(time.Hour), Pass: RepricePass{At: t0, Cursor: sku(9), Read: 10, Changed: 10}}, utcInput(next))
}

func utcPass(p RepricePass) RepricePass {
	p.At = p.At.UTC()
	return p
}

func utcInput(in RepriceInput) RepriceInput {
	in.Pass = utcPass(in.Pass)
	if !in.NextBoundary.IsZero() {
		in.NextBoundary = in.NextBoundary.UTC()
	}
	return in
}
