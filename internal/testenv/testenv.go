// Package testenv gives integration tests their own PostgreSQL databases and
// RabbitMQ names on the machine's servers, and removes them afterwards; and,
// for tests that stop or kill a service, private RabbitMQ nodes, PostgreSQL
// clusters and Temporal dev servers of their own (services.go), so the
// machine's services stay up.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/invsync/invsync/internal/queue"
)

// PostgresURL is the server's admin URL: $INVSYNC_TEST_POSTGRES or the local
// trust-auth server.
func PostgresURL() string {
	if v := os.Getenv("INVSYNC_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// AMQPURL is the broker: $INVSYNC_TEST_AMQP or the local one.
func AMQPURL() string {
	if v := os.Getenv("INVSYNC_TEST_AMQP"); v != "" {
		return v
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// Name returns a fresh lowercase name with the prefix.
func Name(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Database creates an empty database, drops it when the test ends, and
// returns its URL.
func Database(t testing.TB, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, PostgresURL())
	if err != nil {
		t.Fatalf("PostgreSQL is needed at %s (dev/test starts it): %v", PostgresURL(), err)
	}
	defer admin.Close(ctx)
	name := Name(prefix)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, PostgresURL())
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(PostgresURL())
	u.Path = "/" + name
	return u.String()
}

// Exec runs statements on a database, failing the test on error.
func Exec(t testing.TB, dsn string, sql ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range sql {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", strings.SplitN(s, "\n", 2)[0], err)
		}
	}
}

// Topology returns a RabbitMQ topology of its own, deleted when the test ends.
func Topology(t testing.TB) queue.Topology {
	t.Helper()
	topo := queue.Topology{Prefix: Name("invsync_test"), DeliveryLimit: 5}
	conn, err := amqp.Dial(AMQPURL())
	if err != nil {
		t.Fatalf("RabbitMQ is needed at 127.0.0.1:5672 (dev/test starts it): %v", err)
	}
	conn.Close()
	t.Cleanup(func() {
		conn, err := amqp.Dial(AMQPURL())
		if err != nil {
			t.Errorf("clean up %s: %v", topo.Prefix, err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("clean up %s: %v", topo.Prefix, err)
			return
		}
		defer ch.Close()
		for _, q := range []string{topo.ChangesQueue(), topo.DeadLetterQueue()} {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
		for _, x := range []string{topo.Exchange(), topo.DeadLetterExchange()} {
			_ = ch.ExchangeDelete(x, false, false)
		}
	})
	return topo
}

// Drain takes up to n messages off a queue (acking them), waiting up to
// timeout for them to arrive.
func Drain(t testing.TB, queueName string, n int, timeout time.Duration) []amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	var out []amqp.Delivery
	deadline := time.Now().Add(timeout)
	for len(out) < n && time.Now().Before(deadline) {
		d, ok, err := ch.Get(queueName, false)
		if err != nil {
			t.Fatalf("get from %s: %v", queueName, err)
		}
		if !ok {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}
