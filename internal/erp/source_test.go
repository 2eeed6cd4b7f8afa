package erp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/testenv"
)

var base = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// postgresERP creates an ERP database with the items table and a view over it
// shaped like the production one, and opens a Source on it.
func postgresERP(t *testing.T, rows string) *Source {
	t.Helper()
	dsn := testenv.Database(t, "invsync_erp")
	testenv.Exec(t, dsn,
		`CREATE TABLE items (item_no text PRIMARY KEY, on_hand integer, list_price numeric(12,4), changed_at timestamptz NOT NULL)`,
		`CREATE INDEX items_changed ON items (changed_at, item_no)`,
		`CREATE SCHEMA erp`,
		`CREATE VIEW erp.stock AS SELECT item_no, on_hand, list_price, changed_at FROM items`,
	)
	if rows != "" {
		testenv.Exec(t, dsn, rows)
	}
	src, err := Open(context.Background(), Config{
		Driver: DriverPostgres, DSN: dsn, View: "erp.stock",
		Columns: Columns{SKU: "item_no", Quantity: "on_hand", Price: "list_price", LastModified: "changed_at"},
	})
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	return src
}

// readAll pages through the view from the start as the poller does.
func readAll(t *testing.T, src *Source, upTo time.Time, pageSize int) []inventory.Change {
	t.Helper()
	var all []inventory.Change
	var cur inventory.Cursor
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10000, "paging does not end")
		page, err := src.Page(context.Background(), cur, upTo, pageSize, upTo)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), pageSize)
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		cur = inventory.CursorOf(page[len(page)-1])
	}
}

func TestPageTiesAcrossPageBoundaries(t *testing.T) {
	// 1,000 rows: 400 share one timestamp, the rest come in groups of 3.
	src := postgresERP(t, `
		INSERT INTO items
		SELECT 'SKU-' || lpad(g::text, 5, '0'), g, g * 0.25,
		       CASE WHEN g <= 400 THEN '2026-11-01 08:00:00+00'::timestamptz
		            ELSE '2026-11-01 08:00:00+00'::timestamptz + (g / 3) * interval '1 ms' END
		FROM generate_series(1, 1000) g`)
	for _, pageSize := range []int{1, 7, 400, 401, 5000} {
		t.Run(fmt.Sprint("page size ", pageSize), func(t *testing.T) {
			got := readAll(t, src, base.Add(time.Hour), pageSize)
			require.Len(t, got, 1000, "every row exactly once")
			seen := map[string]bool{}
			for i, c := range got {
				require.False(t, seen[c.SKU], "row %s read twice", c.SKU)
				seen[c.SKU] = true
				if i > 0 {
					require.False(t, c.LastModified.Before(got[i-1].LastModified), "order by last modified")
				}
			}
		})
	}
}

func TestPageStopsAtSettleBound(t *testing.T) {
	src := postgresERP(t, `
		INSERT INTO items VALUES
		 ('A', 1, 1, '2026-11-01 08:00:00+00'),
		 ('B', 2, 2, '2026-11-01 08:00:10+00'),
		 ('C', 3, 3, '2026-11-01 08:00:10.000001+00')`)
	got := readAll(t, src, base.Add(10*time.Second), 10)
	require.Len(t, got, 2, "a row at the bound is read, one a microsecond later is not")
	require.Equal(t, "B", got[1].SKU)
	require.Equal(t, base.Add(10*time.Second), got[1].LastModified)

	page, err := src.Page(context.Background(), inventory.CursorOf(got[1]), base.Add(time.Minute), 10, base)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, "C", page[0].SKU)
	require.Equal(t, base.Add(10*time.Second+time.Microsecond), page[0].LastModified, "microseconds survive")
}

func TestPageReadsValuesAndNulls(t *testing.T) {
	src := postgresERP(t, `
		INSERT INTO items VALUES
		 ('FULL', 12, 19.9900, '2026-11-01 08:00:00+00'),
		 ('NULLS', NULL, NULL, '2026-11-01 08:00:01+00'),
		 ('ÜNÏCØDÉ-✓', 0, 0.0050, '2026-11-01 08:00:02+00')`)
	got := readAll(t, src, base.Add(time.Hour), 10)
	require.Len(t, got, 3)
	require.Equal(t, int64(12), *got[0].Quantity)
	require.Equal(t, "19.9900", *got[0].Price, "price text is exact")
	require.Equal(t, base.Add(time.Hour), got[0].ObservedAt)
	require.Nil(t, got[1].Quantity)
	require.Nil(t, got[1].Price)
	require.Equal(t, "ÜNÏCØDÉ-✓", got[2].SKU)
}

func TestClockIsTheERPs(t *testing.T) {
	src := postgresERP(t, "")
	now, err := src.Clock(context.Background())
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), now, time.Minute)
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
	} {
		c := good
		mutate(&c)
		require.Error(t, c.Validate(), name)
	}
}

func TestSQLServerStatements(t *testing.T) {
	d := sqlServerDialect([]string{"dbo", "vInventory"}, Columns{SKU: "ItemNo", Quantity: "OnHand", Price: "Price", LastModified: "LastModified"})
	require.Equal(t, "SELECT SYSUTCDATETIME()", d.clock)
	require.Equal(t,
		"SELECT TOP (@p2) [ItemNo], [OnHand], CONVERT(varchar(64), [Price]), [LastModified] FROM [dbo].[vInventory] "+
			"WHERE [LastModified] <= @p1 ORDER BY [LastModified], [ItemNo]", d.first)
	require.Equal(t,
		"SELECT TOP (@p4) [ItemNo], [OnHand], CONVERT(varchar(64), [Price]), [LastModified] FROM [dbo].[vInventory] "+
			"WHERE ([LastModified] > @p1 OR ([LastModified] = @p1 AND [ItemNo] > @p2)) AND [LastModified] <= @p3 "+
			"ORDER BY [LastModified], [ItemNo]", d.next)
}
