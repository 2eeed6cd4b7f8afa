package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
)

// The DLQ operations are workflows on the apply task queue, so each one an
// operator runs (with the dlq command or the temporal CLI) is in the Web UI
// with its input and result. Inputs and results stay small whatever the size
// of the DLQ: listings are bounded, replays and purges return counts.

// dlqRetry retries an operation a few times: reading changes nothing, and a
// replay or purge picks up after its last heartbeat.
var dlqRetry = &temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumAttempts:    5,
}

// readOptions bound a listing: one or two quick queries.
func readOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         dlqRetry,
	})
}

// chunkedOptions bound a replay or purge: it may go through any number of
// letters, so it is long-lived but heartbeats after each chunk, and a worker
// that dies holding it is noticed within the heartbeat timeout.
func chunkedOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         dlqRetry,
	})
}

// dlqInputError is the error of an input no retry can make valid.
func dlqInputError(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
}

// ListDeadLetters lists letters, most recently written first, without their
// payloads, and counts them all.
func ListDeadLetters(ctx workflow.Context, in activities.ListDeadLettersInput) (activities.ListDeadLettersResult, error) {
	var out activities.ListDeadLettersResult
	if err := in.Validate(); err != nil {
		return out, dlqInputError(err)
	}
	var a *activities.Applier
	err := workflow.ExecuteActivity(readOptions(ctx), a.ListDeadLetters, in).Get(ctx, &out)
	return out, err
}

// ShowDeadLetters returns letters in full, payload included.
func ShowDeadLetters(ctx workflow.Context, in activities.ShowDeadLettersInput) (activities.ShowDeadLettersResult, error) {
	var out activities.ShowDeadLettersResult
	if err := in.Validate(); err != nil {
		return out, dlqInputError(err)
	}
	var a *activities.Applier
	err := workflow.ExecuteActivity(readOptions(ctx), a.ShowDeadLetters, in).Get(ctx, &out)
	return out, err
}

// ReplayDeadLetters sends letters back through validation, pricing and the
// upsert with the rules in force; those that fail again stay, one attempt
// more.
func ReplayDeadLetters(ctx workflow.Context, in activities.SelectDeadLetters) (activities.ReplayResult, error) {
	var out activities.ReplayResult
	if err := in.Validate(); err != nil {
		return out, dlqInputError(err)
	}
	var a *activities.Applier
	err := workflow.ExecuteActivity(chunkedOptions(ctx), a.ReplayDeadLetters, in).Get(ctx, &out)
	return out, err
}

// PurgeDeadLetters removes letters for good, once confirmed.
func PurgeDeadLetters(ctx workflow.Context, in PurgeInput) (activities.PurgeDeadLettersResult, error) {
	var out activities.PurgeDeadLettersResult
	if !in.Confirm {
		return out, temporal.NewNonRetryableApplicationError(
			"a purge removes dead letters for good: run it again with confirm: true", "Unconfirmed", nil)
	}
	if err := in.Validate(); err != nil {
		return out, dlqInputError(err)
	}
	var a *activities.Applier
	err := workflow.ExecuteActivity(chunkedOptions(ctx), a.PurgeDeadLetters, in.SelectDeadLetters).Get(ctx, &out)
	return out, err
}
