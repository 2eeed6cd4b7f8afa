package pricing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

// promoRules has a wall-clock black friday, a rule without an end and one
// without a start, beside a rule on the ERP's time.
const promoRules = `
rules:
  - name: black friday
    active: {from: "2026-11-27T00:00:00Z", to: "2026-12-01T00:00:00Z"}
    discount: "20"
  - name: winter sale
    active: {from: 2026-12-20T00:00:00+01:00}
    discount: "10"
  - name: launch price
    active:
      to: "2026-11-25T12:00:00Z"
    min: "9"
  - name: changed in the ERP's black friday
    when: changed_at >= timestamp("2026-11-27T00:00:00Z")
    max: "50"
`

// priceAt prices c for the instant at, as a re-pricing pass does: the row
// was read before, at changedAt.
func priceAt(t *testing.T, r *Rules, c inventory.Change, at time.Time) int64 {
	t.Helper()
	item, rej := r.Apply(c, inventory.DefaultLimits(), at)
	require.Nil(t, rej)
	return item.PriceCents
}

func TestActiveWindowsFollowTheInstantPriced(t *testing.T) {
	r, err := Parse([]byte(promoRules))
	require.NoError(t, err)
	c := change("A", "100", "", "", 1) // changed_at: 2026-11-20, before every window
	bfStart := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	bfEnd := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	winter := time.Date(2026, 12, 19, 23, 0, 0, 0, time.UTC) // 2026-12-20T00:00:00+01:00
	launchEnd := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		at   time.Time
		want int64
	}{
		{"before the launch price ends", launchEnd.Add(-time.Nanosecond), 10000},
		{"the end of a window is exclusive", launchEnd, 10000},
		{"the instant before black friday", bfStart.Add(-time.Nanosecond), 10000},
		{"the start of a window is inclusive", bfStart, 8000},
		{"within the window", bfStart.Add(50 * time.Hour), 8000},
		{"the last instant of black friday", bfEnd.Add(-time.Nanosecond), 8000},
		{"black friday is over", bfEnd, 10000},
		{"the offset of a bound counts", winter.Add(-time.Second), 10000},
		{"a window without an end goes on", winter, 9000},
		{"years later", winter.AddDate(5, 0, 0), 9000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, priceAt(t, r, c, tt.at))
		})
	}

	// A launch price below the minimum holds until its end.
	cheap := change("B", "5", "", "", 1)
	require.Equal(t, int64(900), priceAt(t, r, cheap, launchEnd.Add(-time.Hour)))
	require.Equal(t, int64(500), priceAt(t, r, cheap, launchEnd))

	// changed_at is the ERP's time of the row, whatever the instant priced.
	late := change("C", "100", "", "", 1)
	late.LastModified, late.ObservedAt = bfStart.Add(time.Hour), bfStart.Add(time.Hour)
	require.Equal(t, int64(5000), priceAt(t, r, late, bfEnd.AddDate(0, 0, 3)), "the ERP changed it in its black friday")
	require.Equal(t, int64(5000), priceAt(t, r, late, bfStart.Add(2*time.Hour)), "both hold: 20 % off, then the cap")
}

func TestTheSamePriceForTheSameRowRulesAndInstant(t *testing.T) {
	at := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	c := change("A", "123.45", "80", "garden", 4)
	var prices []int64
	for range 3 {
		r, err := Parse([]byte(promoRules))
		require.NoError(t, err)
		for range 3 {
			prices = append(prices, priceAt(t, r, c, at))
			time.Sleep(time.Millisecond) // the wall clock moves; the price does not
		}
	}
	for _, p := range prices {
		require.Equal(t, int64(9876), p)
	}
	r, err := Parse([]byte(promoRules))
	require.NoError(t, err)
	require.Equal(t, priceAt(t, r, c, at), priceAt(t, r, c, at.In(time.FixedZone("X", -5*3600))),
		"an instant is the same in any zone")
}

func TestNextBoundary(t *testing.T) {
	r, err := Parse([]byte(promoRules))
	require.NoError(t, err)
	launchEnd := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	bfStart := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	bfEnd := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	winter := time.Date(2026, 12, 19, 23, 0, 0, 0, time.UTC)
	steps := []struct {
		after, want time.Time
	}{
		{time.Time{}, launchEnd},
		{launchEnd.Add(-time.Nanosecond), launchEnd},
		{launchEnd, bfStart}, // strictly after
		{bfStart, bfEnd},
		{bfEnd.Add(-time.Hour), bfEnd},
		{bfEnd, winter},
	}
	for _, s := range steps {
		got, ok := r.NextBoundary(s.after)
		require.True(t, ok, "after %s", s.after)
		require.True(t, s.want.Equal(got), "after %s: got %s, want %s", s.after, got, s.want)
	}
	_, ok := r.NextBoundary(winter)
	require.False(t, ok, "no window starts or ends after the last bound")
	_, ok = None().NextBoundary(time.Time{})
	require.False(t, ok)
	plain, err := Parse([]byte(shopRules))
	require.NoError(t, err)
	_, ok = plain.NextBoundary(time.Time{})
	require.False(t, ok, "changed_at conditions are no boundaries")
}

func TestParseChecksActiveWindows(t *testing.T) {
	tests := []struct{ name, active, want string }{
		{"from after to", `{from: "2026-12-01T00:00:00Z", to: "2026-11-27T00:00:00Z"}`,
			`rule 1 "w": active.from 2026-12-01T00:00:00Z is not before active.to 2026-11-27T00:00:00Z`},
		{"an empty window", `{from: "2026-12-01T00:00:00Z", to: "2026-12-01T00:00:00Z"}`, "is not before active.to"},
		{"not a time", `{from: "black friday"}`, `rule 1 "w": active.from "black friday" is not an RFC 3339 time`},
		{"no offset", `{to: "2026-12-01T00:00:00"}`, `active.to "2026-12-01T00:00:00" is not an RFC 3339 time`},
		{"neither", `{}`, "active needs from, to or both"},
		{"unknown field", `{start: "2026-12-01T00:00:00Z"}`, "start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("rules:\n  - name: w\n    active: " + tt.active + "\n    discount: \"5\"\n"))
			require.ErrorContains(t, err, tt.want)
		})
	}
}
