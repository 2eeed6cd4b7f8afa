package erp

import (
	"fmt"
	"strings"
	"time"
)

func quotePostgres(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// postgresDialect reads a PostgreSQL view. The row-value comparison
// (lm, sku) > ($1, $2) walks a btree index on (lm, sku) directly.
//
// A timestamptz column is compared with instants. A timestamp column holds
// wall-clock times: they travel as UTC-labelled times, which pgx sends
// without conversion, and the clock is the server's wall clock (or UTC).
// PostgreSQL keeps microseconds, so times are cut to microseconds.
func postgresDialect(view []string, c Columns, kind TimeKind, clock string) dialect {
	q := make([]string, len(view))
	for i := range view {
		q[i] = quotePostgres(view[i])
	}
	from := " FROM " + strings.Join(q, ".")
	sku, lm := quotePostgres(c.SKU), quotePostgres(c.LastModified)
	opt := func(col string) string {
		if col == "" {
			return "NULL::text"
		}
		return quotePostgres(col) + "::text"
	}
	sel := fmt.Sprintf("SELECT %s::text, %s, %s::text, %s, %s, %s", sku, quotePostgres(c.Quantity), quotePostgres(c.Price),
		opt(c.Cost), opt(c.Category), lm) + from
	order := fmt.Sprintf(" ORDER BY %s, %s LIMIT", lm, sku)
	after := fmt.Sprintf(" WHERE (%s, %s) > ($1, $2) AND %s <= $3", lm, sku, lm)
	clockSQL := "SELECT clock_timestamp()"
	if kind == Wall {
		clockSQL = "SELECT clock_timestamp()::timestamp"
		if clock == ClockUTC {
			clockSQL = "SELECT clock_timestamp() AT TIME ZONE 'UTC'"
		}
	}
	return dialect{
		clock:      clockSQL,
		first:      sel + fmt.Sprintf(" WHERE %s <= $1", lm) + order + " $2",
		next:       sel + after + order + " $4",
		countFirst: "SELECT count(*)" + from + fmt.Sprintf(" WHERE %s <= $1", lm),
		countNext:  "SELECT count(*)" + from + after,
		timeArg:    func(t time.Time) any { return t.UTC() },
		floor:      func(t time.Time) time.Time { return t.Truncate(time.Microsecond) },
	}
}
