package monitor

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/workflows"
)

// sampleEnd is the clock at the end of sampleHour.
var sampleEnd = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// sampleHour feeds the monitor an hour of 5 s samples of a realistic sync,
// on a clock of its own so that the page it serves is the same at every
// run: about 20 changes a second, and from 11:10 a mass price change of
// 200,000 rows that the pipeline drains in about 15 minutes while
// freshness climbs and falls back. It ends up to date, with some dead
// letters, a reconcile done and the re-pricing waiting.
func sampleHour(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, nil)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	start := sampleEnd.Add(-HistoryWindow)
	var now time.Time
	f.mon.now = func() time.Time { return now }

	f.deadLetters.counts = deadletter.Counts{Total: 52, ByReason: map[string]int64{"price_negative": 37, "quantity_negative": 12, "sku_invalid": 3}}
	for i, l := range []struct{ sku, code, msg string }{
		{"SKU-0012345", "price_negative", "price -4.00 is negative"},
		{"SKU-0098001", "quantity_negative", "quantity -2 is negative"},
		{"SKU-0012346", "price_negative", "price -0.01 is negative"},
		{"", "sku_invalid", `SKU "" is empty`},
		{"SKU-0041200", "price_negative", "price -19.99 is negative"},
	} {
		at := sampleEnd.Add(-time.Duration(i*i+1) * 97 * time.Second)
		f.deadLetters.letters = append(f.deadLetters.letters, deadletter.Letter{ID: l.code + l.sku, Stage: deadletter.StageApply,
			SKU: l.sku, Reason: inventory.Rejection{Code: l.code, Message: l.msg}, Attempts: 1, At: at, LastAt: at})
	}
	reconciled := sampleEnd.Add(-35 * time.Minute)
	f.reconciles.run = ReconcileRun{WorkflowID: "invsync-reconcile-erp-2026-11-25T11:25:00Z", RunID: "r7", State: "Completed",
		StartedAt: reconciled, ClosedAt: reconciled.Add(41 * time.Second),
		Status: workflows.ReconcileStatus{Done: true, Counts: activities.ReconcileCounts{Chunks: 100, Differing: 1,
			RowsRead: 500000, RowsCompared: 5000, Fixed: 2, Discontinued: 0}}}
	f.reprice.status = workflows.RepriceStatus{RulesVersion: "9f2c41d07ab3", State: workflows.StateWaiting,
		Pass:         workflows.RepricePass{At: sampleEnd.Add(-3 * time.Hour), Cursor: "SKU-0500000", Read: 500000, Changed: 41210},
		NextBoundary: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Passes: 12}

	const burstAt, burstRows = 120, 200000 // sample index, rows
	left, polls, published := int64(0), int64(0), int64(0)
	for i := 0; i <= 720; i++ {
		now = start.Add(time.Duration(i) * DefaultEvery)
		if i == burstAt {
			left = burstRows
		}
		applied := 80 + rng.IntN(40)
		fresh := make([]time.Duration, 0, applied+1300)
		for range applied {
			fresh = append(fresh, time.Duration(3+rng.Float64()*rng.Float64()*14)*time.Second)
		}
		state, ready := workflows.StateIdle, 5+rng.IntN(20)
		if left > 0 {
			state = workflows.StatePolling
			n := min(left, int64(1100+rng.IntN(200)))
			left -= n
			applied += int(n)
			since := now.Sub(start.Add(burstAt * DefaultEvery))
			for range n {
				fresh = append(fresh, 5*time.Second+time.Duration(float64(since)*(0.2+0.8*rng.Float64())))
			}
			ready = int(min(left, int64(4000+rng.IntN(1500))))
		}
		f.tel.Metrics.Fetched(ctx, applied+rng.IntN(5))
		f.tel.Metrics.Published(ctx, applied)
		f.tel.Metrics.Upserted(ctx, time.Duration(8+rng.IntN(20))*time.Millisecond, applied, rng.IntN(3), fresh)
		polls += 1
		published += int64(applied)
		f.queues["c"] = queue.Depth{Ready: ready, Unacked: rng.IntN(64), Consumers: 4}
		f.poller.status = workflows.PollStatus{
			State: state, Cursor: inventory.Cursor{LastModified: now.Add(-7 * time.Second), SKU: "SKU-0084211"},
			Totals:     workflows.PollTotal{Polls: 9120 + polls, Rows: 2350000 + published, Reread: 1841},
			LastPollAt: now.Add(-2 * time.Second), LastRows: applied, ERPClock: now.Add(-2 * time.Second),
			CaughtUpTo: now.Add(-9 * time.Second), Backlog: max(left-int64(ready), 0), NextPollAt: now.Add(3 * time.Second),
			LastLookbackAt: now.Add(-4 * time.Minute),
		}
		if left > 0 {
			f.poller.status.CaughtUpTo = start.Add(burstAt*DefaultEvery - time.Second)
		}
		f.mon.Sample(ctx)
	}

	return f
}
