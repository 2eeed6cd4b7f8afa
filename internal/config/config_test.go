package config

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadPrefersFlagsOverEnvironmentOverDefaults(t *testing.T) {
	c, _, err := Load("t", []string{"-consumers", "7"}, env(map[string]string{
		"INVSYNC_CONSUMERS": "3", "INVSYNC_BATCH_SIZE": "42", "INVSYNC_POLL_INTERVAL": "10s",
	}))
	require.NoError(t, err)
	require.Equal(t, 7, c.Consumers)
	require.Equal(t, 42, c.BatchSize)
	require.Equal(t, 10*time.Second, c.PollInterval)
	require.Equal(t, "127.0.0.1:7233", c.TemporalAddress)
	require.Equal(t, "inventory.changes", c.Topology().ChangesQueue())
}

func TestLoadRejectsBadValues(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"INVSYNC_CONSUMERS": "five"}, nil, "INVSYNC_CONSUMERS"},
		{map[string]string{"INVSYNC_BATCH_WAIT": "soon"}, nil, "INVSYNC_BATCH_WAIT"},
		{nil, []string{"-consumers", "0"}, "consumers must be at least 1"},
		{nil, []string{"-erp-view", "x;drop"}, "not a plain identifier"},
		{nil, []string{"-erp-driver", "oracle"}, "erp driver"},
		{nil, []string{"-source", "a b"}, "source"},
	} {
		_, _, err := Load("t", tt.args, env(tt.env))
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
	for _, args := range [][]string{{"-h"}, {"-no-such-flag"}} {
		var out strings.Builder
		fs := flag.NewFlagSet("workers", flag.ContinueOnError)
		fs.SetOutput(&out)
		register(fs, env(map[string]string{
			"INVSYNC_STORE_DSN": "postgres://u:store-s3cret@h/db",
			"INVSYNC_AMQP_URL":  "amqp://u:amqp-s3cret@h:5672/",
			"INVSYNC_ERP_DSN":   "sqlserver://h?database=ERP&password=erp-s3cret",
		}), new(Config))
		require.Error(t, fs.Parse(args))
		require.Contains(t, out.String(), "-store-dsn")
		require.Contains(t, out.String(), "xxxxx", "the value is shown redacted")
		require.NotContains(t, out.String(), "s3cret")
	}
	c, _, err := Load("t", []string{"-store-dsn", "postgres://u:p@h/db"}, env(nil))
	require.NoError(t, err)
	require.Equal(t, "postgres://u:p@h/db", c.StoreDSN, "a secret flag still takes its value")
}

func TestLoadBoundsBatchesAndLimits(t *testing.T) {
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
		_, _, err := Load("t", tt.args, env(nil))
		require.ErrorContains(t, err, tt.want, tt.args)
	}
	c, _, err := Load("t", []string{"-fractional-quantity", "floor"}, env(nil))
	require.NoError(t, err)
	require.True(t, c.Limits.FloorFractionalQuantity)
	require.Equal(t, 13, c.Limits.IntegerDigits)
}
