// Package config reads the settings of the worker and the starter from flags,
// each defaulting to an environment variable, so the same names work on a
// command line, in a systemd unit and in docker-compose.
package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/invsync/invsync/internal/consumer"
	"github.com/invsync/invsync/internal/erp"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/logging"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/workflows"
)

// Config is every setting.
type Config struct {
	TemporalAddress   string
	TemporalNamespace string
	ERPTaskQueue      string
	ApplyTaskQueue    string
	Source            string

	ERP               erp.Config
	ERPPollsPerSecond float64

	StoreDSN string

	AMQPURL        string
	QueuePrefix    string
	DeliveryLimit  int
	Consumers      int
	BatchSize      int
	BatchBytes     int
	BatchWait      time.Duration
	MaxOpenBatches int
	// StoreConnections is the storefront pool's size, and so the number of
	// apply activities a worker runs at once.
	StoreConnections int

	Limits inventory.Limits

	PollInterval   time.Duration
	PageSize       int
	PagesPerPoll   int
	SettleDelay    time.Duration
	QueueHighWater int
	Lookback       time.Duration
	LookbackEvery  time.Duration

	// FractionalQuantity is "reject" or "floor".
	FractionalQuantity string

	LogLevel              string
	PricingRules          string
	HTTPAddr              string
	OTLPEndpoint          string
	TemporalUI            string
	RabbitMQManagementURL string
}

// Bounds of the batch settings. A batch is held in memory by a consumer and
// by the activity that applies it, and staged in the storefront as one value.
const (
	MaxBatchBytes = 64 << 20
	MaxBatchSize  = 50000
)

// Option describes one setting for the reference documentation.
type Option struct {
	Flag, Env, Default, Usage string
	Secret                    bool
}

type registrar struct {
	fs      *flag.FlagSet
	getenv  func(string) string
	options []Option
	errs    []error
}

func (r *registrar) value(flagName, env, def, usage string, secret bool) string {
	r.options = append(r.options, Option{Flag: flagName, Env: env, Default: def, Usage: usage, Secret: secret})
	if v := r.getenv(env); v != "" {
		return v
	}
	return def
}

func (r *registrar) str(p *string, flagName, env, def, usage string) {
	r.fs.StringVar(p, flagName, r.value(flagName, env, def, usage, false), usage+" ($"+env+")")
}

func (r *registrar) secret(p *string, flagName, env, def, usage string) {
	*p = r.value(flagName, env, def, usage, true)
	r.fs.Var(secretValue{p}, flagName, usage+" ($"+env+")")
}

// secretValue is a string flag whose value help and usage never show: the
// flag package prints a flag's value as its default, and that value comes
// from the environment.
type secretValue struct{ p *string }

func (v secretValue) String() string {
	if v.p == nil || *v.p == "" {
		return ""
	}
	return logging.Redact(*v.p)
}

func (v secretValue) Set(s string) error { *v.p = s; return nil }

func (r *registrar) int(p *int, flagName, env string, def int, usage string) {
	v := r.value(flagName, env, strconv.Itoa(def), usage, false)
	n, err := strconv.Atoi(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("$%s: %q is not an integer", env, v))
	}
	r.fs.IntVar(p, flagName, n, usage+" ($"+env+")")
}

func (r *registrar) float(p *float64, flagName, env string, def float64, usage string) {
	v := r.value(flagName, env, strconv.FormatFloat(def, 'g', -1, 64), usage, false)
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("$%s: %q is not a number", env, v))
	}
	r.fs.Float64Var(p, flagName, n, usage+" ($"+env+")")
}

func (r *registrar) duration(p *time.Duration, flagName, env string, def time.Duration, usage string) {
	v := r.value(flagName, env, def.String(), usage, false)
	d, err := time.ParseDuration(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("$%s: %q is not a duration", env, v))
	}
	r.fs.DurationVar(p, flagName, d, usage+" ($"+env+")")
}

