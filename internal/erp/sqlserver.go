package erp

import (
	"fmt"
	"strings"
	"time"

	"github.com/golang-sql/civil"
)

func quoteSQLServer(id string) string { return "[" + strings.ReplaceAll(id, "]", "]]") + "]" }

// sqlServerDialect reads a SQL Server view with T-SQL. SQL Server has no
// row-value comparison, so the keyset predicate is spelled out; with an index
// on (lm, sku) it is still a seek. Times are sent as datetime2 in UTC so that
// they compare with the column without an implicit conversion per row.
func sqlServerDialect(view []string, c Columns) dialect {
	for i := range view {
		view[i] = quoteSQLServer(view[i])
	}
	sku, qty, price, lm := quoteSQLServer(c.SKU), quoteSQLServer(c.Quantity), quoteSQLServer(c.Price), quoteSQLServer(c.LastModified)
	from := strings.Join(view, ".")
	cols := fmt.Sprintf("%s, %s, CONVERT(varchar(64), %s), %s", sku, qty, price, lm)
	order := fmt.Sprintf(" ORDER BY %s, %s", lm, sku)
	return dialect{
		driverName: "sqlserver",
		clock:      "SELECT SYSUTCDATETIME()",
		first:      fmt.Sprintf("SELECT TOP (@p2) %s FROM %s WHERE %s <= @p1", cols, from, lm) + order,
		next: fmt.Sprintf("SELECT TOP (@p4) %s FROM %s WHERE (%s > @p1 OR (%s = @p1 AND %s > @p2)) AND %s <= @p3",
			cols, from, lm, lm, sku, lm) + order,
		countFirst: fmt.Sprintf("SELECT COUNT_BIG(*) FROM %s WHERE %s <= @p1", from, lm),
		countNext: fmt.Sprintf("SELECT COUNT_BIG(*) FROM %s WHERE (%s > @p1 OR (%s = @p1 AND %s > @p2)) AND %s <= @p3",
			from, lm, lm, sku, lm),
		timeArg: func(t time.Time) any { return civil.DateTimeOf(t.UTC()) },
	}
}
