package erp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

var erpColumns = Columns{SKU: "ItemNo", Quantity: "OnHand", Price: "Price", Cost: "Cost", Category: "ItemGroup", LastModified: "LastModified"}

// erpTypes is a view as SQL Server ERPs have them: a varchar SKU under a
// SQL_* collation, a decimal quantity, money and float amounts.
var erpTypes = columnTypes{
	SKU:          column{dataType: "varchar", maxLength: 40, collation: "SQL_Latin1_General_CP1_CI_AS"},
	Quantity:     column{dataType: "decimal"},
	Price:        column{dataType: "money"},
	Cost:         column{dataType: "float"},
	Category:     column{dataType: "nvarchar", maxLength: 50, collation: "SQL_Latin1_General_CP1_CI_AS"},
	LastModified: column{dataType: "datetime"},
}

func mustSQLServer(t *testing.T, view []string, c Columns, types columnTypes, kind TimeKind, clock string) dialect {
	t.Helper()
	d, err := sqlServerDialect(view, c, types, kind, clock)
	require.NoError(t, err)
	return d
}

// TestSQLServerStatements pins the exact T-SQL sent to the ERP.
func TestSQLServerStatements(t *testing.T) {
	d := mustSQLServer(t, []string{"dbo", "vInventory"}, erpColumns, erpTypes, Ticks, ClockLocal)
	texts := "[ItemNo], CONVERT(varchar(64), [OnHand]), CONVERT(varchar(64), [Price], 2), " +
		"COALESCE(CONVERT(varchar(64), TRY_CONVERT(decimal(38,12), [Cost])), CONVERT(nvarchar(100), [Cost])), [ItemGroup]"
	hash := "CAST(SUBSTRING(HASHBYTES('MD5', CONCAT(CONVERT(nvarchar(max), [ItemNo]), NCHAR(31), CONVERT(varchar(64), [OnHand]), NCHAR(31), " +
		"CONVERT(varchar(64), [Price], 2), NCHAR(31), " +
		"COALESCE(CONVERT(varchar(64), TRY_CONVERT(decimal(38,12), [Cost])), CONVERT(nvarchar(100), [Cost])), NCHAR(31), " +
		"[ItemGroup], NCHAR(31), CONVERT(varchar(40), [LastModified], 121))), 1, 8) AS bigint)"
	cols := texts + ", [LastModified], " + hash
	from := " FROM [dbo].[vInventory] WHERE "
	sku := func(p string) string { return "CONVERT(varchar(40), " + p + " COLLATE SQL_Latin1_General_CP1_CI_AS)" }
	bySKU := " AND [LastModified] IS NOT NULL ORDER BY [ItemNo], [LastModified]"
	order := " ORDER BY [LastModified], [ItemNo]"
	afterSKU := "([LastModified] > @p1 OR ([LastModified] = @p1 AND " +
		"[ItemNo] > CONVERT(varchar(40), @p2 COLLATE SQL_Latin1_General_CP1_CI_AS))) AND [LastModified] <= @p3"
	afterNull := "([LastModified] > @p1 OR ([LastModified] = @p1 AND [ItemNo] IS NOT NULL)) AND [LastModified] <= @p2"
	for _, tt := range []struct{ name, got, want string }{
		{"first page", d.first.page, "SELECT TOP (@p2) WITH TIES " + cols + from + "[LastModified] <= @p1" + order},
		{"first count", d.first.count, "SELECT COUNT_BIG(*) FROM [dbo].[vInventory] WHERE [LastModified] <= @p1"},
		{"next page", d.next.page, "SELECT TOP (@p4) WITH TIES " + cols + from + afterSKU + order},
		{"next count", d.next.count, "SELECT COUNT_BIG(*) FROM [dbo].[vInventory] WHERE " + afterSKU},
		{"next after NULL page", d.nextNull.page, "SELECT TOP (@p3) WITH TIES " + cols + from + afterNull + order},
		{"next after NULL count", d.nextNull.count, "SELECT COUNT_BIG(*) FROM [dbo].[vInventory] WHERE " + afterNull},
		{"future", d.future, "SELECT TOP (@p2) " + cols + from + "[LastModified] > @p1" + order},
		{"clock", d.clock, "SELECT c, CONVERT(datetime2(7), c) FROM (SELECT SYSDATETIMEOFFSET() AS c) x"},
		{"digest", d.digest, "SELECT COUNT_BIG(*), CONVERT(varchar(40), COALESCE(SUM(CAST(x.h AS decimal(38,0))), 0)), COALESCE(MAX(x.s), N'') " +
			"FROM (SELECT TOP (@p2) WITH TIES [ItemNo] AS s, " + hash + " AS h FROM [dbo].[vInventory] " +
			"WHERE [ItemNo] > " + sku("@p1") + " AND [LastModified] IS NOT NULL ORDER BY [ItemNo]) x"},
		{"range", d.rangeTo, "SELECT " + cols + from + "[ItemNo] > " + sku("@p1") + " AND [ItemNo] <= " + sku("@p2") + bySKU},
		{"range to the end", d.rangeAll, "SELECT " + cols + from + "[ItemNo] > " + sku("@p1") + bySKU},
		{"lookup", d.lookup, "SELECT " + cols + from + "[ItemNo] IN (SELECT " + sku("j.[value]") + " FROM OPENJSON(@p1) j " +
			"WHERE CONVERT(nvarchar(max), " + sku("j.[value]") + ") = j.[value] COLLATE SQL_Latin1_General_CP1_CI_AS)" + bySKU},
	} {
		require.Equal(t, tt.want, tt.got, tt.name)
	}

	noOptional := mustSQLServer(t, []string{"vInventory"}, Columns{SKU: "a", Quantity: "b", Price: "c", LastModified: "d"},
		columnTypes{SKU: column{dataType: "nvarchar", maxLength: 20}, Quantity: column{dataType: "int"},
			Price: column{dataType: "decimal"}, LastModified: column{dataType: "datetime2"}}, Wall, ClockLocal)
	require.Contains(t, noOptional.first.page, "CAST(NULL AS varchar(1)), CAST(NULL AS nvarchar(1)), [d], CAST(SUBSTRING(")
	require.Contains(t, noOptional.first.page, "NCHAR(31), CAST(NULL AS varchar(1)), NCHAR(31), CAST(NULL AS nvarchar(1)), NCHAR(31), "+
		"CONVERT(varchar(40), [d], 121))), 1, 8) AS bigint) FROM [vInventory]")
	require.Contains(t, noOptional.next.page, "[a] > @p2)")
	require.Contains(t, noOptional.lookup, "[a] IN (SELECT j.[value] FROM OPENJSON(@p1) j)")
	require.Contains(t, noOptional.digest, "COALESCE(MAX(x.s), N'')")

	offset := mustSQLServer(t, []string{"v"}, erpColumns, erpTypes, Instant, ClockLocal)
	require.Contains(t, offset.first.page, "CONVERT(varchar(40), [LastModified], 127))), 1, 8) AS bigint) FROM [v]")
	numericSKU := erpTypes
	numericSKU.SKU = column{dataType: "int"}
	require.Contains(t, mustSQLServer(t, []string{"v"}, erpColumns, numericSKU, Wall, ClockLocal).digest,
		"COALESCE(CONVERT(nvarchar(max), MAX(x.s)), N'')", "the last SKU as text")

	require.Equal(t, "[we]]ird]", quoteSQLServer("we]ird"))
}

