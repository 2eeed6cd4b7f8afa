package erp

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones the clock test sets

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/testenv"
)

// The source contract: what every ERP dialect must do, run against the
// PostgreSQL ERP always and against SQL Server when ERP_MSSQL_DSN is set.

// backend is an ERP database the contract runs against.
type backend struct {
	driver string
	// types are the column types to test: a LastModified type with its
	// precision and kind, and a SKU type.
	types []columnType
	// create makes a table and a view over it (columns item_no, on_hand,
	// list_price, unit_cost, item_group, changed_at) and returns the Config
	// to read the view as the pipeline would, a connection as the ERP's
	// owner, and the table's name.
	create func(t *testing.T, typ columnType) (cfg Config, owner *sql.DB, table string)
	// lit is a SQL literal for a time in the kind's family; str one for a
	// string.
	lit func(t time.Time, kind TimeKind) string
	str func(s string) string
	// precision is the finest step a time of the driver has; clocks are cut
	// to it (to datetime ticks for a datetime column).
	precision time.Duration
	// longSKU is the longest SKU the table's index takes, in characters.
	longSKU int
	// values are hostile values and the exact text each is read as.
	values []valueCase
	// zone returns cfg with the ERP session in the time zone, if the
	// backend can set one, and the UTC offset the ERP then has at an instant.
	zone func(t *testing.T, cfg Config, zone string) (Config, func(time.Time) time.Duration)
}

type columnType struct {
	sql  string // the LastModified column's type
	step time.Duration
	kind TimeKind
	sku  string // the SKU column's type
	// unicode: the SKU column holds any character, not only those of a
	// single-byte code page.
	unicode bool
}

// valueCase is one row of hostile values: SQL literals ("" for NULL) and the
// exact text the row must read as, and what the caller makes of it (the
// rejection's code, "" when it becomes a change).
type valueCase struct {
	sku                   string
	qty, price, cost, cat string
	want                  inventory.Row
	reject                string
}

var base = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func backends(t *testing.T) map[string]func(*testing.T) *backend {
	return map[string]func(*testing.T) *backend{
		"postgres":  postgresBackend,
		"sqlserver": sqlServerBackend,
	}
}

func ptr(s string) *string { return &s }

