package consumer

import (
	"context"
	"errors"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/invsync/invsync/workflows"
)

// TemporalStarter starts ApplyChanges workflows.
type TemporalStarter struct {
	Client    client.Client
	TaskQueue string
}

// StartBatch starts the batch's workflow under its deterministic ID. A batch
// whose workflow is running or has already run is not started again: the
// server rejects the duplicate ID, and that counts as success.
func (s TemporalStarter) StartBatch(ctx context.Context, in workflows.ApplyInput) error {
	_, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       in.BatchID,
		TaskQueue:                s.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.ApplyChanges, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return err
}
