package erp

import (
	"fmt"
	"strings"
	"time"
)

func quotePostgres(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// postgresDialect reads a PostgreSQL view. The row-value comparison
// (lm, sku) > ($1, $2) walks a btree index on (lm, sku) directly.
func postgresDialect(view []string, c Columns) dialect {
	for i := range view {
		view[i] = quotePostgres(view[i])
	}
	sku, qty, price, lm := quotePostgres(c.SKU), quotePostgres(c.Quantity), quotePostgres(c.Price), quotePostgres(c.LastModified)
	sel := fmt.Sprintf("SELECT %s, %s, %s::text, %s FROM %s", sku, qty, price, lm, strings.Join(view, "."))
	order := fmt.Sprintf(" ORDER BY %s, %s LIMIT", lm, sku)
	from := " FROM " + strings.Join(view, ".")
	return dialect{
		driverName: "pgx",
		clock:      "SELECT clock_timestamp()",
		first:      sel + fmt.Sprintf(" WHERE %s <= $1", lm) + order + " $2",
		next:       sel + fmt.Sprintf(" WHERE (%s, %s) > ($1, $2) AND %s <= $3", lm, sku, lm) + order + " $4",
		countFirst: "SELECT count(*)" + from + fmt.Sprintf(" WHERE %s <= $1", lm),
		countNext:  "SELECT count(*)" + from + fmt.Sprintf(" WHERE (%s, %s) > ($1, $2) AND %s <= $3", lm, sku, lm),
		timeArg:    func(t time.Time) any { return t },
	}
}
