package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// TestStatusPageInChromium renders the status page of a sync 40% through
// its backlog in a real browser, and checks both what it says and what it
// shows: the progress bar's filled share is measured on the screenshot.
func TestStatusPageInChromium(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.poller.status = workflows.PollStatus{State: workflows.StatePolling, Backlog: 9000, LastPollAt: time.Now()}
	f.queues["c"] = queue.Depth{Ready: 1000, Unacked: 0, Consumers: 5}
	f.mon.Sample(ctx) // the drain begins: 10,000 rows left
	f.tel.Metrics.Upserted(ctx, 30*time.Millisecond, 4000, 0, nil)
	f.poller.status.Backlog = 5000
	s := f.mon.Sample(ctx)
	require.InDelta(t, 40, s.Progress.Percent(), 1e-9)

	srv := httptest.NewServer(f.mon.Handler(f.tel.Handler()))
	defer srv.Close()

	dom := testenv.Browse(t, srv.URL+"/", "--dump-dom")
	for _, want := range []string{
		`id="state" class="state polling">polling<`,
		`4,000 rows (40.0 %)`,
		`id="progress-left" class="n">6,000 rows<`,
		`id="erp-backlog" class="n">5,000<`,
		`id="changes-ready" class="n">1,000<`,
		`href="http://ui.example/namespaces/default/workflows/invsync-poll-erp/run-1/history"`,
	} {
		require.Contains(t, dom, want)
	}
	require.NotContains(t, dom, "measuring", "the rate is known after two samples")

	shot := filepath.Join(t.TempDir(), "status.png")
	testenv.Browse(t, srv.URL+"/", "--screenshot="+shot)
	file, err := os.Open(shot)
	require.NoError(t, err)
	defer file.Close()
	img, err := png.Decode(file)
	require.NoError(t, err)

	fill := color.RGBA{0x16, 0xa3, 0x4a, 0xff}  // #16a34a, the bar's done part
	track := color.RGBA{0xe5, 0xe7, 0xeb, 0xff} // #e5e7eb, the bar's rest
	badge := color.RGBA{0x25, 0x63, 0xeb, 0xff} // #2563eb, the polling state
	row, filled, rest := barRow(img, fill, track)
	require.Positive(t, filled, "the screenshot shows the progress bar (row %d)", row)
	share := float64(filled) / float64(filled+rest)
	require.InDelta(t, 0.40, share, 0.02, "the bar is filled to 40%% on screen (%d of %d pixels)", filled, filled+rest)
	require.Positive(t, count(img, badge), "the state badge shows in the polling colour")
	if dir := os.Getenv("INVSYNC_SCREENSHOT_DIR"); dir != "" {
		b, _ := os.ReadFile(shot)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "status.png"), b, 0o644))
	}
}

// barRow finds the pixel row with the most fill-coloured pixels and counts
// the fill and track pixels in it.
func barRow(img image.Image, fill, track color.RGBA) (row, filled, rest int) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		var f, r int
		for x := b.Min.X; x < b.Max.X; x++ {
			switch near(img.At(x, y)) {
			case fill:
				f++
			case track:
				r++
			}
		}
		if f > filled {
			row, filled, rest = y, f, r
		}
	}
	return row, filled, rest
}

func count(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(img.At(x, y)) == c {
				n++
			}
		}
	}
	return n
}

// near returns the colour as 8-bit RGBA.
func near(c color.Color) color.RGBA {
	r, g, b, a := c.RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

// explainStub stands in for GET /explain.json: SKU-1 is explained in full
// (with text that must stay text), SKU-2 in part, SKU-DOWN drops the
// connection, and any other SKU is unknown.
func explainStub(w http.ResponseWriter, r *http.Request) {
	switch sku := r.URL.Query().Get("sku"); sku {
	case "SKU-1":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{
  "sku": "SKU-1",
  "erp": {"sku": "SKU-1", "quantity": 7, "price": "24.00", "category": "<img src=x onerror=alert(1)>", "last_modified": "2026-11-25T11:58:01Z"},
  "storefront": {"sku": "SKU-1", "quantity": 7, "price": "21.60", "category": "<img src=x onerror=alert(1)>", "synced_at": "2026-11-25T11:58:09Z"},
  "agree": false,
  "reasons": ["the storefront's price is the ERP's after the rule winter-10", "<b>not bold</b>"],
  "rules": [{"rule": "winter-10", "price_after": "21.60"}],
  "dead_letters": [{"id": "a1", "reason": {"code": "price_negative", "message": "price -1.00 is negative"}, "at": "2026-11-20T08:00:00Z"}],
  "reconcile": {"verdict": "agrees", "at": "2026-11-25T11:25:41Z"},
  "trace_id": "4bf92f3577b34da6"
}`)
	case "SKU-2":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"sku": "SKU-2", "agree": true, "storefront": null}`)
	case "SKU-DOWN":
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "no SKU " + sku + " in the ERP or the storefront"})
	}
}

