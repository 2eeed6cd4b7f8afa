// Package erp reads the ERP's inventory view. It only ever issues SELECTs:
// keyset pages ordered by (LastModified, SKU), bounded above by a time the
// caller takes from the ERP's own clock, so rows still being committed are
// read on a later poll rather than skipped.
//
// Before the first query the types of the mapped columns are looked up, and
// statements and parameters are built to match them: the cursor's time is sent
// typed as the LastModified column (a SQL Server datetime, in 1/300 s ticks,
// compared with a datetime2 parameter would re-read or skip rows), and its SKU
// is compared in the SKU column's own type and collation, so the comparison
// orders SKUs as the ORDER BY does and the index is sought, not scanned.
//
// Every value is read as nullable text, numbers as exact decimal text, so that
// nothing a row holds makes a read fail: the caller decides, row by row, what
// can become a change. Each row comes with the ERP's fingerprint of it, which
// the reconcile compares chunk by chunk (Digest).
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
	// QueryTimeout bounds each ERP query; zero is DefaultQueryTimeout.
	QueryTimeout time.Duration
}

// DefaultQueryTimeout bounds an ERP query when Config sets no bound: long
// enough for a page of a large view, short enough that a hung query is
// cancelled and retried within the poll.
const DefaultQueryTimeout = time.Minute

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

// column is a view column's type as INFORMATION_SCHEMA.COLUMNS gives it.
type column struct {
	dataType  string // DATA_TYPE, lower case
	maxLength int64  // CHARACTER_MAXIMUM_LENGTH: -1 for max, 0 when none
	collation string // COLLATION_NAME, "" when none
}

// columnTypes are the types of the mapped columns; Cost and Category are
// zero when not mapped.
type columnTypes struct {
	SKU, Quantity, Price, Cost, Category, LastModified column
}

// keyset is a page statement and the count of the rows it pages through.
type keyset struct {
	page  string // args: the predicate's, then the limit
	count string // args: the predicate's
}

// dialect holds the statements of one SQL flavour for one view.
type dialect struct {
	// clock returns one row: the ERP's time as an instant, and the same
	// moment in the LastModified column's convention.
	clock string
	// first reads from the start, args (upTo); next after a cursor on a SKU,
	// args (time, sku, upTo); nextNull after a cursor on a NULL SKU, args
	// (time, upTo).
	first, next, nextNull keyset
	// future reads the rows dated after a time: args (after, limit).
	future string
	// The reads by SKU, for the reconcile. digest sums a chunk: args
	// (after, limit); rangeTo reads the rows after a SKU up to another:
	// args (after, through); rangeAll those after a SKU: args (after);
	// lookup those with the given SKUs: args (skuList(skus)).
	digest, rangeTo, rangeAll, lookup string
	// skuList binds the SKUs of a lookup as one parameter.
	skuList func([]string) (any, error)
	// timeArg types a time for comparison with the LastModified column.
	timeArg func(time.Time) any
	// readTime puts a scanned LastModified into the column's convention: an
	// instant in UTC, or a wall-clock time labelled UTC.
	readTime func(time.Time) time.Time
	// floor cuts a time to the column's precision.
	floor func(time.Time) time.Time
}

// after picks the statements and arguments that read the rows after c, up
// to upTo. Page and Backlog both use it, so they always agree.
func (d dialect) after(c inventory.Cursor, upTo time.Time) (keyset, []any) {
	switch {
	case c.IsZero():
		return d.first, []any{d.timeArg(upTo)}
	case c.SKUNull:
		return d.nextNull, []any{d.timeArg(c.LastModified), d.timeArg(upTo)}
	}
	return d.next, []any{d.timeArg(c.LastModified), c.SKU, d.timeArg(upTo)}
}

// Source reads the ERP view. It is safe for concurrent use, but the poller
// uses it from one activity at a time so the ERP sees one query at a time.
// It first talks to the ERP on its first query, inside that activity: even
// the lookup of the column types never runs beside a poll.
type Source struct {
	cfg     Config
	view    []string
	db      *sql.DB
	timeout time.Duration
	gate    Gate

	mu   sync.Mutex
	d    dialect
	kind TimeKind
}

// Gate makes the ERP queries of every worker of a deployment take turns. A
// process holds one ERP connection, so its own queries never overlap; but a
// poll on one worker, a reconcile step or an explanation on another are
// separate activities, and without a gate the ERP would see one query per
// worker. Enter waits for the turn; leave ends it.
type Gate interface {
	Enter(ctx context.Context) (leave func(), err error)
}

// Option sets up a Source.
type Option func(*Source)

// WithGate has every ERP query wait for its turn at g. The wait does not
// count against the query timeout. A gate that cannot be reached (its
// database down) does not stop the reads: the process still queries one at
// a time.
func WithGate(g Gate) Option { return func(s *Source) { s.gate = g } }

