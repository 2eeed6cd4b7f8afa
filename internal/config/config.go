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
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/consumer"
	"github.com/invsync/invsync/internal/erp"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/logging"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/workflows"
)

// Config is every setting.
type Config struct {
	// TemporalAddress and TemporalNamespace are resolved by Load: the invsync
	// flag or variable when given, else the Temporal profile's, else the
	// flag's default.
	TemporalAddress   string
	TemporalNamespace string
	// temporal is the rest of the Temporal connection (TLS, API key, gRPC
	// metadata): the SDK's environment configuration, a TOML profile with the
	// TEMPORAL_* variables over it. A pointer, so that printing a Config
	// never prints the API key. Nil: plain text, no credentials.
	temporal *envconfig.ClientConfigProfile

	ERPTaskQueue   string
	ApplyTaskQueue string
	Source         string

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

	// ReconcileEvery is the interval of the reconcile's schedule; 0: none.
	ReconcileEvery time.Duration
	// ReconcilePolicy is what becomes of rows the ERP no longer has.
	ReconcilePolicy string

	// FractionalQuantity is "reject" or "floor".
	FractionalQuantity string

	LogLevel              string
	PricingRules          string
	HTTPAddr              string
	OTLPEndpoint          string
	TemporalUI            string
	RabbitMQManagementURL string

	Codec CodecConfig
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

// envPrefix begins the name of each setting's environment variable: flag
// temporal-address reads $INVSYNC_TEMPORAL_ADDRESS when it is not given.
const envPrefix = "INVSYNC"

// envName is the variable ff.WithEnvVarPrefix(envPrefix) reads for a flag.
func envName(flagName string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// secret is a string flag whose value help and usage never show in full:
// the flag package prints a flag's value as its default.
type secret string

func (s *secret) String() string {
	if s == nil || *s == "" {
		return ""
	}
	return logging.Redact(string(*s))
}

func (s *secret) Set(v string) error { *s = secret(v); return nil }

func secretVar(fs *flag.FlagSet, p *string, name, value, usage string) {
	*p = value
	fs.Var((*secret)(p), name, usage)
}

// flagSet defines every setting as a flag on c, its help naming its
// environment variable.
func flagSet(name string, c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.TemporalAddress, "temporal-address", "127.0.0.1:7233", "Temporal frontend host:port; when not given, $TEMPORAL_ADDRESS or the Temporal profile's address comes before this default")
	fs.StringVar(&c.TemporalNamespace, "temporal-namespace", "default", "Temporal namespace; when not given, $TEMPORAL_NAMESPACE or the Temporal profile's namespace comes before this default")
	fs.StringVar(&c.ERPTaskQueue, "erp-task-queue", workflows.DefaultERPTaskQueue, "task queue of the poller and its ERP activity")
	fs.StringVar(&c.ApplyTaskQueue, "apply-task-queue", workflows.DefaultApplyTaskQueue, "task queue of ApplyChanges and its activities")
	fs.StringVar(&c.Source, "source", "erp", "name of the ERP source; the poller's workflow ID is invsync-poll-<source>")

	fs.StringVar(&c.ERP.Driver, "erp-driver", erp.DriverPostgres, "ERP database: sqlserver or postgres")
	secretVar(fs, &c.ERP.DSN, "erp-dsn", "postgres://invsync_erp_reader@127.0.0.1:5432/invsync_erp?sslmode=disable", "ERP connection string; SELECT on the view is all it needs (SQL Server: add ApplicationIntent=ReadOnly and encrypt options here)")
	fs.StringVar(&c.ERP.View, "erp-view", "v_inventory", "ERP view to poll: view or schema.view")
	fs.StringVar(&c.ERP.Columns.SKU, "erp-col-sku", "sku", "view column: SKU")
	fs.StringVar(&c.ERP.Columns.Quantity, "erp-col-quantity", "quantity", "view column: quantity on hand")
	fs.StringVar(&c.ERP.Columns.Price, "erp-col-price", "price", "view column: price (decimal)")
	fs.StringVar(&c.ERP.Columns.LastModified, "erp-col-last-modified", "last_modified", "view column: last-modified time (datetime, datetime2, datetimeoffset, timestamp or timestamptz)")
	fs.StringVar(&c.ERP.Columns.Cost, "erp-col-cost", "", "view column: unit cost (decimal), for pricing rules (empty: none)")
	fs.StringVar(&c.ERP.Columns.Category, "erp-col-category", "", "view column: category, for pricing rules (empty: none)")
	fs.StringVar(&c.ERP.Clock, "erp-clock", erp.ClockLocal, "how the ERP writes a last-modified without offset: local (its server's local time) or utc")
	fs.DurationVar(&c.ERP.QueryTimeout, "erp-query-timeout", erp.DefaultQueryTimeout, "longest one ERP query may take before it is cancelled and retried")
	fs.Float64Var(&c.ERPPollsPerSecond, "erp-polls-per-second", 2, "most ERP poll activities started per second, across all workers")

	secretVar(fs, &c.StoreDSN, "store-dsn", "postgres://postgres@127.0.0.1:5432/invsync_store?sslmode=disable", "storefront PostgreSQL connection string")

	secretVar(fs, &c.AMQPURL, "amqp-url", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL")
	fs.StringVar(&c.QueuePrefix, "queue-prefix", "inventory", "RabbitMQ names: exchange <p>, queues <p>.changes and <p>.dlq, DLX <p>.dlx")
	fs.IntVar(&c.DeliveryLimit, "delivery-limit", 20, "redeliveries of one message before the broker dead-letters it")
	fs.IntVar(&c.Consumers, "consumers", consumer.DefaultConsumers, "RabbitMQ consumers in the worker")
	fs.IntVar(&c.BatchSize, "batch-size", consumer.DefaultBatchSize, "most changes per ApplyChanges workflow")
	fs.IntVar(&c.BatchBytes, "batch-bytes", consumer.DefaultBatchBytes, "most bytes of change sets per ApplyChanges workflow: what a consumer holds and stages at once")
	fs.IntVar(&c.MaxOpenBatches, "max-open-batches", consumer.DefaultMaxOpenBatches, "consumers stop taking deliveries while this many ApplyChanges workflows they started are open")
	fs.IntVar(&c.StoreConnections, "store-connections", 8, "storefront connections per worker, and so apply activities at once")
	fs.DurationVar(&c.BatchWait, "batch-wait", consumer.DefaultBatchWait, "how long a partial batch waits for more changes")

	fs.DurationVar(&c.PollInterval, "poll-interval", workflows.DefaultPollInterval, "poller, set by the starter: pause between polls when no backlog remains")
	fs.IntVar(&c.PageSize, "page-size", workflows.DefaultPageSize, "poller, set by the starter: rows per ERP query")
	fs.IntVar(&c.PagesPerPoll, "pages-per-poll", workflows.DefaultPagesPerPoll, "poller, set by the starter: most pages one poll activity reads")
	fs.DurationVar(&c.SettleDelay, "settle-delay", workflows.DefaultSettleDelay, "poller, set by the starter: rows newer than the ERP clock minus this wait for a later poll")
	fs.DurationVar(&c.Lookback, "lookback", workflows.DefaultLookback, "poller, set by the starter: how far behind its cursor it re-reads for late commits (0: never)")
	fs.DurationVar(&c.LookbackEvery, "lookback-every", workflows.DefaultLookbackEvery, "poller, set by the starter: how often it re-reads the look-back window")
	fs.DurationVar(&c.ReconcileEvery, "reconcile-every", workflows.DefaultReconcileEvery, "starter: interval of the Temporal Schedule that reconciles the storefront with the ERP (0: no schedule; an existing one is deleted)")
	fs.StringVar(&c.ReconcilePolicy, "reconcile-policy", activities.PolicyDiscontinue, "starter: what a reconcile does with storefront rows the ERP no longer has: discontinue (quantity 0, deleted_at set) or delete")
	fs.IntVar(&c.QueueHighWater, "queue-high-water", 500, "poller, set by the starter: change sets (messages of up to 64 KiB) waiting in the queue, ready or held unacknowledged by consumers, at which it holds back (0: never)")

	fs.IntVar(&c.Limits.IntegerDigits, "max-integer-digits", inventory.DefaultIntegerDigits, "most digits before the point in a quantity, price or cost; longer numbers are dead-lettered")
	fs.IntVar(&c.Limits.FractionDigits, "max-fraction-digits", inventory.DefaultFractionDigits, "most digits after the point in a price or cost (trailing zeros do not count)")
	fs.StringVar(&c.FractionalQuantity, "fractional-quantity", "reject", "a quantity with a fraction: reject (dead-letter it) or floor (round down)")
	fs.DurationVar(&c.Limits.FutureAllowance, "future-allowance", inventory.DefaultFutureAllowance, "how far past the ERP clock a last-modified may be before the row is dead-lettered as a version from the future")

	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.PricingRules, "pricing-rules", "", "worker: pricing and validation rules file (YAML), reloaded when it changes (empty: ERP prices, negative stock rejected)")
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:9464", "worker: address of the status page, /metrics, /healthz and /readyz")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "worker: OTLP/HTTP base URL for traces and metrics, e.g. http://127.0.0.1:4318 (empty: none)")
	fs.StringVar(&c.TemporalUI, "temporal-ui", "http://127.0.0.1:8233", "Temporal Web UI base URL, for the status page's links")
	fs.StringVar(&c.RabbitMQManagementURL, "rabbitmq-management-url", "http://127.0.0.1:15672", "RabbitMQ management API, for unacked counts (empty: AMQP only, ready counts)")
	codecFlags(fs, &c.Codec)
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " ($" + envName(f.Name) + ")" })
	return fs
}

