package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
)

// DefaultApplyTaskQueue is where ApplyChanges workflows and their activities
// run.
const DefaultApplyTaskQueue = "invsync-apply"

// ApplyInput is one batch of deliveries from the changes queue.
type ApplyInput struct {
	BatchID string             `json:"batch_id"`
	Changes []inventory.Change `json:"changes"`
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

// ApplyChanges validates, prices and upserts a batch, then sends the rows that
// cannot be applied to the DLQ with their reasons. Transient failures are
// retried without limit: a storefront outage delays a batch, never drops it.
func ApplyChanges(ctx workflow.Context, in ApplyInput) (ApplyResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         retryForever,
	})
	// The upsert heartbeats every second: a worker that died holding it is
	// noticed in seconds, while a large batch may take its time.
	upsertCtx := workflow.WithHeartbeatTimeout(ctx, 5*time.Second)
	var a *activities.Applier
	var res ApplyResult
	var letters []deadletter.Letter
	if len(in.Changes) > 0 {
		var up activities.UpsertResult
		if err := workflow.ExecuteActivity(upsertCtx, a.UpsertBatch, activities.UpsertInput{
			BatchID: in.BatchID, Changes: in.Changes,
		}).Get(ctx, &up); err != nil {
			return res, err
		}
		res.Applied, res.Stale = up.Applied, up.Stale
		letters = append(letters, up.Rejected...)
	}
	res.Rejected = len(letters)
	if len(letters) > 0 {
		if err := workflow.ExecuteActivity(ctx, a.DeadLetter, activities.DeadLetterInput{
			BatchID: in.BatchID, Letters: letters,
		}).Get(ctx, nil); err != nil {
			return res, err
		}
	}
	return res, nil
}
