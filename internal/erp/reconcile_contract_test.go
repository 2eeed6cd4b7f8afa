package erp

import (
	"context"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/inventory"
)

// The reconcile's reads, run like the source contract against the PostgreSQL
// ERP always and against SQL Server when ERP_MSSQL_DSN is set.

func TestReconcileContract(t *testing.T) { forEachType(t, runReconcileContract) }

// chunk is one step of a walk by Digest: the digest and the rows Range reads
// for it.
type chunk struct {
	digest Digest
	rows   []inventory.Row
}

// plainInteger is how PostgreSQL writes sum(bigint::numeric)::text.
var plainInteger = regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)

// walk reads the view chunk by chunk from the start, as the reconcile does.
// It checks each chunk against the rows Range reads for it: as many rows,
// the sum of their fingerprints, the last SKU, and that only the last chunk
// holds fewer than limit rows.
func (f *fixture) walk(limit int) []chunk {
	f.t.Helper()
	ctx := context.Background()
	var chunks []chunk
	after := ""
	for {
		require.Less(f.t, len(chunks), 10000, "limit %d: the walk does not end", limit)
		d, err := f.src.Digest(ctx, after, limit)
		require.NoError(f.t, err)
		require.Regexp(f.t, plainInteger, d.Sum)
		if d.Rows == 0 {
			require.Equal(f.t, Digest{Rows: 0, Sum: "0", Last: ""}, d, "limit %d: the end", limit)
			return chunks
		}
		if n := len(chunks); n > 0 {
			require.GreaterOrEqual(f.t, chunks[n-1].digest.Rows, int64(limit), "limit %d: only the last chunk is short", limit)
		}
		rows, err := f.src.Range(ctx, after, d.Last)
		require.NoError(f.t, err)
		require.Len(f.t, rows, int(d.Rows), "limit %d: Range(%q, %q) reads the chunk Digest counts", limit, after, d.Last)
		sum := new(big.Int)
		for _, r := range rows {
			sum.Add(sum, big.NewInt(r.Hash))
		}
		require.Equal(f.t, sum.String(), d.Sum, "limit %d: the sum of the chunk's fingerprints", limit)
		// A case-insensitive collation's MAX is any one of the SKUs that
		// tie with the chunk's last row.
		require.True(f.t, strings.EqualFold(d.Last, skuOf(rows[len(rows)-1])), "limit %d: last %q, rows end with %q", limit, d.Last, skuOf(rows[len(rows)-1]))
		chunks = append(chunks, chunk{d, rows})
		after = d.Last
	}
}

// idsOf are the rows' ids (put writes them into item_group).
func idsOf(t *testing.T, rows []inventory.Row) []string {
	t.Helper()
	out := make([]string, len(rows))
	for i, r := range rows {
		require.NotNil(t, r.Category)
		out[i] = *r.Category
	}
	return out
}

// folded is the rows' SKUs in order, as far as the test can tell the ERP's
// order: SKUs that differ only by case may tie in its collation.
func folded(rows []inventory.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.ToLower(skuOf(r))
	}
	return out
}

// hashes maps each row's SKU to its fingerprint; the SKUs must be distinct.
func hashes(t *testing.T, rows []inventory.Row) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, r := range rows {
		require.NotNil(t, r.SKU)
		_, dup := out[*r.SKU]
		require.False(t, dup, "%q read twice", *r.SKU)
		out[*r.SKU] = r.Hash
	}
	return out
}

