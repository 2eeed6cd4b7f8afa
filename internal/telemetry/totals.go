package telemetry

import (
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Totals are this process's own counts since it started, as /metrics shows
// them. The status page reads them here so that only this package knows the
// metric names and how the exporter spells them.
type Totals struct {
	Fetched, Published, Applied, Stale int64
	// Rejected counts rows sent to the DLQ by reason code; empty, not nil,
	// before the first.
	Rejected map[string]int64
	// Retries counts activity attempts after the first, all activities.
	Retries int64
	// InFlight is the deliveries the consumers hold unacknowledged now.
	InFlight int64
	// Upsert is the time of a storefront batch upsert; Freshness is the
	// storefront write time minus the row's ERP LastModified.
	Upsert, Freshness Histogram
}

// Histogram is a seconds histogram summed over its label sets.
type Histogram struct {
	Count uint64
	Sum   float64 // seconds
	// Cumulative counts by bucket upper bound (seconds), as Prometheus
	// keeps them.
	Buckets map[float64]uint64
}

// Mean is the average observation; 0 before the first.
func (h Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return seconds(h.Sum / float64(h.Count))
}

// Quantile is the upper bound of the lowest bucket holding quantile q:
// all a histogram can tell, and never an underestimate. 0 before the first
// observation or when q falls past the last bound.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	best := math.Inf(1)
	for ub, c := range h.Buckets {
		if float64(c) >= q*float64(h.Count) && ub < best {
			best = ub
		}
	}
	if math.IsInf(best, 1) {
		return 0
	}
	return seconds(best)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Totals reads the pipeline's counters and histograms from the registry
// /metrics serves, so the status page and /metrics never disagree. A counter
// not yet incremented reads as 0.
func (t *Telemetry) Totals() (Totals, error) {
	fams, err := t.registry.Gather()
	if err != nil {
		return Totals{}, err
	}
	tot := Totals{Rejected: map[string]int64{}}
	for _, f := range fams {
		switch f.GetName() {
		case MetricRowsFetched + "_total":
			tot.Fetched = sum(f)
		case MetricRowsPublished + "_total":
			tot.Published = sum(f)
		case MetricRowsApplied + "_total":
			tot.Applied = sum(f)
		case MetricRowsStale + "_total":
			tot.Stale = sum(f)
		case MetricActivityRetries + "_total":
			tot.Retries = sum(f)
		case MetricConsumerFlight:
			tot.InFlight = sum(f)
		case MetricRowsRejected + "_total":
			for _, m := range f.GetMetric() {
				tot.Rejected[label(m, "reason")] += int64(m.GetCounter().GetValue())
			}
		case MetricUpsert + "_seconds":
			tot.Upsert = histogram(f)
		case MetricFreshness + "_seconds":
			tot.Freshness = histogram(f)
		}
	}
	return tot, nil
}

// sum adds a family's values over its label sets; a family is a counter or
// a gauge, and the other reads as 0.
func sum(f *dto.MetricFamily) int64 {
	var n float64
	for _, m := range f.GetMetric() {
		n += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return int64(n)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func histogram(f *dto.MetricFamily) Histogram {
	h := Histogram{Buckets: map[float64]uint64{}}
	for _, m := range f.GetMetric() {
		ph := m.GetHistogram()
		h.Count += ph.GetSampleCount()
		h.Sum += ph.GetSampleSum()
		for _, b := range ph.GetBucket() {
			h.Buckets[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	return h
}

// Since is what h counted after earlier, a reading of the same histogram:
// the observations of the window between the two. An earlier reading that
// counted more (the counters were reset) counts as none.
func (h Histogram) Since(earlier Histogram) Histogram {
	if earlier.Count > h.Count {
		earlier = Histogram{}
	}
	d := Histogram{Count: h.Count - earlier.Count, Sum: h.Sum - earlier.Sum, Buckets: make(map[float64]uint64, len(h.Buckets))}
	for ub, c := range h.Buckets {
		d.Buckets[ub] = c - min(earlier.Buckets[ub], c)
	}
	return d
}
