package workflows

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
)

func change(sku string, qty int64, price string) inventory.Change {
	return inventory.Change{SKU: sku, Quantity: &qty, Price: &price, LastModified: t0, ObservedAt: t0}
}

// memStore is a storefront stand-in for workflow unit tests; the real
// upsert is tested against PostgreSQL in internal/storefront.
type memStore struct {
	fail  int // fail this many calls first
	calls int
	rows  map[string]inventory.Item
}

func (m *memStore) Upsert(_ context.Context, items []inventory.Item) (storefront.UpsertResult, error) {
	m.calls++
	if m.calls <= m.fail {
		return storefront.UpsertResult{}, errors.New("connection refused")
	}
	for _, it := range items {
		m.rows[it.SKU] = it
	}
	return storefront.UpsertResult{Applied: len(items)}, nil
}

type memDLQ struct{ letters []deadletter.Letter }

func (m *memDLQ) PutDeadLetters(_ context.Context, l []deadletter.Letter) error {
	m.letters = append(m.letters, l...)
	return nil
}

func newApplyEnv(store *memStore, dlq *memDLQ) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.RegisterActivity(&activities.Applier{Store: store, DeadLetters: dlq})
	return e
}

func TestApplyChangesRetriesTransientFailures(t *testing.T) {
	store, dlq := &memStore{fail: 2, rows: map[string]inventory.Item{}}, &memDLQ{}
	e := newApplyEnv(store, dlq)
	e.ExecuteWorkflow(ApplyChanges, ApplyInput{BatchID: "b1", Changes: []inventory.Change{change("A", 1, "1.00")}})

	require.NoError(t, e.GetWorkflowError())
	require.Equal(t, 3, store.calls, "two failures, then success")
	var res ApplyResult
	require.NoError(t, e.GetWorkflowResult(&res))
	require.Equal(t, ApplyResult{Applied: 1}, res)
	require.Empty(t, dlq.letters)
}

func TestApplyChangesSendsInvalidRowsToDeadLetter(t *testing.T) {
	store, dlq := &memStore{rows: map[string]inventory.Item{}}, &memDLQ{}
	e := newApplyEnv(store, dlq)
	e.ExecuteWorkflow(ApplyChanges, ApplyInput{
		BatchID: "b2",
		Changes: []inventory.Change{
			change("GOOD", 5, "2.50"),
			change("BAD", 5, "-1"),
			change("", 1, "1"),
		},
	})

	require.NoError(t, e.GetWorkflowError())
	var res ApplyResult
	require.NoError(t, e.GetWorkflowResult(&res))
	require.Equal(t, ApplyResult{Applied: 1, Rejected: 2}, res)
	require.Equal(t, int64(250), store.rows["GOOD"].PriceCents, "the good row of the batch is applied")
	require.Len(t, dlq.letters, 2)
	var codes []string
	for _, l := range dlq.letters {
		codes = append(codes, l.SKU+":"+l.Reason.Code)
		require.Equal(t, "b2", l.BatchID)
		require.NotEmpty(t, l.Reason.Message)
		require.NotEmpty(t, l.Payload)
	}
	require.ElementsMatch(t, []string{
		"BAD:" + inventory.ReasonPriceNegative, ":" + inventory.ReasonSKUEmpty,
	}, codes)
}

func TestApplyChangesRetriesDeadLetterUntilPublished(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	var a *activities.Applier
	e.RegisterActivity(a)
	e.OnActivity(a.UpsertBatch, mock.Anything, mock.Anything).Return(activities.UpsertResult{
		Rejected: []deadletter.Letter{{SKU: "X", Reason: inventory.Rejection{Code: inventory.ReasonQuantityNegative, Message: "-1"}}},
	}, nil).Once()
	attempts := 0
	e.OnActivity(a.DeadLetter, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeadLetterInput) error {
		attempts++
		require.Equal(t, "X", in.Letters[0].SKU)
		if attempts < 3 {
			return errors.New("broker unavailable")
		}
		return nil
	})
	e.ExecuteWorkflow(ApplyChanges, ApplyInput{BatchID: "b3", Changes: []inventory.Change{change("X", -1, "1")}})
	require.NoError(t, e.GetWorkflowError())
	require.Equal(t, 3, attempts)
}

func TestApplyWorkflowIDIgnoresOrder(t *testing.T) {
	a, b, c := []byte(`{"sku":"a"}`), []byte(`{"sku":"b"}`), []byte(`{"sku":"c"}`)
	require.Equal(t, ApplyWorkflowID([][]byte{a, b, c}), ApplyWorkflowID([][]byte{c, a, b}))
	require.NotEqual(t, ApplyWorkflowID([][]byte{a, b}), ApplyWorkflowID([][]byte{a, b, c}))
	require.Regexp(t, `^invsync-apply-[0-9a-f]{32}$`, ApplyWorkflowID([][]byte{a}))
}
