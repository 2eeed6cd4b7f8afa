package tests

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var statusURL = regexp.MustCompile(`"msg":"status page and metrics","url":"(http://[^"]+)/"`)

// httpURL waits for the worker to say where its HTTP port is.
func (p *pipeline) httpURL() string {
	p.t.Helper()
	var url string
	require.Eventually(p.t, func() bool {
		m := statusURL.FindAllStringSubmatch(p.logs.String(), -1)
		if len(m) == 0 {
			return false
		}
		url = m[len(m)-1][1]
		return true
	}, 30*time.Second, 50*time.Millisecond, "the worker logs its status page URL")
	return url
}

func (p *pipeline) get(path string) (int, string) {
	p.t.Helper()
	resp, err := http.Get(p.httpURL() + path)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(p.t, err)
	return resp.StatusCode, string(b)
}

// scrape reads /metrics: value by series, such as
// `invsync_rows_rejected_total{reason="sku_empty"}`.
func (p *pipeline) scrape() metrics {
	p.t.Helper()
	code, body := p.get("/metrics")
	require.Equal(p.t, http.StatusOK, code)
	return parseMetrics(p.t, body)
}

type metrics map[string]float64

func parseMetrics(t testing.TB, text string) metrics {
	m := metrics{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		m[line[:i]] = v
	}
	return m
}

// sum adds the series of a metric whose labels include all of the given ones.
func (m metrics) sum(name string, labels ...string) float64 {
	var total float64
	for k, v := range m {
		base, rest, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// families are the metric names, without histogram suffixes.
func (m metrics) families() map[string]bool {
	raw := map[string]bool{}
	for k := range m {
		base, _, _ := strings.Cut(k, "{")
		raw[base] = true
	}
	out := map[string]bool{}
	for base := range raw {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if trimmed := strings.TrimSuffix(base, suf); trimmed != base && raw[trimmed+"_bucket"] {
				base = trimmed
			}
		}
		out[base] = true
	}
	return out
}

// otlpReceiver is an OTLP/HTTP endpoint that keeps what it is sent.
type otlpReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	spans   map[string][]string // span names by trace ID
	metrics map[string]bool
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{spans: map[string][]string{}, metrics: map[string]bool{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		switch req.URL.Path {
		case "/v1/traces":
			var in coltracepb.ExportTraceServiceRequest
			if err := proto.Unmarshal(b, &in); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for _, rs := range in.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						id := string(s.TraceId)
						r.spans[id] = append(r.spans[id], s.Name)
					}
				}
			}
			out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
			w.Header().Set("Content-Type", "application/x-protobuf")
			_, _ = w.Write(out)
		case "/v1/metrics":
			var in colmetricpb.ExportMetricsServiceRequest
			if err := proto.Unmarshal(b, &in); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for _, rm := range in.ResourceMetrics {
				for _, sm := range rm.ScopeMetrics {
					for _, m := range sm.Metrics {
						r.metrics[m.Name] = true
					}
				}
			}
			out, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
			w.Header().Set("Content-Type", "application/x-protobuf")
			_, _ = w.Write(out)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// traceWith reports whether one trace holds spans with all the names.
func (r *otlpReceiver) traceWith(names ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, spans := range r.spans {
		have := map[string]bool{}
		for _, s := range spans {
			have[s] = true
		}
		all := true
		for _, n := range names {
			all = all && have[n]
		}
		if all {
			return true
		}
	}
	return false
}

func (r *otlpReceiver) spanNames() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(r.spans)
	return string(b)
}

func (r *otlpReceiver) gotMetric(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.metrics[name]
}