// turn waits for this query's turn at the gate, if there is one.
func (s *Source) turn(ctx context.Context) (leave func(), err error) {
	if s.gate == nil {
		return func() {}, nil
	}
	leave, err = s.gate.Enter(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return func() {}, nil
	}
	return leave, nil
}

// begin waits for a query's turn at the gate, then bounds the query by the
// timeout; end ends both.
func (s *Source) begin(ctx context.Context) (qctx context.Context, end func(), err error) {
	leave, err := s.turn(ctx)
	if err != nil {
		return nil, nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	return qctx, func() { cancel(); leave() }, nil
}

// Open validates cfg and sets up the connection pool; it does not connect.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == "" {
		cfg.Clock = ClockLocal
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
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
	src := &Source{cfg: cfg, view: view, db: db, timeout: cfg.QueryTimeout}
	for _, o := range opts {
		o(src)
	}
	return src, nil
}

// Prepare looks up the column types and builds the statements for them,
// once. Every query calls it first.
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
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return dialect{}, err
	}
	defer end()
	types, err := lookupColumns(ctx, s.db, s.cfg.Driver, s.view, s.cfg.Columns)
	if err != nil {
		return dialect{}, err
	}
	kind, err := KindOf(s.cfg.Driver, types.LastModified.dataType)
	if err != nil {
		return dialect{}, err
	}
	d := postgresDialect(s.view, s.cfg.Columns, types, kind, s.cfg.Clock)
	if s.cfg.Driver == DriverSQLServer {
		if d, err = sqlServerDialect(s.view, s.cfg.Columns, types, kind, s.cfg.Clock); err != nil {
			return dialect{}, err
		}
	}
	s.d, s.kind = d, kind
	return d, nil
}

// The lookup of the mapped columns' types: args (schema or NULL, view, then
// the six column names; an unmapped one is "" and matches nothing).
const (
	columnsPostgres = `SELECT column_name, data_type, character_maximum_length, collation_name FROM information_schema.columns
WHERE table_schema = coalesce($1::text, current_schema()) AND table_name = $2 AND column_name IN ($3, $4, $5, $6, $7, $8)`
	columnsSQLServer = `SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, COLLATION_NAME FROM INFORMATION_SCHEMA.COLUMNS
WHERE TABLE_SCHEMA = COALESCE(@p1, SCHEMA_NAME()) AND TABLE_NAME = @p2 AND COLUMN_NAME IN (@p3, @p4, @p5, @p6, @p7, @p8)`
)

