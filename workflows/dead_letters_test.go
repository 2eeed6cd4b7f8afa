package workflows

import (
	"context"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/deadletter"
)

func dlqEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	var a *activities.Applier
	e.RegisterActivity(a)
	return e
}

// TestDLQWorkflowsRefuseBadInputBeforeAnyActivity: an input no retry can
// fix fails the workflow at once, with nothing run.
func TestDLQWorkflowsRefuseBadInputBeforeAnyActivity(t *testing.T) {
	many := make([]string, activities.MaxShow+1)
	for _, tt := range []struct {
		name     string
		workflow any
		input    any
		errType  string
	}{
		{"purge unconfirmed", PurgeDeadLetters, PurgeInput{SelectDeadLetters: activities.SelectDeadLetters{All: true}}, "Unconfirmed"},
		{"purge of nothing", PurgeDeadLetters, PurgeInput{Confirm: true}, "InvalidInput"},
		{"replay of nothing", ReplayDeadLetters, activities.SelectDeadLetters{}, "InvalidInput"},
		{"replay of IDs and all", ReplayDeadLetters, activities.SelectDeadLetters{Filter: deadletter.Filter{IDs: []string{"a"}}, All: true}, "InvalidInput"},
		{"list too long", ListDeadLetters, activities.ListDeadLettersInput{Limit: activities.MaxListLimit + 1}, "InvalidInput"},
		{"show of nothing", ShowDeadLetters, activities.ShowDeadLettersInput{}, "InvalidInput"},
		{"show of too many", ShowDeadLetters, activities.ShowDeadLettersInput{IDs: many}, "InvalidInput"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := dlqEnv()
			e.ExecuteWorkflow(tt.workflow, tt.input)
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, e.GetWorkflowError(), &appErr)
			require.Equal(t, tt.errType, appErr.Type())
			require.True(t, appErr.NonRetryable())
			e.AssertExpectations(t) // no activity was expected, and none ran
		})
	}
}

func TestPurgeConfirmedRemovesTheSelection(t *testing.T) {
	e := dlqEnv()
	var a *activities.Applier
	sel := activities.SelectDeadLetters{Filter: deadletter.Filter{IDs: []string{"abc"}}}
	e.OnActivity(a.PurgeDeadLetters, mock.Anything, sel).Return(
		activities.PurgeDeadLettersResult{Purged: 1, PurgedIDs: []string{"abc"}}, nil).Once()
	e.ExecuteWorkflow(PurgeDeadLetters, PurgeInput{SelectDeadLetters: sel, Confirm: true})
	require.NoError(t, e.GetWorkflowError())
	var out activities.PurgeDeadLettersResult
	require.NoError(t, e.GetWorkflowResult(&out))
	require.Equal(t, 1, out.Purged)
	e.AssertExpectations(t)
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
			return activities.ReplayResult{Read: 2, Applied: 2}, nil
		})
	e.ExecuteWorkflow(ReplayDeadLetters, activities.SelectDeadLetters{All: true})
	require.NoError(t, e.GetWorkflowError())
	var out activities.ReplayResult
	require.NoError(t, e.GetWorkflowResult(&out))
	require.Equal(t, 2, out.Applied)
	require.Equal(t, 2, calls)
}

func TestListAndShowPassTheirInputOn(t *testing.T) {
	e := dlqEnv()
	var a *activities.Applier
	list := activities.ListDeadLettersInput{Filter: deadletter.Filter{Reason: "quantity_negative"}, Limit: 5}
	e.OnActivity(a.ListDeadLetters, mock.Anything, list).Return(activities.ListDeadLettersResult{}, nil).Once()
	e.ExecuteWorkflow(ListDeadLetters, list)
	require.NoError(t, e.GetWorkflowError())
	e.AssertExpectations(t)

	e = dlqEnv()
	show := activities.ShowDeadLettersInput{IDs: []string{"abc", "def"}}
	e.OnActivity(a.ShowDeadLetters, mock.Anything, show).Return(
		activities.ShowDeadLettersResult{NotFound: []string{"def"}}, nil).Once()
	e.ExecuteWorkflow(ShowDeadLetters, show)
	require.NoError(t, e.GetWorkflowError())
	var out activities.ShowDeadLettersResult
	require.NoError(t, e.GetWorkflowResult(&out))
	require.Equal(t, []string{"def"}, out.NotFound)
}
