package queue

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/propagation"
)

// traceContext carries W3C trace context in message headers. It holds no
// state, so the one value serves both the publisher (Inject) and the
// consumers (Extract) and a trace follows a change across the broker.
var traceContext propagation.TraceContext

// HeaderCarrier lets a propagator read and write AMQP message headers.
type HeaderCarrier amqp.Table

// Get returns the header's value if it is a string.
func (h HeaderCarrier) Get(key string) string {
	v, _ := h[key].(string)
	return v
}

// Set sets a header.
func (h HeaderCarrier) Set(key, value string) { h[key] = value }

// Keys lists the headers.
func (h HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Extract returns ctx with the trace context that headers carry.
func Extract(ctx context.Context, headers amqp.Table) context.Context {
	return traceContext.Extract(ctx, HeaderCarrier(headers))
}
