package monitor

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/telemetry"
)

func TestHistoryKeepsTheLastHourInBoundedMemory(t *testing.T) {
	h := NewHistory(5 * time.Second)
	require.Len(t, h.points, 721, "an hour of 5 s samples, both ends included")
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range 2000 {
		h.Add(Point{At: t0.Add(time.Duration(i) * 5 * time.Second), Queue: float64(i)})
	}
	pts := h.Points()
	require.Len(t, pts, 721)
	require.Len(t, h.points, 721, "the ring never grows")
	require.Equal(t, float64(2000-721), pts[0].Queue, "oldest first")
	require.Equal(t, float64(1999), pts[720].Queue)
	require.Len(t, NewHistory(0).points, 3601, "a period under a second counts as one")
}

func TestHistoryRecordsRatesAndFreshnessPerWindow(t *testing.T) {
	h := NewHistory(5 * time.Second)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	fresh := func(count uint64, le map[float64]uint64) telemetry.Histogram {
		return telemetry.Histogram{Count: count, Buckets: le}
	}
	h.Record(t0, telemetry.Totals{Applied: 1000, Freshness: fresh(1000, map[float64]uint64{1: 1000, 10: 1000, 120: 1000})}, true, 50)
	h.Record(t0.Add(5*time.Second), telemetry.Totals{Applied: 1500, Freshness: fresh(1500, map[float64]uint64{1: 1000, 10: 1450, 120: 1500})}, true, 20)
	h.Record(t0.Add(10*time.Second), telemetry.Totals{Applied: 1500, Freshness: fresh(1500, map[float64]uint64{1: 1000, 10: 1450, 120: 1500})}, true, -1)
	h.Record(t0.Add(15*time.Second), telemetry.Totals{}, false, 7)

	pts := h.Points()
	require.Len(t, pts, 4)
	require.True(t, math.IsNaN(pts[0].RowsPerSecond), "the first reading only starts the window")
	require.Equal(t, 50.0, pts[0].Queue)
	require.Equal(t, 100.0, pts[1].RowsPerSecond)
	require.Equal(t, 10.0, pts[1].FreshnessP50, "the window's rows, not the process's (whose median is 1 s)")
	require.Equal(t, 120.0, pts[1].FreshnessP99)
	require.Equal(t, 0.0, pts[2].RowsPerSecond)
	require.True(t, math.IsNaN(pts[2].FreshnessP50), "no row written: no freshness")
	require.True(t, math.IsNaN(pts[2].Queue), "the queue could not be read")
	require.True(t, math.IsNaN(pts[3].RowsPerSecond), "the counters could not be read")
	require.Equal(t, 7.0, pts[3].Queue)
}

func TestHistoryIsSafeForConcurrentUse(t *testing.T) {
	h := NewHistory(time.Second)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				h.Record(t0.Add(time.Duration(w*2000+i)*time.Millisecond), telemetry.Totals{Applied: int64(i)}, true, int64(i))
				_ = h.Points()
			}
		})
	}
	wg.Wait()
	require.Len(t, h.Points(), 3601)
}

func TestChartsDrawTheHistory(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var pts []Point
	for i := range 100 {
		p := Point{At: t0.Add(time.Duration(i) * 5 * time.Second), RowsPerSecond: float64(i * 10), FreshnessP50: 4, FreshnessP99: 30, Queue: 1000}
		if i >= 40 && i < 50 {
			p.Queue = math.NaN() // the broker did not answer
		}
		pts = append(pts, p)
	}
	now := pts[99].At
	cs := charts(pts, now, 5*time.Second)
	require.Len(t, cs, 3)

	rows := cs[0]
	require.False(t, rows.Empty)
	require.Equal(t, "990", rows.Series[0].Latest)
	require.True(t, strings.HasPrefix(rows.Series[0].D, "M52.0 158.0 "), "the first point is at the origin: %s", rows.Series[0].D[:30])
	require.True(t, strings.HasSuffix(rows.Series[0].D, "L388.0 17.4"), "the last at the right edge, 990 of 1000: %s", rows.Series[0].D)
	require.Equal(t, "1k", rows.YTicks[2].Label)
	require.Equal(t, "10:00", rows.XTicks[0].Label)
	require.Equal(t, "10:08 UTC", rows.XTicks[2].Label)
	require.Contains(t, rows.Desc, "Latest: applied 990")

	fresh := cs[1]
	require.Len(t, fresh.Series, 2)
	require.Equal(t, "4 s", fresh.Series[0].Latest)
	require.Equal(t, "30 s", fresh.Series[1].Latest)
	require.Equal(t, "30 s", fresh.YTicks[2].Label)
	require.Equal(t, "15 s", fresh.YTicks[1].Label)

	queue := cs[2]
	require.Equal(t, 2, strings.Count(queue.Series[0].D, "M"), "the gap while the queue was not read breaks the line")

	empty := charts(nil, now, 5*time.Second)[0]
	require.True(t, empty.Empty)
	require.Empty(t, empty.Series[0].D)
	require.Equal(t, "—", empty.Series[0].Latest)
}

func TestNiceCeilAndLabels(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.01: 2, 7: 10, 990: 1000, 1200: 2000, 45000: 50000} {
		require.InDelta(t, want, niceCeil(v), 1e-9, "%v", v)
	}
	for v, want := range map[float64]string{0: "0", 0.5: "0.5", 950: "950", 1200: "1.2k", 45000: "45k", 3500000: "3.5M"} {
		require.Equal(t, want, compact(v))
	}
	for v, want := range map[float64]float64{0: 1, 7: 10, 45: 60, 61: 120, 1000: 1200, 1801: 3600, 9000: 18000} {
		require.InDelta(t, want, niceSeconds(v), 1e-9, "%v", v)
	}
	for v, want := range map[float64]string{0: "0 s", 0.5: "0.5 s", 120: "120 s", 200: "3.3 min", 900: "15 min", 10000: "2.8 h"} {
		require.Equal(t, want, secs(v))
	}
}