// Load parses args, then the environment for each flag args do not give. It
// returns the arguments after the flags, for commands that take some.
func Load(name string, args []string) (Config, []string, error) {
	var c Config
	fs := flagSet(name, &c)
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(envPrefix)); err != nil {
		return c, nil, err
	}
	c.Limits.FloorFractionalQuantity = c.FractionalQuantity == "floor"
	if err := c.Codec.load(); err != nil {
		return c, nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := c.loadTemporalProfile(given["temporal-address"], given["temporal-namespace"]); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), c.Validate()
}

// loadTemporalProfile reads the Temporal connection the way the SDK and the
// Temporal CLI do: the profile $TEMPORAL_PROFILE (else "default") of the TOML
// file $TEMPORAL_CONFIG_FILE (else the CLI's, in the user's config
// directory), with the TEMPORAL_* variables over it. Its address and
// namespace take the place of the flags' defaults, not of values given to
// invsync, so an invsync setting always wins over a profile shared with
// other tools.
func (c *Config) loadTemporalProfile(addressGiven, namespaceGiven bool) error {
	p, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{EnvLookup: nonEmptyEnv{}})
	if err != nil {
		return fmt.Errorf("temporal profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE): %w", err)
	}
	if !addressGiven && p.Address != "" {
		c.TemporalAddress = p.Address
	}
	if !namespaceGiven && p.Namespace != "" {
		c.TemporalNamespace = p.Namespace
	}
	c.temporal = &p
	return nil
}

