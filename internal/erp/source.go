// Package erp reads changed rows from the ERP's inventory view. It only ever
// issues SELECTs: keyset pages ordered by (LastModified, SKU), bounded above by
// the ERP's own clock minus a settle delay so rows still being committed are
// read on a later poll rather than skipped.
//
// The LastModified column's SQL type is looked up before the first query, and
// the cursor is sent back typed to match: a SQL Server datetime (1/300 s ticks) compared
// with a datetime2 parameter would re-read or skip rows.
package erp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
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

// Clock conventions for a LastModified column without a UTC offset.
const (
	// ClockLocal: the ERP writes its server's local time (GETDATE(),
	// SYSDATETIME(), LOCALTIMESTAMP).
	ClockLocal = "local"
	// ClockUTC: the ERP writes UTC (GETUTCDATE(), SYSUTCDATETIME()).
	ClockUTC = "utc"
)

// Columns maps the view's column names onto the fields of a change. Cost
// and Category are optional.
type Columns struct {
	SKU          string
	Quantity     string
	Price        string
	Cost         string
	Category     string
	LastModified string
}

// Config says which view to read and how.
type Config struct {
	Driver  string // DriverPostgres or DriverSQLServer
	DSN     string
	View    string // "view" or "schema.view"
	Columns Columns
	// Clock is ClockLocal or ClockUTC: how the ERP writes a LastModified
	// that carries no offset. It picks the ERP clock function the settle
	// bound is taken from. Columns with an offset ignore it.
	Clock string
	// QueryTimeout bounds each ERP query (default one minute).
	QueryTimeout time.Duration
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Validate checks the names before any of them reaches a SQL statement.
func (c Config) Validate() error {
	var errs []error
	if c.Driver != DriverPostgres && c.Driver != DriverSQLServer {
		errs = append(errs, fmt.Errorf("erp driver %q: want %q or %q", c.Driver, DriverPostgres, DriverSQLServer))
	}
	if c.DSN == "" {
		errs = append(errs, errors.New("erp dsn is empty"))
	}
	if _, err := splitView(c.View); err != nil {
		errs = append(errs, err)
	}
	for _, col := range []struct{ name, value string }{
		{"sku", c.Columns.SKU}, {"quantity", c.Columns.Quantity}, {"price", c.Columns.Price},
		{"last_modified", c.Columns.LastModified}, {"cost", c.Columns.Cost}, {"category", c.Columns.Category},
	} {
		optional := col.name == "cost" || col.name == "category"
		if !(optional && col.value == "") && !identifier.MatchString(col.value) {
			errs = append(errs, fmt.Errorf("erp %s column %q is not a plain identifier", col.name, col.value))
		}
	}
	if c.Clock != "" && c.Clock != ClockLocal && c.Clock != ClockUTC {
		errs = append(errs, fmt.Errorf("erp clock %q: want %q or %q", c.Clock, ClockLocal, ClockUTC))
	}
	if c.QueryTimeout < 0 {
		errs = append(errs, errors.New("erp query timeout must not be negative"))
	}
	return errors.Join(errs...)
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

// TimeKind is the family of the LastModified column's SQL type.
type TimeKind int

const (
	// Instant: datetimeoffset, timestamptz.
	Instant TimeKind = iota + 1
	// Wall: datetime2, timestamp; a wall-clock time without offset.
	Wall
	// Ticks: SQL Server datetime and smalldatetime, in 1/300 s ticks.
	Ticks
)

func (k TimeKind) String() string {
	switch k {
	case Instant:
		return "instant"
	case Wall:
		return "wall clock"
	case Ticks:
		return "datetime ticks"
	}
	return "unknown"
}

// dialect holds the statements of one SQL flavour for one column type.
type dialect struct {
	clock      string
	first      string // page from the start: args (upTo, limit)
	next       string // page after a cursor: args (cursorTime, cursorSKU, upTo, limit)
	countFirst string // rows up to a time: args (upTo)
	countNext  string // rows after a cursor up to a time: args (cursorTime, cursorSKU, upTo)
	// timeArg types a time for comparison with the LastModified column.
	timeArg func(time.Time) any
	// floor cuts a time to the column's precision.
	floor func(time.Time) time.Time
}

// Source reads the ERP view. It is safe for concurrent use, but the poller
// uses it from one activity at a time so the ERP sees one query at a time.
// It first talks to the ERP on its first query, inside that activity: even
// the lookup of the column's type never runs beside a poll.
type Source struct {
	cfg     Config
	view    []string
	db      *sql.DB
	timeout time.Duration

	mu   sync.Mutex
	d    dialect
	kind TimeKind
}

// Open validates cfg and sets up the connection pool; it does not connect.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == "" {
		cfg.Clock = ClockLocal
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = time.Minute
	}
	view, _ := splitView(cfg.View)
	driverName := "pgx"
	if cfg.Driver == DriverSQLServer {
		driverName = "sqlserver"
	}
	db, err := sql.Open(driverName, cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("erp: %w", err)
	}
	// One connection: this process never asks the ERP two things at once.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &Source{cfg: cfg, view: view, db: db, timeout: cfg.QueryTimeout}, nil
}

