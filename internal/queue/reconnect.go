package queue

import (
	"context"
	"time"
)

// Reconnect pauses. They are short because a broker that drops its clients
// (a restart, a network blip) is usually back within seconds, and every
// second away is a second of changes not moving; a connection that stayed up
// a while proves the broker well again, so the next failure starts over.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = time.Second
	// healthyAfter is how long a connection must have lasted for the pause
	// after it to start again from reconnectMin.
	healthyAfter = 10 * time.Second
)

// Reconnect is the pause before each reconnection of a consumer: doubling
// from 100 ms up to 1 s while connections keep failing, back to 100 ms after
// one that lasted 10 s. The zero value is ready to use.
type Reconnect struct {
	last time.Duration
}

// Next returns the pause after a connection that lasted up (0: it never got
// that far).
func (r *Reconnect) Next(up time.Duration) time.Duration {
	if r.last == 0 || up >= healthyAfter {
		r.last = reconnectMin
	} else {
		r.last = min(2*r.last, reconnectMax)
	}
	return r.last
}

// Sleep waits d, or less if ctx ends first; it reports whether it waited
// the whole time.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
