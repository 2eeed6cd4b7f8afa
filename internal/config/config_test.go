package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/stretchr/testify/require"
)

// setenv gives every setting's environment variable, and each TEMPORAL_
// variable of the SDK's environment configuration, the value in m, and the
// others none, whatever the environment of the test holds. The Temporal
// config file is m's or none, never the CLI's file of whoever runs the test.
func setenv(t *testing.T, m map[string]string) {
	for _, o := range Reference() {
		t.Setenv(o.Env, m[o.Env])
	}
	for _, name := range []string{
		"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE",
		"TEMPORAL_CLIENT_AUTHORITY", "TEMPORAL_CODEC_ENDPOINT", "TEMPORAL_CODEC_AUTH",
		"TEMPORAL_TLS", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
		"TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
		"TEMPORAL_TLS_CLIENT_CERT_DATA", "TEMPORAL_TLS_CLIENT_KEY_DATA", "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
	} {
		t.Setenv(name, m[name])
	}
	file := m["TEMPORAL_CONFIG_FILE"]
	if file == "" {
		file = filepath.Join(t.TempDir(), "absent.toml")
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
}

func TestLoadPrefersFlagsOverEnvironmentOverDefaults(t *testing.T) {
	setenv(t, map[string]string{
		"INVSYNC_CONSUMERS": "3", "INVSYNC_BATCH_SIZE": "42", "INVSYNC_POLL_INTERVAL": "10s",
	})
	c, _, err := Load("t", []string{"-consumers", "7"})
	require.NoError(t, err)
	require.Equal(t, 7, c.Consumers)
	require.Equal(t, 42, c.BatchSize)
	require.Equal(t, 10*time.Second, c.PollInterval)
	require.Equal(t, "127.0.0.1:7233", c.TemporalAddress)
	require.Equal(t, "inventory.changes", c.Topology().ChangesQueue())
}

// TestEnvironmentNames: the environment variable of each setting, as
// deployments name it. Renaming one, or adding a setting without a row
// here, fails.
func TestEnvironmentNames(t *testing.T) {
	rows := []struct{ env, flag, value string }{
		{"INVSYNC_TEMPORAL_ADDRESS", "temporal-address", "t:1"},
		{"INVSYNC_TEMPORAL_NAMESPACE", "temporal-namespace", "ns"},
		{"INVSYNC_ERP_TASK_QUEUE", "erp-task-queue", "eq"},
		{"INVSYNC_APPLY_TASK_QUEUE", "apply-task-queue", "aq"},
		{"INVSYNC_SOURCE", "source", "s"},
		{"INVSYNC_ERP_DRIVER", "erp-driver", "sqlserver"},
		{"INVSYNC_ERP_DSN", "erp-dsn", "sqlserver://h?database=ERP"},
		{"INVSYNC_ERP_VIEW", "erp-view", "v"},
		{"INVSYNC_ERP_COL_SKU", "erp-col-sku", "c1"},
		{"INVSYNC_ERP_COL_QUANTITY", "erp-col-quantity", "c2"},
		{"INVSYNC_ERP_COL_PRICE", "erp-col-price", "c3"},
		{"INVSYNC_ERP_COL_LAST_MODIFIED", "erp-col-last-modified", "c4"},
		{"INVSYNC_ERP_COL_COST", "erp-col-cost", "c5"},
		{"INVSYNC_ERP_COL_CATEGORY", "erp-col-category", "c6"},
		{"INVSYNC_ERP_CLOCK", "erp-clock", "utc"},
		{"INVSYNC_ERP_QUERY_TIMEOUT", "erp-query-timeout", "7s"},
		{"INVSYNC_ERP_POLLS_PER_SECOND", "erp-polls-per-second", "0.5"},
		{"INVSYNC_STORE_DSN", "store-dsn", "postgres://u@h/store"},
		{"INVSYNC_AMQP_URL", "amqp-url", "amqp://u@h:5672/"},
		{"INVSYNC_QUEUE_PREFIX", "queue-prefix", "p"},
		{"INVSYNC_DELIVERY_LIMIT", "delivery-limit", "3"},
		{"INVSYNC_CONSUMERS", "consumers", "4"},
		{"INVSYNC_BATCH_SIZE", "batch-size", "5"},
		{"INVSYNC_BATCH_BYTES", "batch-bytes", "6"},
		{"INVSYNC_MAX_OPEN_BATCHES", "max-open-batches", "7"},
		{"INVSYNC_STORE_CONNECTIONS", "store-connections", "9"},
		{"INVSYNC_BATCH_WAIT", "batch-wait", "1s"},
		{"INVSYNC_POLL_INTERVAL", "poll-interval", "2s"},
		{"INVSYNC_PAGE_SIZE", "page-size", "10"},
		{"INVSYNC_PAGES_PER_POLL", "pages-per-poll", "11"},
		{"INVSYNC_SETTLE_DELAY", "settle-delay", "3s"},
		{"INVSYNC_LOOKBACK", "lookback", "4s"},
		{"INVSYNC_LOOKBACK_EVERY", "lookback-every", "5s"},
		{"INVSYNC_RECONCILE_EVERY", "reconcile-every", "1h0m0s"},
		{"INVSYNC_RECONCILE_POLICY", "reconcile-policy", "delete"},
		{"INVSYNC_QUEUE_HIGH_WATER", "queue-high-water", "12"},
		{"INVSYNC_MAX_INTEGER_DIGITS", "max-integer-digits", "14"},
		{"INVSYNC_MAX_FRACTION_DIGITS", "max-fraction-digits", "2"},
		{"INVSYNC_FRACTIONAL_QUANTITY", "fractional-quantity", "floor"},
		{"INVSYNC_FUTURE_ALLOWANCE", "future-allowance", "6s"},
		{"INVSYNC_LOG_LEVEL", "log-level", "debug"},
		{"INVSYNC_PRICING_RULES", "pricing-rules", "r.yaml"},
		{"INVSYNC_HTTP_ADDR", "http-addr", "h:1"},
		{"INVSYNC_OTLP_ENDPOINT", "otlp-endpoint", "http://o"},
		{"INVSYNC_TEMPORAL_UI", "temporal-ui", "http://ui"},
		{"INVSYNC_RABBITMQ_MANAGEMENT_URL", "rabbitmq-management-url", "http://m"},
		{"INVSYNC_CODEC_KEYS", "codec-keys", "k1:xxxxx"}, // shown as it would be redacted
		{"INVSYNC_CODEC_KEY_FILE", "codec-key-file", "keys.txt"},
		{"INVSYNC_CODEC_CORS_ORIGIN", "codec-cors-origin", "http://ui:8233"},
	}
	var documented, want []string
	for _, o := range Reference() {
		documented = append(documented, o.Env+" -"+o.Flag)
	}
	for _, r := range rows {
		want = append(want, r.env+" -"+r.flag)
		t.Setenv(r.env, r.value)
	}
	slices.Sort(want)
	slices.Sort(documented)
	require.Equal(t, want, documented, "Reference names each setting's variable as deployments do")

	fs := flagSet("t", new(Config))
	require.NoError(t, ff.Parse(fs, nil, ff.WithEnvVarPrefix(envPrefix)))
	for _, r := range rows {
		f := fs.Lookup(r.flag)
		require.NotEqual(t, r.value, f.DefValue, r.env)
		require.Equal(t, r.value, f.Value.String(), "-%s reads $%s", r.flag, r.env)
		require.Contains(t, f.Usage, "($"+r.env+")", "help names the variable")
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"INVSYNC_CONSUMERS": "five"}, nil, "INVSYNC_CONSUMERS"},
		{map[string]string{"INVSYNC_BATCH_WAIT": "soon"}, nil, "INVSYNC_BATCH_WAIT"},
		{map[string]string{"INVSYNC_ERP_POLLS_PER_SECOND": "many"}, nil, "INVSYNC_ERP_POLLS_PER_SECOND"},
		{nil, []string{"-consumers", "0"}, "consumers must be at least 1"},
		{nil, []string{"-erp-view", "x;drop"}, "not a plain identifier"},
		{nil, []string{"-erp-driver", "oracle"}, "erp driver"},
		{nil, []string{"-source", "a b"}, "source"},
	} {
		setenv(t, tt.env)
		_, _, err := Load("t", tt.args)
		require.ErrorContains(t, err, tt.want)
	}
}