// TestSQLServerSKUParameter pins, per SKU column type, what the cursor's SKU
// is compared with and the Go type it is bound as. go-mssqldb sends a Go
// string as nvarchar with all its characters; mssql.VarChar would send the
// string's UTF-8 bytes with no collation, so it is never used.
func TestSQLServerSKUParameter(t *testing.T) {
	for _, tt := range []struct {
		sku column
		// param is what a SKU parameter becomes, %s the parameter.
		param, lookup string
	}{
		{column{"nvarchar", 100, "SQL_Latin1_General_CP1_CI_AS"}, "%s",
			"SELECT j.[value] COLLATE SQL_Latin1_General_CP1_CI_AS FROM OPENJSON(@p1) j)"},
		{column{"nchar", 12, "Latin1_General_CI_AS"}, "%s",
			"SELECT j.[value] COLLATE Latin1_General_CI_AS FROM OPENJSON(@p1) j)"},
		{column{"varchar", 40, "SQL_Latin1_General_CP1_CI_AS"}, "CONVERT(varchar(40), %s COLLATE SQL_Latin1_General_CP1_CI_AS)",
			"SELECT CONVERT(varchar(40), j.[value] COLLATE SQL_Latin1_General_CP1_CI_AS) FROM OPENJSON(@p1) j WHERE " +
				"CONVERT(nvarchar(max), CONVERT(varchar(40), j.[value] COLLATE SQL_Latin1_General_CP1_CI_AS)) = j.[value] COLLATE SQL_Latin1_General_CP1_CI_AS)"},
		{column{"varchar", -1, "Latin1_General_100_CI_AS_SC_UTF8"}, "CONVERT(varchar(max), %s COLLATE Latin1_General_100_CI_AS_SC_UTF8)",
			"SELECT CONVERT(varchar(max), j.[value] COLLATE Latin1_General_100_CI_AS_SC_UTF8) FROM OPENJSON(@p1) j WHERE"},
		{column{"char", 12, "Japanese_CI_AS"}, "CONVERT(char(12), %s COLLATE Japanese_CI_AS)",
			"SELECT CONVERT(char(12), j.[value] COLLATE Japanese_CI_AS) FROM OPENJSON(@p1) j WHERE"},
		{column{"int", 0, ""}, "%s", "SELECT j.[value] FROM OPENJSON(@p1) j)"},
	} {
		t.Run(tt.sku.dataType, func(t *testing.T) {
			types := erpTypes
			types.SKU = tt.sku
			d := mustSQLServer(t, []string{"v"}, erpColumns, types, Wall, ClockLocal)
			want := "[ItemNo] > " + fmt.Sprintf(tt.param, "@p2") + ")"
			require.Contains(t, d.next.page, want)
			require.Contains(t, d.next.count, want)
			after := "[ItemNo] > " + fmt.Sprintf(tt.param, "@p1") + " AND "
			require.Contains(t, d.digest, after, "compared as the keyset compares")
			require.Contains(t, d.rangeAll, after)
			require.Contains(t, d.rangeTo, after+"[ItemNo] <= "+fmt.Sprintf(tt.param, "@p2")+" AND ")
			require.Contains(t, d.lookup, "[ItemNo] IN ("+tt.lookup)
			list, err := d.skuList([]string{`quote-'`, `]bracket["`, "日本-2", `\\`})
			require.NoError(t, err)
			require.Equal(t, `["quote-'","]bracket[\"","日本-2","\\\\"]`, list, "one JSON array, bound as nvarchar")
			k, args := d.after(inventory.Cursor{LastModified: time.Unix(0, 0), SKU: "Ärmel-1"}, time.Unix(1, 0))
			require.Equal(t, d.next, k)
			require.Len(t, args, 3)
			require.IsType(t, "", args[1], "bound as a plain string: nvarchar")
			require.Equal(t, "Ärmel-1", args[1])
		})
	}
	types := erpTypes
	types.SKU = column{"varchar", 40, "Latin1_General_CI_AS; DROP TABLE x"}
	_, err := sqlServerDialect([]string{"v"}, erpColumns, types, Wall, ClockLocal)
	require.ErrorContains(t, err, "is not a plain name")
	types.SKU = column{"nvarchar", 40, "Latin1_General_CI_AS; DROP TABLE x"}
	_, err = sqlServerDialect([]string{"v"}, erpColumns, types, Wall, ClockLocal)
	require.ErrorContains(t, err, "is not a plain name")
}

