package erp

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"
)

func quoteSQLServer(id string) string { return "[" + strings.ReplaceAll(id, "]", "]]") + "]" }

// collationName is how SQL Server names a collation; one is written into a
// statement only after it matches.
var collationName = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)

// sqlServerDialect reads a SQL Server view with T-SQL. SQL Server has no
// row-value comparison, so the keyset predicate is spelled out; with an index
// on (lm, sku) it is still a seek. ORDER BY puts NULL SKUs first among rows
// of one time: after a cursor (t, s) they have been read, and after a cursor
// on a NULL SKU (t, NULL) the rest of time t is its non-NULL SKUs. TOP ...
// WITH TIES ends a page only after the rows that tie with its last.
//
// Times are sent typed as the column: datetime as mssql.DateTime1 (a
// datetime2 parameter would make SQL Server convert the column and compare
// 3.33 ms ticks with 100 ns values, re-reading or skipping rows), datetime2
// as civil.DateTime (datetime2(7)), datetimeoffset as time.Time. No implicit
// conversion happens per row, so the index is used. The SKU is compared as
// sqlServerSKU says.
func sqlServerDialect(view []string, c Columns, types columnTypes, kind TimeKind, clock string) (dialect, error) {
	q := make([]string, len(view))
	for i := range view {
		q[i] = quoteSQLServer(view[i])
	}
	from := strings.Join(q, ".")
	sku, lm := quoteSQLServer(c.SKU), quoteSQLServer(c.LastModified)
	skuParam, err := sqlServerSKU("@p2", types.SKU)
	if err != nil {
		return dialect{}, fmt.Errorf("erp: sku column %s: %w", c.SKU, err)
	}
	number := func(name string, t column) string {
		if name == "" {
			return "CAST(NULL AS varchar(1))"
		}
		return sqlServerNumber(quoteSQLServer(name), t)
	}
	category := "CAST(NULL AS nvarchar(1))"
	if c.Category != "" {
		category = sqlServerText(quoteSQLServer(c.Category), types.Category)
	}
	texts := []string{sqlServerText(sku, types.SKU), number(c.Quantity, types.Quantity),
		number(c.Price, types.Price), number(c.Cost, types.Cost), category}
	hash := sqlServerFingerprint(texts, lm, kind)
	cols := strings.Join(slices.Concat(texts, []string{lm, hash}), ", ")
	order := fmt.Sprintf(" ORDER BY %s, %s", lm, sku)
	page := func(limit string) string {
		return "SELECT TOP (" + limit + ") WITH TIES " + cols + " FROM " + from + " WHERE "
	}
	count := "SELECT COUNT_BIG(*) FROM " + from + " WHERE "

	fromStart := fmt.Sprintf("%s <= @p1", lm)
	afterSKU := fmt.Sprintf("(%s > @p1 OR (%s = @p1 AND %s > %s)) AND %s <= @p3", lm, lm, sku, skuParam, lm)
	afterNull := fmt.Sprintf("(%s > @p1 OR (%s = @p1 AND %s IS NOT NULL)) AND %s <= @p2", lm, lm, sku, lm)
	d := dialect{
		first:    keyset{page: page("@p2") + fromStart + order, count: count + fromStart},
		next:     keyset{page: page("@p4") + afterSKU + order, count: count + afterSKU},
		nextNull: keyset{page: page("@p3") + afterNull + order, count: count + afterNull},
		future:   fmt.Sprintf("SELECT TOP (@p2) %s FROM %s WHERE %s > @p1", cols, from, lm) + order,
		readTime: asWall,
		floor:    func(t time.Time) time.Time { return t.Truncate(100 * time.Nanosecond) },
	}
	if err := sqlServerBySKU(&d, from, sku, lm, cols, hash, types.SKU); err != nil {
		return dialect{}, fmt.Errorf("erp: sku column %s: %w", c.SKU, err)
	}
	// SYSDATETIMEOFFSET() is the server's clock with its current offset:
	// one reading gives the instant and the local wall clock.
	wall := "CONVERT(datetime2(7), c)"
	switch kind {
	case Instant:
		d.timeArg = func(t time.Time) any { return t.UTC() }
		d.readTime = asInstant
		wall = "c"
	case Ticks:
		d.timeArg = func(t time.Time) any { return mssql.DateTime1(t.UTC()) }
		d.floor = FloorTick
	default:
		d.timeArg = func(t time.Time) any { return civil.DateTimeOf(t.UTC()) }
	}
	if kind != Instant && clock == ClockUTC {
		wall = "CONVERT(datetime2(7), SWITCHOFFSET(c, 0))"
	}
	d.clock = "SELECT c, " + wall + " FROM (SELECT SYSDATETIMEOFFSET() AS c) x"
	return d, nil
}

