package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
)

// dlqFixture is an Applier over a storefront of its own, both as the
// storefront and as the dead-letter store, as the worker wires them.
type dlqFixture struct {
	dsn   string
	store *storefront.Store
	a     *Applier
	env   *testsuite.TestActivityEnvironment
}

func newDLQFixture(t *testing.T) *dlqFixture {
	t.Helper()
	dsn, store := openStorefront(t)
	f := &dlqFixture{dsn: dsn, store: store, a: &Applier{Store: store, DeadLetters: store}}
	var s testsuite.WorkflowTestSuite
	f.env = s.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.a)
	return f
}

var dlqAt = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func dlqChange(sku string, qty int64, at time.Time) inventory.Change {
	p := "1.00"
	return inventory.Change{SKU: sku, Quantity: &qty, Price: &p, LastModified: at, ObservedAt: at}
}

func (f *dlqFixture) put(t *testing.T, letters ...deadletter.Letter) {
	t.Helper()
	require.NoError(t, f.store.PutDeadLetters(context.Background(), letters))
}

// run executes an activity and decodes its result into out.
func (f *dlqFixture) run(t *testing.T, out any, fn any, in any) error {
	t.Helper()
	v, err := f.env.ExecuteActivity(fn, in)
	if err != nil {
		return err
	}
	reflect.ValueOf(out).Elem().SetZero() // fields the result omits are not kept from before
	require.NoError(t, v.Get(out))
	return nil
}

func (f *dlqFixture) letter(t *testing.T, id string) (deadletter.Letter, bool) {
	t.Helper()
	got, err := f.store.GetDeadLetters(context.Background(), []string{id})
	require.NoError(t, err)
	if len(got) == 0 {
		return deadletter.Letter{}, false
	}
	return got[0], true
}

func (f *dlqFixture) total(t *testing.T) int64 {
	t.Helper()
	c, err := f.store.CountDeadLetters(context.Background())
	require.NoError(t, err)
	return c.Total
}

func TestListAndShowDeadLetters(t *testing.T) {
	f := newDLQFixture(t)
	neg := deadletter.ForChange(dlqChange("NEG", -1, dlqAt), inventory.Rejection{Code: inventory.ReasonQuantityNegative, Message: "quantity -1 is negative"}, deadletter.StageApply, "b1")
	junk := deadletter.ForMessage([]byte("\x00junk"), inventory.Rejection{Code: inventory.ReasonUndecodable, Message: "not a JSON object"}, deadletter.StageConsumer)
	f.put(t, neg)
	f.put(t, junk)

	var list ListDeadLettersResult
	require.NoError(t, f.run(t, &list, f.a.ListDeadLetters, ListDeadLettersInput{}))
	require.Len(t, list.Letters, 2)
	require.Equal(t, junk.ID, list.Letters[0].ID, "most recently written first")
	require.Nil(t, list.Letters[0].Payload)
	require.Equal(t, deadletter.Counts{Total: 2, ByReason: map[string]int64{
		inventory.ReasonQuantityNegative: 1, inventory.ReasonUndecodable: 1}}, list.Counts)

	require.NoError(t, f.run(t, &list, f.a.ListDeadLetters, ListDeadLettersInput{Filter: deadletter.Filter{Reason: inventory.ReasonQuantityNegative}}))
	require.Len(t, list.Letters, 1)
	require.Equal(t, neg.ID, list.Letters[0].ID)

	var show ShowDeadLettersResult
	require.NoError(t, f.run(t, &show, f.a.ShowDeadLetters, ShowDeadLettersInput{IDs: []string{neg.ID, "0000000000000000"}}))
	require.Len(t, show.Letters, 1)
	require.Equal(t, neg.Payload, show.Letters[0].Payload)
	require.Equal(t, []string{"0000000000000000"}, show.NotFound)

	for _, in := range []any{
		ListDeadLettersInput{Limit: MaxListLimit + 1},
		ListDeadLettersInput{Limit: -1},
		ShowDeadLettersInput{},
		ShowDeadLettersInput{IDs: make([]string, MaxShow+1)},
	} {
		fn := any(f.a.ListDeadLetters)
		if _, ok := in.(ShowDeadLettersInput); ok {
			fn = f.a.ShowDeadLetters
		}
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, f.run(t, nil, fn, in), &appErr, "%+v", in)
		require.True(t, appErr.NonRetryable())
	}
}