// measureScript records on the root element whether the page scrolls
// sideways: scrollWidth against the viewport's width, measured at load and
// again whenever the explanation changes. In a frame it tells the page
// around it too (see narrowFrame).
const measureScript = `<script>
(function () {
  var d = document.documentElement;
  function measure() {
    d.setAttribute("data-scroll-width", d.scrollWidth);
    d.setAttribute("data-inner-width", window.innerWidth);
    if (parent !== window) parent.postMessage({ scrollWidth: d.scrollWidth, innerWidth: window.innerWidth,
      explained: document.getElementById("explain-sku") ? document.getElementById("explain-sku").textContent : "" }, "*");
  }
  measure();
  window.addEventListener("load", measure);
  new MutationObserver(measure).observe(document.getElementById("explain-result"), { childList: true, subtree: true });
})();
</script>
</body>`

// pageServer serves the monitor's handler with the explain stub beside it,
// as the worker serves both, and adds measureScript to the status page.
func pageServer(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	h := f.mon.Handler(f.tel.Handler())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /explain.json", explainStub)
	mux.HandleFunc("GET /narrow", narrowFrame)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = io.WriteString(w, strings.Replace(rec.Body.String(), "</body>", measureScript, 1))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// narrowFrame shows the status page (at its path ?page=) in a frame 390 px
// wide, the width of a phone: headless Chromium makes no window narrower
// than 500 px, and a frame is a viewport of its own, media queries
// included. What the framed page measures lands on this page's root.
func narrowFrame(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html><body style="margin:0">
<iframe src="%s" title="status page" style="width:390px;height:1580px;border:0;display:block"></iframe>
<script>
window.addEventListener("message", function (e) {
  var d = document.documentElement;
  d.setAttribute("data-scroll-width", e.data.scrollWidth);
  d.setAttribute("data-inner-width", e.data.innerWidth);
  d.setAttribute("data-explained", e.data.explained);
});
</script></body></html>`, html.EscapeString(r.URL.Query().Get("page")))
}

// runScripts lets the page's scripts run and fetch for up to 3 s of virtual
// time, less than its 5 s refresh.
const runScripts = "--virtual-time-budget=3000"

var pathData = regexp.MustCompile(`<path class="line (s\d)" d="(M[^"]+)"`)

// TestStatusPageChartsAndExplain renders an hour of a sync at 1280 px: the
// three charts carry path data and their latest values, the screenshot
// shows their lines, and the SKU in the query string is explained from
// /explain.json with every value as text.
func TestStatusPageChartsAndExplain(t *testing.T) {
	f := sampleHour(t)
	srv := pageServer(t, f)

	dom := testenv.Browse(t, srv.URL+"/?sku=SKU-1", "--window-size=1280,2000", runScripts, "--dump-dom")
	paths := pathData.FindAllStringSubmatch(dom, -1)
	require.Len(t, paths, 4, "rows, freshness p50 and p99, queue")
	for _, p := range paths {
		require.Greater(t, strings.Count(p[2], "L"), 600, "a point for nearly every sample of the hour")
	}
	for _, want := range []string{
		`<svg viewBox="0 0 400 190" role="img" aria-label="Rows applied per second" aria-describedby="chart-rows-desc">`,
		`<title>Freshness, p50 and p99</title>`,
		`id="chart-queue-desc">Messages ready or unacknowledged in the changes queue, sampled every 5 s over the last 1 h.`,
		`id="poller-words" class="words">up to date: every ERP change up to 11:59:51 UTC is published<`,
		`id="state" class="state idle">idle<`,
		`<a class="explain-link" href="/?sku=SKU-0012345#explain" data-sku="SKU-0012345">explain<span class="visually-hidden"> SKU-0012345</span></a>`,
		// the explanation, from the query string
		`<input id="sku" name="sku" type="search" value="SKU-1"`,
		`<h3 id="explain-sku">SKU-1 <span class="state differs" id="explain-agree">differs</span></h3>`,
		`<li>the storefront's price is the ERP's after the rule winter-10</li>`,
		`<caption>SKU-1 in the ERP now and in the storefront</caption>`,
		`<th scope="col">ERP now</th>`,
		`<tr><th scope="row">price</th><td>24.00</td><td>21.60</td><td>differs</td></tr>`,
		`<td>&lt;img src=x onerror=alert(1)&gt;</td>`,
		`<li>&lt;b&gt;not bold&lt;/b&gt;</li>`,
		`<tr><td>winter-10</td><td>21.60</td></tr>`,
		`<td>price_negative: price -1.00 is negative</td>`,
		`<tr><th scope="row">verdict</th><td>agrees</td></tr>`,
		`<tr><th scope="row">trace id</th><td>4bf92f3577b34da6</td></tr>`,
		`<span id="refresh-note">; paused while an explanation is open</span>`,
	} {
		require.Contains(t, dom, want)
	}
	for _, latest := range []string{`id="chart-rows-applied">`, `id="chart-freshness-p50">`, `id="chart-freshness-p99">`, `id="chart-queue-queued">`} {
		require.Regexp(t, regexp.QuoteMeta(latest)+`[0-9.]+[^<]*<`, dom, "a number beside each chart")
	}
	require.NotContains(t, dom, `<img src="x"`, "no value from the server becomes markup")
	require.NotContains(t, dom, `<b>not bold</b>`)

	shot := filepath.Join(t.TempDir(), "status.png")
	testenv.Browse(t, srv.URL+"/", "--window-size=1280,2000", "--screenshot="+shot)
	img := decodePNG(t, shot)
	require.Equal(t, 1280, img.Bounds().Dx())
	require.Greater(t, nonWhiteShare(img), 0.04, "the page is not blank")
	require.Greater(t, count(img, color.RGBA{0x7c, 0x3a, 0xed, 0xff}), 1500, "the charts' solid lines show (#7c3aed)")
	require.Greater(t, count(img, color.RGBA{0xc2, 0x41, 0x0c, 0xff}), 200, "the p99 line shows (#c2410c)")
	if out := os.Getenv("INVSYNC_STATUS_PNG"); out != "" {
		b, err := os.ReadFile(shot)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(out, b, 0o644))
	}
}

