package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestRecordsCarryTheTraceOfTheirContext(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewTo(&buf, "info")
	require.NoError(t, err)
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "op")
	defer span.End()

	log.With("k", "v").InfoContext(ctx, "traced")
	log.Info("untraced")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	var traced, untraced map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &traced))
	require.NoError(t, json.Unmarshal(lines[1], &untraced))
	require.Equal(t, span.SpanContext().TraceID().String(), traced["trace_id"])
	require.Equal(t, span.SpanContext().SpanID().String(), traced["span_id"])
	require.Equal(t, "v", traced["k"])
	require.NotContains(t, untraced, "trace_id")
}

func TestRejectsAnUnknownLevel(t *testing.T) {
	_, err := New("loud")
	require.ErrorContains(t, err, `log level "loud"`)
}

func TestRedactHidesPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://guest:s3cret@host:5672/":                        "amqp://guest:xxxxx@host:5672/",
		"postgres://u:s3cret@h/db?sslmode=disable":              "postgres://u:xxxxx@h/db?sslmode=disable",
		"sqlserver://u:s3cret@h:1433?database=ERP":              "sqlserver://u:xxxxx@h:1433?database=ERP",
		"sqlserver://h?database=ERP&password=s3cret&user+id=u":  "sqlserver://h?database=ERP&password=xxxxx&user+id=u",
		"server=h;user id=u;password=s3cret":                    "(redacted)",
		"postgres://postgres@127.0.0.1:5432/db?sslmode=disable": "postgres://postgres@127.0.0.1:5432/db?sslmode=disable",
	} {
		got := Redact(in)
		require.Equal(t, want, got)
		require.NotContains(t, got, "s3cret")
	}
}
