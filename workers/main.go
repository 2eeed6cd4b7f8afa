// Command workers is the gateway process: the Temporal workers of the poller
// and of ApplyChanges, and the RabbitMQ consumers that feed ApplyChanges.
//
// It stops gracefully on SIGTERM or SIGINT: the consumers stop taking
// deliveries (those not yet handed to Temporal go back to the queue), then the
// workers finish their running activities.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/config"
	"github.com/invsync/invsync/internal/consumer"
	"github.com/invsync/invsync/internal/erp"
	"github.com/invsync/invsync/internal/logging"
	"github.com/invsync/invsync/internal/monitor"
	"github.com/invsync/invsync/internal/pricing"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/telemetry"
	"github.com/invsync/invsync/internal/version"
	"github.com/invsync/invsync/workflows"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "-version", "--version":
			fmt.Println("workers", version.String())
			return
		case "-healthcheck", "--healthcheck":
			os.Exit(healthcheck(os.Args[2:]))
		}
	}
	cfg, rest, err := config.Load("workers", os.Args[1:])
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments %q", rest)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "workers:", err)
		os.Exit(2)
	}
	log, err := logging.New(cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workers:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("workers stopped", "error", err)
		os.Exit(1)
	}
	log.Info("workers stopped")
}

// codecHandler is the codec endpoint the Web UI and the CLI decode payloads
// through, nil when payloads are not encrypted.
func codecHandler(cfg config.Config) http.Handler {
	if pc := cfg.PayloadCodec(); pc != nil {
		return pc.Handler(cfg.Codec.Origins())
	}
	return nil
}

// stickyTimeout is how long a workflow task waits for the worker that holds
// the workflow in its cache before any worker may take it. A worker that
// died holds up the poller's next task that long (Temporal's default is
// 5 s), while a live worker answers its sticky queue in milliseconds.
const stickyTimeout = 2 * time.Second

