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
	overLimit := good[:len(good)-1] + string(bytes.Repeat([]byte(" "), inventory.MaxMessageBytes-len(good)+1)) + "}"
	setAtLimit := "[" + good + string(bytes.Repeat([]byte(" "), inventory.MaxSetBytes-len(good)-2)) + "]"
	for _, tc := range []struct {
		name    string
		body    []byte
		changes int
		reasons []string // one letter per reason
	}{
		{"change as earlier versions published it", []byte(good), 1, nil},
		{"change set", []byte("[" + good + "," + good + "]"), 2, nil},
		{"empty change set", []byte("[]"), 0, nil},
		{"change at the size limit", []byte(atLimit), 1, nil},
		{"change one byte over the limit", []byte(atLimit + " "), 0, []string{inventory.ReasonOversized}},
		{"set at the size limit", []byte(setAtLimit), 1, nil},
		{"set one byte over the limit", []byte(setAtLimit + " "), 0, []string{inventory.ReasonOversized}},
		{"change set with an oversized change", []byte("[" + good + "," + overLimit + "]"), 1, []string{inventory.ReasonOversized}},
		{"change set with elements that are not changes", []byte("[" + good + `,null,{"sku":"A","colour":"red"},7]`), 1,
			[]string{inventory.ReasonUndecodable, inventory.ReasonUndecodable, inventory.ReasonUndecodable}},
		{"change set cut short", []byte("[" + good + "," + good[:20]), 0, []string{inventory.ReasonUndecodable}},
		{"change set with data after it", []byte("[" + good + "] x"), 0, []string{inventory.ReasonUndecodable}},
		{"3 MB of garbage", bytes.Repeat([]byte{0xff}, 3<<20), 0, []string{inventory.ReasonOversized}},
		{"not JSON", []byte("not json"), 0, []string{inventory.ReasonUndecodable}},
		{"unknown field", []byte(`{"sku":"A","colour":"red"}`), 0, []string{inventory.ReasonUndecodable}},
		{"empty", nil, 0, []string{inventory.ReasonUndecodable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := decode(amqp.Delivery{Body: tc.body})
			require.Len(t, r.changes, tc.changes)
			for _, c := range r.changes {
				require.Equal(t, "A-1", c.SKU)
			}
			require.Len(t, r.letters, len(tc.reasons))
			for i, l := range r.letters {
				require.Equal(t, tc.reasons[i], l.Reason.Code)
				require.Equal(t, deadletter.StageConsumer, l.Stage)
				require.LessOrEqual(t, len(l.Payload), deadletter.MaxPayload)
				require.NotEmpty(t, l.Reason.Message)
			}
			if len(tc.reasons) == 1 && tc.changes == 0 {
				require.Equal(t, len(tc.body), r.letters[0].PayloadSize, "the whole message is the letter")
			}
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