// TestSQLServerValues pins how each column type is read as text.
func TestSQLServerValues(t *testing.T) {
	generic := "COALESCE(CONVERT(varchar(64), TRY_CONVERT(decimal(38,12), [x])), CONVERT(nvarchar(100), [x]))"
	for _, tt := range []struct{ typ, number, text string }{
		{"int", "CONVERT(varchar(64), [x])", "CONVERT(nvarchar(max), [x])"},
		{"bigint", "CONVERT(varchar(64), [x])", "CONVERT(nvarchar(max), [x])"},
		{"decimal", "CONVERT(varchar(64), [x])", "CONVERT(nvarchar(max), [x])"},
		{"numeric", "CONVERT(varchar(64), [x])", "CONVERT(nvarchar(max), [x])"},
		{"money", "CONVERT(varchar(64), [x], 2)", "CONVERT(nvarchar(max), [x])"},
		{"smallmoney", "CONVERT(varchar(64), [x], 2)", "CONVERT(nvarchar(max), [x])"},
		{"float", generic, "CONVERT(nvarchar(max), [x])"},
		{"real", generic, "CONVERT(nvarchar(max), [x])"},
		{"sql_variant", generic, "CONVERT(nvarchar(max), [x])"},
		{"varchar", "[x]", "[x]"},
		{"nvarchar", "[x]", "[x]"},
		{"char", "[x]", "[x]"},
		{"nchar", "[x]", "[x]"},
	} {
		require.Equal(t, tt.number, sqlServerNumber("[x]", column{dataType: tt.typ}), tt.typ)
		require.Equal(t, tt.text, sqlServerText("[x]", column{dataType: tt.typ}), tt.typ)
	}
}

