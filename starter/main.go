// Command starter ensures the ERP poller workflow runs, and that the Temporal
// Schedule of the source's reconcile exists with the configured interval.
// Running it again is harmless: the poller has a fixed workflow ID per source
// and a second start finds the running one; the schedule is updated in place.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

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
	return ensureReconcileSchedule(ctx, tc, cfg)
}

// ensureReconcileSchedule creates or updates the schedule that starts the
// source's reconcile every cfg.ReconcileEvery, or deletes it when that is 0.
// A reconcile still running when the next is due is left to finish; the due
// one is skipped.
func ensureReconcileSchedule(ctx context.Context, tc client.Client, cfg config.Config) error {
	id := workflows.ReconcileWorkflowID(cfg.Source)
	sc := tc.ScheduleClient()
	if cfg.ReconcileEvery == 0 {
		err := sc.GetHandle(ctx, id).Delete(ctx)
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("delete reconcile schedule: %w", err)
		}
		fmt.Println("reconcile: no schedule (reconcile-every is 0)")
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: cfg.ReconcileEvery}}}
	action := &client.ScheduleWorkflowAction{
		ID:        id,
		Workflow:  workflows.Reconcile,
		TaskQueue: cfg.ERPTaskQueue,
		Args:      []any{workflows.ReconcileInput{Policy: cfg.ReconcilePolicy, ERPTaskQueue: cfg.ERPTaskQueue}},
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{ID: id, Spec: spec, Action: action, Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec, s.Action = &spec, action
				if s.Policy == nil {
					s.Policy = &client.SchedulePolicies{}
				}
				s.Policy.Overlap = enums.SCHEDULE_OVERLAP_POLICY_SKIP
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
	}
	if err != nil {
		return fmt.Errorf("reconcile schedule: %w", err)
	}
	fmt.Printf("reconcile scheduled every %s: schedule %s\n", cfg.ReconcileEvery, id)
	fmt.Printf("  run one now: temporal schedule trigger --schedule-id %s\n", id)
	fmt.Printf("  its runs:    temporal workflow list --query \"WorkflowType='Reconcile'\"\n")
	return nil
}
