// Command starter ensures the ERP poller workflow runs. Running it again is
// harmless: the poller has a fixed workflow ID per source and a second start
// finds the running one.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/invsync/invsync/internal/config"

	"github.com/invsync/invsync/workflows"
)

func main() {
	cfg, rest, err := config.Load("starter", os.Args[1:])
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments %q", rest)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config.Config) error {
	tc, err := cfg.DialCommand(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	id := workflows.PollWorkflowID(cfg.Source)
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                cfg.ERPTaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.PollERP, workflows.PollInput{
		Interval:       cfg.PollInterval,
		PageSize:       cfg.PageSize,
		PagesPerPoll:   cfg.PagesPerPoll,
		SettleDelay:    cfg.SettleDelay,
		QueueHighWater: cfg.QueueHighWater,
		ERPTaskQueue:   cfg.ERPTaskQueue,
		Lookback:       cfg.Lookback,
		LookbackEvery:  cfg.LookbackEvery,
	})
	if err != nil {
		return fmt.Errorf("start poller: %w", err)
	}
	fmt.Printf("poller running: workflow %s, run %s\n", run.GetID(), run.GetRunID())
	fmt.Printf("  status:  temporal workflow query --workflow-id %s --type %s\n", id, workflows.QueryStatus)
	fmt.Printf("  pause:   temporal workflow signal --workflow-id %s --name %s\n", id, workflows.SignalPause)
	fmt.Printf("  resume:  temporal workflow signal --workflow-id %s --name %s\n", id, workflows.SignalResume)
	fmt.Printf("  poll now: temporal workflow signal --workflow-id %s --name %s\n", id, workflows.SignalPollNow)
	return nil
}
