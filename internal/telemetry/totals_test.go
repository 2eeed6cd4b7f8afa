package telemetry

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// TestTotalsReadBackWhatMetricsServes: the status page's figures are the
// ones /metrics shows, read back by name in this package alone.
func TestTotalsReadBackWhatMetricsServes(t *testing.T) {
	ctx := context.Background()
	tel, err := Setup(ctx, Options{Service: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Shutdown(ctx) })

	tot, err := tel.Totals()
	require.NoError(t, err)
	require.Equal(t, Totals{Rejected: map[string]int64{}}, tot, "nothing counted yet")
	require.Zero(t, tot.Freshness.Mean())
	require.Zero(t, tot.Freshness.Quantile(0.95))

	m := tel.Metrics
	m.Fetched(ctx, 12)
	m.Published(ctx, 11)
	m.Upserted(ctx, 20*time.Millisecond, 8, 2, []time.Duration{3 * time.Second, 7 * time.Second})
	m.Upserted(ctx, 40*time.Millisecond, 1, 0, []time.Duration{20 * time.Second})
	m.Rejected(ctx, "price_negative")
	m.Rejected(ctx, "price_negative")
	m.Rejected(ctx, "undecodable")
	m.InFlight(ctx, 5)
	m.InFlight(ctx, -2)
	m.retries.Add(ctx, 1, metric.WithAttributes(attribute.String("activity", "ApplyBatch")))
	m.retries.Add(ctx, 2, metric.WithAttributes(attribute.String("activity", "PublishChanges")))

	tot, err = tel.Totals()
	require.NoError(t, err)
	require.Equal(t, int64(12), tot.Fetched)
	require.Equal(t, int64(11), tot.Published)
	require.Equal(t, int64(9), tot.Applied)
	require.Equal(t, int64(2), tot.Stale)
	require.Equal(t, map[string]int64{"price_negative": 2, "undecodable": 1}, tot.Rejected)
	require.Equal(t, int64(3), tot.Retries, "summed over activities")
	require.Equal(t, int64(3), tot.InFlight)
	require.Equal(t, uint64(2), tot.Upsert.Count)
	require.Equal(t, 30*time.Millisecond, tot.Upsert.Mean())
	require.Equal(t, uint64(3), tot.Freshness.Count)
	require.Equal(t, 10*time.Second, tot.Freshness.Mean())
	require.Equal(t, 10*time.Second, tot.Freshness.Quantile(0.5), "upper bound of the bucket holding the median")
	require.Equal(t, 30*time.Second, tot.Freshness.Quantile(0.95))

	rec := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		MetricRowsFetched + "_total 12",
		MetricRowsApplied + "_total 9",
		MetricRowsRejected + `_total{reason="undecodable"} 1`,
		MetricConsumerFlight + " 3",
		MetricFreshness + "_seconds_count 3",
	} {
		require.Contains(t, rec.Body.String(), want)
	}
}

func TestHistogramQuantileIsZeroPastTheLastBound(t *testing.T) {
	h := Histogram{Count: 4, Sum: 8, Buckets: map[float64]uint64{1: 1, 2: 2}}
	require.Equal(t, 2*time.Second, h.Mean())
	require.Equal(t, 2*time.Second, h.Quantile(0.5))
	require.Zero(t, h.Quantile(0.95), "no bound holds it")
}

// TestHistogramSinceIsTheWindow: the quantiles of a window are those of the
// observations made in it, not of everything since the process started.
func TestHistogramSinceIsTheWindow(t *testing.T) {
	before := Histogram{Count: 100, Sum: 100, Buckets: map[float64]uint64{1: 100, 10: 100, 100: 100}}
	now := Histogram{Count: 110, Sum: 640, Buckets: map[float64]uint64{1: 100, 10: 101, 100: 110}}
	w := now.Since(before)
	require.Equal(t, Histogram{Count: 10, Sum: 540, Buckets: map[float64]uint64{1: 0, 10: 1, 100: 10}}, w)
	require.Equal(t, 100*time.Second, w.Quantile(0.5), "the window's rows took 10 to 100 s; the process's median is 1 s")
	require.Equal(t, time.Second, now.Quantile(0.5))

	require.Equal(t, now.Count, now.Since(Histogram{Count: 500}).Count, "a reset counts from zero")
	require.Zero(t, now.Since(now).Count)
}
