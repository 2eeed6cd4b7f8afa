package erp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/stretchr/testify/require"
)

var erpColumns = Columns{SKU: "ItemNo", Quantity: "OnHand", Price: "Price", Cost: "Cost", Category: "ItemGroup", LastModified: "LastModified"}

// TestSQLServerStatements pins the exact T-SQL sent to the ERP.
func TestSQLServerStatements(t *testing.T) {
	d := sqlServerDialect([]string{"dbo", "vInventory"}, erpColumns, Ticks, ClockLocal)
	cols := "[ItemNo], [OnHand], CONVERT(varchar(64), [Price]), CONVERT(nvarchar(256), [Cost]), CONVERT(nvarchar(256), [ItemGroup]), [LastModified]"
	require.Equal(t, "SELECT TOP (@p2) "+cols+" FROM [dbo].[vInventory] WHERE [LastModified] <= @p1 ORDER BY [LastModified], [ItemNo]", d.first)
	require.Equal(t, "SELECT TOP (@p4) "+cols+" FROM [dbo].[vInventory] "+
		"WHERE ([LastModified] > @p1 OR ([LastModified] = @p1 AND [ItemNo] > @p2)) AND [LastModified] <= @p3 "+
		"ORDER BY [LastModified], [ItemNo]", d.next)
	require.Equal(t, "SELECT COUNT_BIG(*) FROM [dbo].[vInventory] WHERE [LastModified] <= @p1", d.countFirst)
	require.Equal(t, "SELECT COUNT_BIG(*) FROM [dbo].[vInventory] "+
		"WHERE ([LastModified] > @p1 OR ([LastModified] = @p1 AND [ItemNo] > @p2)) AND [LastModified] <= @p3", d.countNext)

	noOptional := sqlServerDialect([]string{"vInventory"}, Columns{SKU: "a", Quantity: "b", Price: "c", LastModified: "d"}, Wall, ClockLocal)
	require.Contains(t, noOptional.first, "CAST(NULL AS nvarchar(1)), CAST(NULL AS nvarchar(1)), [d] FROM [vInventory]")

	require.Equal(t, "[we]]ird]", quoteSQLServer("we]ird"))
}

// TestSQLServerParameterTypes pins the type each time parameter is sent as,
// per LastModified column type, and the clock each reads.
func TestSQLServerParameterTypes(t *testing.T) {
	at := time.Date(2026, 11, 1, 8, 0, 0, 3_000_000, time.UTC)
	tests := []struct {
		kind  TimeKind
		clock string
		want  any
		sql   string
	}{
		{Ticks, ClockLocal, mssql.DateTime1(at), "SELECT SYSDATETIME()"},
		{Ticks, ClockUTC, mssql.DateTime1(at), "SELECT SYSUTCDATETIME()"},
		{Wall, ClockLocal, civil.DateTimeOf(at), "SELECT SYSDATETIME()"},
		{Wall, ClockUTC, civil.DateTimeOf(at), "SELECT SYSUTCDATETIME()"},
		{Instant, ClockLocal, at, "SELECT SYSDATETIMEOFFSET()"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.kind, " ", tt.clock), func(t *testing.T) {
			d := sqlServerDialect([]string{"v"}, erpColumns, tt.kind, tt.clock)
			got := d.timeArg(at)
			require.IsType(t, tt.want, got)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.sql, d.clock)
		})
	}
}

func TestPostgresStatements(t *testing.T) {
	d := postgresDialect([]string{"erp", "stock"}, erpColumns, Wall, ClockUTC)
	require.Equal(t, `SELECT "ItemNo"::text, "OnHand", "Price"::text, "Cost"::text, "ItemGroup"::text, "LastModified" FROM "erp"."stock"`+
		` WHERE ("LastModified", "ItemNo") > ($1, $2) AND "LastModified" <= $3 ORDER BY "LastModified", "ItemNo" LIMIT $4`, d.next)
	require.Equal(t, "SELECT clock_timestamp() AT TIME ZONE 'UTC'", d.clock)
	require.Equal(t, "SELECT clock_timestamp()::timestamp", postgresDialect([]string{"v"}, erpColumns, Wall, ClockLocal).clock)
	require.Equal(t, "SELECT clock_timestamp()", postgresDialect([]string{"v"}, erpColumns, Instant, ClockLocal).clock)
}

// TestOnlySelects: every statement either dialect can send is a SELECT.
func TestOnlySelects(t *testing.T) {
	for _, kind := range []TimeKind{Instant, Wall, Ticks} {
		for _, d := range []dialect{
			sqlServerDialect([]string{"v"}, erpColumns, kind, ClockLocal),
			postgresDialect([]string{"v"}, erpColumns, kind, ClockLocal),
		} {
			for _, stmt := range []string{d.clock, d.first, d.next, d.countFirst, d.countNext} {
				require.True(t, strings.HasPrefix(stmt, "SELECT "), stmt)
				require.NotContains(t, stmt, ";")
			}
		}
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