// TestReplayDeadLetters replays one letter of each kind: what now passes is
// applied and leaves, what the storefront has newer leaves, what fails again
// stays under its ID with one more attempt, and what cannot be replayed stays
// as it is.
func TestReplayDeadLetters(t *testing.T) {
	f := newDLQFixture(t)
	ctx := context.Background()
	_, err := f.store.Upsert(ctx, []inventory.Item{{SKU: "OLD", Quantity: 9, PriceCents: 100,
		LastModified: dlqAt.Add(time.Hour), ObservedAt: dlqAt.Add(time.Hour)}})
	require.NoError(t, err)

	rej := func(code string) inventory.Rejection { return inventory.Rejection{Code: code, Message: code} }
	fixed := deadletter.ForChange(dlqChange("FIXED", 5, dlqAt), rej(inventory.ReasonStorefrontRejected), deadletter.StageApply, "b1")
	old := deadletter.ForChange(dlqChange("OLD", 1, dlqAt), rej(inventory.ReasonPriceRuleFailed), deadletter.StageApply, "b1")
	still := deadletter.ForChange(dlqChange("STILL", -3, dlqAt), rej(inventory.ReasonQuantityNegative), deadletter.StageApply, "b1")
	still.Attempts = 2
	broker := deadletter.ForChange(dlqChange("BROKER", 7, dlqAt), rej("delivery_limit"), deadletter.StageBroker, "")
	// A change the consumer could not hand on is named by its message body.
	body, _ := json.Marshal(dlqChange("HANDED", -1, dlqAt))
	handed := deadletter.ForMessage(body, rej(inventory.ReasonTemporalRefused), deadletter.StageConsumer)
	row := deadletter.ForRow(inventory.Row{SKU: new("ROW"), LastModified: dlqAt}, rej(inventory.ReasonQuantityMissing))
	junk := deadletter.ForMessage([]byte("\x00junk"), rej(inventory.ReasonUndecodable), deadletter.StageConsumer)
	f.put(t, fixed, old, still, broker, handed, row, junk)

	var res ReplayResult
	require.NoError(t, f.run(t, &res, f.a.ReplayDeadLetters, SelectDeadLetters{All: true}))
	require.Equal(t, 7, res.Read)
	require.Equal(t, 2, res.Applied, "FIXED and BROKER")
	require.Equal(t, 1, res.Stale, "OLD")
	require.Equal(t, 2, res.Rejected, "STILL and HANDED")
	require.Equal(t, map[string]int{inventory.ReasonQuantityNegative: 2}, res.RejectedByReason)
	require.ElementsMatch(t, []string{still.ID, handed.ID}, res.RejectedIDs)
	require.Equal(t, 1, res.ERPRows)
	require.Equal(t, 1, res.NotChanges)
	require.ElementsMatch(t, []string{row.ID, junk.ID}, res.SkippedIDs)
	require.Equal(t, f.a.rules().Version, res.RulesVersion)

	for _, gone := range []deadletter.Letter{fixed, old, broker} {
		_, ok := f.letter(t, gone.ID)
		require.False(t, ok, "%s left the DLQ", gone.SKU)
	}
	require.Equal(t, int64(4), f.total(t), "no letter was added")
	for _, tt := range []struct {
		l        deadletter.Letter
		attempts int
		stage    string
		code     string
	}{
		{still, 3, deadletter.StageApply, inventory.ReasonQuantityNegative},
		{handed, 2, deadletter.StageApply, inventory.ReasonQuantityNegative},
		{row, 1, deadletter.StagePoller, inventory.ReasonQuantityMissing},
		{junk, 1, deadletter.StageConsumer, inventory.ReasonUndecodable},
	} {
		got, ok := f.letter(t, tt.l.ID)
		require.True(t, ok, "%s stays", tt.l.ID)
		require.Equal(t, tt.attempts, got.Attempts, "%s", tt.l.ID)
		require.Equal(t, tt.stage, got.Stage, "%s", tt.l.ID)
		require.Equal(t, tt.code, got.Reason.Code, "%s", tt.l.ID)
		require.Equal(t, tt.l.Payload, got.Payload, "%s keeps its payload", tt.l.ID)
	}
	require.Equal(t, int64(5), f.quantity(t, "FIXED"))
	require.Equal(t, int64(9), f.quantity(t, "OLD"), "the newer version stays")

	// By ID: only those, and the IDs with no letter said.
	require.NoError(t, f.run(t, &res, f.a.ReplayDeadLetters, SelectDeadLetters{Filter: deadletter.Filter{IDs: []string{still.ID, fixed.ID}}}))
	require.Equal(t, 1, res.Read)
	require.Equal(t, 1, res.Rejected)
	require.Equal(t, []string{fixed.ID}, res.NotFound)
	got, _ := f.letter(t, still.ID)
	require.Equal(t, 4, got.Attempts)
}

