package storefront_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/testenv"
)

func deadLetterStore(t *testing.T) *storefront.Store {
	t.Helper()
	ctx := context.Background()
	dsn := testenv.Database(t, "invsync_store")
	require.NoError(t, storefront.Migrate(ctx, dsn))
	s, err := storefront.Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// changeLetter is the letter of a change of sku refused for code.
func changeLetter(sku, code string) deadletter.Letter {
	q, p := int64(-1), "1.00"
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	c := inventory.Change{SKU: sku, Quantity: &q, Price: &p, LastModified: at, ObservedAt: at}
	return deadletter.ForChange(c, inventory.Rejection{Code: code, Message: code + " of " + sku}, deadletter.StageApply, "b1")
}

func ids(letters []deadletter.Letter) []string {
	out := make([]string, len(letters))
	for i, l := range letters {
		out[i] = l.ID
	}
	return out
}

func TestDeadLettersListGetAndCount(t *testing.T) {
	ctx := context.Background()
	s := deadLetterStore(t)
	a, b, c := changeLetter("A", "quantity_negative"), changeLetter("B", "price_negative"), changeLetter("C", "quantity_negative")
	row := deadletter.ForRow(inventory.Row{LastModified: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)},
		inventory.Rejection{Code: "sku_empty", Message: "sku is empty"})
	// Written one at a time, so each is more recent than the one before.
	for _, l := range []deadletter.Letter{a, b, c, row} {
		require.NoError(t, s.PutDeadLetters(ctx, []deadletter.Letter{l}))
	}

	for _, tt := range []struct {
		name   string
		filter deadletter.Filter
		limit  int
		want   []string
	}{
		{"all, newest first", deadletter.Filter{}, 10, []string{row.ID, c.ID, b.ID, a.ID}},
		{"limited", deadletter.Filter{}, 2, []string{row.ID, c.ID}},
		{"by reason", deadletter.Filter{Reason: "quantity_negative"}, 10, []string{c.ID, a.ID}},
		{"by ID", deadletter.Filter{IDs: []string{a.ID, "nope"}}, 10, []string{a.ID}},
		{"by ID and reason", deadletter.Filter{IDs: []string{a.ID, b.ID}, Reason: "price_negative"}, 10, []string{b.ID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListDeadLetters(ctx, tt.filter, tt.limit)
			require.NoError(t, err)
			require.Equal(t, tt.want, ids(got))
			for _, l := range got {
				require.Nil(t, l.Payload, "a listing carries no payloads")
				require.NotZero(t, l.PayloadSize)
			}
		})
	}
	_, err := s.ListDeadLetters(ctx, deadletter.Filter{}, 0)
	require.ErrorIs(t, err, storefront.ErrLimit)

	got, err := s.GetDeadLetters(ctx, []string{a.ID, row.ID, "nope"})
	require.NoError(t, err)
	require.Equal(t, []string{row.ID, a.ID}, ids(got))
	require.Equal(t, row.Payload, got[0].Payload)
	require.Equal(t, row.Cursor, got[0].Cursor, "the poller's cursor is kept")
	require.Equal(t, deadletter.StagePoller, got[0].Stage)
	ga := got[1]
	require.Equal(t, a.Payload, ga.Payload)
	require.Equal(t, a.Reason, ga.Reason)
	require.Equal(t, "A", ga.SKU)
	require.Equal(t, "b1", ga.BatchID)
	require.Equal(t, 1, ga.Attempts)
	require.Equal(t, a.PayloadSHA256, ga.PayloadSHA256)
	require.WithinDuration(t, time.Now(), ga.At, time.Minute)
	require.Equal(t, ga.At, ga.LastAt)

	counts, err := s.CountDeadLetters(ctx)
	require.NoError(t, err)
	require.Equal(t, deadletter.Counts{Total: 4, ByReason: map[string]int64{
		"quantity_negative": 2, "price_negative": 1, "sku_empty": 1}}, counts)

	// Failing again is the same letter, one more attempt, written later.
	again := a
	again.Attempts, again.Reason = 2, inventory.Rejection{Code: "price_negative", Message: "still"}
	require.NoError(t, s.PutDeadLetters(ctx, []deadletter.Letter{again}))
	got, err = s.ListDeadLetters(ctx, deadletter.Filter{}, 1)
	require.NoError(t, err)
	require.Equal(t, a.ID, got[0].ID, "most recently written first")
	require.Equal(t, 2, got[0].Attempts)
	require.Equal(t, "price_negative", got[0].Reason.Code)
	require.True(t, got[0].LastAt.After(got[0].At))
	counts, err = s.CountDeadLetters(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(4), counts.Total)
}

func TestDeadLetterChunksPassOverEachLetterOnce(t *testing.T) {
	ctx := context.Background()
	s := deadLetterStore(t)
	var all []deadletter.Letter
	for i := range 25 {
		code := "quantity_negative"
		if i%5 == 0 {
			code = "price_negative"
		}
		all = append(all, changeLetter(fmt.Sprintf("SKU-%02d", i), code))
	}
	require.NoError(t, s.PutDeadLetters(ctx, all))

	for _, tt := range []struct {
		name   string
		filter deadletter.Filter
		want   int
	}{
		{"all", deadletter.Filter{}, 25},
		{"by reason", deadletter.Filter{Reason: "price_negative"}, 5},
		{"by ID", deadletter.Filter{IDs: []string{all[3].ID, all[7].ID}}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var seen []string
			after := ""
			for {
				chunk, err := s.DeadLetterChunk(ctx, tt.filter, after, 4)
				require.NoError(t, err)
				for _, l := range chunk {
					require.NotEmpty(t, l.Payload, "a chunk carries payloads")
					require.Greater(t, l.ID, after, "in ID order")
					after = l.ID
					seen = append(seen, l.ID)
					// Rewriting a letter does not bring it back.
					l.Attempts++
					require.NoError(t, s.PutDeadLetters(ctx, []deadletter.Letter{l}))
				}
				if len(chunk) < 4 {
					break
				}
			}
			require.Len(t, seen, tt.want)
		})
	}
}