// lookupColumns reads the mapped columns' types from INFORMATION_SCHEMA, in
// one query.
func lookupColumns(ctx context.Context, db *sql.DB, driver string, view []string, cols Columns) (columnTypes, error) {
	var schema any // nil: the user's default schema
	name := view[len(view)-1]
	if len(view) == 2 {
		schema = view[0]
	}
	q := columnsPostgres
	if driver == DriverSQLServer {
		q = columnsSQLServer
	}
	viewName := strings.Join(view, ".")
	rows, err := db.QueryContext(ctx, q, schema, name, cols.SKU, cols.Quantity, cols.Price, cols.Cost, cols.Category, cols.LastModified)
	if err != nil {
		return columnTypes{}, fmt.Errorf("erp: connect and read the column types of %s: %w", viewName, err)
	}
	defer rows.Close()
	found := map[string]column{}
	for rows.Next() {
		var (
			colName   string
			c         column
			maxLength sql.NullInt64
			collation sql.NullString
		)
		if err := rows.Scan(&colName, &c.dataType, &maxLength, &collation); err != nil {
			return columnTypes{}, fmt.Errorf("erp: read the column types of %s: %w", viewName, err)
		}
		c.dataType = strings.ToLower(c.dataType)
		c.maxLength, c.collation = maxLength.Int64, collation.String
		found[colName] = c
	}
	if err := rows.Err(); err != nil {
		return columnTypes{}, fmt.Errorf("erp: read the column types of %s: %w", viewName, err)
	}
	lookup := func(want string) (column, bool) {
		for got, c := range found {
			// SQL Server names are compared in the catalog's collation,
			// usually case-insensitive.
			if got == want || driver == DriverSQLServer && strings.EqualFold(got, want) {
				return c, true
			}
		}
		return column{}, false
	}
	var t columnTypes
	var missing []string
	for _, m := range []struct {
		name string
		dst  *column
	}{
		{cols.SKU, &t.SKU}, {cols.Quantity, &t.Quantity}, {cols.Price, &t.Price},
		{cols.Cost, &t.Cost}, {cols.Category, &t.Category}, {cols.LastModified, &t.LastModified},
	} {
		if m.name == "" {
			continue // an optional column that is not mapped
		}
		c, ok := lookup(m.name)
		if !ok {
			missing = append(missing, m.name)
			continue
		}
		*m.dst = c
	}
	if len(missing) > 0 {
		return columnTypes{}, fmt.Errorf("erp: view %s has no column %s, or this user may not read it", viewName, strings.Join(missing, ", "))
	}
	return t, nil
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

// Clock returns the ERP server's current time, read once, both as an instant
// and in the LastModified column's convention, each cut to the column's
// precision. Rows are bounded by the ERP's clock, never the gateway's, which
// may drift; the two readings come from one statement so that their
// difference is the ERP's UTC offset exactly (inventory.Clock.Offset), which
// drops when daylight saving ends.
func (s *Source) Clock(ctx context.Context) (inventory.Clock, error) {
	d, err := s.dialect(ctx)
	if err != nil {
		return inventory.Clock{}, err
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return inventory.Clock{}, err
	}
	defer end()
	var instant, wall time.Time
	if err := s.db.QueryRowContext(ctx, d.clock).Scan(&instant, &wall); err != nil {
		return inventory.Clock{}, fmt.Errorf("erp clock: %w", err)
	}
	// Both are cut alike: the offset is whole minutes, so it stays exact.
	return inventory.Clock{Instant: d.floor(instant.UTC()), Wall: d.floor(d.readTime(wall))}, nil
}

// Backlog counts the rows after the cursor whose LastModified is at most upTo:
// what is left to read. It counts exactly the rows Page pages through.
func (s *Source) Backlog(ctx context.Context, after inventory.Cursor, upTo time.Time) (int64, error) {
	d, err := s.dialect(ctx)
	if err != nil {
		return 0, err
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer end()
	k, args := d.after(after, upTo)
	var n int64
	if err := s.db.QueryRowContext(ctx, k.count, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("erp backlog after %s: %w", after, err)
	}
	return n, nil
}

// Page returns the rows after the cursor whose LastModified is at most upTo,
// in (LastModified, SKU) order as the ERP sorts it (SKUs in its collation,
// NULL SKUs last in PostgreSQL and first in SQL Server); this code never
// orders SKUs itself. Rows with a NULL LastModified have no place in the
// order and are never read.
//
// It returns limit rows, and with them every further row that ties with the
// last on (LastModified, SKU), so a page can be longer than limit. A cursor
// cannot tell apart rows that tie (several NULL SKUs at one time, or a view
// that repeats a SKU), so a page never ends among them: a walk from cursor to
// cursor reads each row exactly once. A page shorter than limit is the end.
func (s *Source) Page(ctx context.Context, after inventory.Cursor, upTo time.Time, limit int) ([]inventory.Row, error) {
	if limit < 1 {
		return nil, fmt.Errorf("erp page: limit %d, want at least 1", limit)
	}
	d, err := s.dialect(ctx)
	if err != nil {
		return nil, err
	}
	k, args := d.after(after, upTo)
	rows, err := s.read(ctx, d, k.page, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("erp page after %s: %w", after, err)
	}
	return rows, nil
}

// Future returns up to limit rows whose LastModified is after the given time,
// in (LastModified, SKU) order. Pages stop at the ERP clock, so a row dated
// in the future (9999-12-31) is otherwise never read; the caller passes the
// ERP clock plus an allowance and reports what this finds. It reads the end
// of the (LastModified, SKU) index, so it is cheap enough for every poll.
func (s *Source) Future(ctx context.Context, after time.Time, limit int) ([]inventory.Row, error) {
	if limit < 1 {
		return nil, fmt.Errorf("erp future rows: limit %d, want at least 1", limit)
	}
	d, err := s.dialect(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.read(ctx, d, d.future, d.timeArg(after), limit)
	if err != nil {
		return nil, fmt.Errorf("erp future rows after %s: %w", after.Format(time.RFC3339Nano), err)
	}
	return rows, nil
}

// read runs a statement that selects (sku, quantity, price, cost, category,
// last_modified, fingerprint), the first five as text.
func (s *Source) read(ctx context.Context, d dialect, stmt string, args ...any) ([]inventory.Row, error) {
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []inventory.Row
	for rows.Next() {
		var (
			r                               inventory.Row
			sku, qty, price, cost, category sql.NullString
		)
		if err := rows.Scan(&sku, &qty, &price, &cost, &category, &r.LastModified, &r.Hash); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		r.SKU, r.Quantity, r.Price, r.Cost, r.Category = text(sku), text(qty), text(price), text(cost), text(category)
		r.LastModified = d.readTime(r.LastModified)
		out = append(out, r)
	}
	return out, rows.Err()
}

func text(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

// asWall relabels a wall-clock time as UTC without moving its fields: the
// drivers may attach a location to a time that has none.
func asWall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// asInstant is an instant in UTC.
func asInstant(t time.Time) time.Time { return t.UTC() }
