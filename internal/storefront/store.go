// Package storefront writes ERP changes into the storefront's PostgreSQL
// inventory table with a version-guarded batch upsert.
package storefront

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/invsync/invsync/internal/inventory"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the storefront schema up to date. Concurrent callers are
// serialised by the migrator's advisory lock.
func Migrate(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("storefront: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	m, err := migrate.NewMigrator(ctx, conn, "invsync_schema_version")
	if err != nil {
		return fmt.Errorf("storefront: migrator: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("storefront: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("storefront: migrate: %w", err)
	}
	return nil
}

// Store is the storefront database.
type Store struct {
	pool *pgxpool.Pool
}

// Option sets up a Store.
type Option func(*pgxpool.Config)

// WithMaxConns sizes the connection pool. The worker runs as many apply
// activities at once as it has connections, so none waits for one.
func WithMaxConns(n int) Option {
	return func(c *pgxpool.Config) { c.MaxConns = int32(n) }
}

// Open connects to the storefront.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("storefront: %w", err)
	}
	for _, o := range opts {
		o(cfg)
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, upsertTable)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storefront: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks the storefront is reachable.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// UpsertResult counts what an upsert did.
type UpsertResult struct {
	// Applied rows were inserted or replaced an older version.
	Applied int `json:"applied"`
	// Stale rows were older than, or the same as, what the storefront has.
	Stale int `json:"stale"`
	// SKUs are the applied rows' SKUs.
	SKUs []string `json:"-"`
	// Freshness is, for each applied row, its write time minus its ERP
	// LastModified.
	Freshness []time.Duration `json:"-"`
}

// upsertTable is each connection's scratch table for a batch: COPY fills it,
// one statement moves it into the inventory, and the commit empties it. It is
// made as the connection opens, so a batch costs no catalog writes and no
// extra round trip.
const upsertTable = `
CREATE TEMP TABLE upsert_rows (
    sku text, quantity bigint, price_cents bigint, erp_modified timestamptz, observed_at timestamptz, rules_version text,
    erp_price text, erp_cost text, erp_category text, erp_hash bigint, written_by text, reconcile_verdict text
) ON COMMIT DELETE ROWS`

var upsertColumns = []string{"sku", "quantity", "price_cents", "erp_modified", "observed_at", "rules_version",
	"erp_price", "erp_cost", "erp_category", "erp_hash", "written_by", "reconcile_verdict"}

// upsertSQL writes a batch in one statement. DISTINCT ON keeps one version per
// SKU (ON CONFLICT may not touch a row twice, SQLSTATE 21000).
//
// A row's version is (observed_at, erp_modified): observed_at is the instant,
// by the ERP's clock, of the read that saw it. Reads of one row see its
// versions in order, so a later read is never older, even when the ERP's
// wall clock goes back (the repeated hour of daylight saving) or a row is
// restored with an older last_modified; within one read, the later
// last_modified wins. The WHERE guard makes an older or repeated version a
// no-op, and so is a later read of the same version with the same content:
// the row is not written and synced_at does not move. A later read does
// write a row that differs from it in any way: edited by hand, discontinued,
// or written before the ERP's values were kept.
//
// written_by names the writer; a reconcile's verdict replaces the row's
// last one, and a write without one (a change from the ERP) keeps it. Neither
// makes a row differ: a re-read of the same content writes nothing.
const upsertSQL = `
INSERT INTO inventory AS t (sku, quantity, price_cents, erp_modified, observed_at, synced_at, rules_version,
    erp_quantity, priced_cents, erp_price, erp_cost, erp_category, erp_hash, written_by, reconcile_verdict, reconciled_at)
SELECT DISTINCT ON (sku) sku, quantity, price_cents, erp_modified, observed_at, clock_timestamp(), rules_version,
    quantity, price_cents, erp_price, erp_cost, erp_category, erp_hash, written_by, reconcile_verdict,
    CASE WHEN reconcile_verdict IS NOT NULL THEN clock_timestamp() END
FROM upsert_rows
ORDER BY sku, observed_at DESC, erp_modified DESC
ON CONFLICT (sku) DO UPDATE SET
    quantity      = excluded.quantity,
    price_cents   = excluded.price_cents,
    erp_modified  = excluded.erp_modified,
    observed_at   = excluded.observed_at,
    synced_at     = excluded.synced_at,
    rules_version = excluded.rules_version,
    erp_quantity  = excluded.erp_quantity,
    priced_cents  = excluded.priced_cents,
    erp_price     = excluded.erp_price,
    erp_cost      = excluded.erp_cost,
    erp_category  = excluded.erp_category,
    erp_hash      = excluded.erp_hash,
    deleted_at    = NULL,
    written_by    = excluded.written_by,
    reconcile_verdict = coalesce(excluded.reconcile_verdict, t.reconcile_verdict),
    reconciled_at = CASE WHEN excluded.reconcile_verdict IS NULL THEN t.reconciled_at ELSE excluded.reconciled_at END
WHERE (excluded.observed_at, excluded.erp_modified) > (t.observed_at, t.erp_modified)
  AND (excluded.erp_modified <> t.erp_modified
       OR t.deleted_at IS NOT NULL
       OR (excluded.quantity, excluded.price_cents, excluded.erp_price, excluded.erp_cost, excluded.erp_category, excluded.erp_hash)
          IS DISTINCT FROM (t.quantity, t.price_cents, t.erp_price, t.erp_cost, t.erp_category, t.erp_hash))
RETURNING t.sku, (extract(epoch FROM t.synced_at - t.erp_modified) * 1000000)::bigint`

// Upsert applies items and reports which took effect. The items are copied
// into the session's scratch table and moved into the inventory by one
// guarded statement, in one transaction: COPY is the cheapest way into
// PostgreSQL, and the guard and de-duplication stay in SQL.
func (s *Store) Upsert(ctx context.Context, items []inventory.Item) (UpsertResult, error) {
	if len(items) == 0 {
		return UpsertResult{}, nil
	}
	var res UpsertResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"upsert_rows"}, upsertColumns,
			pgx.CopyFromSlice(len(items), func(i int) ([]any, error) {
				it := &items[i]
				return []any{it.SKU, it.Quantity, it.PriceCents, it.LastModified, it.ObservedAt, it.RulesVersion,
					it.Price, it.Cost, it.Category, hashOrNull(it.ERPHash), orNull(it.WrittenBy), orNull(it.Verdict)}, nil
			})); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, upsertSQL)
		var sku string
		var us int64
		_, err := pgx.ForEachRow(rows, []any{&sku, &us}, func() error {
			res.SKUs = append(res.SKUs, sku)
			res.Freshness = append(res.Freshness, time.Duration(us)*time.Microsecond)
			return nil
		})
		return err
	})
	if err != nil {
		return UpsertResult{}, fmt.Errorf("storefront upsert: %w", err)
	}
	res.Applied, res.Stale = len(res.SKUs), len(items)-len(res.SKUs)
	return res, nil
}

// IsTransient reports whether err is the storefront failing rather than
// refusing the rows: no connection, a serialization failure or deadlock,
// exhausted resources, a server shutting down or a cancelled statement.
// Retrying the same rows later can succeed. Any other error may be caused by
// one row (a check, a trigger raising, a row-level security policy) and is
// worth isolating.
func IsTransient(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true // no answer from the server: a connection or context error
	}
	if len(pgErr.Code) < 2 {
		return false
	}
	switch pgErr.Code[:2] {
	case "08", // connection exception
		"40", // transaction rollback: serialization failure, deadlock
		"53", // insufficient resources
		"57", // operator intervention: shutdown, statement cancelled
		"58": // system error
		return true
	}
	return pgErr.Code == "55P03" || pgErr.Code == "55006" // lock not available, object in use
}

// SQLState is err's SQLSTATE, or "" when the server did not answer.
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// orNull stores an empty text as NULL.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// hashOrNull stores an unknown fingerprint (zero) as NULL.
func hashOrNull(h int64) any {
	if h == 0 {
		return nil
	}
	return h
}
