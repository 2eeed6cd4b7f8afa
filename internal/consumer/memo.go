package consumer

import (
	"github.com/invsync/invsync/internal/inventory"
)

// batchMemo is what an ApplyChanges workflow shows of its batch in the Web
// UI's list, so an operator finds the batch of a SKU: the source, the rows
// and the first SKU (quoted and cut when it is not a valid SKU).
func batchMemo(source string, changes []inventory.Change) map[string]any {
	memo := map[string]any{"source": source, "rows": len(changes)}
	if len(changes) > 0 {
		sku := changes[0].SKU
		if inventory.CheckSKU(sku) != nil {
			sku = inventory.Quote(sku)
		}
		memo["first_sku"] = sku
	}
	return memo
}
