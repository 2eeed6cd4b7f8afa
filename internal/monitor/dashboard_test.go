package monitor

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/telemetry"
)

// panel is what the test reads of a Grafana panel; a row panel holds
// others.
type panel struct {
	ID          int     `json:"id"`
	Title       string  `json:"title"`
	Panels      []panel `json:"panels"`
	FieldConfig struct {
		Defaults struct {
			Thresholds struct {
				Steps []struct {
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(append(out, p), flatten(p.Panels)...)
	}
	return out
}

// TestDashboardShowsEveryMetric: every metric the worker exports, the
// pipeline's and the monitor's gauges, appears in a panel of the Grafana
// dashboard, and the freshness SLO panel measures against 99% at 120 s.
func TestDashboardShowsEveryMetric(t *testing.T) {
	raw, err := os.ReadFile("../../dev/grafana/dashboards/invsync.json")
	require.NoError(t, err)
	var dash struct {
		Panels []panel `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	panels := flatten(dash.Panels)
	ids := map[int]string{}
	var exprs []string
	for _, p := range panels {
		require.NotContains(t, ids, p.ID, "panel IDs are unique: %q and %q", ids[p.ID], p.Title)
		ids[p.ID] = p.Title
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, name := range append(telemetry.PrometheusNames(), MetricDeadLetters, MetricBatchesStuck) {
		// A histogram shows as its _bucket, _count or _sum series.
		require.Regexp(t, `\b`+regexp.QuoteMeta(name)+`(_bucket|_count|_sum)?\b`, all, "no panel shows %s", name)
	}

	var slo *panel
	for i, p := range panels {
		if strings.Contains(p.Title, "SLO") {
			slo = &panels[i]
			break
		}
	}
	require.NotNil(t, slo, "a freshness SLO panel")
	require.Contains(t, slo.Targets[0].Expr, telemetry.MetricFreshness+`_seconds_bucket{le=~"120(.0)?"}`)
	require.Contains(t, slo.Targets[0].Expr, telemetry.MetricFreshness+"_seconds_count")
	var objective []float64
	for _, s := range slo.FieldConfig.Defaults.Thresholds.Steps {
		if s.Value != nil {
			objective = append(objective, *s.Value)
		}
	}
	require.Equal(t, []float64{0.99}, objective, "the 99%% objective is the panel's threshold")
}
