package workflows

import (
	"context"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/queue"
)

func dlqEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	var a *activities.Applier
	e.RegisterActivity(a)
	return e
}

func TestPurgeNeedsConfirmation(t *testing.T) {
	e := dlqEnv()
	var a *activities.Applier
	e.OnActivity(a.PurgeDeadLetters, mock.Anything, mock.Anything).Return(activities.PurgeDeadLettersResult{}, nil).Maybe()
	e.ExecuteWorkflow(PurgeDeadLetters, PurgeInput{SelectDeadLetters: activities.SelectDeadLetters{All: true}})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.GetWorkflowError(), &appErr)
	require.Equal(t, "Unconfirmed", appErr.Type())
	e.AssertNotCalled(t, "PurgeDeadLetters", mock.Anything, mock.Anything)
}

func TestPurgeConfirmedRemovesTheSelection(t *testing.T) {
	e := dlqEnv()
	var a *activities.Applier
	sel := activities.SelectDeadLetters{IDs: []string{"abc"}}
	e.OnActivity(a.PurgeDeadLetters, mock.Anything, sel).Return(
		activities.PurgeDeadLettersResult{Purged: []queue.Letter{{ID: "abc"}}}, nil).Once()
	e.ExecuteWorkflow(PurgeDeadLetters, PurgeInput{SelectDeadLetters: sel, Confirm: true})
	require.NoError(t, e.GetWorkflowError())
	var out activities.PurgeDeadLettersResult
	require.NoError(t, e.GetWorkflowResult(&out))
	require.Len(t, out.Purged, 1)
}

func TestReplayRetriesATransientFailure(t *testing.T) {
	e := dlqEnv()
	var a *activities.Applier
	calls := 0
	e.OnActivity(a.ReplayDeadLetters, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.SelectDeadLetters) (activities.ReplayResult, error) {
			calls++
			if calls == 1 {
				return activities.ReplayResult{}, context.DeadlineExceeded
			}
			return activities.ReplayResult{Taken: 2, Applied: 2}, nil
		})
	e.ExecuteWorkflow(ReplayDeadLetters, activities.SelectDeadLetters{All: true})
	require.NoError(t, e.GetWorkflowError())
	var out activities.ReplayResult
	require.NoError(t, e.GetWorkflowResult(&out))
	require.Equal(t, 2, out.Applied)
	require.Equal(t, 2, calls)
}
