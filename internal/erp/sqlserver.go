package erp

import (
	"fmt"
	"strings"
	"time"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"
)

func quoteSQLServer(id string) string { return "[" + strings.ReplaceAll(id, "]", "]]") + "]" }

// sqlServerDialect reads a SQL Server view with T-SQL. SQL Server has no
// row-value comparison, so the keyset predicate is spelled out; with an index
// on (lm, sku) it is still a seek.
//
// Times are sent typed as the column: datetime as mssql.DateTime1 (a
// datetime2 parameter would make SQL Server convert the column and compare
// 3.33 ms ticks with 100 ns values, re-reading or skipping rows), datetime2
// as civil.DateTime (datetime2(7)), datetimeoffset as time.Time. No implicit
// conversion happens per row, so the index is used.
func sqlServerDialect(view []string, c Columns, kind TimeKind, clock string) dialect {
	q := make([]string, len(view))
	for i := range view {
		q[i] = quoteSQLServer(view[i])
	}
	from := strings.Join(q, ".")
	sku, lm := quoteSQLServer(c.SKU), quoteSQLServer(c.LastModified)
	opt := func(col string) string {
		if col == "" {
			return "CAST(NULL AS nvarchar(1))"
		}
		return fmt.Sprintf("CONVERT(nvarchar(256), %s)", quoteSQLServer(col))
	}
	cols := fmt.Sprintf("%s, %s, CONVERT(varchar(64), %s), %s, %s, %s", sku, quoteSQLServer(c.Quantity), quoteSQLServer(c.Price),
		opt(c.Cost), opt(c.Category), lm)
	order := fmt.Sprintf(" ORDER BY %s, %s", lm, sku)
	after := fmt.Sprintf("(%s > @p1 OR (%s = @p1 AND %s > @p2)) AND %s <= @p3", lm, lm, sku, lm)
	d := dialect{
		first:      fmt.Sprintf("SELECT TOP (@p2) %s FROM %s WHERE %s <= @p1", cols, from, lm) + order,
		next:       fmt.Sprintf("SELECT TOP (@p4) %s FROM %s WHERE %s", cols, from, after) + order,
		countFirst: fmt.Sprintf("SELECT COUNT_BIG(*) FROM %s WHERE %s <= @p1", from, lm),
		countNext:  fmt.Sprintf("SELECT COUNT_BIG(*) FROM %s WHERE %s", from, after),
	}
	switch kind {
	case Instant:
		d.clock = "SELECT SYSDATETIMEOFFSET()"
		d.timeArg = func(t time.Time) any { return t.UTC() }
		d.floor = func(t time.Time) time.Time { return t.Truncate(100 * time.Nanosecond) }
		return d
	case Ticks:
		d.timeArg = func(t time.Time) any { return mssql.DateTime1(t.UTC()) }
		d.floor = FloorTick
	default:
		d.timeArg = func(t time.Time) any { return civil.DateTimeOf(t.UTC()) }
		d.floor = func(t time.Time) time.Time { return t.Truncate(100 * time.Nanosecond) }
	}
	d.clock = "SELECT SYSDATETIME()"
	if clock == ClockUTC {
		d.clock = "SELECT SYSUTCDATETIME()"
	}
	return d
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