func TestDeleteDeadLetters(t *testing.T) {
	ctx := context.Background()
	s := deadLetterStore(t)
	var all []deadletter.Letter
	for i := range 10 {
		code := "quantity_negative"
		if i < 3 {
			code = "price_negative"
		}
		all = append(all, changeLetter(fmt.Sprintf("SKU-%02d", i), code))
	}
	require.NoError(t, s.PutDeadLetters(ctx, all))
	count := func() int64 {
		c, err := s.CountDeadLetters(ctx)
		require.NoError(t, err)
		return c.Total
	}

	n, err := s.DeleteDeadLetters(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, n, "no IDs delete nothing")
	require.Equal(t, int64(10), count())

	n, err = s.DeleteDeadLetters(ctx, []string{all[9].ID, all[9].ID, "nope"})
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	deleted, err := s.DeleteDeadLetterChunk(ctx, deadletter.Filter{Reason: "price_negative"}, "", 100)
	require.NoError(t, err)
	require.Len(t, deleted, 3)
	require.IsIncreasing(t, deleted)
	require.Equal(t, int64(6), count())

	// All, in chunks: each chunk after the last.
	var gone []string
	after := ""
	for {
		chunk, err := s.DeleteDeadLetterChunk(ctx, deadletter.Filter{}, after, 4)
		require.NoError(t, err)
		gone = append(gone, chunk...)
		if len(chunk) < 4 {
			break
		}
		after = chunk[len(chunk)-1]
	}
	require.Len(t, gone, 6)
	require.Zero(t, count())
	counts, err := s.CountDeadLetters(ctx)
	require.NoError(t, err)
	require.Empty(t, counts.ByReason)
	_, err = s.DeleteDeadLetterChunk(ctx, deadletter.Filter{}, "", 0)
	require.ErrorIs(t, err, storefront.ErrLimit)
}

// TestDeadLetterTextIsKeptAsWritten: what a letter holds comes back byte for
// byte; showing it safely is the reader's business.
func TestDeadLetterTextIsKeptAsWritten(t *testing.T) {
	ctx := context.Background()
	s := deadLetterStore(t)
	body := []byte("\x1b[2J\xff" + strings.Repeat("x", deadletter.MaxPayload))
	l := deadletter.ForMessage(body, inventory.Rejection{Code: "undecodable", Message: "not a JSON object"}, deadletter.StageConsumer)
	require.NoError(t, s.PutDeadLetters(ctx, []deadletter.Letter{l}))
	got, err := s.GetDeadLetters(ctx, []string{l.ID})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, body[:deadletter.MaxPayload], got[0].Payload)
	require.Equal(t, len(body), got[0].PayloadSize)
}

func TestPutDeadLettersIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := deadLetterStore(t)
	a := changeLetter("A", "quantity_negative")
	again := a
	again.Attempts = 3
	require.NoError(t, s.PutDeadLetters(ctx, []deadletter.Letter{a, again, a}), "one call may hold a letter twice")
	require.NoError(t, s.PutDeadLetters(ctx, []deadletter.Letter{a}))
	got, err := s.GetDeadLetters(ctx, []string{a.ID})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, 3, got[0].Attempts, "the most attempts win; writing fewer again counts nothing down")
	require.Nil(t, got[0].Cursor)
	require.Equal(t, got[0].At, got[0].LastAt, "the same failure written again is not news")
}

func TestDeadLettersOfSKU(t *testing.T) {
	ctx := context.Background()
	s := deadLetterStore(t)
	q := int64(-1)
	p := "1"
	var letters []deadletter.Letter
	for i := range 3 {
		c := inventory.Change{SKU: "D", Quantity: &q, Price: &p, LastModified: time.Unix(1_700_000_000, 0).Add(time.Duration(i) * time.Second)}
		letters = append(letters, deadletter.ForChange(c, inventory.Rejection{Code: "quantity_negative", Message: "no"}, deadletter.StageApply, "b"))
	}
	c := inventory.Change{SKU: "other", Quantity: &q, Price: &p, LastModified: time.Unix(1_700_000_000, 0)}
	letters = append(letters, deadletter.ForChange(c, inventory.Rejection{Code: "quantity_negative", Message: "no"}, deadletter.StageApply, "b"))
	require.NoError(t, s.PutDeadLetters(ctx, letters))
	got, err := s.DeadLettersOfSKU(ctx, "D", 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	for _, l := range got {
		require.Equal(t, "D", l.SKU)
	}
	got, err = s.DeadLettersOfSKU(ctx, strings.Repeat("x", 10000), 10)
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = s.DeadLettersOfSKU(ctx, "D", 0)
	require.ErrorIs(t, err, storefront.ErrLimit)
}
