package storefront

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ERPGate is a turn at an advisory lock of the storefront's PostgreSQL,
// which every worker of a deployment reaches: the ERP queries of all of them
// for one source take turns (an erp.Gate). A worker that dies holding it
// loses its session, and the lock with it. It has connections of its own,
// so busy upserts never keep the ERP waiting for one.
type ERPGate struct {
	pool *pgxpool.Pool
	key  string
}

// gateConnect bounds the wait for a connection to the storefront: one that
// does not answer must not hold the ERP reads up (they then go on, one at a
// time per worker, without the gate).
const gateConnect = 5 * time.Second

// OpenERPGate connects the gate of the ERP queries for source; it does not
// connect until the first turn.
func OpenERPGate(ctx context.Context, dsn, source string) (*ERPGate, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("storefront: erp gate: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storefront: erp gate: %w", err)
	}
	return &ERPGate{pool: pool, key: "invsync-erp:" + source}, nil
}

// Close closes the gate's connections; a turn held ends with them.
func (g *ERPGate) Close() { g.pool.Close() }

// Enter waits for the turn: it holds a connection with the lock until leave
// is called.
func (g *ERPGate) Enter(ctx context.Context) (leave func(), err error) {
	actx, cancel := context.WithTimeout(ctx, gateConnect)
	conn, err := g.pool.Acquire(actx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("storefront: erp gate: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, g.key); err != nil {
		// Cancelled while waiting, or the server went away: closing the
		// session drops a lock it may have got meanwhile.
		closeConn(conn)
		return nil, fmt.Errorf("storefront: erp gate: %w", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, g.key); err != nil {
			closeConn(conn)
			return
		}
		conn.Release()
	}, nil
}

// closeConn closes a pooled connection's session and gives it back; the
// pool then drops it.
func closeConn(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Conn().Close(ctx)
	conn.Release()
}