func postgresBackend(t *testing.T) *backend {
	return &backend{
		driver: DriverPostgres,
		types: []columnType{
			{"timestamptz", time.Microsecond, Instant, "text", true},
			{"timestamp(6)", time.Microsecond, Wall, "text", true},
			{"timestamp(3)", time.Millisecond, Wall, `varchar(20000) COLLATE "C"`, true},
		},
		create: func(t *testing.T, typ columnType) (Config, *sql.DB, string) {
			dsn := testenv.Database(t, "invsync_erp")
			owner, err := sql.Open("pgx", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { owner.Close() })
			for _, s := range []string{
				`CREATE TABLE items (item_no ` + typ.sku + `, on_hand numeric(38,20), list_price numeric,
					unit_cost float8, item_group text, changed_at ` + typ.sql + `)`,
				`CREATE INDEX items_changed ON items (changed_at, item_no)`,
				`CREATE SCHEMA erp`,
				`CREATE VIEW erp.stock AS SELECT item_no, on_hand, list_price, unit_cost, item_group, changed_at FROM items`,
				// The pipeline's login may read the view and nothing else.
				`DO $$ BEGIN CREATE ROLE invsync_erp_reader LOGIN;
				 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`,
				`GRANT USAGE ON SCHEMA erp TO invsync_erp_reader`,
				`GRANT SELECT ON erp.stock TO invsync_erp_reader`,
			} {
				_, err := owner.Exec(s)
				require.NoError(t, err, s)
			}
			return Config{
				Driver: DriverPostgres, DSN: strings.Replace(dsn, "postgres@", "invsync_erp_reader@", 1), View: "erp.stock",
				Columns: Columns{SKU: "item_no", Quantity: "on_hand", Price: "list_price", Cost: "unit_cost",
					Category: "item_group", LastModified: "changed_at"},
				Clock: ClockUTC,
			}, owner, "items"
		},
		lit: func(v time.Time, kind TimeKind) string {
			if kind == Instant {
				return "'" + v.Format("2006-01-02 15:04:05.999999999Z07:00") + "'::timestamptz"
			}
			return "'" + v.Format("2006-01-02 15:04:05.999999999") + "'::timestamp"
		},
		str:       func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" },
		precision: time.Microsecond,
		longSKU:   10_000, // compressed in the index
		values: []valueCase{
			{sku: "FULL", qty: "12", price: "19.9900", cost: "7.25", cat: "'shoes'",
				want: inventory.Row{Quantity: ptr("12.00000000000000000000"), Price: ptr("19.9900"), Cost: ptr("7.25"), Category: ptr("shoes")}},
			{sku: "HALF", qty: "2.5", price: "1", cost: "0.1",
				want:   inventory.Row{Quantity: ptr("2.50000000000000000000"), Price: ptr("1"), Cost: ptr("0.1")},
				reject: inventory.ReasonQuantityFractional},
			{sku: "NULLS", want: inventory.Row{}, reject: inventory.ReasonQuantityMissing},
			{sku: "BIGQTY", qty: "123456789012345678.12345678901234567890", price: "1",
				want:   inventory.Row{Quantity: ptr("123456789012345678.12345678901234567890"), Price: ptr("1")},
				reject: inventory.ReasonQuantityInvalid},
			{sku: "BIGPRICE", qty: "1", price: "'1e100000'::numeric",
				want:   inventory.Row{Quantity: ptr("1.00000000000000000000"), Price: ptr("1" + strings.Repeat("0", 100_000))},
				reject: inventory.ReasonPriceInvalid},
			{sku: "BIGCOST", qty: "1", price: "1", cost: "1e300",
				want:   inventory.Row{Quantity: ptr("1.00000000000000000000"), Price: ptr("1"), Cost: ptr("1e+300")},
				reject: inventory.ReasonCostInvalid},
			{sku: "NEG", qty: "-3", price: "-1.5", cost: "-0.0001",
				want:   inventory.Row{Quantity: ptr("-3.00000000000000000000"), Price: ptr("-1.5"), Cost: ptr("-0.0001")},
				reject: inventory.ReasonPriceNegative},
		},
		zone: func(t *testing.T, cfg Config, zone string) (Config, func(time.Time) time.Duration) {
			loc, err := time.LoadLocation(zone)
			require.NoError(t, err)
			cfg.DSN += "&timezone=" + url.QueryEscape(zone) // the session's TimeZone
			return cfg, func(at time.Time) time.Duration {
				_, off := at.In(loc).Zone()
				return time.Duration(off) * time.Second
			}
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
			{"datetime", 10 * time.Millisecond / 3, Ticks, "nvarchar(400)", true},
			// SQL_* collations order varchar by other rules than nvarchar.
			{"datetime2(7)", 100 * time.Nanosecond, Wall, "varchar(400) COLLATE SQL_Latin1_General_CP1_CI_AS", false},
			{"datetime2(3)", time.Millisecond, Wall, "nvarchar(400)", true},
			{"datetimeoffset(7)", 100 * time.Nanosecond, Instant, "varchar(400) COLLATE Latin1_General_100_CI_AS", false},
		},
		create: func(t *testing.T, typ columnType) (Config, *sql.DB, string) {
			name := testenv.Name("items")
			for _, s := range []string{
				`CREATE TABLE dbo.` + name + ` (item_no ` + typ.sku + ` NULL, on_hand decimal(38,20) NULL,
					list_price money NULL, unit_cost float NULL, item_group nvarchar(300) NULL,
					changed_at ` + typ.sql + ` NOT NULL)`,
				`CREATE INDEX ix_changed ON dbo.` + name + ` (changed_at, item_no)`,
				`CREATE VIEW dbo.v_` + name + ` AS SELECT item_no, on_hand, list_price, unit_cost, item_group, changed_at FROM dbo.` + name,
			} {
				_, err := admin.Exec(s)
				require.NoError(t, err, s)
			}
			t.Cleanup(func() {
				_, _ = admin.Exec(`DROP VIEW dbo.v_` + name)
				_, _ = admin.Exec(`DROP TABLE dbo.` + name)
			})
			return Config{
				Driver: DriverSQLServer, DSN: dsn, View: "dbo.v_" + name,
				Columns: Columns{SKU: "item_no", Quantity: "on_hand", Price: "list_price", Cost: "unit_cost",
					Category: "item_group", LastModified: "changed_at"},
				Clock: ClockUTC,
			}, admin, "dbo." + name
		},
		lit: func(v time.Time, kind TimeKind) string {
			if kind == Instant {
				return "CAST('" + v.Format("2006-01-02T15:04:05.0000000") + "+00:00' AS datetimeoffset(7))"
			}
			return "CAST('" + v.Format("2006-01-02T15:04:05.0000000") + "' AS datetime2(7))"
		},
		str:       func(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" },
		precision: 100 * time.Nanosecond,
		longSKU:   400, // an index key holds at most 1,700 bytes
		values: []valueCase{
			{sku: "FULL", qty: "12", price: "19.99", cost: "7.25", cat: "N'shoes'",
				want: inventory.Row{Quantity: ptr("12.00000000000000000000"), Price: ptr("19.9900"), Cost: ptr("7.250000000000"), Category: ptr("shoes")}},
			{sku: "HALF", qty: "2.5", price: "1", cost: "0.1",
				want:   inventory.Row{Quantity: ptr("2.50000000000000000000"), Price: ptr("1.0000"), Cost: ptr("0.100000000000")},
				reject: inventory.ReasonQuantityFractional},
			{sku: "NULLS", want: inventory.Row{}, reject: inventory.ReasonQuantityMissing},
			{sku: "BIGQTY", qty: "123456789012345678.12345678901234567890", price: "1",
				want:   inventory.Row{Quantity: ptr("123456789012345678.12345678901234567890"), Price: ptr("1.0000")},
				reject: inventory.ReasonQuantityInvalid},
			{sku: "BIGPRICE", qty: "1", price: "922337203685477.5807",
				want:   inventory.Row{Quantity: ptr("1.00000000000000000000"), Price: ptr("922337203685477.5807")},
				reject: inventory.ReasonPriceInvalid},
			{sku: "BIGCOST", qty: "1", price: "1", cost: "1e300",
				want:   inventory.Row{Quantity: ptr("1.00000000000000000000"), Price: ptr("1.0000"), Cost: ptr("1e+300")},
				reject: inventory.ReasonCostInvalid},
			{sku: "NEG", qty: "-3", price: "-1.5", cost: "-0.0001",
				want:   inventory.Row{Quantity: ptr("-3.00000000000000000000"), Price: ptr("-1.5000"), Cost: ptr("-0.000100000000")},
				reject: inventory.ReasonPriceNegative},
		},
		zone: func(t *testing.T, cfg Config, zone string) (Config, func(time.Time) time.Duration) {
			// A session cannot change SQL Server's zone: the offset is the
			// server's own.
			return cfg, func(time.Time) time.Duration {
				var minutes int
				require.NoError(t, admin.QueryRow(`SELECT DATEPART(TZOFFSET, SYSDATETIMEOFFSET())`).Scan(&minutes))
				return time.Duration(minutes) * time.Minute
			}
		},
	}
}

// fixture is one view with columns of one type.
type fixture struct {
	t     *testing.T
	b     *backend
	typ   columnType
	src   *Source
	owner *sql.DB
	table string
	ids   int
}

// item is a row to insert. put writes an id of its own into item_group, so
// that rows without a SKU can be told apart.
type item struct {
	sku *string
	at  time.Time
}

// put inserts rows with quantity 1 and price 1.50, each with a fresh id,
// and returns the ids.
func (f *fixture) put(items ...item) []string {
	f.t.Helper()
	ids := make([]string, len(items))
	for i, it := range items {
		f.ids++
		ids[i] = fmt.Sprintf("r%d", f.ids)
		sku := "NULL"
		if it.sku != nil {
			sku = f.b.str(*it.sku)
		}
		f.exec(fmt.Sprintf(`INSERT INTO %s (item_no, on_hand, list_price, item_group, changed_at) VALUES (%s, 1, 1.50, %s, %s)`,
			f.table, sku, f.b.str(ids[i]), f.b.lit(it.at, f.typ.kind)))
	}
	return ids
}

func (f *fixture) insert(sku string, at time.Time) { f.t.Helper(); f.put(item{ptr(sku), at}) }

func (f *fixture) exec(stmts ...string) {
	f.t.Helper()
	for _, s := range stmts {
		_, err := f.owner.Exec(s)
		require.NoError(f.t, err, s)
	}
}

// readAll pages through the view as the poller does, from the cursor. At
// each step it checks that the backlog counts what the walk has left to
// read, and that a page longer than its limit only adds rows tied with its
// limit-th row.
func (f *fixture) readAll(from inventory.Cursor, upTo time.Time, pageSize int) []inventory.Row {
	f.t.Helper()
	ctx := context.Background()
	var all []inventory.Row
	var backlogs, readBefore []int
	cur := from
	for pages := 0; ; pages++ {
		require.Less(f.t, pages, 10000, "paging does not end: a row is re-read forever")
		n, err := f.src.Backlog(ctx, cur, upTo)
		require.NoError(f.t, err)
		backlogs, readBefore = append(backlogs, int(n)), append(readBefore, len(all))
		page, err := f.src.Page(ctx, cur, upTo, pageSize)
		require.NoError(f.t, err)
		for i := pageSize; i < len(page); i++ {
			require.Equal(f.t, key(page[pageSize-1]), key(page[i]), "page size %d: row %d beyond the limit is not a tie", pageSize, i)
		}
		if len(page) == 0 {
			for i := range backlogs {
				require.Equal(f.t, len(all)-readBefore[i], backlogs[i], "backlog before page %d of %d rows each", i, pageSize)
			}
			return all
		}
		all = append(all, page...)
		cur = page[len(page)-1].Cursor()
	}
}

// key is a row's place in the (LastModified, SKU) order, as far as the test
// can tell: SKUs that differ only by case may tie in the ERP's collation.
func key(r inventory.Row) string {
	sku := "<NULL>"
	if r.SKU != nil {
		sku = fmt.Sprintf("%q", strings.ToLower(*r.SKU))
	}
	return r.LastModified.UTC().Format(time.RFC3339Nano) + "/" + sku
}

func skuOf(r inventory.Row) string {
	if r.SKU == nil {
		return "<NULL>"
	}
	return *r.SKU
}

func requireOnce(t *testing.T, want []string, got []inventory.Row) {
	t.Helper()
	g := make([]string, len(got))
	for i, r := range got {
		g[i] = skuOf(r)
	}
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

// requireWalk checks that rows are every row of the view up to upTo, each
// once (by id), in the ERP's own (LastModified, SKU) order.
func (f *fixture) requireWalk(ids []string, rows []inventory.Row, upTo time.Time) {
	f.t.Helper()
	got := make([]string, len(rows))
	for i, r := range rows {
		require.NotNil(f.t, r.Category)
		got[i] = *r.Category
	}
	seen := map[string]bool{}
	for _, id := range got {
		require.False(f.t, seen[id], "%s read twice", id)
		seen[id] = true
	}
	require.ElementsMatch(f.t, ids, got, "every row exactly once")

	q := fmt.Sprintf(`SELECT item_no, changed_at FROM %s WHERE changed_at <= %s ORDER BY changed_at, item_no`, f.table, f.b.lit(upTo, f.typ.kind))
	res, err := f.owner.Query(q)
	require.NoError(f.t, err)
	defer res.Close()
	var want, order []string
	for res.Next() {
		var r inventory.Row
		var sku sql.NullString
		require.NoError(f.t, res.Scan(&sku, &r.LastModified))
		r.SKU = text(sku)
		if f.typ.kind == Instant {
			r.LastModified = asInstant(r.LastModified)
		} else {
			r.LastModified = asWall(r.LastModified)
		}
		want = append(want, key(r))
	}
	require.NoError(f.t, res.Err())
	for _, r := range rows {
		order = append(order, key(r))
	}
	require.Equal(f.t, want, order, "in the ERP's ORDER BY order")
}

// forEachType runs a contract against every backend, once per column type.
func forEachType(t *testing.T, contract func(t *testing.T, b *backend, typ columnType)) {
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			for _, typ := range b.types {
				t.Run(typ.sql+" "+typ.sku, func(t *testing.T) {
					contract(t, b, typ)
				})
			}
		})
	}
}

