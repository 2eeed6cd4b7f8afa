package erp

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/testenv"
)

// The source contract: what every ERP dialect must do, run against the
// PostgreSQL ERP always and against SQL Server when ERP_MSSQL_DSN is set.

// backend is an ERP database the contract runs against.
type backend struct {
	driver string
	// types are the LastModified column types to test, each with its
	// precision (the smallest step between two distinct values) and kind.
	types []columnType
	// create makes a table and a view over it with a LastModified column of
	// the type, and returns the Config to read the view as the pipeline
	// would, and a function that runs statements as the ERP's owner.
	create func(t *testing.T, typ string) (cfg Config, exec func(...string), table string)
	// lit is a SQL literal for t in the type's family.
	lit func(t time.Time, kind TimeKind) string
}

type columnType struct {
	sql  string
	step time.Duration
	kind TimeKind
}

var base = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func backends(t *testing.T) map[string]func(*testing.T) *backend {
	return map[string]func(*testing.T) *backend{
		"postgres":  postgresBackend,
		"sqlserver": sqlServerBackend,
	}
}

func postgresBackend(t *testing.T) *backend {
	return &backend{
		driver: DriverPostgres,
		types: []columnType{
			{"timestamptz", time.Microsecond, Instant},
			{"timestamp(6)", time.Microsecond, Wall},
			{"timestamp(3)", time.Millisecond, Wall},
		},
		create: func(t *testing.T, typ string) (Config, func(...string), string) {
			dsn := testenv.Database(t, "invsync_erp")
			exec := func(stmts ...string) { testenv.Exec(t, dsn, stmts...) }
			exec(
				`CREATE TABLE items (item_no text PRIMARY KEY, on_hand integer, list_price numeric(12,4),
					unit_cost numeric(12,4), item_group text, changed_at `+typ+` NOT NULL)`,
				`CREATE INDEX items_changed ON items (changed_at, item_no)`,
				`CREATE SCHEMA erp`,
				`CREATE VIEW erp.stock AS SELECT item_no, on_hand, list_price, unit_cost, item_group, changed_at FROM items`,
				// The pipeline's login may read the view and nothing else.
				`DO $$ BEGIN CREATE ROLE invsync_erp_reader LOGIN;
				 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`,
				`GRANT USAGE ON SCHEMA erp TO invsync_erp_reader`,
				`GRANT SELECT ON erp.stock TO invsync_erp_reader`,
			)
			return Config{
				Driver: DriverPostgres, DSN: strings.Replace(dsn, "postgres@", "invsync_erp_reader@", 1), View: "erp.stock",
				Columns: Columns{SKU: "item_no", Quantity: "on_hand", Price: "list_price", Cost: "unit_cost",
					Category: "item_group", LastModified: "changed_at"},
				Clock: ClockUTC,
			}, exec, "items"
		},
		lit: func(v time.Time, kind TimeKind) string {
			if kind == Instant {
				return "'" + v.Format("2006-01-02 15:04:05.999999999Z07:00") + "'::timestamptz"
			}
			return "'" + v.Format("2006-01-02 15:04:05.999999999") + "'::timestamp"
		},
	}
}

