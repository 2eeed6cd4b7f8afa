package monitor

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

//go:embed status.html
var statusHTML string

//go:embed status.js
var statusJS string

var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"since": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return now.Sub(t).Round(time.Second).String() + " ago"
	},
	"until": func(now, t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return "in " + max(t.Sub(now), 0).Round(time.Second).String()
	},
	"dur": func(d time.Duration) string {
		switch {
		case d == 0:
			return "—"
		case d < time.Second:
			return d.Round(100 * time.Microsecond).String()
		}
		return d.Round(100 * time.Millisecond).String()
	},
	"num":     func(n int64) string { return group(n) },
	"int":     func(n int) string { return group(int64(n)) },
	"pct":     func(p Progress) string { return fmt.Sprintf("%.1f", p.Percent()) },
	"rate":    func(r float64) string { return group(int64(r + 0.5)) },
	"reasons": sortedReasons,
	"ts":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") },
	"age": func(now, t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return approx(max(now.Sub(t), 0)) + " ago"
	},
	// script is the page's own script, inlined: the page loads nothing
	// from elsewhere.
	"script": func() template.JS { return template.JS(statusJS) },
}).Parse(statusHTML))

// pageData is what the status page shows: the latest sample, the charts
// of the last hour, and the SKU asked for (?sku=), which the page's script
// explains.
type pageData struct {
	Snapshot
	Charts []ChartView
	SKU    string
}

func group(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + group(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

type reasonCount struct {
	Code  string
	Count int64
}

func sortedReasons(m map[string]int64) []reasonCount {
	out := make([]reasonCount, 0, len(m))
	for k, v := range m {
		out = append(out, reasonCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Handler serves the status page at /, the snapshot at /status.json, the
// metrics at /metrics, liveness at /healthz, readiness at /readyz and, when
// configured, the payload codec under /codec/.
func (m *Monitor) Handler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	if m.cfg.Codec != nil {
		mux.Handle("/codec/", m.cfg.Codec)
	}
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", m.ready)
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m.Snapshot())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := m.Snapshot()
		data := pageData{Snapshot: s, Charts: charts(m.History(), s.At, m.cfg.Every), SKU: r.URL.Query().Get("sku")}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, data); err != nil {
			m.cfg.Logger.Error("status page", "error", err)
		}
	})
	return mux
}

// ready runs every readiness check at once, each bounded, and answers 503
// naming those that failed.
func (m *Monitor) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	result := map[string]string{}
	for name, check := range m.cfg.Checks {
		wg.Go(func() {
			msg := "ok"
			if err := check(ctx); err != nil {
				msg = err.Error()
			}
			mu.Lock()
			result[name] = msg
			mu.Unlock()
		})
	}
	wg.Wait()
	code := http.StatusOK
	for _, msg := range result {
		if msg != "ok" {
			code = http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(result)
}

// ServeListener serves h on ln until ctx is done.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