// TestSQLServerParameterTypes pins the type each time parameter is sent as,
// per LastModified column type, and the clock each reads.
func TestSQLServerParameterTypes(t *testing.T) {
	at := time.Date(2026, 11, 1, 8, 0, 0, 3_000_000, time.UTC)
	local := "SELECT c, CONVERT(datetime2(7), c) FROM (SELECT SYSDATETIMEOFFSET() AS c) x"
	utc := "SELECT c, CONVERT(datetime2(7), SWITCHOFFSET(c, 0)) FROM (SELECT SYSDATETIMEOFFSET() AS c) x"
	tests := []struct {
		kind  TimeKind
		clock string
		want  any
		sql   string
	}{
		{Ticks, ClockLocal, mssql.DateTime1(at), local},
		{Ticks, ClockUTC, mssql.DateTime1(at), utc},
		{Wall, ClockLocal, civil.DateTimeOf(at), local},
		{Wall, ClockUTC, civil.DateTimeOf(at), utc},
		{Instant, ClockLocal, at, "SELECT c, c FROM (SELECT SYSDATETIMEOFFSET() AS c) x"},
		{Instant, ClockUTC, at, "SELECT c, c FROM (SELECT SYSDATETIMEOFFSET() AS c) x"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.kind, " ", tt.clock), func(t *testing.T) {
			d := mustSQLServer(t, []string{"v"}, erpColumns, erpTypes, tt.kind, tt.clock)
			got := d.timeArg(at)
			require.IsType(t, tt.want, got)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.sql, d.clock)
		})
	}
}