// TestREADMEDocumentsEveryOption keeps the README's configuration reference
// true: each option appears with its environment variable, flag and default.
func TestREADMEDocumentsEveryOption(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(b)
	for _, o := range Reference() {
		row := "| `" + o.Env + "` | `-" + o.Flag + "` | `" + o.Default + "` |"
		require.True(t, strings.Contains(readme, row), "README lacks the row for %s: %s", o.Env, row)
	}
}

// TestHelpNeverShowsASecret: help and the usage printed for a mistyped flag
// show each flag's value as its default, and the connection strings' values
// come from the environment.
func TestHelpNeverShowsASecret(t *testing.T) {
	setenv(t, map[string]string{
		"INVSYNC_STORE_DSN": "postgres://u:store-s3cret@h/db",
		"INVSYNC_AMQP_URL":  "amqp://u:amqp-s3cret@h:5672/",
		"INVSYNC_ERP_DSN":   "sqlserver://h?database=ERP&password=erp-s3cret",
	})
	help := func(args ...string) string {
		var out strings.Builder
		fs := flagSet("workers", new(Config))
		fs.SetOutput(&out)
		err := ff.Parse(fs, args, ff.WithEnvVarPrefix(envPrefix))
		if err == nil {
			fs.PrintDefaults() // after the environment has set the values
		}
		return out.String()
	}
	for _, out := range []string{help("-h"), help("-no-such-flag"), help()} {
		require.Contains(t, out, "-store-dsn")
		require.Contains(t, out, "$INVSYNC_STORE_DSN")
		require.Contains(t, out, "xxxxx", "the value is shown redacted")
		require.NotContains(t, out, "s3cret")
	}
	c, _, err := Load("t", []string{"-store-dsn", "postgres://u:p@h/db"})
	require.NoError(t, err)
	require.Equal(t, "postgres://u:p@h/db", c.StoreDSN, "a secret flag still takes its value")
	require.Equal(t, "amqp://u:amqp-s3cret@h:5672/", c.AMQPURL, "and the environment sets it")
}

func TestLoadBoundsBatchesAndLimits(t *testing.T) {
	setenv(t, nil)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-batch-bytes", "100000000"}, "batch-bytes"},
		{[]string{"-batch-bytes", "100000"}, "batch-bytes"},
		{[]string{"-batch-size", "100000"}, "batch-size"},
		{[]string{"-max-integer-digits", "19"}, "integer digits"},
		{[]string{"-fractional-quantity", "round"}, "fractional-quantity"},
		{[]string{"-max-open-batches", "0"}, "max-open-batches"},
	} {
		_, _, err := Load("t", tt.args)
		require.ErrorContains(t, err, tt.want, tt.args)
	}
	c, _, err := Load("t", []string{"-fractional-quantity", "floor"})
	require.NoError(t, err)
	require.True(t, c.Limits.FloorFractionalQuantity)
	require.Equal(t, 13, c.Limits.IntegerDigits)
}