// sqlServerBySKU builds the reads by SKU, for the reconcile. The bounds are
// compared as the keyset compares its cursor (sqlServerSKU), so that chunks
// are cut in the SKU column's own order and collation. Rows with a NULL
// LastModified are left out, as from every other read.
func sqlServerBySKU(d *dialect, from, sku, lm, cols, hash string, c column) error {
	after, err := sqlServerSKU("@p1", c)
	if err != nil {
		return err
	}
	through, _ := sqlServerSKU("@p2", c)
	list, err := sqlServerSKUList(c)
	if err != nil {
		return err
	}
	rows := "SELECT " + cols + " FROM " + from + " WHERE "
	readable := lm + " IS NOT NULL"
	bySKU := fmt.Sprintf(" ORDER BY %s, %s", sku, lm)
	d.digest = fmt.Sprintf("SELECT COUNT_BIG(*), CONVERT(varchar(40), COALESCE(SUM(CAST(x.h AS decimal(38,0))), 0)), COALESCE(%s, N'') "+
		"FROM (SELECT TOP (@p2) WITH TIES %s AS s, %s AS h FROM %s WHERE %s > %s AND %s ORDER BY %s) x",
		sqlServerText("MAX(x.s)", c), sku, hash, from, sku, after, readable, sku)
	d.rangeTo = rows + fmt.Sprintf("%s > %s AND %s <= %s AND %s", sku, after, sku, through, readable) + bySKU
	d.rangeAll = rows + fmt.Sprintf("%s > %s AND %s", sku, after, readable) + bySKU
	d.lookup = rows + fmt.Sprintf("%s IN (%s) AND %s", sku, list, readable) + bySKU
	d.skuList = func(skus []string) (any, error) {
		b, err := json.Marshal(skus)
		return string(b), err
	}
	return nil
}

// sqlServerSKUList selects the SKUs of a lookup from @p1, a JSON array of
// strings: OPENJSON (SQL Server 2016, compatibility level 130) unescapes
// each whole, so quotes, brackets and any Unicode character arrive as they
// were, in one parameter. Each is compared in the SKU column's collation and,
// for a char or varchar column, converted to its type as sqlServerSKU does; a
// SKU that the conversion would change (a character outside the column's code
// page becomes '?', a longer one is cut) is left out rather than matching
// another row.
func sqlServerSKUList(c column) (string, error) {
	const value = "j.[value]"
	switch c.dataType {
	case "char", "varchar":
		conv, err := sqlServerSKU(value, c)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("SELECT %s FROM OPENJSON(@p1) j WHERE CONVERT(nvarchar(max), %s) = %s COLLATE %s",
			conv, conv, value, c.collation), nil
	case "nchar", "nvarchar":
		if c.collation == "" {
			break
		}
		if !collationName.MatchString(c.collation) {
			return "", fmt.Errorf("collation %q is not a plain name", c.collation)
		}
		return "SELECT " + value + " COLLATE " + c.collation + " FROM OPENJSON(@p1) j", nil
	}
	return "SELECT " + value + " FROM OPENJSON(@p1) j", nil
}

// sqlServerFingerprint is the row's fingerprint: the first 8 bytes of the
// MD5 of the texts the row is read as and of its LastModified in a style no
// session setting (language, DATEFORMAT) changes: ODBC canonical, 121, to
// the column's precision, or ISO 8601 with its offset, 127, for
// datetimeoffset. CONCAT counts NULL as empty; its first argument is
// nvarchar(max), so that the text is never cut at 4,000 characters.
func sqlServerFingerprint(texts []string, lm string, kind TimeKind) string {
	style := "121"
	if kind == Instant {
		style = "127"
	}
	fields := slices.Clone(texts)
	fields[0] = "CONVERT(nvarchar(max), " + fields[0] + ")"
	fields = append(fields, "CONVERT(varchar(40), "+lm+", "+style+")")
	return "CAST(SUBSTRING(HASHBYTES('MD5', CONCAT(" + strings.Join(fields, ", NCHAR(31), ") + ")), 1, 8) AS bigint)"
}