// Reference lists every option, for documentation. Usage is the flag's
// help, which names its variable.
func Reference() []Option {
	var opts []Option
	flagSet("", new(Config)).VisitAll(func(f *flag.Flag) {
		o := Option{Flag: f.Name, Env: envName(f.Name), Default: f.DefValue, Usage: f.Usage}
		switch s := f.Value.(type) {
		case *secret:
			o.Default, o.Secret = string(*s), true
		case *keySecret:
			o.Default, o.Secret = string(*s), true
		}
		opts = append(opts, o)
	})
	return opts
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
	if c.ReconcileEvery != 0 && c.ReconcileEvery < time.Minute {
		errs = append(errs, fmt.Errorf("reconcile-every %s: want 0 (none) or at least 1m", c.ReconcileEvery))
	}
	if c.ReconcilePolicy != activities.PolicyDiscontinue && c.ReconcilePolicy != activities.PolicyDelete {
		errs = append(errs, fmt.Errorf("reconcile-policy %q: want %s or %s", c.ReconcilePolicy, activities.PolicyDiscontinue, activities.PolicyDelete))
	}
	if c.Lookback < 0 || (c.Lookback > 0 && c.LookbackEvery <= 0) {
		errs = append(errs, errors.New("lookback must not be negative, and lookback-every must be positive when it is set"))
	}
	// Reading the certificates here fails a worker at its start, not at its
	// first connection attempt.
	if _, err := c.ClientOptions(slog.New(slog.DiscardHandler)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// nonEmptyEnv is the environment with empty variables taken as unset, as
// for the INVSYNC_ variables: envconfig takes TEMPORAL_TLS_SERVER_NAME= (as
// a compose file or unit may write it) as a TLS setting, and so turns TLS on.
type nonEmptyEnv struct{}

func (nonEmptyEnv) Environ() []string { return os.Environ() }

func (nonEmptyEnv) LookupEnv(key string) (string, bool) {
	v := os.Getenv(key)
	return v, v != ""
}

// ClientOptions are the Temporal client's options, logging through log: the
// address and namespace of c, with TLS and credentials from the Temporal
// profile. It reads the certificate files, so a renewed certificate is taken
// up by the next process.
func (c Config) ClientOptions(log *slog.Logger) (client.Options, error) {
	var opts client.Options
	if p := c.temporal; p != nil {
		// A remote codec server would have to encode every payload this
		// worker writes; invsync encodes with its own keys instead, and
		// ignoring the profile's would write payloads it did not ask for.
		if p.Codec != nil && p.Codec.Endpoint != "" {
			return client.Options{}, errors.New("temporal profile: a codec endpoint (TEMPORAL_CODEC_ENDPOINT or the profile's codec) is not supported: invsync encrypts payloads itself (-codec-keys, -codec-key-file)")
		}
		var err error
		if opts, err = p.ToClientOptions(envconfig.ToClientOptionsRequest{}); err != nil {
			return client.Options{}, fmt.Errorf("temporal profile (TEMPORAL_TLS_* or the profile's tls): %w", err)
		}
	}
	opts.HostPort = c.TemporalAddress
	opts.Namespace = c.TemporalNamespace
	opts.Logger = tlog.NewStructuredLogger(log)
	// Encrypts payloads when codec keys are configured (codec.go), and then
	// failure messages and stack traces too: they can quote a row.
	opts.DataConverter = c.DataConverter()
	if c.Codec.Enabled() {
		opts.FailureConverter = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
			DataConverter: opts.DataConverter, EncodeCommonAttributes: true,
		})
	}
	return opts, nil
}

