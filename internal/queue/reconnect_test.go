package queue_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/queue"
)

func TestReconnect(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name string
		ups  []time.Duration // how long each connection lasted
		want []time.Duration // the pause after each
	}{
		{"doubles up to a second, give or take a fifth", []time.Duration{0, 0, 0, 0, 0, 0}, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
		{"a short connection does not reset", []time.Duration{0, 0, 0, 9 * time.Second}, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms}},
		{"a healthy connection resets", []time.Duration{0, 0, 0, 0, 0, 10 * time.Second, 0}, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, 100 * ms, 200 * ms}},
		{"first drop after a long run", []time.Duration{time.Hour}, []time.Duration{100 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r queue.Reconnect
			var got []time.Duration
			for _, up := range tc.ups {
				got = append(got, r.Next(up))
			}
			require.Len(t, got, len(tc.want))
			for i := range got {
				require.InEpsilon(t, float64(tc.want[i]), float64(got[i]), 0.2+1e-9, "pause %d: %s", i, got)
			}
		})
	}
}
