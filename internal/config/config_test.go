package config

import (
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

func TestRedactHidesPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://guest:s3cret@host:5672/":                        "amqp://guest:xxxxx@host:5672/",
		"postgres://u:s3cret@h/db?sslmode=disable":              "postgres://u:xxxxx@h/db?sslmode=disable",
		"sqlserver://u:s3cret@h:1433?database=ERP":              "sqlserver://u:xxxxx@h:1433?database=ERP",
		"sqlserver://h?database=ERP&password=s3cret&user+id=u":  "sqlserver://h?database=ERP&password=xxxxx&user+id=u",
		"server=h;user id=u;password=s3cret":                    "(redacted)",
		"postgres://postgres@127.0.0.1:5432/db?sslmode=disable": "postgres://postgres@127.0.0.1:5432/db?sslmode=disable",
	} {
		got := Redact(in)
		require.Equal(t, want, got)
		require.NotContains(t, got, "s3cret")
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