func (f *dlqFixture) quantity(t *testing.T, sku string) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var q int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT quantity FROM inventory WHERE sku = $1`, sku).Scan(&q))
	return q
}

// manyLetters writes n letters of changes of quantity qty: the default rules
// apply a positive one and reject a negative one.
func manyLetters(t *testing.T, f *dlqFixture, n int, qty int64) []deadletter.Letter {
	t.Helper()
	letters := make([]deadletter.Letter, n)
	for i := range letters {
		letters[i] = deadletter.ForChange(dlqChange(fmt.Sprintf("BULK-%06d", i), qty, dlqAt),
			inventory.Rejection{Code: "price_rule_failed", Message: "the rule failed"}, deadletter.StageApply, "b1")
	}
	for chunk := range slices.Chunk(letters, 5000) {
		f.put(t, chunk...)
	}
	return letters
}

// TestReplayAndPurgeOfManyLettersStaySmall: ten thousand letters go in one
// operation each, whose result is counts and a bounded list of IDs.
func TestReplayAndPurgeOfManyLettersStaySmall(t *testing.T) {
	f := newDLQFixture(t)
	const n = 10000
	manyLetters(t, f, n, 1)

	var res ReplayResult
	require.NoError(t, f.run(t, &res, f.a.ReplayDeadLetters, SelectDeadLetters{All: true}))
	require.Equal(t, n, res.Read)
	require.Equal(t, n, res.Applied)
	require.Zero(t, f.total(t))
	b, err := json.Marshal(res)
	require.NoError(t, err)
	require.Less(t, len(b), 4<<10, "a replay's result is counts")

	letters := manyLetters(t, f, n, -1)
	require.NoError(t, f.run(t, &res, f.a.ReplayDeadLetters, SelectDeadLetters{All: true}))
	require.Equal(t, n, res.Rejected)
	require.Len(t, res.RejectedIDs, MaxExamples)
	require.Equal(t, int64(n), f.total(t), "each stays one letter")
	b, err = json.Marshal(res)
	require.NoError(t, err)
	require.Less(t, len(b), 8<<10, "and a bounded list of examples")

	var purge PurgeDeadLettersResult
	require.NoError(t, f.run(t, &purge, f.a.PurgeDeadLetters, SelectDeadLetters{All: true}))
	require.Equal(t, n, purge.Purged)
	require.Len(t, purge.PurgedIDs, MaxExamples)
	require.True(t, slices.ContainsFunc(letters, func(l deadletter.Letter) bool { return l.ID == purge.PurgedIDs[0] }))
	require.Zero(t, f.total(t))
}

// TestReplayAndPurgePickUpAfterTheirLastHeartbeat: a retried attempt starts
// after the last chunk its predecessor heartbeated, with its counts.
func TestReplayAndPurgePickUpAfterTheirLastHeartbeat(t *testing.T) {
	f := newDLQFixture(t)
	letters := manyLetters(t, f, 3*ChunkSize, -1)
	ids := make([]string, len(letters))
	for i, l := range letters {
		ids[i] = l.ID
	}
	slices.Sort(ids)
	after := ids[2*ChunkSize-1] // two chunks were done

	f.env.SetHeartbeatDetails(replayProgress{After: after, Result: ReplayResult{Read: 2 * ChunkSize, Rejected: 2 * ChunkSize}})
	var res ReplayResult
	require.NoError(t, f.run(t, &res, f.a.ReplayDeadLetters, SelectDeadLetters{All: true}))
	require.Equal(t, 3*ChunkSize, res.Read)
	require.Equal(t, 3*ChunkSize, res.Rejected)
	for i, id := range ids {
		got, ok := f.letter(t, id)
		require.True(t, ok)
		want := 1
		if i >= 2*ChunkSize {
			want = 2 // only the last chunk was replayed
		}
		require.Equal(t, want, got.Attempts, "letter %d", i)
	}

	f.env.SetHeartbeatDetails(purgeProgress{After: after, Result: PurgeDeadLettersResult{Purged: 7}})
	var purge PurgeDeadLettersResult
	require.NoError(t, f.run(t, &purge, f.a.PurgeDeadLetters, SelectDeadLetters{All: true}))
	require.Equal(t, 7+ChunkSize, purge.Purged)
	require.Equal(t, int64(2*ChunkSize), f.total(t), "the chunks before the heartbeat are not purged again")
}

func TestPurgeDeadLetters(t *testing.T) {
	f := newDLQFixture(t)
	rej := func(code string) inventory.Rejection { return inventory.Rejection{Code: code, Message: code} }
	a := deadletter.ForChange(dlqChange("A", -1, dlqAt), rej(inventory.ReasonQuantityNegative), deadletter.StageApply, "")
	b := deadletter.ForChange(dlqChange("B", -1, dlqAt), rej(inventory.ReasonQuantityNegative), deadletter.StageApply, "")
	c := deadletter.ForChange(dlqChange("C", 1, dlqAt), rej(inventory.ReasonPriceRuleFailed), deadletter.StageApply, "")
	f.put(t, a, b, c)

	var res PurgeDeadLettersResult
	require.NoError(t, f.run(t, &res, f.a.PurgeDeadLetters, SelectDeadLetters{Filter: deadletter.Filter{IDs: []string{a.ID, "0000000000000000"}}}))
	require.Equal(t, PurgeDeadLettersResult{Purged: 1, PurgedIDs: []string{a.ID}, NotFound: []string{"0000000000000000"}}, res)

	require.NoError(t, f.run(t, &res, f.a.PurgeDeadLetters, SelectDeadLetters{Filter: deadletter.Filter{Reason: inventory.ReasonPriceRuleFailed}, All: true}))
	require.Equal(t, PurgeDeadLettersResult{Purged: 1, PurgedIDs: []string{c.ID}}, res)
	_, ok := f.letter(t, b.ID)
	require.True(t, ok, "a letter of another reason stays")

	var appErr *temporal.ApplicationError
	require.ErrorAs(t, f.run(t, &res, f.a.PurgeDeadLetters, SelectDeadLetters{}), &appErr)
	require.True(t, appErr.NonRetryable())
	require.Equal(t, int64(1), f.total(t), "an empty selection purges nothing")
}

// TestDLQInputs: a listing, replay and purge narrow their letters by the same
// rules, and their inputs keep the JSON names that workflow histories and
// the temporal CLI calls dlq prints carry.
func TestDLQInputs(t *testing.T) {
	many := deadletter.Filter{IDs: make([]string, MaxSelectIDs+1)}
	for _, tt := range []struct {
		in   interface{ Validate() error }
		want string
	}{
		{ListDeadLettersInput{}, ""},
		{ListDeadLettersInput{Filter: deadletter.Filter{IDs: many.IDs[1:]}}, ""},
		{ListDeadLettersInput{Filter: many}, "name at most 1000"},
		{ListDeadLettersInput{Limit: MaxListLimit + 1}, "limit"},
		{SelectDeadLetters{Filter: deadletter.Filter{IDs: many.IDs[1:]}}, ""},
		{SelectDeadLetters{Filter: many}, "name at most 1000, or select all"},
		{SelectDeadLetters{Filter: deadletter.Filter{Reason: "r"}}, "name the dead letters by ID, or select all"},
		{SelectDeadLetters{Filter: deadletter.Filter{IDs: []string{"a"}}, All: true}, "not both"},
	} {
		if err := tt.in.Validate(); tt.want == "" {
			require.NoError(t, err, "%T", tt.in)
		} else {
			require.ErrorContains(t, err, tt.want, "%T", tt.in)
		}
	}

	f := deadletter.Filter{IDs: []string{"a"}, Reason: "r"}
	b, err := json.Marshal(ListDeadLettersInput{Filter: f, Limit: 5})
	require.NoError(t, err)
	require.JSONEq(t, `{"ids":["a"],"reason":"r","limit":5}`, string(b))
	b, err = json.Marshal(SelectDeadLetters{Filter: f, All: true})
	require.NoError(t, err)
	require.JSONEq(t, `{"ids":["a"],"reason":"r","all":true}`, string(b))
	var back SelectDeadLetters
	require.NoError(t, json.Unmarshal([]byte(`{"ids":["a"],"all":true,"reason":"r"}`), &back))
	require.Equal(t, SelectDeadLetters{Filter: f, All: true}, back)
}
