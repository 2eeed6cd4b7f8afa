package monitor

import (
	"math"
	"sync"
	"time"

	"github.com/invsync/invsync/internal/telemetry"
)

// HistoryWindow is how far back the status page's charts look.
const HistoryWindow = time.Hour

// Point is one sample of the history the charts draw. A figure that could
// not be read for the sample is NaN: the chart leaves a gap there.
type Point struct {
	At time.Time
	// RowsPerSecond is rows written to the storefront per second since the
	// sample before.
	RowsPerSecond float64
	// FreshnessP50 and FreshnessP99 are seconds, over the rows written
	// since the sample before (NaN when none was).
	FreshnessP50, FreshnessP99 float64
	// Queue is the changes queue's ready and unacknowledged messages.
	Queue float64
}

// History keeps the last points in a ring of fixed size: its memory does not
// grow however long the worker runs. It is safe for concurrent use.
type History struct {
	mu     sync.Mutex
	points []Point // the ring, len == capacity
	next   int     // where the next point goes
	n      int     // points held

	prev    telemetry.Totals // the reading the next point's deltas start from
	prevAt  time.Time
	hasPrev bool
}

// NewHistory keeps HistoryWindow's worth of points taken every period.
func NewHistory(every time.Duration) *History {
	size := int(HistoryWindow/max(every, time.Second)) + 1
	return &History{points: make([]Point, size)}
}

// Add appends a point, overwriting the oldest once the ring is full.
func (h *History) Add(p Point) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.points[h.next] = p
	h.next = (h.next + 1) % len(h.points)
	h.n = min(h.n+1, len(h.points))
}

// Points returns a copy of the points held, oldest first.
func (h *History) Points() []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Point, 0, h.n)
	start := (h.next - h.n + len(h.points)) % len(h.points)
	for i := range h.n {
		out = append(out, h.points[(start+i)%len(h.points)])
	}
	return out
}

// Record adds the point of a sample taken at at: the process's counters tot
// (ok false when they could not be read) and the changes queue's depth
// (queue < 0 when it could not be read). Rates and quantiles are over the
// window since the last reading: NaN at the first.
func (h *History) Record(at time.Time, tot telemetry.Totals, ok bool, queue int64) {
	p := Point{At: at, RowsPerSecond: math.NaN(), FreshnessP50: math.NaN(), FreshnessP99: math.NaN(), Queue: math.NaN()}
	if queue >= 0 {
		p.Queue = float64(queue)
	}
	h.mu.Lock()
	if ok {
		if dt := at.Sub(h.prevAt).Seconds(); h.hasPrev && dt > 0 && tot.Applied >= h.prev.Applied {
			p.RowsPerSecond = float64(tot.Applied-h.prev.Applied) / dt
			if w := tot.Freshness.Since(h.prev.Freshness); w.Count > 0 {
				p.FreshnessP50, p.FreshnessP99 = windowQuantile(w, 0.5), windowQuantile(w, 0.99)
			}
		}
		h.prev, h.prevAt, h.hasPrev = tot, at, true
	}
	h.mu.Unlock()
	h.Add(p)
}

// windowQuantile is the window's quantile in seconds; past the last bucket
// it is the last bound, the least the quantile can be.
func windowQuantile(w telemetry.Histogram, q float64) float64 {
	if d := w.Quantile(q); d > 0 {
		return d.Seconds()
	}
	top := 0.0
	for ub := range w.Buckets {
		if !math.IsInf(ub, 1) {
			top = max(top, ub)
		}
	}
	return top
}
