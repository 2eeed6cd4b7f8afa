package inventory

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEncodeChangeSets: sets stay within the bound (a change larger than it
// is a set of its own), keep the order, and decode to what was encoded.
func TestEncodeChangeSets(t *testing.T) {
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var cs []Change
	for i := range 1000 {
		q, p := int64(i), fmt.Sprintf("%d.25", i)
		c := Change{SKU: fmt.Sprintf("SKU-%04d", i), Quantity: &q, Price: &p, LastModified: at, ObservedAt: at}
		if i == 500 {
			big := strings.Repeat("x", 5000)
			c.Category = &big
		}
		cs = append(cs, c)
	}
	const bound = 4 << 10
	sets, err := EncodeChangeSets(cs, bound)
	require.NoError(t, err)
	var got []Change
	for _, set := range sets {
		again, bad, err := DecodeChangeSet(set)
		require.NoError(t, err)
		require.Empty(t, bad)
		if len(set) > bound {
			require.Len(t, again, 1, "only a change larger than the bound makes a larger set")
			require.Equal(t, "SKU-0500", again[0].SKU)
		}
		got = append(got, again...)
	}
	require.Len(t, got, len(cs))
	for i := range cs {
		require.Equal(t, cs[i].SKU, got[i].SKU)
		require.Equal(t, *cs[i].Price, *got[i].Price)
		require.True(t, cs[i].LastModified.Equal(got[i].LastModified))
	}
	require.Greater(t, len(sets), 30)

	all, err := EncodeChanges(cs)
	require.NoError(t, err)
	back, err := DecodeChanges(all)
	require.NoError(t, err)
	require.Len(t, back, len(cs))
	require.Equal(t, cs[500].Category, back[500].Category)
	require.Nil(t, back[1].Cost, "a change without a cost has none after the trip")
}
