package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
)

// RegisterApply registers what runs on the apply task queue: the
// ApplyChanges and Reprice workflows, the dead-letter workflows, and the
// activities of a, which they use. Their names are those of the functions and of a's methods,
// which histories, the dlq command and the temporal CLI use.
func RegisterApply(r worker.Registry, a *activities.Applier) {
	r.RegisterWorkflow(ApplyChanges)
	r.RegisterWorkflow(Reprice)
	r.RegisterWorkflow(ListDeadLetters)
	r.RegisterWorkflow(ShowDeadLetters)
	r.RegisterWorkflow(ReplayDeadLetters)
	r.RegisterWorkflow(PurgeDeadLetters)
	r.RegisterWorkflow(ExplainSKU)
	r.RegisterActivity(a)
}

// retryForever retries transient failures with backoff and no attempt limit:
// an outage of the ERP, RabbitMQ or the storefront delays work, never drops it.
// Non-retryable application errors still end the activity.
var retryForever = &temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumInterval:    time.Minute,
}

// ApplyChanges validates, prices and upserts a staged batch; the rows that
// cannot be applied become dead letters with their reasons. Transient
// failures are retried without limit: a storefront outage delays a batch,
// never drops it.
func ApplyChanges(ctx workflow.Context, in ApplyInput) (ApplyResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         retryForever,
	})
	// The upsert heartbeats every second: a worker that died holding it is
	// noticed in seconds, while a large batch may take its time.
	upsertCtx := workflow.WithHeartbeatTimeout(ctx, 5*time.Second)
	var a *activities.Applier
	var up activities.UpsertResult
	if err := workflow.ExecuteActivity(upsertCtx, a.UpsertBatch, activities.UpsertInput{
		BatchID: in.BatchID, Changes: in.Changes,
	}).Get(ctx, &up); err != nil {
		return ApplyResult{}, err
	}
	res := ApplyResult{Applied: up.Applied, Stale: up.Stale, Rejected: up.DeadLettered + len(up.Rejected)}
	// A batch the input carries hands its letters back to be kept here.
	if len(up.Rejected) > 0 {
		if err := workflow.ExecuteActivity(ctx, a.DeadLetter, activities.DeadLetterInput{
			BatchID: in.BatchID, Letters: up.Rejected,
		}).Get(ctx, nil); err != nil {
			return res, err
		}
	}
	return res, nil
}