// TestStatusPageFitsANarrowScreen: at 390 px the page does not scroll
// sideways, an explanation's tables included, and still shows its charts.
func TestStatusPageFitsANarrowScreen(t *testing.T) {
	f := sampleHour(t)
	f.stuck = []activities.StuckBatch{{ID: "invsync-apply-2026-11-25T11:59:00Z-0000000000000042", Since: sampleEnd.Add(-2 * time.Minute),
		LastError: "storefront: upsert: ERROR: permission denied for table items (SQLSTATE 42501) " + strings.Repeat("x", 80)}}
	f.mon.Sample(context.Background())
	srv := pageServer(t, f)
	require.Contains(t, testenv.Browse(t, srv.URL+"/", "--dump-dom"), `<meta name="viewport" content="width=device-width, initial-scale=1">`)
	for page, explained := range map[string]string{"/": "", "/?sku=SKU-1": "SKU-1 differs"} {
		dom := testenv.Browse(t, srv.URL+"/narrow?page="+url.QueryEscape(page), "--window-size=500,1600", runScripts, "--dump-dom")
		m := regexp.MustCompile(`data-scroll-width="(\d+)" data-inner-width="(\d+)" data-explained="([^"]*)"`).FindStringSubmatch(dom)
		require.NotNil(t, m, "the page measured itself")
		scroll, _ := strconv.Atoi(m[1])
		inner, _ := strconv.Atoi(m[2])
		require.Equal(t, 390, inner)
		require.LessOrEqual(t, scroll, inner, "%s scrolls sideways", page)
		require.Equal(t, explained, m[3], "measured with the explanation in")
	}

	shot := filepath.Join(t.TempDir(), "narrow.png")
	testenv.Browse(t, srv.URL+"/narrow?page=/", "--window-size=500,1600", "--screenshot="+shot)
	img := decodePNG(t, shot)
	frame := image.Rect(0, 0, 390, img.Bounds().Dy())
	require.Greater(t, count(img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(frame), color.RGBA{0x7c, 0x3a, 0xed, 0xff}), 300, "the charts show, narrower")
}

// TestExplainSaysWhatWentWrong: a SKU unknown, a connection dropped, and
// an explanation with fields missing each give a clear page.
func TestExplainSaysWhatWentWrong(t *testing.T) {
	f := newFixture(t, nil)
	f.mon.Sample(context.Background())
	srv := pageServer(t, f)
	for sku, want := range map[string]string{
		"SKU-9":    `<p class="error" id="explain-error">The server could not explain SKU-9 (HTTP 404): no SKU SKU-9 in the ERP or the storefront</p>`,
		"SKU-DOWN": `<p class="error" id="explain-error">Could not reach the server to explain SKU-DOWN (`,
		"SKU-2":    `<h3 id="explain-sku">SKU-2 <span class="state agrees" id="explain-agree">agrees</span></h3>`,
	} {
		dom := testenv.Browse(t, srv.URL+"/?sku="+sku, runScripts, "--dump-dom")
		require.Contains(t, dom, want, sku)
		if sku == "SKU-2" {
			require.Contains(t, dom, "<p>The storefront has no row for SKU-2.</p>")
			require.NotContains(t, dom, `id="explain-error"`)
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	file, err := os.Open(path)
	require.NoError(t, err)
	defer file.Close()
	img, err := png.Decode(file)
	require.NoError(t, err)
	return img
}

// nonWhiteShare is the share of pixels that are not near white.
func nonWhiteShare(img image.Image) float64 {
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if c := near(img.At(x, y)); c.R < 0xf0 || c.G < 0xf0 || c.B < 0xf0 {
				n++
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy())
}
