// Command demoerp runs the demo ERP: "setup" creates and seeds it, "churn"
// changes rows until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/invsync/invsync/dev/demoerp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demoerp:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: demoerp setup|churn [flags]")
	}
	fs := flag.NewFlagSet("demoerp "+args[0], flag.ContinueOnError)
	dsn := fs.String("dsn", envOr("DEMO_ERP_DSN", "postgres://postgres@127.0.0.1:5432/invsync_erp?sslmode=disable"), "demo ERP database, as its owner ($DEMO_ERP_DSN)")
	skus := fs.Int("skus", 100000, "SKUs to seed into an empty demo ERP")
	rate := fs.Float64("rate", 20, "changes a second")
	invalid := fs.Float64("invalid", 0.02, "share of changes that make a row invalid")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := pgxpool.New(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "setup":
		start := time.Now()
		n, err := demoerp.Setup(ctx, db, *skus)
		if err != nil {
			return err
		}
		fmt.Printf("demo ERP ready: %d SKUs in view %s (%.1fs)\n", n, demoerp.View, time.Since(start).Seconds())
		return nil
	case "churn":
		var valid, bad atomic.Int64
		fmt.Printf("changing %.0f rows/s, %.0f%% of them invalid\n", *rate, *invalid*100)
		err := demoerp.Churn(ctx, db, *rate, *invalid, func(ok bool) {
			if ok {
				valid.Add(1)
			} else {
				bad.Add(1)
			}
		})
		fmt.Printf("made %d valid and %d invalid changes\n", valid.Load(), bad.Load())
		return err
	}
	return fmt.Errorf("unknown command %q: want setup or churn", args[0])
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
