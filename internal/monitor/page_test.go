package monitor

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