// sqlServerSKU is what the SKU column is compared with: the parameter
// (sent as nvarchar), converted to the column's own type and collation when
// the column is char or varchar. Compared with nvarchar as it is, a varchar
// column would be converted row by row (a scan instead of a seek) and, under
// a SQL_* collation, ordered by Unicode rules that differ from the ORDER BY's,
// so a keyset page could skip rows. The conversion happens once, on the
// parameter. The parameter is not sent as mssql.VarChar: go-mssqldb sends its
// UTF-8 bytes as they are, with no collation, which is right for ASCII only;
// as nvarchar every character arrives, and CONVERT encodes it in the code page
// of the column's collation, the same bytes the column holds.
func sqlServerSKU(param string, c column) (string, error) {
	switch c.dataType {
	case "char", "varchar":
	default:
		return param, nil
	}
	if !collationName.MatchString(c.collation) {
		return "", fmt.Errorf("collation %q is not a plain name", c.collation)
	}
	length := "max"
	if c.maxLength > 0 {
		length = strconv.FormatInt(c.maxLength, 10)
	}
	return fmt.Sprintf("CONVERT(%s(%s), %s COLLATE %s)", c.dataType, length, param, c.collation), nil
}

// sqlServerText reads a text column (SKU, category) as the text it holds;
// any other type is converted to nvarchar whole.
func sqlServerText(expr string, c column) string {
	switch c.dataType {
	case "char", "varchar", "nchar", "nvarchar":
		return expr
	}
	return "CONVERT(nvarchar(max), " + expr + ")"
}

// sqlServerNumber reads a number column as exact decimal text, by a
// conversion that cannot fail whatever the row holds. CONVERT of a float to
// text keeps six digits or switches to scientific notation, so a float goes
// through decimal(38,12) (rounded to the 12 places the limits allow at most);
// one out of that range comes back as its raw text, which the caller rejects
// with the value in the reason. money is read with style 2, all four places
// (the default style keeps two).
func sqlServerNumber(expr string, c column) string {
	switch c.dataType {
	case "tinyint", "smallint", "int", "bigint", "bit", "decimal", "numeric":
		return "CONVERT(varchar(64), " + expr + ")"
	case "money", "smallmoney":
		return "CONVERT(varchar(64), " + expr + ", 2)"
	case "char", "varchar", "nchar", "nvarchar":
		return expr
	}
	// float, real, sql_variant and anything else.
	return fmt.Sprintf("COALESCE(CONVERT(varchar(64), TRY_CONVERT(decimal(38,12), %s)), CONVERT(nvarchar(100), %s))", expr, expr)
}

// FloorTick cuts t down to a SQL Server datetime tick (1/300 s), as the
// driver reads such a value back: whole milliseconds .000, .003 or .007.
func FloorTick(t time.Time) time.Time {
	ticks := t.Nanosecond() * 3 / 10_000_000 // floor
	ms := (ticks*10 + 1) / 3                 // round(ticks / 0.3)
	return t.Truncate(time.Second).Add(time.Duration(ms) * time.Millisecond)
}

// CheckSQLServerDSN parses a go-mssqldb connection string as the driver
// will, and says what an operator should fix: the ERP is read-only, so the
// connection should declare ApplicationIntent=ReadOnly (which lets an
// availability group route it to a readable secondary). The string is passed
// to the driver unchanged, TLS options included.
func CheckSQLServerDSN(dsn string) (warnings []string, err error) {
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("erp dsn: %w", err)
	}
	if !cfg.ReadOnlyIntent {
		warnings = append(warnings, "the ERP connection string lacks ApplicationIntent=ReadOnly")
	}
	if cfg.Encryption == msdsn.EncryptionDisabled {
		warnings = append(warnings, "the ERP connection string disables encryption (encrypt=disable)")
	}
	return warnings, nil
}