func TestPostgresStatements(t *testing.T) {
	d := postgresDialect([]string{"erp", "stock"}, erpColumns, columnTypes{Price: column{dataType: "money"}}, Wall, ClockUTC)
	hash := `('x' || left(md5(concat(x.s::text, chr(31), x.q::text, chr(31), x.p::numeric::text, chr(31), x.c::text, chr(31), x.g::text, chr(31), ` +
		`(extract(epoch FROM x.m) * 1000000)::bigint::text)), 16))::bit(64)::bigint`
	outer := `SELECT x.s::text, x.q::text, x.p::numeric::text, x.c::text, x.g::text, x.m, ` + hash + ` FROM (`
	readable := `isfinite(e."LastModified")`
	bySKU := `) x ORDER BY x.s, x.m`
	inner := `SELECT e."ItemNo" AS s, e."OnHand" AS q, e."Price" AS p, e."Cost" AS c, e."ItemGroup" AS g, e."LastModified" AS m FROM "erp"."stock" AS e WHERE `
	order := `) x ORDER BY x.m, x.s`
	afterSKU := `(e."LastModified", e."ItemNo") > ($1, $2) AND e."LastModified" <= $3`
	nulls := `e."LastModified" = $1 AND e."ItemNo" IS NULL AND e."LastModified" <= $3`
	for _, tt := range []struct{ name, got, want string }{
		{"first page", d.first.page, outer + inner + `e."LastModified" > '-infinity' AND e."LastModified" <= $1` + order + ` FETCH FIRST $2 ROWS WITH TIES`},
		{"first count", d.first.count, `SELECT count(*) FROM "erp"."stock" AS e WHERE e."LastModified" > '-infinity' AND e."LastModified" <= $1`},
		{"next page", d.next.page, outer + "(" + inner + afterSKU + ` ORDER BY e."LastModified", e."ItemNo" FETCH FIRST $4 ROWS WITH TIES) UNION ALL ` +
			inner + nulls + order + ` FETCH FIRST $4 ROWS WITH TIES`},
		{"next count", d.next.count, `SELECT count(*) FROM "erp"."stock" AS e WHERE (` + afterSKU + `) OR (` + nulls + `)`},
		{"next after NULL page", d.nextNull.page, outer + inner + `e."LastModified" > $1 AND e."LastModified" <= $2` + order + ` FETCH FIRST $3 ROWS WITH TIES`},
		{"next after NULL count", d.nextNull.count, `SELECT count(*) FROM "erp"."stock" AS e WHERE e."LastModified" > $1 AND e."LastModified" <= $2`},
		{"future", d.future, outer + inner + `e."LastModified" > $1 AND e."LastModified" < 'infinity'` + order + ` LIMIT $2`},
		{"digest", d.digest, `SELECT count(*), coalesce(sum((` + hash + `)::numeric), 0)::text, coalesce(max(x.s)::text, '') FROM (` +
			inner + `e."ItemNo" > $1 AND ` + readable + ` ORDER BY e."ItemNo" FETCH FIRST $2 ROWS WITH TIES) x`},
		{"range", d.rangeTo, outer + inner + `e."ItemNo" > $1 AND e."ItemNo" <= $2 AND ` + readable + bySKU},
		{"range to the end", d.rangeAll, outer + inner + `e."ItemNo" > $1 AND ` + readable + bySKU},
		{"lookup", d.lookup, outer + inner + `e."ItemNo" = ANY($1) AND ` + readable + bySKU},
		{"clock utc", d.clock, "SELECT c, c AT TIME ZONE 'UTC' FROM (SELECT clock_timestamp() AS c) x"},
		{"clock local", postgresDialect([]string{"v"}, erpColumns, columnTypes{}, Wall, ClockLocal).clock,
			"SELECT c, c::timestamp FROM (SELECT clock_timestamp() AS c) x"},
		{"clock instant", postgresDialect([]string{"v"}, erpColumns, columnTypes{}, Instant, ClockLocal).clock,
			"SELECT c, c FROM (SELECT clock_timestamp() AS c) x"},
	} {
		require.Equal(t, tt.want, tt.got, tt.name)
	}
	noOptional := postgresDialect([]string{"v"}, Columns{SKU: "a", Quantity: "b", Price: "c", LastModified: "d"}, columnTypes{}, Instant, ClockLocal)
	require.Contains(t, noOptional.future, `NULL::text AS c, NULL::text AS g`)
}

// TestCursorStatements: the cursor picks the statement and its arguments,
// the same for a page and for the backlog count.
func TestCursorStatements(t *testing.T) {
	at, upTo := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	for _, d := range []dialect{
		postgresDialect([]string{"v"}, erpColumns, columnTypes{}, Wall, ClockLocal),
		mustSQLServer(t, []string{"v"}, erpColumns, erpTypes, Wall, ClockLocal),
	} {
		k, args := d.after(inventory.Cursor{}, upTo)
		require.Equal(t, d.first, k)
		require.Equal(t, []any{d.timeArg(upTo)}, args)
		k, args = d.after(inventory.Cursor{LastModified: at, SKU: "A"}, upTo)
		require.Equal(t, d.next, k)
		require.Equal(t, []any{d.timeArg(at), "A", d.timeArg(upTo)}, args)
		k, args = d.after(inventory.Cursor{LastModified: at, SKU: ""}, upTo)
		require.Equal(t, d.next, k, "an empty SKU is not NULL")
		require.Equal(t, []any{d.timeArg(at), "", d.timeArg(upTo)}, args)
		k, args = d.after(inventory.Row{LastModified: at}.Cursor(), upTo)
		require.Equal(t, d.nextNull, k)
		require.Equal(t, []any{d.timeArg(at), d.timeArg(upTo)}, args)
	}
}