func register(fs *flag.FlagSet, getenv func(string) string, c *Config) *registrar {
	r := &registrar{fs: fs, getenv: getenv}
	r.str(&c.TemporalAddress, "temporal-address", "INVSYNC_TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend host:port")
	r.str(&c.TemporalNamespace, "temporal-namespace", "INVSYNC_TEMPORAL_NAMESPACE", "default", "Temporal namespace")
	r.str(&c.ERPTaskQueue, "erp-task-queue", "INVSYNC_ERP_TASK_QUEUE", workflows.DefaultERPTaskQueue, "task queue of the poller and its ERP activity")
	r.str(&c.ApplyTaskQueue, "apply-task-queue", "INVSYNC_APPLY_TASK_QUEUE", workflows.DefaultApplyTaskQueue, "task queue of ApplyChanges and its activities")
	r.str(&c.Source, "source", "INVSYNC_SOURCE", "erp", "name of the ERP source; the poller's workflow ID is invsync-poll-<source>")

	r.str(&c.ERP.Driver, "erp-driver", "INVSYNC_ERP_DRIVER", erp.DriverPostgres, "ERP database: sqlserver or postgres")
	r.secret(&c.ERP.DSN, "erp-dsn", "INVSYNC_ERP_DSN", "postgres://invsync_erp_reader@127.0.0.1:5432/invsync_erp?sslmode=disable", "ERP connection string; SELECT on the view is all it needs (SQL Server: add ApplicationIntent=ReadOnly and encrypt options here)")
	r.str(&c.ERP.View, "erp-view", "INVSYNC_ERP_VIEW", "v_inventory", "ERP view to poll: view or schema.view")
	r.str(&c.ERP.Columns.SKU, "erp-col-sku", "INVSYNC_ERP_COL_SKU", "sku", "view column: SKU")
	r.str(&c.ERP.Columns.Quantity, "erp-col-quantity", "INVSYNC_ERP_COL_QUANTITY", "quantity", "view column: quantity on hand")
	r.str(&c.ERP.Columns.Price, "erp-col-price", "INVSYNC_ERP_COL_PRICE", "price", "view column: price (decimal)")
	r.str(&c.ERP.Columns.LastModified, "erp-col-last-modified", "INVSYNC_ERP_COL_LAST_MODIFIED", "last_modified", "view column: last-modified time (datetime, datetime2, datetimeoffset, timestamp or timestamptz)")
	r.str(&c.ERP.Columns.Cost, "erp-col-cost", "INVSYNC_ERP_COL_COST", "", "view column: unit cost (decimal), for pricing rules (empty: none)")
	r.str(&c.ERP.Columns.Category, "erp-col-category", "INVSYNC_ERP_COL_CATEGORY", "", "view column: category, for pricing rules (empty: none)")
	r.str(&c.ERP.Clock, "erp-clock", "INVSYNC_ERP_CLOCK", erp.ClockLocal, "how the ERP writes a last-modified without offset: local (its server's local time) or utc")
	r.duration(&c.ERP.QueryTimeout, "erp-query-timeout", "INVSYNC_ERP_QUERY_TIMEOUT", erp.DefaultQueryTimeout, "longest one ERP query may take before it is cancelled and retried")
	r.float(&c.ERPPollsPerSecond, "erp-polls-per-second", "INVSYNC_ERP_POLLS_PER_SECOND", 2, "most ERP poll activities started per second, across all workers")

	r.secret(&c.StoreDSN, "store-dsn", "INVSYNC_STORE_DSN", "postgres://postgres@127.0.0.1:5432/invsync_store?sslmode=disable", "storefront PostgreSQL connection string")

	r.secret(&c.AMQPURL, "amqp-url", "INVSYNC_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL")
	r.str(&c.QueuePrefix, "queue-prefix", "INVSYNC_QUEUE_PREFIX", "inventory", "RabbitMQ names: exchange <p>, queues <p>.changes and <p>.dlq, DLX <p>.dlx")
	r.int(&c.DeliveryLimit, "delivery-limit", "INVSYNC_DELIVERY_LIMIT", 20, "redeliveries of one message before the broker dead-letters it")
	r.int(&c.Consumers, "consumers", "INVSYNC_CONSUMERS", consumer.DefaultConsumers, "RabbitMQ consumers in the worker")
	r.int(&c.BatchSize, "batch-size", "INVSYNC_BATCH_SIZE", consumer.DefaultBatchSize, "most changes per ApplyChanges workflow")
	r.int(&c.BatchBytes, "batch-bytes", "INVSYNC_BATCH_BYTES", consumer.DefaultBatchBytes, "most bytes of change sets per ApplyChanges workflow: what a consumer holds and stages at once")
	r.int(&c.MaxOpenBatches, "max-open-batches", "INVSYNC_MAX_OPEN_BATCHES", consumer.DefaultMaxOpenBatches, "consumers stop taking deliveries while this many ApplyChanges workflows they started are open")
	r.int(&c.StoreConnections, "store-connections", "INVSYNC_STORE_CONNECTIONS", 8, "storefront connections per worker, and so apply activities at once")
	r.duration(&c.BatchWait, "batch-wait", "INVSYNC_BATCH_WAIT", consumer.DefaultBatchWait, "how long a partial batch waits for more changes")

	r.duration(&c.PollInterval, "poll-interval", "INVSYNC_POLL_INTERVAL", workflows.DefaultPollInterval, "poller, set by the starter: pause between polls when no backlog remains")
	r.int(&c.PageSize, "page-size", "INVSYNC_PAGE_SIZE", workflows.DefaultPageSize, "poller, set by the starter: rows per ERP query")
	r.int(&c.PagesPerPoll, "pages-per-poll", "INVSYNC_PAGES_PER_POLL", workflows.DefaultPagesPerPoll, "poller, set by the starter: most pages one poll activity reads")
	r.duration(&c.SettleDelay, "settle-delay", "INVSYNC_SETTLE_DELAY", workflows.DefaultSettleDelay, "poller, set by the starter: rows newer than the ERP clock minus this wait for a later poll")
	r.duration(&c.Lookback, "lookback", "INVSYNC_LOOKBACK", workflows.DefaultLookback, "poller, set by the starter: how far behind its cursor it re-reads for late commits (0: never)")
	r.duration(&c.LookbackEvery, "lookback-every", "INVSYNC_LOOKBACK_EVERY", workflows.DefaultLookbackEvery, "poller, set by the starter: how often it re-reads the look-back window")
	r.int(&c.QueueHighWater, "queue-high-water", "INVSYNC_QUEUE_HIGH_WATER", 500, "poller, set by the starter: change sets (messages of up to 64 KiB) waiting in the queue, ready or held unacknowledged by consumers, at which it holds back (0: never)")

	r.int(&c.Limits.IntegerDigits, "max-integer-digits", "INVSYNC_MAX_INTEGER_DIGITS", inventory.DefaultIntegerDigits, "most digits before the point in a quantity, price or cost; longer numbers are dead-lettered")
	r.int(&c.Limits.FractionDigits, "max-fraction-digits", "INVSYNC_MAX_FRACTION_DIGITS", inventory.DefaultFractionDigits, "most digits after the point in a price or cost (trailing zeros do not count)")
	r.str(&c.FractionalQuantity, "fractional-quantity", "INVSYNC_FRACTIONAL_QUANTITY", "reject", "a quantity with a fraction: reject (dead-letter it) or floor (round down)")
	r.duration(&c.Limits.FutureAllowance, "future-allowance", "INVSYNC_FUTURE_ALLOWANCE", inventory.DefaultFutureAllowance, "how far past the ERP clock a last-modified may be before the row is dead-lettered as a version from the future")

	r.str(&c.LogLevel, "log-level", "INVSYNC_LOG_LEVEL", "info", "debug, info, warn or error")
	r.str(&c.PricingRules, "pricing-rules", "INVSYNC_PRICING_RULES", "", "worker: pricing and validation rules file (YAML), reloaded when it changes (empty: ERP prices, negative stock rejected)")
	r.str(&c.HTTPAddr, "http-addr", "INVSYNC_HTTP_ADDR", "127.0.0.1:9464", "worker: address of the status page, /metrics, /healthz and /readyz")
	r.str(&c.OTLPEndpoint, "otlp-endpoint", "INVSYNC_OTLP_ENDPOINT", "", "worker: OTLP/HTTP base URL for traces and metrics, e.g. http://127.0.0.1:4318 (empty: none)")
	r.str(&c.TemporalUI, "temporal-ui", "INVSYNC_TEMPORAL_UI", "http://127.0.0.1:8233", "Temporal Web UI base URL, for the status page's links")
	r.str(&c.RabbitMQManagementURL, "rabbitmq-management-url", "INVSYNC_RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672", "RabbitMQ management API, for unacked counts (empty: AMQP only, ready counts)")
	return r
}

