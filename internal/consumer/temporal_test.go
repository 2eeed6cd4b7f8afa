package consumer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/workflows"
)

// temporalCLI finds the temporal CLI that dev/test installs.
func temporalCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("INVSYNC_TEMPORAL_CLI"); p != "" {
		return p
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("the temporal CLI is needed for a Temporal dev server: run dev/test, which installs it")
	return ""
}

// heldApply stands in for ApplyChanges: it stays open until signalled.
func heldApply(ctx workflow.Context, in workflows.ApplyInput) (workflows.ApplyResult, error) {
	workflow.GetSignalChannel(ctx, "close").Receive(ctx, nil)
	return workflows.ApplyResult{Applied: in.Rows}, nil
}

// stager keeps staged batches in memory.
type stager struct{ staged map[string][]byte }

func (s *stager) StageBatch(_ context.Context, id string, _ int, changes []byte) error {
	s.staged[id] = changes
	return nil
}

// TestTemporalStarterOnARealServer checks what the pool relies on from
// Temporal: Wait returns when the workflow closes, however it closes, a
// repeated start finds the workflow of the first, and an input over the
// payload limit is refused with InvalidArgument.
func TestTemporalStarterOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  temporalCLI(t),
		ClientOptions: &client.Options{Namespace: "default"},
		LogLevel:      "error",
		Stdout:        testWriter{t}, Stderr: testWriter{t},
	})
	require.NoError(t, err)
	defer srv.Stop()
	tc := srv.Client()
	defer tc.Close()
	const taskQueue = "consumer-test"
	w := worker.New(tc, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(heldApply, workflow.RegisterOptions{Name: "ApplyChanges"})
	require.NoError(t, w.Start())
	defer w.Stop()
	staged := &stager{staged: map[string][]byte{}}
	starter := TemporalStarter{Client: tc, TaskQueue: taskQueue, Stage: staged}

	changes := func(category string) []inventory.Change {
		at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
		q, p := int64(1), "1.00"
		return []inventory.Change{{SKU: "A", Quantity: &q, Price: &p, Category: &category, LastModified: at, ObservedAt: at}}
	}
	open := func(b Batch) bool {
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		return b.Wait(wctx) != nil
	}
	closes := func(b Batch) {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, b.Wait(wctx))
	}

	// Started, open until it completes; a second start while it runs and one
	// after it completed find the same workflow.
	first, err := starter.StartBatch(ctx, "consumer-test-a", changes("x"))
	require.NoError(t, err)
	require.True(t, open(first))
	again, err := starter.StartBatch(ctx, "consumer-test-a", changes("x"))
	require.NoError(t, err)
	require.True(t, open(again))
	require.NoError(t, tc.SignalWorkflow(ctx, "consumer-test-a", "", "close", nil))
	closes(first)
	closes(again)
	after, err := starter.StartBatch(ctx, "consumer-test-a", changes("x"))
	require.NoError(t, err)
	closes(after)
	desc, err := tc.DescribeWorkflowExecution(ctx, "consumer-test-a", "")
	require.NoError(t, err)
	require.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.WorkflowExecutionInfo.Status,
		"the completed workflow was not run again")

	// A terminated workflow is closed too.
	b, err := starter.StartBatch(ctx, "consumer-test-b", changes("x"))
	require.NoError(t, err)
	require.True(t, open(b))
	require.NoError(t, tc.TerminateWorkflow(ctx, "consumer-test-b", "", "test"))
	closes(b)

	// A batch's changes are staged, and its workflow input is its name and
	// size alone, however large the batch.
	_, err = starter.StartBatch(ctx, "consumer-test-big", changes(strings.Repeat("x", 3<<20)))
	require.NoError(t, err)
	require.Greater(t, len(staged.staged["consumer-test-big"]), 3<<20)
	hist := tc.GetWorkflowHistory(ctx, "consumer-test-big", "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	started, err := hist.Next()
	require.NoError(t, err)
	input := started.GetWorkflowExecutionStartedEventAttributes().GetInput()
	require.Less(t, input.Size(), 200, "workflow input: %s", input)
	require.NoError(t, tc.TerminateWorkflow(ctx, "consumer-test-big", "", "test"))

	// Inputs over the payload limit are refused, whatever their size: over
	// 2 MB Temporal says InvalidArgument, over 4 MB gRPC refuses the request
	// before Temporal sees it. Neither is a failure worth retrying.
	for _, size := range []int{3 << 20, 6 << 20} {
		_, err = tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "consumer-test-refused", TaskQueue: taskQueue},
			"ApplyChanges", workflows.ApplyInput{BatchID: strings.Repeat("x", size)})
		require.Error(t, err)
		require.Equal(t, refused, classify(err), "%d bytes: %T %v", size, err, err)
		t.Logf("%d MB input: %T %v", size>>20, err, err)
	}
}

// testWriter sends a server's output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