func sqlServerBackend(t *testing.T) *backend {
	dsn := os.Getenv("ERP_MSSQL_DSN")
	if dsn == "" {
		msg := "SQL Server leg skipped: ERP_MSSQL_DSN is not set (SQL Server cannot run on this machine; " +
			"`docker compose up -d sqlserver` provides one, see README)"
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	admin, err := sql.Open("sqlserver", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	return &backend{
		driver: DriverSQLServer,
		types: []columnType{
			{"datetime", 10 * time.Millisecond / 3, Ticks},
			{"datetime2(7)", 100 * time.Nanosecond, Wall},
			{"datetime2(3)", time.Millisecond, Wall},
			{"datetimeoffset(7)", 100 * time.Nanosecond, Instant},
		},
		create: func(t *testing.T, typ string) (Config, func(...string), string) {
			name := testenv.Name("items")
			exec := func(stmts ...string) {
				for _, s := range stmts {
					_, err := admin.Exec(s)
					require.NoError(t, err, s)
				}
			}
			exec(
				`CREATE TABLE dbo.`+name+` (item_no nvarchar(100) NOT NULL PRIMARY KEY, on_hand int NULL,
					list_price decimal(12,4) NULL, unit_cost decimal(12,4) NULL, item_group nvarchar(50) NULL,
					changed_at `+typ+` NOT NULL)`,
				`CREATE INDEX ix_changed ON dbo.`+name+` (changed_at, item_no)`,
				`CREATE VIEW dbo.v_`+name+` AS SELECT item_no, on_hand, list_price, unit_cost, item_group, changed_at FROM dbo.`+name,
			)
			t.Cleanup(func() {
				_, _ = admin.Exec(`DROP VIEW dbo.v_` + name)
				_, _ = admin.Exec(`DROP TABLE dbo.` + name)
			})
			return Config{
				Driver: DriverSQLServer, DSN: dsn, View: "dbo.v_" + name,
				Columns: Columns{SKU: "item_no", Quantity: "on_hand", Price: "list_price", Cost: "unit_cost",
					Category: "item_group", LastModified: "changed_at"},
				Clock: ClockUTC,
			}, exec, "dbo." + name
		},
		lit: func(v time.Time, kind TimeKind) string {
			if kind == Instant {
				return "CAST('" + v.Format("2006-01-02T15:04:05.0000000") + "+00:00' AS datetimeoffset(7))"
			}
			return "CAST('" + v.Format("2006-01-02T15:04:05.0000000") + "' AS datetime2(7))"
		},
	}
}

// fixture is one view with a LastModified column of one type.
type fixture struct {
	t     *testing.T
	b     *backend
	typ   columnType
	src   *Source
	exec  func(...string)
	table string
}

func (f *fixture) insert(sku string, at time.Time) {
	f.t.Helper()
	f.exec(fmt.Sprintf(`INSERT INTO %s (item_no, on_hand, list_price, changed_at) VALUES (N'%s', 1, 1.50, %s)`,
		f.table, strings.ReplaceAll(sku, "'", "''"), f.b.lit(at, f.typ.kind)))
}

// readAll pages through the view as the poller does, from the cursor.
func (f *fixture) readAll(from inventory.Cursor, upTo time.Time, pageSize int) []inventory.Change {
	f.t.Helper()
	var all []inventory.Change
	cur := from
	for pages := 0; ; pages++ {
		require.Less(f.t, pages, 10000, "paging does not end: a row is re-read forever")
		page, err := f.src.Page(context.Background(), cur, upTo, pageSize, upTo)
		require.NoError(f.t, err)
		require.LessOrEqual(f.t, len(page), pageSize)
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		cur = inventory.CursorOf(page[len(page)-1])
	}
}

func skus(cs []inventory.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.SKU
	}
	return out
}

func requireOnce(t *testing.T, want []string, got []inventory.Change) {
	t.Helper()
	g := skus(got)
	seen := map[string]bool{}
	for _, s := range g {
		require.False(t, seen[s], "%q read twice", s)
		seen[s] = true
	}
	slices.Sort(g)
	want = slices.Clone(want)
	slices.Sort(want)
	require.Equal(t, want, g, "every row exactly once")
}

func TestSourceContract(t *testing.T) {
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			for _, typ := range b.types {
				t.Run(typ.sql, func(t *testing.T) {
					runContract(t, b, typ)
				})
			}
		})
	}
}

