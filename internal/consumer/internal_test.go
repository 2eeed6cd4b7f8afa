package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
)

func TestDecodeSortsMessages(t *testing.T) {
	good := `{"sku":"A-1","quantity":3,"price":"1.00","last_modified":"2026-11-01T08:00:00Z","observed_at":"2026-11-01T08:00:00Z"}`
	// A change padded to the limit with spaces is still a change; one byte
	// more is not, whatever it holds.
	atLimit := good[:len(good)-1] + string(bytes.Repeat([]byte(" "), inventory.MaxMessageBytes-len(good))) + "}"
	for _, tc := range []struct {
		name   string
		body   []byte
		reason string // empty: a change
	}{
		{"change", []byte(good), ""},
		{"change at the size limit", []byte(atLimit), ""},
		{"change one byte over the limit", []byte(atLimit + " "), inventory.ReasonOversized},
		{"3 MB of garbage", bytes.Repeat([]byte{0xff}, 3<<20), inventory.ReasonOversized},
		{"not JSON", []byte("not json"), inventory.ReasonUndecodable},
		{"unknown field", []byte(`{"sku":"A","colour":"red"}`), inventory.ReasonUndecodable},
		{"empty", nil, inventory.ReasonUndecodable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, letters := decode([]amqp.Delivery{{Body: tc.body}})
			if tc.reason == "" {
				require.Empty(t, letters)
				require.Len(t, msgs, 1)
				require.Equal(t, "A-1", msgs[0].change.SKU)
				return
			}
			require.Empty(t, msgs)
			require.Len(t, letters, 1)
			l := letters[0]
			require.Equal(t, tc.reason, l.Reason.Code)
			require.Equal(t, deadletter.StageConsumer, l.Stage)
			require.Equal(t, len(tc.body), l.PayloadSize)
			require.LessOrEqual(t, len(l.Payload), deadletter.MaxPayload)
			require.NotEmpty(t, l.Reason.Message)
		})
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want failure
	}{
		{"over the payload limit", serviceerror.NewInvalidArgument("Blob data size exceeds limit."), refused},
		{"invalid, wrapped", fmt.Errorf("start: %w", serviceerror.NewInvalidArgument("WorkflowId length exceeds limit.")), refused},
		// As the SDK hands over a request over gRPC's message limit.
		{"over the gRPC message limit", fmt.Errorf("start: %w", serviceerror.ToStatus(serviceerror.NewResourceExhausted(
			enums.RESOURCE_EXHAUSTED_CAUSE_UNSPECIFIED, "grpc: received message after decompression larger than max 4194304")).Err()), refused},
		{"unavailable", serviceerror.NewUnavailable("connection refused"), transient},
		{"deadline exceeded", serviceerror.NewDeadlineExceeded("context deadline exceeded"), transient},
		{"rate limited", serviceerror.NewResourceExhausted(enums.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "rps"), transient},
		{"internal", serviceerror.NewInternal("persistence"), transient},
		{"attempt timed out", context.DeadlineExceeded, transient},
		{"connection error", errors.New("dial tcp 127.0.0.1:7233: connect: connection refused"), transient},
		{"namespace not found", serviceerror.NewNamespaceNotFound("nope"), misconfigured},
		{"permission denied", serviceerror.NewPermissionDenied("no", ""), misconfigured},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want.String(), classify(tc.err).String())
		})
	}
}
