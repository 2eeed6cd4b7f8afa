package queue

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
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
// from about 100 ms up to about 1 s while connections keep failing, back to
// the start after one that lasted 10 s. The zero value is ready to use.
type Reconnect struct {
	b *backoff.ExponentialBackOff
}

// Next returns the pause after a connection that lasted up (0: it never got
// that far).
func (r *Reconnect) Next(up time.Duration) time.Duration {
	if r.b == nil {
		r.b = Backoff(reconnectMin, reconnectMax)
	}
	if up >= healthyAfter {
		r.b.Reset()
	}
	return r.b.NextBackOff()
}

// jitter spreads each pause by up to a fifth either way, so clients that
// lost the same server do not all come back in the same instant.
const jitter = 0.2

// Backoff returns pauses doubling from min up to max, each spread by the
// jitter: how every retry in the worker waits for a dependency to come back.
func Backoff(min, max time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: min, RandomizationFactor: jitter, Multiplier: 2, MaxInterval: max}
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
