package main

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/invsync/invsync/internal/config"
	"github.com/invsync/invsync/workflows"
)

// Bounds of telling the Reprice workflow of the rules.
const (
	// signalTimeout bounds one signal-with-start.
	signalTimeout = 10 * time.Second
	// signalRetry is the wait before a failed signal is sent again.
	signalRetry = 5 * time.Second
)

// rulesAnnouncer tells the source's Reprice workflow the version of the
// rules this worker prices with, starting the workflow if it is not running:
// as the worker starts and after each reload. Temporal being away delays the
// news, never stops the worker: the signal is sent again until it is taken,
// and only the newest version is sent.
type rulesAnnouncer struct {
	client   client.Client
	cfg      config.Config
	log      *slog.Logger
	versions chan string // the newest version not yet sent
	retry    time.Duration
}

func newRulesAnnouncer(c client.Client, cfg config.Config, log *slog.Logger) *rulesAnnouncer {
	return &rulesAnnouncer{client: c, cfg: cfg, log: log, versions: make(chan string, 1), retry: signalRetry}
}

// rules has version sent, in place of any version still waiting. It never
// blocks; call it from one goroutine at a time.
func (a *rulesAnnouncer) rules(version string) {
	select {
	case <-a.versions:
	default:
	}
	a.versions <- version
}

// run sends the versions until ctx is done.
func (a *rulesAnnouncer) run(ctx context.Context) {
	for {
		var version string
		select {
		case <-ctx.Done():
			return
		case version = <-a.versions:
		}
		for {
			err := a.send(ctx, version)
			if err == nil {
				break
			}
			a.log.Error("cannot tell the re-pricing workflow of the rules; trying again", "version", version, "error", err)
			select {
			case <-ctx.Done():
				return
			case version = <-a.versions: // newer rules: tell those instead
			case <-time.After(a.retry):
			}
		}
	}
}

func (a *rulesAnnouncer) send(ctx context.Context, version string) error {
	ctx, cancel := context.WithTimeout(ctx, signalTimeout)
	defer cancel()
	id := workflows.RepriceWorkflowID(a.cfg.Source)
	run, err := a.client.SignalWithStartWorkflow(ctx, id, workflows.SignalRulesChanged, version,
		client.StartWorkflowOptions{TaskQueue: a.cfg.ApplyTaskQueue},
		workflows.Reprice, workflows.RepriceInput{RulesVersion: version})
	if err != nil {
		return err
	}
	a.log.Info("re-pricing told of the rules", "version", version, "workflow", id, "run", run.GetRunID())
	return nil
}