// Load parses args over the environment. It returns the arguments after
// the flags, for commands that take some.
func Load(name string, args []string, getenv func(string) string) (Config, []string, error) {
	var c Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	r := register(fs, getenv, &c)
	if len(r.errs) > 0 {
		return c, nil, errors.Join(r.errs...)
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	c.Limits.FloorFractionalQuantity = c.FractionalQuantity == "floor"
	return c, fs.Args(), c.Validate()
}

// Reference lists every option, for documentation.
func Reference() []Option {
	return register(flag.NewFlagSet("", flag.ContinueOnError), func(string) string { return "" }, new(Config)).options
}

// Validate checks values that would otherwise fail late.
func (c Config) Validate() error {
	var errs []error
	if err := c.ERP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Source == "" || strings.ContainsAny(c.Source, " /") {
		errs = append(errs, fmt.Errorf("source %q: want a short name without spaces or slashes", c.Source))
	}
	for name, n := range map[string]int{
		"consumers": c.Consumers, "batch-size": c.BatchSize, "delivery-limit": c.DeliveryLimit,
		"page-size": c.PageSize, "pages-per-poll": c.PagesPerPoll,
	} {
		if n < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, not %d", name, n))
		}
	}
	if c.BatchSize > MaxBatchSize {
		errs = append(errs, fmt.Errorf("batch-size %d: at most %d", c.BatchSize, MaxBatchSize))
	}
	if c.BatchBytes < inventory.MaxSetBytes || c.BatchBytes > MaxBatchBytes {
		errs = append(errs, fmt.Errorf("batch-bytes %d: want %d to %d", c.BatchBytes, inventory.MaxSetBytes, MaxBatchBytes))
	}
	if c.MaxOpenBatches < 1 || c.StoreConnections < 1 {
		errs = append(errs, errors.New("max-open-batches and store-connections must be at least 1"))
	}
	if c.FractionalQuantity != "reject" && c.FractionalQuantity != "floor" {
		errs = append(errs, fmt.Errorf("fractional-quantity %q: want reject or floor", c.FractionalQuantity))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.QueueHighWater < 0 {
		errs = append(errs, errors.New("queue-high-water must not be negative"))
	}
	if c.ERPPollsPerSecond <= 0 {
		errs = append(errs, errors.New("erp-polls-per-second must be positive"))
	}
	if c.PollInterval <= 0 || c.BatchWait <= 0 || c.SettleDelay < 0 {
		errs = append(errs, errors.New("poll-interval and batch-wait must be positive, settle-delay not negative"))
	}
	if c.Lookback < 0 || (c.Lookback > 0 && c.LookbackEvery <= 0) {
		errs = append(errs, errors.New("lookback must not be negative, and lookback-every must be positive when it is set"))
	}
	return errors.Join(errs...)
}

// ClientOptions are the Temporal client's options, logging through log.
func (c Config) ClientOptions(log *slog.Logger) client.Options {
	return client.Options{
		HostPort:  c.TemporalAddress,
		Namespace: c.TemporalNamespace,
		Logger:    tlog.NewStructuredLogger(log),
	}
}

// DialCommand connects a short-lived command (the starter, dlq) to Temporal,
// logging only its warnings.
func (c Config) DialCommand(ctx context.Context) (client.Client, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tc, err := client.DialContext(ctx, c.ClientOptions(log))
	if err != nil {
		return nil, fmt.Errorf("temporal: %w", err)
	}
	return tc, nil
}

// Topology is the RabbitMQ topology the settings name.
func (c Config) Topology() queue.Topology {
	return queue.Topology{Prefix: c.QueuePrefix, DeliveryLimit: c.DeliveryLimit}
}