// openFixture opens a Source on cfg, as the pipeline would.
func openFixture(t *testing.T, b *backend, typ columnType, cfg Config, owner *sql.DB, table string) *fixture {
	src, err := Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	require.NoError(t, src.Prepare(context.Background()))
	require.Equal(t, typ.kind, src.Kind(), "column type detected from INFORMATION_SCHEMA")
	return &fixture{t: t, b: b, typ: typ, src: src, owner: owner, table: table}
}

// newFixture makes a view with columns of typ and opens a Source on it.
func newFixture(t *testing.T, b *backend, typ columnType) *fixture {
	cfg, owner, table := b.create(t, typ)
	return openFixture(t, b, typ, cfg, owner, table)
}

// hostileSKUs are SKUs that quoting, collations, code pages and index limits
// get wrong; the Unicode ones only where the SKU column holds them.
func hostileSKUs(b *backend, typ columnType) []string {
	skus := []string{"ctl-\x01\x02", "tab\tnew\nline", "del-\x7f", "quote-'", "  spaces  ", "",
		"L-" + strings.Repeat("x", b.longSKU-2),
		"Ärmel-1", "café", "cafe", "CAFE", "Cafe", "ü", "Z-9", "€uro",
		"a-b", "ab", "a-c", "ac", "co-op", "coop", "cop", "b"}
	if typ.unicode {
		skus = append(skus, "日本-2", "Ω-omega", "emoji-✓", "𝄞-clef")
	}
	return skus
}

