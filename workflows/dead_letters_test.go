package workflows

import (
	"context"
	"encoding/json"
	"strings"
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
		{"purge unconfirmed", PurgeDeadLetters, PurgeInput{SelectDeadLetters: activities.SelectDeadLetters{All: true}, Operator: "alice"}, "Unconfirmed"},
		{"purge of nothing", PurgeDeadLetters, PurgeInput{Confirm: true, Operator: "alice"}, "InvalidInput"},
		{"purge without operator", PurgeDeadLetters, PurgeInput{SelectDeadLetters: activities.SelectDeadLetters{All: true}, Confirm: true}, "OperatorRequired"},
		{"purge by an operator with a control character", PurgeDeadLetters,
			PurgeInput{SelectDeadLetters: activities.SelectDeadLetters{All: true}, Confirm: true, Operator: "alice\x1b[2J"}, "InvalidOperator"},
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
	e.ExecuteWorkflow(PurgeDeadLetters, PurgeInput{SelectDeadLetters: sel, Confirm: true, Operator: "alice@example.com"})
	require.NoError(t, e.GetWorkflowError())
	var out PurgeResult
	require.NoError(t, e.GetWorkflowResult(&out))
	require.Equal(t, 1, out.Purged)
	require.Equal(t, []string{"abc"}, out.PurgedIDs)
	require.Equal(t, "alice@example.com", out.Operator, "the result says who asked")
	e.AssertExpectations(t)
}

// TestPurgeFromAnOldClientIsRefused: a client that predates the operator
// sends a confirmed purge without one; it fails clearly, and nothing runs.
func TestPurgeFromAnOldClientIsRefused(t *testing.T) {
	var in PurgeInput // what the old client sent, as the workflow reads it
	require.NoError(t, json.Unmarshal([]byte(`{"all":true,"confirm":true}`), &in))
	e := dlqEnv()
	e.ExecuteWorkflow(PurgeDeadLetters, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.GetWorkflowError(), &appErr)
	require.Equal(t, "OperatorRequired", appErr.Type())
	require.True(t, appErr.NonRetryable())
	require.Contains(t, appErr.Error(), "must say who asks")
	e.AssertExpectations(t)
}

func TestValidateOperator(t *testing.T) {
	for _, name := range []string{"alice", "alice@example.com", `CORP\alice`, "Zoë Müller", "ops-bot (on call)"} {
		require.NoError(t, ValidateOperator(name), name)
	}
	for name, want := range map[string]string{
		"":                       "no operator",
		strings.Repeat("a", 129): "129 bytes, at most 128",
		"\xffalice":              "not UTF-8",
		" alice":                 "spaces around",
		"alice\n":                "spaces around",
		"al\x00ice":              "unprintable",
		"alice\u202e":            "unprintable",
		"alice\tbob":             "unprintable",
	} {
		require.ErrorContains(t, ValidateOperator(name), want, "%q", name)
	}
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
