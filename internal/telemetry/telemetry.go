// Package telemetry sets up OpenTelemetry for the worker: metrics exported
// for Prometheus (and over OTLP when an endpoint is configured), traces over
// OTLP, and the Temporal SDK's metrics and tracing interceptor on top of them,
// so one trace follows a change from the poll to the upsert.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Options configures Setup.
type Options struct {
	// Service names this process in traces and metrics.
	Service string
	// OTLPEndpoint is the base URL of an OTLP/HTTP receiver, such as
	// http://127.0.0.1:4318. Empty: no OTLP export (traces still carry IDs
	// for the logs).
	OTLPEndpoint string
}

// Telemetry is the process's meter and tracer and their exporters.
type Telemetry struct {
	Meter      metric.Meter
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	Metrics    *Metrics

	registry *prometheus.Registry
	shutdown []func(context.Context) error
}

// Setup builds the meter and tracer providers. Call Shutdown to flush them.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	res := resource.NewSchemaless(attribute.String("service.name", o.Service))
	t := &Telemetry{
		registry:   prometheus.NewRegistry(),
		Propagator: propagation.TraceContext{},
	}
	t.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExporter, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	meterOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	traceOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if o.OTLPEndpoint != "" {
		base := strings.TrimSuffix(o.OTLPEndpoint, "/")
		me, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP metrics: %w", err)
		}
		te, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces"))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP traces: %w", err)
		}
		meterOpts = append(meterOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me)))
		traceOpts = append(traceOpts, sdktrace.WithBatcher(te))
	}
	mp := sdkmetric.NewMeterProvider(meterOpts...)
	tp := sdktrace.NewTracerProvider(traceOpts...)
	t.shutdown = append(t.shutdown, tp.Shutdown, mp.Shutdown)
	t.Meter = mp.Meter("github.com/invsync/invsync")
	t.Tracer = tp.Tracer("github.com/invsync/invsync")
	if t.Metrics, err = NewMetrics(t.Meter); err != nil {
		return nil, err
	}
	return t, nil
}

// Handler serves the metrics in the Prometheus text format.
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// TemporalMetrics is the Temporal SDK's metrics handler, on the same meter.
func (t *Telemetry) TemporalMetrics() temporalotel.MetricsHandler {
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                t.Meter,
		UseMonotonicCounters: true,
		OnError:              func(error) {}, // a metric is never worth a crash
	})
}

// TemporalInterceptors trace workflows and activities, carrying the trace
// across Temporal in headers, and count activity retries.
func (t *Telemetry) TemporalInterceptors() ([]interceptor.ClientInterceptor, error) {
	tracing, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            t.Tracer,
		TextMapPropagator: t.Propagator,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: tracing interceptor: %w", err)
	}
	return []interceptor.ClientInterceptor{tracing, &retryCounter{metrics: t.Metrics}}, nil
}

// Shutdown flushes and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
