package consumer

import (
	"context"
	"errors"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/workflows"
)

// Stager keeps a batch's changes until its workflow applies them.
type Stager interface {
	StageBatch(ctx context.Context, id string, rows int, changes []byte) error
}

// TemporalStarter stages batches in the storefront and starts their
// ApplyChanges workflows.
type TemporalStarter struct {
	Client    client.Client
	TaskQueue string
	Stage     Stager
	// Source names the ERP source, in each batch's memo.
	Source string
}

// StartBatch stages the batch's changes, then starts its workflow under its
// deterministic ID with only the ID and size as input: workflow history stays
// small whatever the batch holds. A batch whose workflow is running or has
// already run is not started again: the server finds the existing workflow
// (or rejects the duplicate ID), and that workflow is the one to wait on.
func (s TemporalStarter) StartBatch(ctx context.Context, id string, changes []inventory.Change) (Batch, error) {
	body, err := inventory.EncodeChanges(changes)
	if err != nil {
		return nil, err
	}
	if err := s.Stage.StageBatch(ctx, id, len(changes), body); err != nil {
		return nil, err
	}
	run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                s.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		Memo:                     batchMemo(s.Source, changes),
	}, workflows.ApplyChanges, workflows.ApplyInput{BatchID: id, Rows: len(changes)})
	if started, ok := errors.AsType[*serviceerror.WorkflowExecutionAlreadyStarted](err); ok {
		return temporalBatch{client: s.Client, id: id, runID: started.RunId}, nil
	}
	if err != nil {
		return nil, err
	}
	return temporalBatch{client: s.Client, id: run.GetID(), runID: run.GetRunID()}, nil
}

// temporalBatch is one ApplyChanges workflow.
type temporalBatch struct {
	client    client.Client
	id, runID string
}

// Wait long-polls the workflow's history for its close. A run that
// continues (a retry, continue-as-new) is followed to the last one.
func (b temporalBatch) Wait(ctx context.Context) error {
	err := b.client.GetWorkflow(ctx, b.id, b.runID).Get(ctx, nil)
	switch {
	case is[*temporal.WorkflowExecutionError](err):
		return nil // closed without completing: failed, terminated, timed out or canceled
	case is[*serviceerror.NotFound](err):
		return nil // closed so long ago that its history is gone
	}
	return err
}
