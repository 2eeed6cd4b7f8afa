package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/queue"
)

// The DLQ operations are workflows on the apply task queue, so each one an
// operator runs (with the dlq command or the temporal CLI) is in the Web UI
// with its input and result.

// PurgeInput selects letters to remove for good. Confirm must be true: a
// purge cannot be undone.
type PurgeInput struct {
	activities.SelectDeadLetters
	Confirm bool `json:"confirm"`
}

// dlqOptions bound an operation: reading the DLQ is quick, and a failed
// attempt leaves every letter in place, so a few retries are safe.
func dlqOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumAttempts:    5,
		},
	})
}

// ListDeadLetters shows letters in the DLQ without removing them.
func ListDeadLetters(ctx workflow.Context, in activities.ListDeadLettersInput) ([]queue.Letter, error) {
	var a *activities.Applier
	var out []queue.Letter
	err := workflow.ExecuteActivity(dlqOptions(ctx), a.ListDeadLetters, in).Get(ctx, &out)
	return out, err
}

// ReplayDeadLetters sends letters back through validation, pricing and the
// upsert with the rules in force; those that fail again return to the DLQ.
func ReplayDeadLetters(ctx workflow.Context, in activities.SelectDeadLetters) (activities.ReplayResult, error) {
	var a *activities.Applier
	var out activities.ReplayResult
	err := workflow.ExecuteActivity(dlqOptions(ctx), a.ReplayDeadLetters, in).Get(ctx, &out)
	return out, err
}

// PurgeDeadLetters removes letters for good, once confirmed.
func PurgeDeadLetters(ctx workflow.Context, in PurgeInput) (activities.PurgeDeadLettersResult, error) {
	if !in.Confirm {
		return activities.PurgeDeadLettersResult{}, temporal.NewNonRetryableApplicationError(
			"a purge removes dead letters for good: run it again with confirm: true", "Unconfirmed", nil)
	}
	var a *activities.Applier
	var out activities.PurgeDeadLettersResult
	err := workflow.ExecuteActivity(dlqOptions(ctx), a.PurgeDeadLetters, in.SelectDeadLetters).Get(ctx, &out)
	return out, err
}
