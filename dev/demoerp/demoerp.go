// Package demoerp is a stand-in for the ERP on a PostgreSQL database: an
// items table whose last_modified a trigger sets on every write, the
// v_inventory view the poller reads, a seeder and a change generator.
package demoerp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// View is the view the poller reads.
const View = "v_inventory"

// Reader is the login the pipeline reads the demo ERP as: it may SELECT from
// the view and nothing else, as on a production ERP.
const Reader = "invsync_erp_reader"

const schema = `
CREATE TABLE IF NOT EXISTS erp_items (
    sku           text PRIMARY KEY,
    quantity      integer,
    price         numeric(12,2),
    last_modified timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE erp_items ADD COLUMN IF NOT EXISTS cost numeric(12,2);
ALTER TABLE erp_items ADD COLUMN IF NOT EXISTS category text;
CREATE INDEX IF NOT EXISTS erp_items_last_modified ON erp_items (last_modified, sku);
CREATE OR REPLACE FUNCTION erp_items_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_modified := clock_timestamp();
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS erp_items_touch ON erp_items;
CREATE TRIGGER erp_items_touch BEFORE INSERT OR UPDATE ON erp_items
    FOR EACH ROW EXECUTE FUNCTION erp_items_touch();
CREATE OR REPLACE VIEW v_inventory AS
    SELECT sku, quantity, price, last_modified, cost, category FROM erp_items;
`

// Setup creates the schema if it is missing and, if the table is empty,
// seeds n SKUs. It returns the number of rows in the table.
func Setup(ctx context.Context, db *pgxpool.Pool, n int) (int, error) {
	if _, err := db.Exec(ctx, schema); err != nil {
		return 0, fmt.Errorf("demo erp schema: %w", err)
	}
	if err := grantReader(ctx, db); err != nil {
		return 0, err
	}
	var rows int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM erp_items`).Scan(&rows); err != nil {
		return 0, err
	}
	if rows > 0 {
		return rows, nil
	}
	tag, err := db.Exec(ctx, `
		INSERT INTO erp_items (sku, quantity, price, cost, category)
		SELECT 'SKU-' || lpad(g::text, 7, '0'),
		       (g::bigint * 7919) % 500,
		       ((g::bigint * 104729) % 100000) / 100.0 + 0.99,
		       round(((g::bigint * 104729) % 100000) / 160.0, 2),
		       (ARRAY['tools', 'garden', 'electronics', 'kitchen'])[1 + g % 4]
		FROM generate_series(1, $1::int) g`, n)
	if err != nil {
		return 0, fmt.Errorf("demo erp seed: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// grantReader creates the Reader login if it is missing (roles are shared by
// the server's databases, so concurrent setups may race to create it) and
// lets it read the view of this database only.
func grantReader(ctx context.Context, db *pgxpool.Pool) error {
	_, err := db.Exec(ctx, `
DO $$ BEGIN
    CREATE ROLE `+Reader+` LOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$`)
	if err != nil {
		return fmt.Errorf("demo erp reader role: %w", err)
	}
	var dbName string
	if err := db.QueryRow(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		return err
	}
	for _, stmt := range []string{
		`GRANT CONNECT ON DATABASE ` + pgxIdent(dbName) + ` TO ` + Reader,
		`GRANT USAGE ON SCHEMA public TO ` + Reader,
		`GRANT SELECT ON ` + View + ` TO ` + Reader,
	} {
		if _, err := db.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("demo erp reader: %w", err)
		}
	}
	return nil
}

func pgxIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Churn changes random SKUs at about rate rows a second until ctx is done.
// A share of the changes (0..1) makes a row invalid: a negative price or
// quantity, or a missing quantity, as a broken ERP entry would.
func Churn(ctx context.Context, db *pgxpool.Pool, rate float64, invalidShare float64, onChange func(valid bool)) error {
	var skus int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM erp_items`).Scan(&skus); err != nil {
		return err
	}
	if skus == 0 || rate <= 0 {
		return fmt.Errorf("nothing to churn: %d skus at rate %v", skus, rate)
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		sku := fmt.Sprintf("SKU-%07d", 1+rand.IntN(skus))
		valid := rand.Float64() >= invalidShare
		var stmt string
		switch {
		case valid:
			stmt = `UPDATE erp_items SET quantity = floor(random() * 500), price = round((random() * 1000)::numeric, 2) WHERE sku = $1`
		case rand.IntN(3) == 0:
			stmt = `UPDATE erp_items SET price = -1 WHERE sku = $1`
		case rand.IntN(2) == 0:
			stmt = `UPDATE erp_items SET quantity = -5 WHERE sku = $1`
		default:
			stmt = `UPDATE erp_items SET quantity = NULL WHERE sku = $1`
		}
		if _, err := db.Exec(ctx, stmt, sku); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if onChange != nil {
			onChange(valid)
		}
	}
}
