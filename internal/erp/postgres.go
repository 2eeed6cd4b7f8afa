package erp

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func quotePostgres(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// postgresDialect reads a PostgreSQL view. The row-value comparison
// (lm, sku) > ($1, $2) seeks a btree index on (lm, sku) directly.
//
// ORDER BY puts NULL SKUs last among rows of one time, but the row-value
// comparison is NULL for them, so after a cursor (t, s) a page reads a second
// seek, lm = t AND sku IS NULL, merged in order with the first; after a
// cursor on a NULL SKU (t, NULL) every row of time t has been read (pages
// end after the rows that tie with their last) and the next page starts
// after t. Every value is read as text: numeric gives its exact digits,
// money is read through numeric (its text carries a currency symbol), float8
// gives the shortest text that reads back exactly ('1e+300').
//
// A timestamptz column is compared with instants. A timestamp column holds
// wall-clock times: they travel as UTC-labelled times, which pgx sends
// without conversion, and the clock is the server's wall clock (or UTC).
// PostgreSQL keeps microseconds, so times are cut to microseconds. The
// values -infinity and infinity are left out of every read: no time.Time
// holds them, so no cursor could pass them.
func postgresDialect(view []string, c Columns, types columnTypes, kind TimeKind, clock string) dialect {
	q := make([]string, len(view))
	for i := range view {
		q[i] = quotePostgres(view[i])
	}
	from := " FROM " + strings.Join(q, ".") + " AS e"
	col := func(name string) string { return "e." + quotePostgres(name) }
	opt := func(name string) string {
		if name == "" {
			return "NULL::text"
		}
		return col(name)
	}
	sku, lm := col(c.SKU), col(c.LastModified)
	// The rows are chosen and ordered by the view's own columns (a cast SKU
	// would sort differently and miss the index); the outer query only
	// turns them into text.
	inner := fmt.Sprintf("SELECT %s AS s, %s AS q, %s AS p, %s AS c, %s AS g, %s AS m", sku, col(c.Quantity), col(c.Price),
		opt(c.Cost), opt(c.Category), lm) + from + " WHERE "
	texts := []string{"x.s::text", postgresNumber("x.q", types.Quantity), postgresNumber("x.p", types.Price),
		postgresNumber("x.c", types.Cost), "x.g::text"}
	hash := postgresFingerprint(texts, "x.m")
	outer := "SELECT " + strings.Join(texts, ", ") + ", x.m, " + hash + " FROM ("
	order := ") x ORDER BY x.m, x.s"
	ties := func(n int) string { return fmt.Sprintf(" FETCH FIRST $%d ROWS WITH TIES", n) }
	count := "SELECT count(*)" + from + " WHERE "

	fromStart := fmt.Sprintf("%s > '-infinity' AND %s <= $1", lm, lm)
	afterSKU := fmt.Sprintf("(%s, %s) > ($1, $2) AND %s <= $3", lm, sku, lm)
	nullsAtCursor := fmt.Sprintf("%s = $1 AND %s IS NULL AND %s <= $3", lm, sku, lm)
	afterTime := fmt.Sprintf("%s > $1 AND %s <= $2", lm, lm)

	wall := "c"
	if kind == Wall {
		wall = "c::timestamp"
		if clock == ClockUTC {
			wall = "c AT TIME ZONE 'UTC'"
		}
	}
	readTime := asWall
	if kind == Instant {
		readTime = asInstant
	}
	// By SKU, for the reconcile. Rows dated -infinity, infinity or NULL are
	// left out, as from every other read. isfinite, not a range on the
	// column: a range lets a generic plan walk the (last_modified, sku)
	// index and sort every row after the cursor (135 ms a chunk at 500,000
	// rows) instead of reading the chunk off the SKU's index (9 ms).
	bySKU := ") x ORDER BY x.s, x.m"
	readable := fmt.Sprintf("isfinite(%s)", lm)
	return dialect{
		clock: "SELECT c, " + wall + " FROM (SELECT clock_timestamp() AS c) x",
		digest: "SELECT count(*), coalesce(sum((" + hash + ")::numeric), 0)::text, coalesce(max(x.s)::text, '') FROM (" +
			inner + fmt.Sprintf("%s > $1 AND %s ORDER BY %s FETCH FIRST $2 ROWS WITH TIES) x", sku, readable, sku),
		rangeTo:  outer + inner + fmt.Sprintf("%s > $1 AND %s <= $2 AND %s", sku, sku, readable) + bySKU,
		rangeAll: outer + inner + fmt.Sprintf("%s > $1 AND %s", sku, readable) + bySKU,
		lookup:   outer + inner + fmt.Sprintf("%s = ANY($1) AND %s", sku, readable) + bySKU,
		skuList:  func(skus []string) (any, error) { return skus, nil },
		first: keyset{
			page:  outer + inner + fromStart + order + ties(2),
			count: count + fromStart,
		},
		next: keyset{
			// Each branch is an ordered index range; the planner merges
			// them and stops at the limit.
			page: outer + "(" + inner + afterSKU + fmt.Sprintf(" ORDER BY %s, %s", lm, sku) + ties(4) + ") UNION ALL " +
				inner + nullsAtCursor + order + ties(4),
			count: count + "(" + afterSKU + ") OR (" + nullsAtCursor + ")",
		},
		nextNull: keyset{
			page:  outer + inner + afterTime + order + ties(3),
			count: count + afterTime,
		},
		future:   outer + inner + fmt.Sprintf("%s > $1 AND %s < 'infinity'", lm, lm) + order + " LIMIT $2",
		timeArg:  func(t time.Time) any { return t.UTC() },
		readTime: readTime,
		floor:    func(t time.Time) time.Time { return t.Truncate(time.Microsecond) },
	}
}

// postgresFingerprint is the row's fingerprint: the first 8 bytes of the MD5
// of the texts the row is read as and of its LastModified in microseconds
// since 1970 (of its wall clock, for a timestamp column), which no session
// setting changes. NULL counts as empty; char 31 separates the fields.
func postgresFingerprint(texts []string, lm string) string {
	fields := append(slices.Clone(texts), "(extract(epoch FROM "+lm+") * 1000000)::bigint::text")
	return "('x' || left(md5(concat(" + strings.Join(fields, ", chr(31), ") + ")), 16))::bit(64)::bigint"
}

// postgresNumber reads a number column as text.
func postgresNumber(expr string, c column) string {
	if c.dataType == "money" {
		return expr + "::numeric::text"
	}
	return expr + "::text"
}
