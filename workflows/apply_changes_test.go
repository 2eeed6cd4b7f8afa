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
	fail    int // fail this many calls first
	calls   int
	rows    map[string]inventory.Item
	batches map[string]storefront.StagedBatch
}

func newMemStore() *memStore {
	return &memStore{rows: map[string]inventory.Item{}, batches: map[string]storefront.StagedBatch{}}
}

// stage stages changes as a consumer does and returns the workflow input.
func (m *memStore) stage(t *testing.T, id string, cs ...inventory.Change) ApplyInput {
	b, err := inventory.EncodeChanges(cs)
	require.NoError(t, err)
	m.batches[id] = storefront.StagedBatch{Changes: b}
	return ApplyInput{BatchID: id, Rows: len(cs)}
}

func (m *memStore) Batch(_ context.Context, id string) (storefront.StagedBatch, error) {
	b, ok := m.batches[id]
	if !ok {
		return b, storefront.ErrNotStaged
	}
	return b, nil
}

func (m *memStore) FinishBatch(_ context.Context, id string, outcome []byte) error {
	m.batches[id] = storefront.StagedBatch{Outcome: outcome}
	return nil
}

func (m *memStore) Upsert(_ context.Context, items []inventory.Item) (storefront.UpsertResult, error) {
	m.calls++
	if m.calls <= m.fail {
		return storefront.UpsertResult{}, errors.New("connection refused")
	}
	for _, it := range items {
		m.rows[it.SKU] = it
	}
	res := storefront.UpsertResult{Applied: len(items)}
	for _, it := range items {
		res.SKUs = append(res.SKUs, it.SKU)
	}
	return res, nil
}

// PricedRows and SetPrices: re-pricing is not used here.
func (m *memStore) PricedRows(context.Context, string, int) ([]storefront.PricedRow, error) {
	return nil, nil
}

func (m *memStore) SetPrices(context.Context, []storefront.Price) (int, error) { return 0, nil }

// StoredRow: explaining is not used here.
func (m *memStore) StoredRow(context.Context, string) (storefront.StoredRow, bool, error) {
	return storefront.StoredRow{}, false, nil
}

// memDLQ keeps letters; the DLQ operations are not used here.
type memDLQ struct {
	activities.DeadLetterQueue
	letters []deadletter.Letter
}

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
	store, dlq := newMemStore(), &memDLQ{}
	store.fail = 2
	e := newApplyEnv(store, dlq)
	e.ExecuteWorkflow(ApplyChanges, store.stage(t, "b1", change("A", 1, "1.00")))

	require.NoError(t, e.GetWorkflowError())
	require.Equal(t, 3, store.calls, "two failures, then success")
	var res ApplyResult
	require.NoError(t, e.GetWorkflowResult(&res))
	require.Equal(t, ApplyResult{Applied: 1}, res)
	require.Empty(t, dlq.letters)
}

func TestApplyChangesSendsInvalidRowsToDeadLetter(t *testing.T) {
	store, dlq := newMemStore(), &memDLQ{}
	e := newApplyEnv(store, dlq)
	e.ExecuteWorkflow(ApplyChanges, store.stage(t, "b2", change("GOOD", 5, "2.50"), change("BAD", 5, "-1"), change("", 1, "1")))

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
	require.True(t, store.batches["b2"].Applied(), "the batch's outcome is recorded")
	require.Nil(t, store.batches["b2"].Changes, "and its changes dropped")
}

// TestApplyChangesOfAnAppliedBatchReturnsItsOutcome: a batch run again (an
// activity retried after a lost reply, a workflow started again once its
// history is gone) applies nothing and answers as the first run did.
func TestApplyChangesOfAnAppliedBatchReturnsItsOutcome(t *testing.T) {
	store, dlq := newMemStore(), &memDLQ{}
	in := store.stage(t, "b4", change("A", 1, "1.00"), change("B", -1, "1.00"))
	e := newApplyEnv(store, dlq)
	e.ExecuteWorkflow(ApplyChanges, in)
	var first ApplyResult
	require.NoError(t, e.GetWorkflowResult(&first))
	require.Equal(t, ApplyResult{Applied: 1, Rejected: 1}, first)

	e = newApplyEnv(store, dlq)
	e.ExecuteWorkflow(ApplyChanges, in)
	var again ApplyResult
	require.NoError(t, e.GetWorkflowResult(&again))
	require.Equal(t, first, again)
	require.Equal(t, 1, store.calls, "nothing upserted again")
	require.Len(t, dlq.letters, 1, "no letter written again")
}

// TestApplyChangesOfABatchNeverStagedFails: without its changes a batch
// cannot be applied, and retrying cannot bring them: the workflow fails at
// once, where an operator sees it, instead of retrying forever.
func TestApplyChangesOfABatchNeverStagedFails(t *testing.T) {
	e := newApplyEnv(newMemStore(), &memDLQ{})
	e.ExecuteWorkflow(ApplyChanges, ApplyInput{BatchID: "gone", Rows: 3})
	require.ErrorContains(t, e.GetWorkflowError(), "not staged")
}

// TestApplyChangesRetriesDeadLetterUntilPublished: a batch the workflow
// input carries, as workflows started before staging do, hands its letters
// back to the workflow to keep.
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
