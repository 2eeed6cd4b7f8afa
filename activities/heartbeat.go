package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// heartbeat records an activity's latest details now and then, on a ticker
// as well as at each record, so a slow step does not look like a dead
// worker while a dead worker is noticed within the heartbeat timeout.
type heartbeat[T any] struct {
	ctx    context.Context
	mu     sync.Mutex
	last   T
	cancel context.CancelFunc
	done   chan struct{}
}

func startHeartbeat[T any](ctx context.Context, every time.Duration, first T) *heartbeat[T] {
	tctx, cancel := context.WithCancel(ctx)
	h := &heartbeat[T]{ctx: ctx, last: first, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
				h.mu.Lock()
				activity.RecordHeartbeat(ctx, h.last)
				h.mu.Unlock()
			}
		}
	}()
	return h
}

// record makes d the details, and records them now.
func (h *heartbeat[T]) record(d T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = d
	activity.RecordHeartbeat(h.ctx, d)
}

// stop ends the ticker and waits for it.
func (h *heartbeat[T]) stop() {
	h.cancel()
	<-h.done
}

// keepAlive heartbeats the activity of ctx every second until the returned
// func is called, so a worker that dies holding it is noticed within the
// heartbeat timeout rather than its whole start-to-close timeout. Outside an
// activity (a direct call in a test, or from another activity) it does
// nothing.
func keepAlive(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	return startHeartbeat(ctx, time.Second, struct{}{}).stop
}