// TestOnlySelects: every statement either dialect can send is a SELECT.
func TestOnlySelects(t *testing.T) {
	stmts := []string{columnsPostgres, columnsSQLServer}
	for _, kind := range []TimeKind{Instant, Wall, Ticks} {
		for _, clock := range []string{ClockLocal, ClockUTC} {
			for _, d := range []dialect{
				mustSQLServer(t, []string{"v"}, erpColumns, erpTypes, kind, clock),
				postgresDialect([]string{"v"}, erpColumns, erpTypes, kind, clock),
			} {
				stmts = append(stmts, d.clock, d.future, d.first.page, d.first.count, d.next.page, d.next.count,
					d.nextNull.page, d.nextNull.count, d.digest, d.rangeTo, d.rangeAll, d.lookup)
			}
		}
	}
	for _, stmt := range stmts {
		require.True(t, strings.HasPrefix(stmt, "SELECT "), stmt)
		require.NotContains(t, stmt, ";")
		require.NotContains(t, stmt, "--")
	}
}

func TestKindOf(t *testing.T) {
	for _, tt := range []struct {
		driver, typ string
		want        TimeKind
	}{
		{DriverSQLServer, "datetime", Ticks},
		{DriverSQLServer, "smalldatetime", Ticks},
		{DriverSQLServer, "datetime2", Wall},
		{DriverSQLServer, "DATETIMEOFFSET", Instant},
		{DriverPostgres, "timestamp without time zone", Wall},
		{DriverPostgres, "timestamp with time zone", Instant},
		{DriverSQLServer, "date", 0},
		{DriverSQLServer, "rowversion", 0},
		{DriverPostgres, "datetime", 0},
		{DriverPostgres, "text", 0},
	} {
		got, err := KindOf(tt.driver, tt.typ)
		if tt.want == 0 {
			require.ErrorContains(t, err, "want a date and time type", tt.typ)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got, tt.typ)
	}
}

// TestFloorTick cuts times to datetime ticks as the driver reads them back.
func TestFloorTick(t *testing.T) {
	sec := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ in, want time.Duration }{
		{0, 0},
		{3 * time.Millisecond, 0},
		{3_333_334 * time.Nanosecond, 3 * time.Millisecond},
		{6_666_667 * time.Nanosecond, 7 * time.Millisecond},
		{10 * time.Millisecond, 10 * time.Millisecond},
		{999_999_999, 997 * time.Millisecond},
	} {
		require.Equal(t, sec.Add(tt.want), FloorTick(sec.Add(tt.in)), "%s", tt.in)
	}
}

func TestCheckSQLServerDSN(t *testing.T) {
	w, err := CheckSQLServerDSN("sqlserver://reader:pw@erp:1433?database=ERP&ApplicationIntent=ReadOnly&encrypt=true")
	require.NoError(t, err)
	require.Empty(t, w)
	w, err = CheckSQLServerDSN("server=erp;user id=reader;password=pw;database=ERP;encrypt=disable")
	require.NoError(t, err)
	require.Len(t, w, 2)
	require.Contains(t, w[0], "ApplicationIntent=ReadOnly")
	_, err = CheckSQLServerDSN("sqlserver://erp?dial+timeout=x")
	require.Error(t, err)
}

func TestConfigValidateRejectsUnsafeNames(t *testing.T) {
	good := Config{Driver: DriverPostgres, DSN: "x", View: "dbo.v", Columns: Columns{SKU: "a", Quantity: "b", Price: "c", LastModified: "d"}}
	require.NoError(t, good.Validate())
	for name, mutate := range map[string]func(*Config){
		"driver":      func(c *Config) { c.Driver = "mysql" },
		"dsn":         func(c *Config) { c.DSN = "" },
		"view quote":  func(c *Config) { c.View = `v"; DROP TABLE x; --` },
		"view parts":  func(c *Config) { c.View = "a.b.c" },
		"empty view":  func(c *Config) { c.View = "" },
		"column":      func(c *Config) { c.Columns.SKU = "sku]" },
		"column expr": func(c *Config) { c.Columns.Price = "price*2" },
		"cost":        func(c *Config) { c.Columns.Cost = "cost;" },
		"clock":       func(c *Config) { c.Clock = "gmt" },
	} {
		c := good
		mutate(&c)
		require.Error(t, c.Validate(), name)
	}
}