// TemporalSecurity says how the Temporal connection is secured, for the
// start-up log: "plain text", "TLS" or "mTLS", and "+ API key" when one is
// set. It never shows the key.
func (c Config) TemporalSecurity() string {
	opts, err := c.ClientOptions(slog.New(slog.DiscardHandler))
	if err != nil {
		return "invalid"
	}
	s := "plain text"
	if t := opts.ConnectionOptions.TLS; t != nil {
		s = "TLS"
		if len(t.Certificates) > 0 {
			s = "mTLS"
		}
	}
	if opts.Credentials != nil {
		s += " + API key"
	}
	return s
}

// DialError says where a failed connection went and how it was secured: a
// frontend that wants TLS answers plain text with no more than an EOF.
func (c Config) DialError(err error) error {
	return fmt.Errorf("temporal at %s over %s: %w", c.TemporalAddress, c.TemporalSecurity(), err)
}

// DialCommand connects a short-lived command (the starter, dlq) to Temporal,
// logging only its warnings.
func (c Config) DialCommand(ctx context.Context) (client.Client, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts, err := c.ClientOptions(log)
	if err != nil {
		return nil, err
	}
	tc, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, c.DialError(err)
	}
	return tc, nil
}

// Topology is the RabbitMQ topology the settings name.
func (c Config) Topology() queue.Topology {
	return queue.Topology{Prefix: c.QueuePrefix, DeliveryLimit: c.DeliveryLimit}
}
