package workflows

import "testing"

// TestPollStateFromFacts pins which fact wins when several hold: the state
// a query sees at each point where the poller waits.
func TestPollStateFromFacts(t *testing.T) {
	for _, c := range []struct {
		name  string
		facts pollFacts
		want  string
	}{
		{"before the first poll, or waiting after one", pollFacts{}, StateIdle},
		{"polling, a backlog or a look-back", pollFacts{polling: true}, StatePolling},
		{"waiting after a throttled poll", pollFacts{throttled: true}, StateThrottled},
		{"polling again after a throttled poll", pollFacts{polling: true, throttled: true}, StatePolling},
		{"waiting after a failed poll", pollFacts{failing: true}, StateFailing},
		{"polling again while failing", pollFacts{failing: true, polling: true}, StateFailing},
		{"paused", pollFacts{paused: true}, StatePaused},
		{"paused in the middle of a backlog", pollFacts{paused: true, polling: true}, StatePaused},
	} {
		if got := c.facts.state(); got != c.want {
			t.Errorf("%s: %+v gives %q, want %q", c.name, c.facts, got, c.want)
		}
	}
}
