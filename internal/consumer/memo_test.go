package consumer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

func TestBatchMemo(t *testing.T) {
	require.Equal(t, map[string]any{"source": "erp", "rows": 0}, batchMemo("erp", nil))
	memo := batchMemo("erp", []inventory.Change{{SKU: "SKU-1"}, {SKU: "SKU-2"}})
	require.Equal(t, map[string]any{"source": "erp", "rows": 2, "first_sku": "SKU-1"}, memo)
	long := batchMemo("erp", []inventory.Change{{SKU: strings.Repeat("x", 10000) + "\x00"}})
	first := long["first_sku"].(string)
	require.Less(t, len(first), 200, "a hostile SKU is cut")
	require.NotContains(t, first, "\x00")
}