// Prepare looks up the LastModified column's type and builds the statements
// for it, once. Every query calls it first.
func (s *Source) Prepare(ctx context.Context) error {
	_, err := s.dialect(ctx)
	return err
}

func (s *Source) dialect(ctx context.Context) (dialect, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kind != 0 {
		return s.d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	kind, err := columnKind(ctx, s.db, s.cfg.Driver, s.view, s.cfg.Columns.LastModified)
	if err != nil {
		return dialect{}, err
	}
	if s.cfg.Driver == DriverSQLServer {
		s.d = sqlServerDialect(s.view, s.cfg.Columns, kind, s.cfg.Clock)
	} else {
		s.d = postgresDialect(s.view, s.cfg.Columns, kind, s.cfg.Clock)
	}
	s.kind = kind
	return s.d, nil
}

// columnKind reads the LastModified column's type from INFORMATION_SCHEMA.
func columnKind(ctx context.Context, db *sql.DB, driver string, view []string, column string) (TimeKind, error) {
	var schema any // nil: the user's default schema
	name := view[len(view)-1]
	if len(view) == 2 {
		schema = view[0]
	}
	q := `SELECT data_type FROM information_schema.columns
WHERE table_schema = coalesce($1::text, current_schema()) AND table_name = $2 AND column_name = $3`
	if driver == DriverSQLServer {
		q = `SELECT DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS
WHERE TABLE_SCHEMA = COALESCE(@p1, SCHEMA_NAME()) AND TABLE_NAME = @p2 AND COLUMN_NAME = @p3`
	}
	var typ string
	err := db.QueryRowContext(ctx, q, schema, name, column).Scan(&typ)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("erp: view %s has no column %s, or this user may not read it", strings.Join(view, "."), column)
	}
	if err != nil {
		return 0, fmt.Errorf("erp: connect and read the type of %s.%s: %w", strings.Join(view, "."), column, err)
	}
	return KindOf(driver, typ)
}

// KindOf maps an INFORMATION_SCHEMA data type onto a TimeKind.
func KindOf(driver, dataType string) (TimeKind, error) {
	switch strings.ToLower(dataType) {
	case "datetimeoffset", "timestamp with time zone":
		return Instant, nil
	case "datetime2", "timestamp without time zone":
		return Wall, nil
	case "datetime", "smalldatetime":
		if driver == DriverSQLServer {
			return Ticks, nil
		}
	}
	return 0, fmt.Errorf("erp: the last-modified column is of type %s; want a date and time type (%s)", dataType,
		map[string]string{
			DriverSQLServer: "datetime, datetime2, datetimeoffset, smalldatetime",
			DriverPostgres:  "timestamp, timestamptz",
		}[driver])
}

// Kind is the LastModified column's type family; 0 before Prepare.
func (s *Source) Kind() TimeKind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kind
}

// Close releases the connection.
func (s *Source) Close() error { return s.db.Close() }

// Clock returns the ERP server's current time, in the column's convention
// and cut to its precision. The settle bound is computed from it, never from
// the gateway's clock, which may drift.
func (s *Source) Clock(ctx context.Context) (time.Time, error) {
	d, err := s.dialect(ctx)
	if err != nil {
		return time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var now time.Time
	if err := s.db.QueryRowContext(ctx, d.clock).Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("erp clock: %w", err)
	}
	return d.floor(now.UTC()), nil
}

// Backlog counts the rows after the cursor whose LastModified is at most upTo:
// what is left to read. It walks the same index range a page read does.
func (s *Source) Backlog(ctx context.Context, after inventory.Cursor, upTo time.Time) (int64, error) {
	d, err := s.dialect(ctx)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var row *sql.Row
	if after.IsZero() {
		row = s.db.QueryRowContext(ctx, d.countFirst, d.timeArg(upTo))
	} else {
		row = s.db.QueryRowContext(ctx, d.countNext, d.timeArg(after.LastModified), after.SKU, d.timeArg(upTo))
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
	d, err := s.dialect(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var rows *sql.Rows
	if after.IsZero() {
		rows, err = s.db.QueryContext(ctx, d.first, d.timeArg(upTo), limit)
	} else {
		rows, err = s.db.QueryContext(ctx, d.next, d.timeArg(after.LastModified), after.SKU, d.timeArg(upTo), limit)
	}
	if err != nil {
		return nil, fmt.Errorf("erp page after %s: %w", after, err)
	}
	defer rows.Close()
	out := make([]inventory.Change, 0, limit)
	for rows.Next() {
		var (
			c                     inventory.Change
			qty                   sql.NullInt64
			price, cost, category sql.NullString
		)
		if err := rows.Scan(&c.SKU, &qty, &price, &cost, &category, &c.LastModified); err != nil {
			return nil, fmt.Errorf("erp page: scan: %w", err)
		}
		c.Quantity = nullable(qty.Int64, qty.Valid)
		c.Price = nullable(price.String, price.Valid)
		c.Cost = nullable(cost.String, cost.Valid)
		c.Category = nullable(category.String, category.Valid)
		c.LastModified = c.LastModified.UTC()
		c.ObservedAt = observedAt
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("erp page: %w", err)
	}
	return out, nil
}

func nullable[T any](v T, valid bool) *T {
	if !valid {
		return nil
	}
	return &v
}
