package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/invsync/invsync/internal/config"
	"github.com/invsync/invsync/workflows"
)

// signals is a Temporal client that refuses the first signals, then keeps
// the versions signalled.
type signals struct {
	client.Client
	mu       sync.Mutex
	refuse   int
	versions []string
}

func (s *signals) SignalWithStartWorkflow(_ context.Context, id, name string, arg any, opts client.StartWorkflowOptions,
	_ any, args ...any) (client.WorkflowRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "invsync-reprice-erp" || name != workflows.SignalRulesChanged || opts.TaskQueue != "apply" ||
		args[0].(workflows.RepriceInput).RulesVersion != arg {
		return nil, errors.New("unexpected call")
	}
	if s.refuse > 0 {
		s.refuse--
		return nil, errors.New("temporal is away")
	}
	s.versions = append(s.versions, arg.(string))
	return startedRun{}, nil
}

type startedRun struct{ client.WorkflowRun }

func (startedRun) GetRunID() string { return "run-1" }

func (s *signals) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.versions...)
}

func TestRulesAnnouncerRetriesAndSendsTheNewestVersion(t *testing.T) {
	c := &signals{refuse: 2}
	a := newRulesAnnouncer(c, config.Config{Source: "erp", ApplyTaskQueue: "apply"}, slog.New(slog.DiscardHandler))
	a.retry = time.Millisecond
	a.rules("v1")
	a.rules("v2") // before the first was sent: only the newest goes
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.run(ctx); close(done) }()
	require.Eventually(t, func() bool { return len(c.sent()) == 1 }, 5*time.Second, time.Millisecond)
	a.rules("v3")
	require.Eventually(t, func() bool { return len(c.sent()) == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []string{"v2", "v3"}, c.sent())
	cancel()
	<-done
}
