package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/inventory"
)

// DefaultApplyTaskQueue is where ApplyChanges workflows and their activities
// run.
const DefaultApplyTaskQueue = "invsync-apply"

// ApplyInput names one batch of changes from the changes queue. The consumer
// staged the batch's changes in the storefront under BatchID, so history
// holds the batch's name and size, not its rows.
type ApplyInput struct {
	BatchID string `json:"batch_id"`
	Rows    int    `json:"rows,omitempty"`
	// Changes carries the batch itself in workflows started before batches
	// were staged.
	Changes []inventory.Change `json:"changes,omitempty"`
}

// ApplyResult counts what became of the batch.
type ApplyResult struct {
	Applied  int `json:"applied"`
	Stale    int `json:"stale"`
	Rejected int `json:"rejected"`
}

// ApplyWorkflowID derives the workflow ID from the batch's message bodies, so
// a batch redelivered after a consumer crash maps to the workflow already
// started for it. Order does not matter.
func ApplyWorkflowID(bodies [][]byte) string {
	sums := make([][32]byte, len(bodies))
	for i, b := range bodies {
		sums[i] = sha256.Sum256(b)
	}
	slices.SortFunc(sums, func(a, b [32]byte) int { return slices.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	return "invsync-apply-" + hex.EncodeToString(h.Sum(nil)[:16])
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