// putValues inserts the backend's rows of hostile values, one second apart
// from base.
func (f *fixture) putValues() {
	f.t.Helper()
	lit := func(s string) string {
		if s == "" {
			return "NULL"
		}
		return s
	}
	for i, v := range f.b.values {
		f.exec(fmt.Sprintf(`INSERT INTO %s (item_no, on_hand, list_price, unit_cost, item_group, changed_at) VALUES (%s, %s, %s, %s, %s, %s)`,
			f.table, f.b.str(v.sku), lit(v.qty), lit(v.price), lit(v.cost), lit(v.cat), f.b.lit(base.Add(time.Duration(i)*time.Second), f.typ.kind)))
	}
}

func TestSourceContract(t *testing.T) { forEachType(t, runContract) }

func runContract(t *testing.T, b *backend, typ columnType) {
	openCfg := func(t *testing.T, cfg Config, owner *sql.DB, table string) *fixture {
		return openFixture(t, b, typ, cfg, owner, table)
	}
	open := func(t *testing.T) *fixture { return newFixture(t, b, typ) }
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
		rest := f.readAll(got[len(got)-1].Cursor(), far, 1)
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
		n, err := f.src.Backlog(context.Background(), got[2].Cursor(), far)
		require.NoError(t, err)
		require.Equal(t, int64(3), n, "backlog counts what is left after the cursor")
	})

	t.Run("a late commit with an older LastModified is found by a look-back", func(t *testing.T) {
		f := open(t)
		f.insert("A", base.Add(10*time.Second))
		got := f.readAll(inventory.Cursor{}, far, 10)
		cursor := got[len(got)-1].Cursor()
		f.insert("LATE", base.Add(5*time.Second)) // committed after the cursor passed it
		require.Empty(t, f.readAll(cursor, far, 10), "the cursor has passed it")
		lookback := f.readAll(inventory.Cursor{LastModified: cursor.LastModified.Add(-time.Minute)}, cursor.LastModified, 10)
		requireOnce(t, []string{"LATE", "A"}, lookback)
	})

	t.Run("NULL SKUs are read once each, in the ERP's order", func(t *testing.T) {
		f := open(t)
		at := func(steps int) time.Time { return base.Add(time.Duration(steps) * typ.step) }
		ids := f.put(
			item{ptr("A"), at(0)}, item{nil, at(0)}, item{ptr("B"), at(0)}, item{nil, at(0)}, // two NULLs sharing a time
			item{nil, at(1)}, // alone
			item{ptr("C"), at(2)}, item{nil, at(2)}, item{nil, at(2)}, item{nil, at(2)}, item{ptr("D"), at(2)},
			item{ptr("DUP"), at(3)}, item{ptr("DUP"), at(3)}, // a view may repeat a SKU
			item{ptr("E"), at(4)}, item{nil, at(5)}, item{nil, at(5)},
		)
		// Every page size puts a page boundary at every position once.
		for size := 1; size <= len(ids)+1; size++ {
			f.requireWalk(ids, f.readAll(inventory.Cursor{}, far, size), far)
		}
		// From a cursor on a NULL SKU: what follows it in the ERP's order.
		all := f.readAll(inventory.Cursor{}, far, 100)
		for i, r := range all {
			if r.SKU != nil || i+1 < len(all) && all[i+1].SKU == nil && all[i+1].LastModified.Equal(r.LastModified) {
				continue // only the last of a NULL group is a cursor a page ends on
			}
			rest := f.readAll(r.Cursor(), far, 2)
			require.Equal(t, len(all)-i-1, len(rest), "after %s", r.Cursor())
			for j := range rest {
				require.Equal(t, key(all[i+1+j]), key(rest[j]), "after %s", r.Cursor())
			}
		}
	})

	t.Run("hostile SKUs", func(t *testing.T) {
		f := open(t)
		skus := hostileSKUs(b, typ)
		var items []item
		for i, s := range skus {
			items = append(items, item{ptr(s), base.Add(time.Duration(i%3) * typ.step)})
		}
		items = append(items, item{nil, base}, item{nil, base.Add(2 * typ.step)})
		ids := f.put(items...)
		for _, size := range []int{1, 2, 7} {
			got := f.readAll(inventory.Cursor{}, far, size)
			f.requireWalk(ids, got, far)
			bySKU := map[string]bool{}
			for _, r := range got {
				if r.SKU != nil {
					bySKU[*r.SKU] = true
				}
			}
			for _, s := range skus {
				require.True(t, bySKU[s], "SKU %q read back exactly", s)
			}
		}
	})

	t.Run("unicode SKUs", func(t *testing.T) {
		f := open(t)
		want := []string{"Ärmel-1", "café", "cafe", "Z-9", "ü"}
		if typ.unicode {
			want = append(want, "日本-2", "Ω-omega", "emoji-✓")
		}
		for _, s := range want {
			f.insert(s, base)
		}
		requireOnce(t, want, f.readAll(inventory.Cursor{}, far, 3))
	})

	t.Run("values are read as exact text, never failing the read", func(t *testing.T) {
		f := open(t)
		f.putValues()
		got := f.readAll(inventory.Cursor{}, far, 2)
		require.Len(t, got, len(b.values))
		clock := inventory.Clock{Instant: far, Wall: far}
		for i, v := range b.values {
			r := got[i]
			require.Equal(t, v.sku, skuOf(r))
			for _, c := range []struct {
				name      string
				want, got *string
			}{
				{"quantity", v.want.Quantity, r.Quantity}, {"price", v.want.Price, r.Price},
				{"cost", v.want.Cost, r.Cost}, {"category", v.want.Category, r.Category},
			} {
				if c.want == nil {
					require.Nil(t, c.got, "%s %s", v.sku, c.name)
					continue
				}
				require.NotNil(t, c.got, "%s %s", v.sku, c.name)
				require.True(t, *c.want == *c.got, "%s %s: want %s, got %s", v.sku, c.name, inventory.Quote(*c.want), inventory.Quote(*c.got))
			}
			_, rej := inventory.ParseRow(r, clock, inventory.DefaultLimits())
			if v.reject == "" {
				require.Nil(t, rej, v.sku)
			} else {
				require.NotNil(t, rej, v.sku)
				require.Equal(t, v.reject, rej.Code, "%s: %s", v.sku, rej.Message)
			}
		}
		c, rej := inventory.ParseRow(got[0], clock, inventory.DefaultLimits())
		require.Nil(t, rej)
		require.Equal(t, int64(12), *c.Quantity)
		require.Equal(t, "19.99", *c.Price)
	})

	if b.driver == DriverPostgres {
		t.Run("infinite times are left out, not failing the read", func(t *testing.T) {
			f := open(t)
			f.insert("A", base)
			f.exec(`INSERT INTO items (item_no, changed_at) VALUES ('MINUS', '-infinity'), ('PLUS', 'infinity')`)
			requireOnce(t, []string{"A"}, f.readAll(inventory.Cursor{}, far, 1))
			future, err := f.src.Future(context.Background(), far, 10)
			require.NoError(t, err)
			require.Empty(t, future)
		})
	}

	t.Run("future rows", func(t *testing.T) {
		f := open(t)
		end := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
		f.put(item{ptr("NOW"), base}, item{ptr("SOON"), base.Add(2 * time.Hour)}, item{nil, end}, item{ptr("END"), end},
			item{ptr("LATER"), base.Add(3 * time.Hour)})
		requireOnce(t, []string{"NOW"}, f.readAll(inventory.Cursor{}, far, 10))
		got, err := f.src.Future(context.Background(), far, 10)
		require.NoError(t, err)
		require.Len(t, got, 4)
		for i, r := range got {
			require.True(t, r.LastModified.After(far), "%s", r.LastModified)
			if i > 0 {
				require.False(t, r.LastModified.Before(got[i-1].LastModified), "in order")
			}
		}
		require.Equal(t, "SOON", skuOf(got[0]))
		require.Equal(t, "LATER", skuOf(got[1]))
		require.True(t, got[3].LastModified.Equal(end), "read back as %s", got[3].LastModified)
		first, err := f.src.Future(context.Background(), far, 1)
		require.NoError(t, err)
		require.Len(t, first, 1)
		require.Equal(t, "SOON", skuOf(first[0]))
		none, err := f.src.Future(context.Background(), end, 10)
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("a missing column is named", func(t *testing.T) {
		cfg, _, _ := b.create(t, typ)
		cfg.Columns.LastModified = "modified_on"
		cfg.Columns.Cost = "unit_costs"
		src, err := Open(context.Background(), cfg)
		require.NoError(t, err, "Open does not connect")
		defer src.Close()
		_, err = src.Page(context.Background(), inventory.Cursor{}, far, 10)
		require.ErrorContains(t, err, "has no column unit_costs, modified_on")
	})

	t.Run("the clock is the ERP's, with its UTC offset", func(t *testing.T) {
		cfg, owner, table := b.create(t, typ)
		for _, tt := range []struct{ clock, zone string }{
			{ClockLocal, "Europe/Berlin"},
			{ClockLocal, "Asia/Kathmandu"}, // +05:45
			{ClockLocal, "America/St_Johns"},
			{ClockLocal, "UTC"},
			{ClockUTC, "Europe/Berlin"},
		} {
			t.Run(tt.clock+" "+tt.zone, func(t *testing.T) {
				cfg := cfg
				cfg.Clock = tt.clock
				cfg, offset := b.zone(t, cfg, tt.zone)
				f := openCfg(t, cfg, owner, table)
				clock, err := f.src.Clock(context.Background())
				require.NoError(t, err)
				require.WithinDuration(t, time.Now().UTC(), clock.Instant, time.Minute)
				require.Equal(t, time.UTC, clock.Instant.Location())
				want := time.Duration(0)
				if typ.kind != Instant && tt.clock == ClockLocal {
					want = offset(clock.Instant)
				}
				require.Equal(t, want, clock.Offset(), "wall %s, instant %s", clock.Wall, clock.Instant)
				floor := func(t time.Time) time.Time { return t.Truncate(b.precision) }
				if typ.kind == Ticks {
					floor = FloorTick
				}
				require.Equal(t, floor(clock.Wall), clock.Wall, "cut to the column's precision")
			})
		}
	})
}
