package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
)

// ExplainSKU says why the storefront shows what it shows of one SKU: the
// ERP's row now, the storefront's row and what last wrote it, whether they
// agree and why not, the rules that price it, and its dead letters. Like the
// dead-letter operations it runs on the apply task queue, and an operator
// starts it (the dlq command, the worker's /explain.json, the temporal
// CLI). Its one ERP read runs on the ERP task queue, so the ERP still sees
// one query at a time.
func ExplainSKU(ctx workflow.Context, in activities.ExplainInput) (activities.Explanation, error) {
	var out activities.Explanation
	if err := in.Validate(); err != nil {
		return out, dlqInputError(err)
	}
	queue := in.ERPTaskQueue
	if queue == "" {
		queue = DefaultERPTaskQueue
	}
	erpCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: queue,
		// It waits its turn behind a poll or a reconcile step; a worker
		// that is not there ends the explanation rather than leaving it
		// open.
		ScheduleToCloseTimeout: 5 * time.Minute,
		StartToCloseTimeout:    time.Minute,
		RetryPolicy:            dlqRetry,
	})
	var r *activities.Reconciler
	var lookup activities.ERPLookup
	if err := workflow.ExecuteActivity(erpCtx, r.LookupSKU, in.SKU).Get(ctx, &lookup); err != nil {
		return out, err
	}
	var a *activities.Applier
	err := workflow.ExecuteActivity(readOptions(ctx), a.ExplainSKU,
		activities.ExplainRowInput{ExplainInput: in, ERP: lookup}).Get(ctx, &out)
	return out, err
}
