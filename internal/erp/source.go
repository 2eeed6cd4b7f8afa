// Package erp reads changed rows from the ERP's inventory view. It only ever
// issues SELECTs: keyset pages ordered by (LastModified, SKU), bounded above by
// the ERP's own clock minus a settle delay so rows still being committed are
// read on a later poll rather than skipped.
package erp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"  // driver "pgx"
	_ "github.com/microsoft/go-mssqldb" // driver "sqlserver"

	"github.com/invsync/invsync/internal/inventory"
)

// Driver names, as given in configuration.
const (
	DriverPostgres  = "postgres"
	DriverSQLServer = "sqlserver"
)

// Columns maps the view's column names onto the fields of a change.
type Columns struct {
	SKU          string
	Quantity     string
	Price        string
	LastModified string
}

// Config says which view to read and how.
type Config struct {
	Driver  string // DriverPostgres or DriverSQLServer
	DSN     string
	View    string // "view" or "schema.view"
	Columns Columns
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Validate checks the names before any of them reaches a SQL statement.
func (c Config) Validate() error {
	if c.Driver != DriverPostgres && c.Driver != DriverSQLServer {
		return fmt.Errorf("erp driver %q: want %q or %q", c.Driver, DriverPostgres, DriverSQLServer)
	}
	if c.DSN == "" {
		return errors.New("erp dsn is empty")
	}
	if _, err := splitView(c.View); err != nil {
		return err
	}
	for name, col := range map[string]string{
		"sku": c.Columns.SKU, "quantity": c.Columns.Quantity,
		"price": c.Columns.Price, "last_modified": c.Columns.LastModified,
	} {
		if !identifier.MatchString(col) {
			return fmt.Errorf("erp %s column %q is not a plain identifier", name, col)
		}
	}
	return nil
}

func splitView(view string) ([]string, error) {
	parts := strings.Split(view, ".")
	if len(parts) > 2 {
		return nil, fmt.Errorf("erp view %q: want view or schema.view", view)
	}
	for _, p := range parts {
		if !identifier.MatchString(p) {
			return nil, fmt.Errorf("erp view %q: %q is not a plain identifier", view, p)
		}
	}
	return parts, nil
}

// dialect holds the statements of one SQL flavour.
type dialect struct {
	driverName string
	clock      string
	first      string // page from the start: args (upTo, limit)
	next       string // page after a cursor: args (cursorTime, cursorSKU, upTo, limit)
	countFirst string // rows up to a time: args (upTo)
	countNext  string // rows after a cursor up to a time: args (cursorTime, cursorSKU, upTo)
	timeArg    func(time.Time) any
}

// Source reads the ERP view. It is safe for concurrent use, but the poller
// uses it from one activity at a time so the ERP sees one query at a time.
type Source struct {
	db *sql.DB
	d  dialect
}

// Open validates cfg and connects. The connection pool is held to one
// connection: the ERP is never asked two things at once by this process.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := newDialect(cfg)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(d.driverName, cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("erp: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("erp: connect: %w", err)
	}
	return &Source{db: db, d: d}, nil
}

func newDialect(cfg Config) (dialect, error) {
	parts, err := splitView(cfg.View)
	if err != nil {
		return dialect{}, err
	}
	switch cfg.Driver {
	case DriverPostgres:
		return postgresDialect(parts, cfg.Columns), nil
	case DriverSQLServer:
		return sqlServerDialect(parts, cfg.Columns), nil
	}
	return dialect{}, fmt.Errorf("erp driver %q is not supported", cfg.Driver)
}

// Close releases the connection.
func (s *Source) Close() error { return s.db.Close() }

// Ping checks the ERP is reachable.
func (s *Source) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Clock returns the ERP server's current time. The settle bound is computed
// from it, never from the gateway's clock, which may drift.
func (s *Source) Clock(ctx context.Context) (time.Time, error) {
	var now time.Time
	if err := s.db.QueryRowContext(ctx, s.d.clock).Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("erp clock: %w", err)
	}
	return now, nil
}

// Backlog counts the rows after the cursor whose LastModified is at most upTo:
// what is left to read. It walks the same index range a page read does.
func (s *Source) Backlog(ctx context.Context, after inventory.Cursor, upTo time.Time) (int64, error) {
	var row *sql.Row
	if after.IsZero() {
		row = s.db.QueryRowContext(ctx, s.d.countFirst, s.d.timeArg(upTo))
	} else {
		row = s.db.QueryRowContext(ctx, s.d.countNext, s.d.timeArg(after.LastModified), after.SKU, s.d.timeArg(upTo))
	}
	var n int64
	if err := row.Scan(&n); err != nil {
		return 0, fmt.Errorf("erp backlog after %s: %w", after, err)
	}
	return n, nil
}

// Page returns up to limit rows after the cursor whose LastModified is at most
// upTo, in (LastModified, SKU) order. The ERP compares SKUs in its own
// collation; this code never orders SKUs itself. Each change is stamped with
// observedAt.
func (s *Source) Page(ctx context.Context, after inventory.Cursor, upTo time.Time, limit int, observedAt time.Time) ([]inventory.Change, error) {
	var rows *sql.Rows
	var err error
	if after.IsZero() {
		rows, err = s.db.QueryContext(ctx, s.d.first, s.d.timeArg(upTo), limit)
	} else {
		rows, err = s.db.QueryContext(ctx, s.d.next, s.d.timeArg(after.LastModified), after.SKU, s.d.timeArg(upTo), limit)
	}
	if err != nil {
		return nil, fmt.Errorf("erp page after %s: %w", after, err)
	}
	defer rows.Close()
	out := make([]inventory.Change, 0, limit)
	for rows.Next() {
		var (
			c     inventory.Change
			qty   sql.NullInt64
			price sql.NullString
		)
		if err := rows.Scan(&c.SKU, &qty, &price, &c.LastModified); err != nil {
			return nil, fmt.Errorf("erp page: scan: %w", err)
		}
		if qty.Valid {
			c.Quantity = &qty.Int64
		}
		if price.Valid {
			c.Price = &price.String
		}
		c.LastModified = c.LastModified.UTC()
		c.ObservedAt = observedAt
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("erp page: %w", err)
	}
	return out, nil
}
