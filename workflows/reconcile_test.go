package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/inventory"
)

func TestReconcileWalksStepsAndAddsThemUp(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	var r *activities.Reconciler
	e.RegisterActivity(r)
	var calls []activities.ReconcileInput
	steps := []activities.ReconcileResult{
		{After: "C", Counts: activities.ReconcileCounts{Chunks: 3, RowsRead: 300, Fixed: 2}},
		{After: "F", Counts: activities.ReconcileCounts{Chunks: 3, RowsRead: 300, Discontinued: 4}},
		{After: "H", Done: true, Counts: activities.ReconcileCounts{Chunks: 1, RowsRead: 50, Restored: 1, Fixed: 1}},
	}
	e.OnActivity(r.ReconcileChunks, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ReconcileInput) (activities.ReconcileResult, error) {
			calls = append(calls, in)
			return steps[len(calls)-1], nil
		})
	e.ExecuteWorkflow(Reconcile, ReconcileInput{ChunkRows: 100})
	require.NoError(t, e.GetWorkflowError())
	var got ReconcileStatus
	require.NoError(t, e.GetWorkflowResult(&got))
	require.Equal(t, ReconcileStatus{After: "H", Done: true, Counts: activities.ReconcileCounts{
		Chunks: 7, RowsRead: 650, Fixed: 3, Discontinued: 4, Restored: 1}}, got)
	require.Len(t, calls, 3)
	require.Equal(t, []string{"", "C", "F"}, []string{calls[0].After, calls[1].After, calls[2].After})
	require.Equal(t, 100, calls[0].ChunkRows)
	require.Equal(t, activities.PolicyDiscontinue, calls[0].Policy)
}

func TestReconcileContinuesAsNewWithItsProgress(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	var r *activities.Reconciler
	e.RegisterActivity(r)
	e.OnActivity(r.ReconcileChunks, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ReconcileInput) (activities.ReconcileResult, error) {
			return activities.ReconcileResult{After: in.After + "x", Counts: activities.ReconcileCounts{Chunks: 1}}, nil
		})
	e.ExecuteWorkflow(Reconcile, ReconcileInput{StepsPerRun: 2, Policy: activities.PolicyDelete})
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(e.GetWorkflowError(), &can), "want continue-as-new, got %v", e.GetWorkflowError())
	var next ReconcileInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, "xx", next.After)
	require.Equal(t, int64(2), next.Counts.Chunks)
	require.Equal(t, activities.PolicyDelete, next.Policy)
}

func TestNewPollerResumesFromTheStorefront(t *testing.T) {
	newest := t0.Add(-time.Hour)
	for _, tt := range []struct {
		name   string
		in     PollInput
		newest time.Time
		err    error
		want   inventory.Cursor
	}{
		{"a look-back before the newest version", PollInput{Lookback: 10 * time.Minute}, newest, nil,
			inventory.Cursor{LastModified: newest.Add(-10 * time.Minute)}},
		{"the default look-back when none is set", PollInput{}, newest, nil,
			inventory.Cursor{LastModified: newest.Add(-DefaultLookback)}},
		{"an empty storefront: from the start", PollInput{}, time.Time{}, nil, inventory.Cursor{}},
		{"a storefront that cannot say: from the start", PollInput{}, time.Time{}, errors.New("down"), inventory.Cursor{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newPollEnv(t, activities.FetchResult{Cursor: cursorAt(1, "A")})
			var a *activities.Fetcher
			asked := 0
			e.OnActivity(a.NewestVersion, mock.Anything).Return(func(context.Context) (time.Time, error) {
				asked++
				return tt.newest, tt.err
			})
			in := tt.in
			in.PollsPerRun = 1
			e.ExecuteWorkflow(PollERP, in)
			require.Equal(t, tt.want, e.calls[0].in.Cursor)
			require.Positive(t, asked)
		})
	}
	t.Run("a poller with a cursor or a history does not ask", func(t *testing.T) {
		for _, in := range []PollInput{{Cursor: cursorAt(0, "0")}, {Totals: PollTotal{Polls: 3}}} {
			e := newPollEnv(t, activities.FetchResult{Cursor: cursorAt(1, "A")})
			var a *activities.Fetcher
			e.OnActivity(a.NewestVersion, mock.Anything).Return(newest, nil).Never()
			in.PollsPerRun = 1
			e.ExecuteWorkflow(PollERP, in)
			require.Equal(t, in.Cursor, e.calls[0].in.Cursor)
		}
	})
}
