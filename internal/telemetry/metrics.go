package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// Metrics are the pipeline's own instruments. A nil *Metrics records
// nothing, so code under unit test needs none.
//
// Names are Prometheus names as /metrics shows them; README.md explains each.
type Metrics struct {
	fetched, published, applied, stale, rejected, retries metric.Int64Counter
	reconciled                                            metric.Int64Counter
	inFlight                                              metric.Int64UpDownCounter
	erpQuery, upsert, freshness                           metric.Float64Histogram
}

// Metric names.
const (
	MetricRowsFetched     = "invsync_erp_rows_fetched"
	MetricRowsPublished   = "invsync_rows_published"
	MetricRowsApplied     = "invsync_rows_applied"
	MetricRowsStale       = "invsync_rows_stale"
	MetricRowsRejected    = "invsync_rows_rejected"
	MetricActivityRetries = "invsync_activity_retries"
	MetricConsumerFlight  = "invsync_consumer_inflight_messages"
	MetricERPQuery        = "invsync_erp_query_duration"
	MetricUpsert          = "invsync_upsert_duration"
	MetricFreshness       = "invsync_freshness"
	MetricCursorLag       = "invsync_cursor_lag"
	MetricPollerState     = "invsync_poller_state"
	MetricQueueMessages   = "invsync_queue_messages"
	MetricERPBacklog      = "invsync_erp_backlog_rows"
	MetricReconciled      = "invsync_reconcile_rows"
)

// PrometheusNames are the names of the pipeline's metrics as /metrics shows
// them, including those not yet recorded (a counter appears on its first
// increment).
func PrometheusNames() []string {
	return []string{
		MetricRowsFetched + "_total", MetricRowsPublished + "_total", MetricRowsApplied + "_total",
		MetricRowsStale + "_total", MetricRowsRejected + "_total", MetricActivityRetries + "_total",
		MetricConsumerFlight, MetricERPQuery + "_seconds", MetricUpsert + "_seconds", MetricFreshness + "_seconds",
		MetricCursorLag + "_seconds", MetricPollerState, MetricQueueMessages, MetricERPBacklog,
		MetricReconciled + "_total",
	}
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	var m Metrics
	var errs [11]error
	m.fetched, errs[0] = meter.Int64Counter(MetricRowsFetched, metric.WithDescription("Rows read from the ERP view."))
	m.published, errs[1] = meter.Int64Counter(MetricRowsPublished, metric.WithDescription("Rows published to the changes queue and confirmed by the broker."))
	m.applied, errs[2] = meter.Int64Counter(MetricRowsApplied, metric.WithDescription("Rows written to the storefront."))
	m.stale, errs[3] = meter.Int64Counter(MetricRowsStale, metric.WithDescription("Rows ignored because the storefront already had them or something newer."))
	m.rejected, errs[4] = meter.Int64Counter(MetricRowsRejected, metric.WithDescription("Rows sent to the DLQ, by reason code."))
	m.retries, errs[5] = meter.Int64Counter(MetricActivityRetries, metric.WithDescription("Activity attempts after the first, by activity."))
	m.inFlight, errs[6] = meter.Int64UpDownCounter(MetricConsumerFlight, metric.WithDescription("Deliveries this worker's consumers hold unacknowledged."))
	m.erpQuery, errs[7] = meter.Float64Histogram(MetricERPQuery, metric.WithUnit("s"),
		metric.WithDescription("Time of one ERP query, by query."),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	m.upsert, errs[8] = meter.Float64Histogram(MetricUpsert, metric.WithUnit("s"),
		metric.WithDescription("Time of one storefront batch upsert."),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	m.freshness, errs[9] = meter.Float64Histogram(MetricFreshness, metric.WithUnit("s"),
		metric.WithDescription("Storefront write time minus the row's ERP LastModified, per row written."),
		metric.WithExplicitBucketBoundaries(1, 2, 5, 10, 15, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600))
	m.reconciled, errs[10] = meter.Int64Counter(MetricReconciled, metric.WithDescription(
		"Rows a reconcile read from the ERP (outcome read), wrote again as the ERP has them (fixed; restored for discontinued rows), or found gone from the ERP (discontinued)."))
	return &m, errors.Join(errs[:]...)
}

// Fetched counts rows read from the ERP.
func (m *Metrics) Fetched(ctx context.Context, n int) {
	if m != nil {
		m.fetched.Add(ctx, int64(n))
	}
}

// Published counts rows confirmed by the broker.
func (m *Metrics) Published(ctx context.Context, n int) {
	if m != nil {
		m.published.Add(ctx, int64(n))
	}
}

// ERPQuery records the time of one ERP query of the named kind.
func (m *Metrics) ERPQuery(ctx context.Context, query string, d time.Duration) {
	if m != nil {
		m.erpQuery.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("query", query)))
	}
}

// Upserted records one batch upsert: its time, what it did, and the
// freshness of every row it wrote.
func (m *Metrics) Upserted(ctx context.Context, d time.Duration, applied, stale int, freshness []time.Duration) {
	if m == nil {
		return
	}
	m.upsert.Record(ctx, d.Seconds())
	m.applied.Add(ctx, int64(applied))
	m.stale.Add(ctx, int64(stale))
	for _, f := range freshness {
		m.freshness.Record(ctx, f.Seconds())
	}
}

// Rejected counts one row sent to the DLQ with the reason code.
func (m *Metrics) Rejected(ctx context.Context, code string) {
	if m != nil {
		m.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", code)))
	}
}

// Reconciled counts a reconcile's work on one chunk.
func (m *Metrics) Reconciled(ctx context.Context, read, fixed, restored, discontinued int64) {
	if m == nil {
		return
	}
	for outcome, n := range map[string]int64{"read": read, "fixed": fixed, "restored": restored, "discontinued": discontinued} {
		if n > 0 {
			m.reconciled.Add(ctx, n, metric.WithAttributes(attribute.String("outcome", outcome)))
		}
	}
}

// InFlight moves the count of unacknowledged deliveries held by consumers.
func (m *Metrics) InFlight(ctx context.Context, delta int) {
	if m != nil {
		m.inFlight.Add(ctx, int64(delta))
	}
}

// retryCounter counts activity attempts after the first. It sits among the
// client's interceptors; the worker picks it up from there.
type retryCounter struct {
	interceptor.InterceptorBase
	metrics *Metrics
}

func (r *retryCounter) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &retryInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, metrics: r.metrics}
}

type retryInbound struct {
	interceptor.ActivityInboundInterceptorBase
	metrics *Metrics
}

func (r *retryInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if info := activity.GetInfo(ctx); info.Attempt > 1 && r.metrics != nil {
		r.metrics.retries.Add(ctx, 1, metric.WithAttributes(attribute.String("activity", info.ActivityType.Name)))
	}
	return r.Next.ExecuteActivity(ctx, in)
}