func runReconcileContract(t *testing.T, b *backend, typ columnType) {
	ctx := context.Background()
	far := base.Add(time.Hour)

	t.Run("a row's fingerprint is the same from every read", func(t *testing.T) {
		f := newFixture(t, b, typ)
		f.putValues()
		f.insert("PLAIN", base.Add(time.Minute))
		var skus []string
		for _, v := range b.values {
			skus = append(skus, v.sku)
		}
		skus = append(skus, "PLAIN")
		read := func(rows []inventory.Row, err error) []inventory.Row {
			t.Helper()
			require.NoError(t, err)
			return rows
		}
		want := hashes(t, f.readAll(inventory.Cursor{}, far, 2))
		require.Len(t, want, len(skus))
		distinct := map[int64]bool{}
		for _, h := range want {
			distinct[h] = true
		}
		require.Len(t, distinct, len(want), "rows with other values have other fingerprints")
		for _, tt := range []struct {
			name string
			read func() []inventory.Row
		}{
			{"page again", func() []inventory.Row { return f.readAll(inventory.Cursor{}, far, 3) }},
			{"future", func() []inventory.Row { return read(f.src.Future(ctx, base.Add(-time.Second), 100)) }},
			{"range", func() []inventory.Row { return read(f.src.Range(ctx, "", "")) }},
			{"range to the last", func() []inventory.Row {
				d, err := f.src.Digest(ctx, "", len(skus))
				require.NoError(t, err)
				return read(f.src.Range(ctx, "", d.Last))
			}},
			{"lookup", func() []inventory.Row { return read(f.src.Lookup(ctx, skus)) }},
		} {
			require.Equal(t, want, hashes(t, tt.read()), tt.name)
		}
		for _, sku := range skus {
			rows := read(f.src.Lookup(ctx, []string{sku}))
			require.Len(t, rows, 1, sku)
			require.Equal(t, want[sku], rows[0].Hash, "lookup of %s alone", sku)
		}
	})

	t.Run("a fingerprint changes with each value", func(t *testing.T) {
		f := newFixture(t, b, typ)
		f.insert("FP", base)
		set := func(assign string) int64 {
			t.Helper()
			f.exec(fmt.Sprintf("UPDATE %s SET %s WHERE item_no = %s", f.table, assign, b.str("FP")))
			rows, err := f.src.Lookup(ctx, []string{"FP"})
			require.NoError(t, err)
			require.Len(t, rows, 1)
			return rows[0].Hash
		}
		full := fmt.Sprintf("on_hand = 12, list_price = 19.99, unit_cost = 7.25, item_group = %s, changed_at = %s",
			b.str("shoes"), b.lit(base, typ.kind))
		original := set(full)
		seen := map[int64]string{original: "the original values"}
		for _, tt := range []struct{ name, assign string }{
			{"quantity", "on_hand = 13"},
			{"price", "list_price = 19.98"},
			{"cost", "unit_cost = 7.5"},
			{"category", "item_group = " + b.str("boots")},
			{"category's case", "item_group = " + b.str("Shoes")},
			{"last_modified", "changed_at = " + b.lit(base.Add(typ.step), typ.kind)},
			{"quantity NULL", "on_hand = NULL"},
			{"price NULL", "list_price = NULL"},
			{"cost NULL", "unit_cost = NULL"},
			{"category NULL", "item_group = NULL"},
			{"a value in the next field", "on_hand = NULL, list_price = 12"},
		} {
			h := set(tt.assign)
			other, dup := seen[h]
			require.False(t, dup, "%s: the fingerprint of %s", tt.name, other)
			seen[h] = tt.name
			require.Equal(t, original, set(full), "%s: the original values give the original fingerprint", tt.name)
		}
	})

	t.Run("chunks cover every row once, a repeated SKU never split", func(t *testing.T) {
		f := newFixture(t, b, typ)
		skus := hostileSKUs(b, typ)
		var items []item
		for i, s := range skus {
			items = append(items, item{ptr(s), base.Add(time.Duration(i%3) * typ.step)})
		}
		for i := range 3 { // a view may repeat a SKU
			items = append(items, item{ptr("DUP"), base.Add(time.Duration(i) * typ.step)})
		}
		items = append(items, item{nil, base}, item{nil, base.Add(typ.step)})
		all := f.put(items...)
		if b.driver == DriverPostgres {
			f.exec(`INSERT INTO items (item_no, changed_at) VALUES ('MINUS', '-infinity'), ('PLUS', 'infinity'), ('NEVER', NULL)`)
		}
		// NULL SKUs, the empty SKU and rows without a time are in no chunk.
		var want []string
		for i, it := range items {
			if it.sku != nil && *it.sku != "" {
				want = append(want, all[i])
			}
		}

		// The ERP's own order, as its owner reads the table.
		res, err := f.owner.Query(fmt.Sprintf(`SELECT item_no FROM %s WHERE item_no IS NOT NULL ORDER BY item_no`, f.table))
		require.NoError(t, err)
		var order []string
		for res.Next() {
			var s string
			require.NoError(t, res.Scan(&s))
			if !slices.Contains([]string{"", "MINUS", "PLUS", "NEVER"}, s) {
				order = append(order, strings.ToLower(s))
			}
		}
		require.NoError(t, res.Err())
		require.NoError(t, res.Close())

		everything, err := f.src.Range(ctx, "", "")
		require.NoError(t, err)
		require.ElementsMatch(t, want, idsOf(t, everything), "Range from the start to the end")
		require.Equal(t, order, folded(everything), "in the SKU column's order")

		for limit := 1; limit <= len(want)+1; limit++ {
			chunks := f.walk(limit)
			var rows []inventory.Row
			var total int64
			chunkOf := map[string]int{}
			for i, c := range chunks {
				total += c.digest.Rows
				rows = append(rows, c.rows...)
				for _, r := range c.rows {
					if j, ok := chunkOf[*r.SKU]; ok {
						require.Equal(t, j, i, "limit %d: SKU %q split between chunks", limit, *r.SKU)
					}
					chunkOf[*r.SKU] = i
				}
				rest, err := f.src.Range(ctx, c.digest.Last, "")
				require.NoError(t, err)
				var later []inventory.Row
				for _, c := range chunks[i+1:] {
					later = append(later, c.rows...)
				}
				require.ElementsMatch(t, idsOf(t, later), idsOf(t, rest), "limit %d: Range after %q to the end", limit, c.digest.Last)
			}
			require.Equal(t, int64(len(want)), total, "limit %d: the chunks count every row", limit)
			require.ElementsMatch(t, want, idsOf(t, rows), "limit %d: every row in one chunk", limit)
			require.Equal(t, order, folded(rows), "limit %d: chunks in the SKU column's order", limit)
			if limit == 1 {
				require.Less(t, len(chunks), len(want), "a chunk of one row grows to hold a SKU's ties")
			}
		}
	})

	t.Run("lookup", func(t *testing.T) {
		f := newFixture(t, b, typ)
		held := append(hostileSKUs(b, typ), "??-2", `br]ack[et"`, `back\slash`, `{"json": [1]}`, "pct-%_", "DUP", "DUP")
		var items []item
		for i, s := range held {
			items = append(items, item{ptr(s), base.Add(time.Duration(i%3) * typ.step)})
		}
		ids := f.put(items...)
		count := map[string]int{}
		for _, s := range held {
			count[s]++
		}
		many := make([]string, MaxLookup)
		for i := range many {
			many[i] = fmt.Sprintf("MISSING-%d", i)
		}
		many[MaxLookup-1] = "Z-9"
		for _, tt := range []struct {
			name string
			skus []string
		}{
			{"every SKU held", held},
			{"quotes", []string{"quote-'", `br]ack[et"`, `back\slash`, `{"json": [1]}`}},
			{"unicode", []string{"Ärmel-1", "café", "€uro", "ü", "日本-2", "𝄞-clef"}},
			{"SKUs not there", []string{"NOPE", "it's not", "ÄRMEL-2"}},
			{"one not there among others", []string{"NOPE", "Z-9", "b"}},
			{"asked twice", []string{"Z-9", "Z-9", "DUP"}},
			{"the empty SKU", []string{""}},
			{"at most", many},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := f.src.Lookup(ctx, tt.skus)
				require.NoError(t, err)
				exact := map[string]int{}
				for _, r := range got {
					require.NotNil(t, r.SKU)
					// A case-insensitive collation matches other cases; a
					// code page's '?' for a character it lacks matches nothing.
					require.True(t, slices.ContainsFunc(tt.skus, func(s string) bool { return strings.EqualFold(s, *r.SKU) }),
						"%q was not asked for", *r.SKU)
					exact[*r.SKU]++
				}
				for _, s := range tt.skus {
					require.Equal(t, count[s], exact[s], "rows of %q", s)
				}
			})
		}
		got, err := f.src.Lookup(ctx, held)
		require.NoError(t, err)
		require.ElementsMatch(t, ids, idsOf(t, got), "each row once")

		none, err := f.src.Lookup(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, none)
		_, err = f.src.Lookup(ctx, append(many, "one too many"))
		require.ErrorContains(t, err, "at most 1000")
		_, err = f.src.Lookup(ctx, []string{"bad-\xff"})
		require.ErrorContains(t, err, "not valid UTF-8")
	})

	t.Run("limits", func(t *testing.T) {
		f := newFixture(t, b, typ)
		_, err := f.src.Digest(ctx, "", 0)
		require.ErrorContains(t, err, "limit 0")
		d, err := f.src.Digest(ctx, "", 10)
		require.NoError(t, err)
		require.Equal(t, Digest{Sum: "0"}, d, "an empty view")
		rows, err := f.src.Range(ctx, "", "")
		require.NoError(t, err)
		require.Empty(t, rows)
	})
}
