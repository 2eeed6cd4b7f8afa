package consumer

import "time"

// Reconnect pauses. They are short because a broker that drops consumers
// (a restart, a network blip) is usually back within seconds, and every
// second away is a second of changes not moving; a connection that stayed up
// a while proves the broker well again, so the next failure starts over.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = time.Second
	// healthyAfter is how long a connection must have consumed for the
	// pause after it to start again from reconnectMin.
	healthyAfter = 10 * time.Second
)

// reconnectBackoff is the pause before each reconnection: doubling from min
// up to max while connections keep failing, back to min after one that was
// healthy.
type reconnectBackoff struct {
	min, max, healthy time.Duration
	last              time.Duration
}

func newReconnectBackoff() *reconnectBackoff {
	return &reconnectBackoff{min: reconnectMin, max: reconnectMax, healthy: healthyAfter}
}

// next returns the pause after a connection that consumed for up (0: it
// never got that far).
func (b *reconnectBackoff) next(up time.Duration) time.Duration {
	if b.last == 0 || up >= b.healthy {
		b.last = b.min
	} else {
		b.last = min(2*b.last, b.max)
	}
	return b.last
}
