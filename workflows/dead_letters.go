package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// MaxOperatorLength bounds an operator's name, in bytes.
const MaxOperatorLength = 128

// ValidateOperator says what is wrong with the name of an operator who asks
// for a destructive operation: it must be a plain name (a login, an e-mail
// address), printable, without surrounding spaces, of at most
// MaxOperatorLength bytes.
func ValidateOperator(name string) error {
	switch {
	case name == "":
		return errors.New("no operator: a purge removes dead letters for good, so it must say who asks " +
			`(input "operator"; the dlq command's -operator, $INVSYNC_OPERATOR or the OS user)`)
	case len(name) > MaxOperatorLength:
		return fmt.Errorf("operator: %d bytes, at most %d", len(name), MaxOperatorLength)
	case !utf8.ValidString(name):
		return errors.New("operator: not UTF-8")
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("operator %q: spaces around the name", name)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("operator %q: control or other unprintable characters", name)
	}
	return nil
}

// PurgeResult is what a purge removed, and who asked for it.
type PurgeResult struct {
	activities.PurgeDeadLettersResult
	Operator string `json:"operator,omitempty"`
}

// PurgeDeadLetters removes letters for good, once confirmed by a named
// operator, whom it logs and returns with the counts.
func PurgeDeadLetters(ctx workflow.Context, in PurgeInput) (PurgeResult, error) {
	out := PurgeResult{Operator: in.Operator}
	if !in.Confirm {
		return out, temporal.NewNonRetryableApplicationError(
			"a purge removes dead letters for good: run it again with confirm: true", "Unconfirmed", nil)
	}
	if err := ValidateOperator(in.Operator); err != nil {
		errType := "InvalidOperator"
		if in.Operator == "" {
			errType = "OperatorRequired"
		}
		return out, temporal.NewNonRetryableApplicationError(err.Error(), errType, nil)
	}
	if err := in.Validate(); err != nil {
		return out, dlqInputError(err)
	}
	log := workflow.GetLogger(ctx)
	log.Info("purge of dead letters", "operator", in.Operator, "all", in.All, "ids", len(in.IDs), "reason", in.Reason)
	var a *activities.Applier
	err := workflow.ExecuteActivity(chunkedOptions(ctx), a.PurgeDeadLetters, in.SelectDeadLetters).Get(ctx, &out.PurgeDeadLettersResult)
	if err == nil {
		log.Info("dead letters purged", "operator", in.Operator, "purged", out.Purged, "not_found", len(out.NotFound))
	}
	return out, err
}
