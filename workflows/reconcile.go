package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/activities"
)

// Reconcile makes the storefront equal rules(ERP) where the change stream
// cannot: rows deleted from the ERP, rows edited by hand in the storefront,
// rows restored in the ERP with older values. It walks the SKUs in chunks,
// a bounded step of chunks per activity on the ERP task queue (one ERP query
// at a time, taking turns with the poller), and returns what it did. A
// Temporal Schedule starts it (nightly by default); its progress is in its
// status query and its activity's heartbeats, so a retried step resumes.
func Reconcile(ctx workflow.Context, in ReconcileInput) (ReconcileStatus, error) {
	in = in.withDefaults()
	status := ReconcileStatus{After: in.After, Counts: in.Counts}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (ReconcileStatus, error) { return status, nil }); err != nil {
		return status, err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           in.ERPTaskQueue,
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		// An ERP or storefront outage delays a reconcile; the Web UI shows
		// the attempts and the last failure meanwhile.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var r *activities.Reconciler
	for step := 0; ; step++ {
		if step == in.StepsPerRun {
			in.After, in.Counts = status.After, status.Counts
			return status, workflow.NewContinueAsNewError(ctx, Reconcile, in)
		}
		var res activities.ReconcileResult
		err := workflow.ExecuteActivity(ctx, r.ReconcileChunks, activities.ReconcileInput{
			After: status.After, ChunkRows: in.ChunkRows, MaxChunks: DefaultReconcileChunksPerStep,
			MaxDuration: DefaultReconcileStepTime, Policy: in.Policy,
		}).Get(ctx, &res)
		if err != nil {
			return status, fmt.Errorf("reconcile after %q: %w", status.After, err)
		}
		status.After, status.Done = res.After, res.Done
		status.Counts.Add(res.Counts)
		if res.Done {
			workflow.GetLogger(ctx).Info("reconcile done", "chunks", status.Counts.Chunks, "rows_read", status.Counts.RowsRead,
				"fixed", status.Counts.Fixed, "discontinued", status.Counts.Discontinued, "restored", status.Counts.Restored)
			return status, nil
		}
	}
}