func run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	log.Info("starting workers",
		"temporal", cfg.TemporalAddress, "namespace", cfg.TemporalNamespace, "temporal_security", cfg.TemporalSecurity(),
		"erp_driver", cfg.ERP.Driver, "erp", logging.Redact(cfg.ERP.DSN), "erp_view", cfg.ERP.View,
		"store", logging.Redact(cfg.StoreDSN), "amqp", logging.Redact(cfg.AMQPURL), "queue_prefix", cfg.QueuePrefix,
		"consumers", cfg.Consumers, "batch_size", cfg.BatchSize)

	if err := storefront.Migrate(ctx, cfg.StoreDSN); err != nil {
		return err
	}
	store, err := storefront.Open(ctx, cfg.StoreDSN, storefront.WithMaxConns(cfg.StoreConnections))
	if err != nil {
		return err
	}
	defer store.Close()
	if cfg.ERP.Driver == erp.DriverSQLServer {
		warnings, err := erp.CheckSQLServerDSN(cfg.ERP.DSN)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			log.Warn(w)
		}
	}
	// Every ERP query of every worker of this source takes its turn at one
	// lock in the storefront: the poller, a reconcile step and an
	// explanation on different workers never query the ERP at once.
	gate, err := storefront.OpenERPGate(ctx, cfg.StoreDSN, cfg.Source)
	if err != nil {
		return err
	}
	defer gate.Close()
	source, err := erp.Open(ctx, cfg.ERP, erp.WithGate(gate))
	if err != nil {
		return err
	}
	defer source.Close()
	topo := cfg.Topology()
	publisher := queue.NewPublisher(cfg.AMQPURL, topo)
	defer publisher.Close()

	tel, err := telemetry.Setup(ctx, telemetry.Options{Service: "invsync-worker", OTLPEndpoint: cfg.OTLPEndpoint})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("telemetry shutdown", "error", err)
		}
	}()
	opts, err := cfg.ClientOptions(log)
	if err != nil {
		return err
	}
	opts.MetricsHandler = tel.TemporalMetrics()
	if opts.Interceptors, err = tel.TemporalInterceptors(); err != nil {
		return err
	}
	tc, err := client.DialContext(ctx, opts)
	if err != nil {
		return cfg.DialError(err)
	}
	defer tc.Close()

	// The background work (rules reloads, the HTTP server, the monitor)
	// outlives the consumers and the Temporal workers, so /metrics answers
	// during a graceful stop; it ends when run returns.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopBG()

	var rules activities.RuleSource
	// The Reprice workflow hears of the rules this worker loads, so that
	// stored rows follow them.
	announce := newRulesAnnouncer(tc, cfg, log)
	version := pricing.None().Version
	if cfg.PricingRules != "" {
		// A bad rules file stops the worker here; later, a bad edit is
		// logged and the rules before it stay in force.
		w, err := pricing.Watch(cfg.PricingRules, log)
		if err != nil {
			return err
		}
		log.Info("pricing rules loaded", "path", cfg.PricingRules, "version", w.Current().Version)
		rules, version = w, w.Current().Version
		w.OnReload(func(r *pricing.Rules) { announce.rules(r.Version) })
		wg.Go(func() { w.Run(bg, 2*time.Second) })
	}
	announce.rules(version)
	wg.Go(func() { announce.run(ctx) })

	stuck := activities.NewStuckBatches()
	depths := queue.Depths{
		Management: queue.Management{URL: cfg.RabbitMQManagementURL, AMQPURL: cfg.AMQPURL, Client: &http.Client{Timeout: 3 * time.Second}},
		Publisher:  publisher,
	}
	mon, err := monitor.New(monitor.Config{
		Poller:       monitor.PollerQuery{Client: tc, WorkflowID: workflows.PollWorkflowID(cfg.Source)},
		Reprice:      monitor.RepriceQuery{Client: tc, WorkflowID: workflows.RepriceWorkflowID(cfg.Source)},
		Reconciles:   monitor.ReconcileQuery{Client: tc, Namespace: cfg.TemporalNamespace, ScheduleID: workflows.ReconcileWorkflowID(cfg.Source)},
		Queues:       depths,
		ChangesQueue: topo.ChangesQueue(),
		DeadLetters:  store,
		Totals:       tel.Totals,
		Checks: map[string]func(context.Context) error{
			"temporal": func(ctx context.Context) error {
				_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
				return err
			},
			"rabbitmq": func(ctx context.Context) error {
				_, err := publisher.ChangesReady(ctx)
				return err
			},
			"postgres": store.Ping,
		},
		WebUI:     cfg.TemporalUI,
		Namespace: cfg.TemporalNamespace,
		PollerID:  workflows.PollWorkflowID(cfg.Source),
		Codec:     codecHandler(cfg),
		Logger:    log,
	}, tel.Meter)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	wg.Go(func() {
		if err := monitor.ServeListener(bg, ln, withExplain(mon.Handler(tel.Handler()), newExplainHandler(tc, cfg))); err != nil {
			log.Error("http server", "error", err)
		}
	})
	wg.Go(func() { mon.Run(bg) })
	log.Info("status page and metrics", "url", "http://"+ln.Addr().String()+"/")
	if pc := cfg.PayloadCodec(); pc != nil {
		log.Info("payloads encrypted", "key_id", pc.EncryptingKeyID(), "codec_endpoint", "http://"+ln.Addr().String()+"/codec")
	}

	// The ERP worker runs one poll activity at a time, and the task queue
	// caps how many start per second across every worker process.
	erpWorker := worker.New(tc, cfg.ERPTaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: 1,
		TaskQueueActivitiesPerSecond:       cfg.ERPPollsPerSecond,
		WorkerStopTimeout:                  30 * time.Second,
		StickyScheduleToStartTimeout:       stickyTimeout,
	})
	workflows.RegisterERP(erpWorker, &activities.Fetcher{
		Source: source, Publisher: publisher, Queue: depths, DeadLetters: store, Limits: cfg.Limits, Metrics: tel.Metrics,
		Synced: store,
	}, &activities.Reconciler{
		ERP: source, Store: store, Metrics: tel.Metrics,
		// Rows a reconcile repairs are priced and written like any, but
		// their age is not a sync delay: no freshness is recorded.
		Apply: &activities.Applier{Store: store, DeadLetters: store, Rules: rules, Limits: cfg.Limits},
	})

	// As many apply activities at once as the storefront pool has
	// connections: more would only queue inside the worker, holding rows.
	applyWorker := worker.New(tc, cfg.ApplyTaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: cfg.StoreConnections,
		WorkerStopTimeout:                  30 * time.Second,
		StickyScheduleToStartTimeout:       stickyTimeout,
	})
	workflows.RegisterApply(applyWorker, &activities.Applier{
		Store:       store,
		DeadLetters: store,
		Rules:       rules,
		Limits:      cfg.Limits,
		Metrics:     tel.Metrics,
		Stuck:       stuck,
	})

	if err := erpWorker.Start(); err != nil {
		return fmt.Errorf("start erp worker: %w", err)
	}
	defer erpWorker.Stop()
	if err := applyWorker.Start(); err != nil {
		return fmt.Errorf("start apply worker: %w", err)
	}
	defer applyWorker.Stop()

	pool := consumer.New(consumer.Config{
		URL:            cfg.AMQPURL,
		Topology:       topo,
		Consumers:      cfg.Consumers,
		BatchSize:      cfg.BatchSize,
		BatchBytes:     cfg.BatchBytes,
		BatchWait:      cfg.BatchWait,
		MaxOpenBatches: cfg.MaxOpenBatches,
		Logger:         log,
		Tracer:         tel.Tracer,
		Metrics:        tel.Metrics,
		DeadLetters:    store,
	}, consumer.TemporalStarter{Client: tc, TaskQueue: cfg.ApplyTaskQueue, Stage: store, Source: cfg.Source})
	// Messages the broker dead-letters become letters in the store.
	ingester := queue.Ingester{URL: cfg.AMQPURL, Topology: topo, Letters: store, Logger: log}
	wg.Go(func() { ingester.Run(ctx) })
	log.Info("workers running")
	pool.Run(ctx) // returns once ctx is done and every consumer has stopped
	log.Info("consumers stopped; finishing running activities")
	return nil
}