func runContract(t *testing.T, b *backend, typ columnType) {
	open := func(t *testing.T) *fixture {
		cfg, exec, table := b.create(t, typ.sql)
		src, err := Open(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(func() { src.Close() })
		require.NoError(t, src.Prepare(context.Background()))
		require.Equal(t, typ.kind, src.Kind(), "column type detected from INFORMATION_SCHEMA")
		return &fixture{t: t, b: b, typ: typ, src: src, exec: exec, table: table}
	}
	far := base.Add(time.Hour)

	t.Run("ties across pages", func(t *testing.T) {
		f := open(t)
		var want []string
		for i := range 45 {
			sku := fmt.Sprintf("T-%03d", i)
			at := base
			if i >= 20 {
				at = base.Add(typ.step * time.Duration(1+(i-20)/5)) // groups of 5 one step apart
			}
			f.insert(sku, at)
			want = append(want, sku)
		}
		for _, size := range []int{1, 4, 20, 21, 100} {
			got := f.readAll(inventory.Cursor{}, far, size)
			requireOnce(t, want, got)
			for i := 1; i < len(got); i++ {
				require.False(t, got[i].LastModified.Before(got[i-1].LastModified), "page size %d: ordered by LastModified", size)
			}
		}
	})

	t.Run("equal timestamps at the settle boundary", func(t *testing.T) {
		f := open(t)
		bound := base.Add(10 * time.Second)
		f.insert("before", bound.Add(-typ.step))
		f.insert("at-1", bound)
		f.insert("at-2", bound)
		f.insert("after", bound.Add(typ.step))
		got := f.readAll(inventory.Cursor{}, bound, 1)
		requireOnce(t, []string{"before", "at-1", "at-2"}, got)
		rest := f.readAll(inventory.CursorOf(got[len(got)-1]), far, 1)
		requireOnce(t, []string{"after"}, rest)
	})

	t.Run("precision: rows one step apart are each read once", func(t *testing.T) {
		f := open(t)
		var want []string
		for i := range 6 {
			sku := fmt.Sprintf("P-%d", i)
			f.insert(sku, base.Add(time.Duration(i)*typ.step))
			want = append(want, sku)
		}
		got := f.readAll(inventory.Cursor{}, far, 1)
		requireOnce(t, want, got)
		for i := 1; i < len(got); i++ {
			require.True(t, got[i].LastModified.After(got[i-1].LastModified), "distinct steps stay distinct: %v", got[i].LastModified)
		}
		n, err := f.src.Backlog(context.Background(), inventory.CursorOf(got[2]), far)
		require.NoError(t, err)
		require.Equal(t, int64(3), n, "backlog counts what is left after the cursor")
	})

	t.Run("a late commit with an older LastModified is found by a look-back", func(t *testing.T) {
		f := open(t)
		f.insert("A", base.Add(10*time.Second))
		got := f.readAll(inventory.Cursor{}, far, 10)
		cursor := inventory.CursorOf(got[len(got)-1])
		f.insert("LATE", base.Add(5*time.Second)) // committed after the cursor passed it
		require.Empty(t, f.readAll(cursor, far, 10), "the cursor has passed it")
		lookback := f.readAll(inventory.Cursor{LastModified: cursor.LastModified.Add(-time.Minute)}, cursor.LastModified, 10)
		requireOnce(t, []string{"LATE", "A"}, lookback)
	})

	t.Run("unicode SKUs", func(t *testing.T) {
		f := open(t)
		want := []string{"Ärmel-1", "日本-2", "café", "cafe", "Z-9", "ü", "Ω-omega", "emoji-✓"}
		for _, s := range want {
			f.insert(s, base)
		}
		requireOnce(t, want, f.readAll(inventory.Cursor{}, far, 3))
	})

	t.Run("values and NULLs", func(t *testing.T) {
		f := open(t)
		f.exec(
			fmt.Sprintf(`INSERT INTO %s VALUES (N'FULL', 12, 19.9900, 7.2500, N'shoes', %s)`, f.table, b.lit(base, typ.kind)),
			fmt.Sprintf(`INSERT INTO %s VALUES (N'NULLS', NULL, NULL, NULL, NULL, %s)`, f.table, b.lit(base.Add(time.Second), typ.kind)),
		)
		got := f.readAll(inventory.Cursor{}, far, 10)
		require.Len(t, got, 2)
		full, nulls := got[0], got[1]
		require.Equal(t, int64(12), *full.Quantity)
		require.Equal(t, "19.9900", *full.Price, "price text is exact")
		require.Equal(t, "7.2500", *full.Cost)
		require.Equal(t, "shoes", *full.Category)
		require.Equal(t, far, full.ObservedAt)
		require.Nil(t, nulls.Quantity)
		require.Nil(t, nulls.Price)
		require.Nil(t, nulls.Cost)
		require.Nil(t, nulls.Category)
	})

	t.Run("a missing column is named", func(t *testing.T) {
		cfg, _, _ := b.create(t, typ.sql)
		cfg.Columns.LastModified = "modified_on"
		src, err := Open(context.Background(), cfg)
		require.NoError(t, err, "Open does not connect")
		defer src.Close()
		_, err = src.Page(context.Background(), inventory.Cursor{}, far, 10, far)
		require.ErrorContains(t, err, "has no column modified_on")
	})

	t.Run("the clock is the ERP's", func(t *testing.T) {
		f := open(t)
		now, err := f.src.Clock(context.Background())
		require.NoError(t, err)
		require.WithinDuration(t, time.Now().UTC(), now, time.Minute)
	})
}
