package monitor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/telemetry"
	"github.com/invsync/invsync/workflows"
)

type fakePoller struct {
	status workflows.PollStatus
	err    error
}

func (f *fakePoller) PollerStatus(context.Context) (workflows.PollStatus, string, error) {
	return f.status, "run-1", f.err
}

type fakeReprice struct {
	status workflows.RepriceStatus
	err    error
}

func (f *fakeReprice) RepriceStatus(context.Context) (workflows.RepriceStatus, error) {
	return f.status, f.err
}

type fakeReconciles struct {
	run ReconcileRun
	err error
}

func (f *fakeReconciles) LastReconcile(context.Context) (ReconcileRun, error) { return f.run, f.err }

type fakeQueues map[string]queue.Depth

func (f fakeQueues) Depth(_ context.Context, q string) (queue.Depth, error) {
	d, ok := f[q]
	if !ok {
		return d, errors.New("no such queue")
	}
	return d, nil
}

type fakeDeadLetters struct {
	counts  deadletter.Counts
	letters []deadletter.Letter // newest first
	err     error
}

func (f *fakeDeadLetters) CountDeadLetters(context.Context) (deadletter.Counts, error) {
	return f.counts, f.err
}

func (f *fakeDeadLetters) ListDeadLetters(_ context.Context, _ deadletter.Filter, limit int) ([]deadletter.Letter, error) {
	return f.letters[:min(limit, len(f.letters))], f.err
}

// fixture is a Monitor over a real telemetry setup, with the poller, the
// queues and the dead letters faked so each test sets the numbers it needs.
type fixture struct {
	stuck       []activities.StuckBatch
	mon         *Monitor
	tel         *telemetry.Telemetry
	poller      *fakePoller
	reprice     *fakeReprice
	reconciles  *fakeReconciles
	queues      fakeQueues
	deadLetters *fakeDeadLetters
}

func newFixture(t *testing.T, checks map[string]func(context.Context) error) *fixture {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{Service: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	f := &fixture{tel: tel, poller: &fakePoller{}, reprice: &fakeReprice{}, reconciles: &fakeReconciles{}, queues: fakeQueues{"c": {}}, deadLetters: &fakeDeadLetters{}}
	f.mon, err = New(Config{
		Poller: f.poller, Reprice: f.reprice, Reconciles: f.reconciles, Queues: f.queues, ChangesQueue: "c", DeadLetters: f.deadLetters,
		Totals: tel.Totals, Checks: checks, Stuck: func() []activities.StuckBatch { return f.stuck },
		WebUI: "http://ui.example", Namespace: "default", PollerID: "invsync-poll-erp",
	}, tel.Meter)
	require.NoError(t, err)
	return f
}

func TestProgress(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	at := func(sec int, processed, backlog int64, ready int) Snapshot {
		return Snapshot{
			At:      t0.Add(time.Duration(sec) * time.Second),
			Poller:  &workflows.PollStatus{Backlog: backlog},
			Changes: queue.Depth{Ready: ready, Unacked: -1},
			Rows:    RowCounts{Applied: processed},
		}
	}
	tests := []struct {
		name  string
		steps []Snapshot
		want  Progress
	}{
		{"nothing left is no drain", []Snapshot{at(0, 500, 0, 0)}, Progress{}},
		{"a drain counts from where it began",
			[]Snapshot{at(0, 500, 0, 0), at(5, 500, 9000, 1000), at(15, 4500, 5000, 1000)},
			Progress{Active: true, Done: 4000, Left: 6000, Rate: 4000.0 / 15, ETA: 23 * time.Second}},
		{"the rate covers the last minute only",
			[]Snapshot{at(0, 0, 100000, 0), at(60, 1000, 100000, 0), at(120, 7000, 90000, 0)},
			Progress{Active: true, Done: 7000, Left: 90000, Rate: 6000.0 / 60, ETA: 900 * time.Second}},
		{"a finished drain resets",
			[]Snapshot{at(0, 0, 100, 0), at(5, 100, 0, 0), at(10, 100, 0, 50)},
			Progress{Active: true, Done: 0, Left: 50, Rate: 10, ETA: 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Monitor{}
			var got Progress
			for _, s := range tt.steps {
				s.Progress = m.progress(s)
				m.last, got = s, s.Progress
			}
			require.Equal(t, tt.want.Active, got.Active)
			require.Equal(t, tt.want.Done, got.Done)
			require.Equal(t, tt.want.Left, got.Left)
			require.InDelta(t, tt.want.Rate, got.Rate, 0.01)
			require.Equal(t, tt.want.ETA, got.ETA)
		})
	}
	require.InDelta(t, 40.0, Progress{Done: 4000, Left: 6000}.Percent(), 1e-9)
	require.Zero(t, Progress{}.Percent())
}

func TestSampleReadsThePollerQueuesAndCounters(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	erpClock := time.Now().Add(-time.Hour) // the ERP's clock need not be ours
	f.poller.status = workflows.PollStatus{State: workflows.StateIdle, ERPClock: erpClock, LastPollAt: time.Now().Add(-10 * time.Second),
		CaughtUpTo: erpClock.Add(-5 * time.Second)}
	f.queues["c"] = queue.Depth{Ready: 7, Unacked: 3, Consumers: 5}
	f.deadLetters.counts = deadletter.Counts{Total: 2, ByReason: map[string]int64{"price_negative": 2}}
	f.tel.Metrics.Upserted(ctx, 20*time.Millisecond, 8, 2, []time.Duration{3 * time.Second, 7 * time.Second})
	f.tel.Metrics.Rejected(ctx, "price_negative")

	s := f.mon.Sample(ctx)
	require.Empty(t, s.PollerError)
	require.InDelta(t, 15, s.CursorLag.Seconds(), 1, "ERP clock at the last poll + time since, minus caught-up time")
	require.Equal(t, int64(8), s.Rows.Applied)
	require.Equal(t, int64(2), s.Rows.Stale)
	require.Equal(t, map[string]int64{"price_negative": 1}, s.Rows.Rejected)
	require.Equal(t, 5*time.Second, s.FreshnessMean)
	require.Equal(t, 10*time.Second, s.FreshnessP95, "upper bound of the bucket holding the 95th percentile")
	require.Equal(t, 20*time.Millisecond, s.UpsertMean)
	require.True(t, s.Progress.Active, "10 changes are waiting")
	require.Equal(t, "http://ui.example/namespaces/default/workflows/invsync-poll-erp/run-1/history", s.PollerURL)
	require.Equal(t, &f.deadLetters.counts, s.DeadLetters)

	f.poller.err = errors.New("workflow not found")
	s = f.mon.Sample(ctx)
	require.Nil(t, s.Poller)
	require.Contains(t, s.PollerError, "workflow not found")
}

func TestReadyNamesWhatIsDown(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	for _, tt := range []struct {
		name   string
		checks map[string]func(context.Context) error
		code   int
		body   string
	}{
		{"all up", map[string]func(context.Context) error{"temporal": up, "rabbitmq": up, "postgres": up},
			http.StatusOK, `{"temporal":"ok","rabbitmq":"ok","postgres":"ok"}`},
		{"one down", map[string]func(context.Context) error{"temporal": up, "rabbitmq": down, "postgres": up},
			http.StatusServiceUnavailable, `{"temporal":"ok","rabbitmq":"connection refused","postgres":"ok"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.checks)
			rec := httptest.NewRecorder()
			f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			require.Equal(t, tt.code, rec.Code)
			require.JSONEq(t, tt.body, rec.Body.String())

			rec = httptest.NewRecorder()
			f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			require.Equal(t, http.StatusOK, rec.Code, "alive whatever its dependencies")
		})
	}
}

// TestDeadLettersAreCountedInTheStore: the DLQ's depth on /metrics and on
// the status page is the number of letters the store keeps, by reason too.
func TestDeadLettersAreCountedInTheStore(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.queues["c"] = queue.Depth{Ready: 4, Unacked: 1}
	f.deadLetters.counts = deadletter.Counts{Total: 1203, ByReason: map[string]int64{
		"quantity_negative": 1200, "undecodable": 3}}
	f.mon.Sample(ctx)

	rec := httptest.NewRecorder()
	f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rec.Body.String()
	for _, want := range []string{
		`invsync_queue_messages{queue="changes",state="ready"} 4`,
		`invsync_queue_messages{queue="changes",state="unacked"} 1`,
		`invsync_queue_messages{queue="dlq",state="ready"} 1203`,
		MetricDeadLetters + `{reason="quantity_negative"} 1200`,
		MetricDeadLetters + `{reason="undecodable"} 3`,
	} {
		require.Contains(t, metrics, want)
	}

	rec = httptest.NewRecorder()
	f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	require.Contains(t, rec.Body.String(), `id="dead-letters" class="n">1,203<`)
	require.Contains(t, rec.Body.String(), `<th scope="row"><code>quantity_negative</code></th><td class="n">1,200<`)

	// The store unreachable: said on the page, no number made up.
	f.deadLetters.err = errors.New("storefront: connection refused")
	s := f.mon.Sample(ctx)
	require.Nil(t, s.DeadLetters)
	rec = httptest.NewRecorder()
	f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.NotContains(t, rec.Body.String(), `queue="dlq"`)
	rec = httptest.NewRecorder()
	f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	require.Contains(t, rec.Body.String(), "storefront: connection refused")
}

func TestStuckBatchesShowOnThePageAndAsAGauge(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	s := f.mon.Sample(ctx)
	require.Empty(t, s.Stuck)
	f.stuck = []activities.StuckBatch{{ID: "invsync-apply-0123", Since: time.Now().Add(-2 * time.Minute), LastError: "SQLSTATE 42501"}}
	s = f.mon.Sample(ctx)
	require.Len(t, s.Stuck, 1)
	rec := httptest.NewRecorder()
	f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Contains(t, rec.Body.String(), "invsync-apply-0123")
	require.Contains(t, rec.Body.String(), "SQLSTATE 42501")
	rec = httptest.NewRecorder()
	f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Contains(t, rec.Body.String(), MetricBatchesStuck+" 1")
}

func TestRepricingShowsOnThePage(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	f.reprice.status = workflows.RepriceStatus{RulesVersion: "a1b2c3d4e5f6", State: workflows.StateRepricing,
		Pass:         workflows.RepricePass{At: at, Cursor: "SKU-0042000", Read: 42000, Changed: 39000, Rejected: 3},
		NextBoundary: at.Add(96 * time.Hour), Passes: 7}
	s := f.mon.Sample(ctx)
	require.Equal(t, &f.reprice.status, s.Reprice)
	page := func() string {
		rec := httptest.NewRecorder()
		f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Body.String()
	}
	body := page()
	for _, want := range []string{
		`<h2 id="h-reprice">Re-pricing</h2>`,
		`id="reprice-state" class="state repricing">repricing<`,
		`id="reprice-rules">a1b2c3d4e5f6<`,
		`id="reprice-at">2026-11-27 00:00:00.000000 UTC<`,
		`id="reprice-rows" class="n">42,000 / 39,000 / 3<`,
		`id="reprice-cursor">SKU-0042000<`,
		`id="reprice-next">2026-12-01 00:00:00.000000 UTC, in `,
		`id="reprice-passes" class="n">7<`,
	} {
		require.Contains(t, body, want)
	}

	f.reprice.err = errors.New("re-pricing invsync-reprice-erp is not running: Terminated")
	s = f.mon.Sample(ctx)
	require.Nil(t, s.Reprice)
	require.Contains(t, page(), `<p class="error">re-pricing invsync-reprice-erp is not running: Terminated</p>`)
}

func TestReconcileShowsOnThePage(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	page := func() string {
		rec := httptest.NewRecorder()
		f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Body.String()
	}
	require.Nil(t, f.mon.Sample(ctx).Reconcile)
	require.NotContains(t, page(), `<h2 id="h-reconcile">Reconcile</h2>`, "no reconcile ran yet")

	started := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	f.reconciles.run = ReconcileRun{WorkflowID: "invsync-reconcile-erp-2026-11-26T00:00:00Z", RunID: "r1", State: "Completed",
		StartedAt: started, ClosedAt: started.Add(7 * time.Second),
		Status: workflows.ReconcileStatus{Done: true, Counts: activities.ReconcileCounts{Chunks: 100, Differing: 2,
			RowsRead: 499900, RowsCompared: 10000, Fixed: 70, Restored: 10, Discontinued: 100, Rejected: 1}}}
	s := f.mon.Sample(ctx)
	require.Equal(t, &f.reconciles.run, s.Reconcile)
	body := page()
	for _, want := range []string{
		`<h2 id="h-reconcile">Reconcile</h2>`,
		`id="reconcile-state" class="state Completed">Completed<`,
		`id="reconcile-link" href="http://ui.example/namespaces/default/workflows/invsync-reconcile-erp-2026-11-26T00:00:00Z/r1/history"`,
		`id="reconcile-chunks" class="n">100 (2)<`,
		`id="reconcile-read" class="n">499,900 / 10,000<`,
		`id="reconcile-fixed" class="n">70 / 10<`,
		`id="reconcile-discontinued" class="n">100<`,
		`id="reconcile-rejected" class="n">1<`,
	} {
		require.Contains(t, body, want)
	}
	f.reconciles.err = errors.New("reconcile runs: unavailable")
	require.Nil(t, f.mon.Sample(ctx).Reconcile)
	require.Contains(t, page(), `<p class="error">reconcile runs: unavailable</p>`)
}

// TestCodecEndpointOnlyWhenConfigured: /codec/ reaches the codec when there
// is one, and is absent (404) when payloads are not encrypted.
func TestCodecEndpointOnlyWhenConfigured(t *testing.T) {
	codec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "codec "+r.Method+" "+r.URL.Path)
	})
	for _, tt := range []struct {
		name  string
		codec http.Handler
		code  int
		body  string
	}{
		{"configured", codec, http.StatusOK, "codec POST /codec/decode"},
		{"not configured", nil, http.StatusNotFound, "404 page not found\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.mon.cfg.Codec = tt.codec
			rec := httptest.NewRecorder()
			f.mon.Handler(f.tel.Handler()).ServeHTTP(rec, httptest.NewRequest("POST", "/codec/decode", strings.NewReader("{}")))
			require.Equal(t, tt.code, rec.Code)
			require.Equal(t, tt.body, rec.Body.String())
		})
	}
}

func TestPollerInWords(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 10, 0, time.UTC)
	poller := func(state string, edit func(*workflows.PollStatus)) *workflows.PollStatus {
		p := &workflows.PollStatus{State: state, LastPollAt: at.Add(-2 * time.Second), Backlog: 100}
		if edit != nil {
			edit(p)
		}
		return p
	}
	for _, tt := range []struct {
		name string
		s    Snapshot
		want string
	}{
		{"not sampled", Snapshot{}, "not sampled yet"},
		{"catching up", Snapshot{At: at, Poller: poller(workflows.StatePolling, nil),
			Progress: Progress{Active: true, Left: 120000, Rate: 3000, ETA: 40 * time.Second}},
			"catching up, 120,000 rows behind, about 40 s left"},
		{"catching up for hours", Snapshot{At: at, Poller: poller(workflows.StatePolling, nil),
			Progress: Progress{Active: true, Left: 9000000, Rate: 1000, ETA: 2*time.Hour + 30*time.Minute}},
			"catching up, 9,000,000 rows behind, about 2 h 30 min left"},
		{"catching up, rate not known", Snapshot{At: at, Poller: poller(workflows.StatePolling, nil),
			Progress: Progress{Active: true, Left: 1}},
			"catching up, 1 row behind, measuring the rate"},
		{"catching up, nearly done", Snapshot{At: at, Poller: poller(workflows.StatePolling, nil),
			Progress: Progress{Active: true, Left: 20, Rate: 3000}},
			"catching up, 20 rows behind, under 1 s left"},
		{"up to date", Snapshot{At: at, Poller: poller(workflows.StateIdle, func(p *workflows.PollStatus) {
			p.CaughtUpTo, p.Backlog = time.Date(2026, 11, 25, 12, 0, 3, 0, time.UTC), 0
		}), Changes: queue.Depth{Ready: 40, Unacked: 12}, Progress: Progress{Active: true, Left: 52, Rate: 20, ETA: 3 * time.Second}},
			"up to date: every ERP change up to 12:00:03 UTC is published"},
		{"published, but the queue holds a lot", Snapshot{At: at, Poller: poller(workflows.StateIdle, func(p *workflows.PollStatus) {
			p.CaughtUpTo, p.Backlog = time.Date(2026, 11, 25, 12, 0, 3, 0, time.UTC), 0
		}), Changes: queue.Depth{Ready: 5000, Unacked: -1}, Progress: Progress{Active: true, Left: 5000, Rate: 50, ETA: 100 * time.Second}},
			"up to date: every ERP change up to 12:00:03 UTC is published; 5,000 messages wait in the changes queue, about 2 min of work"},
		{"up to date, long ago", Snapshot{At: at, Poller: poller(workflows.StateIdle, func(p *workflows.PollStatus) {
			p.CaughtUpTo, p.Backlog = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), 0
		})}, "up to date: every ERP change up to 2026-11-23 08:00:00 UTC is published"},
		{"first poll", Snapshot{At: at, Poller: &workflows.PollStatus{State: workflows.StatePolling}},
			"starting: no poll has finished yet"},
		{"failing on the ERP", Snapshot{At: at, FailingSince: at.Add(-3 * time.Minute), Poller: poller(workflows.StateFailing, func(p *workflows.PollStatus) {
			p.LastError = "activity error (type: FetchAndPublish, scheduledEventID: 5): erp: page: ERROR: permission denied"
		})}, "waiting for the ERP: permission denied for 3 min"},
		{"failing on the broker", Snapshot{At: at, FailingSince: at.Add(-90 * time.Minute), Poller: poller(workflows.StateFailing, func(p *workflows.PollStatus) {
			p.LastError = "publish: rabbitmq: dial tcp 127.0.0.1:5672: connect: connection refused"
		})}, "waiting for RabbitMQ: connection refused for 1 h 30 min"},
		{"failing, first seen now", Snapshot{At: at, FailingSince: at, Poller: poller(workflows.StateFailing, func(p *workflows.PollStatus) {
			p.LastError = "context deadline exceeded"
		})}, "waiting for the ERP: context deadline exceeded"},
		{"paused", Snapshot{At: at, Poller: poller(workflows.StatePaused, nil)}, "paused by an operator"},
		{"paused with rows left", Snapshot{At: at, Poller: poller(workflows.StatePaused, nil), Progress: Progress{Active: true, Left: 5000}},
			"paused by an operator, 5,000 rows behind"},
		{"throttled", Snapshot{At: at, Poller: poller(workflows.StateThrottled, nil), Changes: queue.Depth{Ready: 200000, Unacked: 500}},
			"holding back: the changes queue is above its high-water mark (200,500 messages waiting)"},
		{"unreachable", Snapshot{At: at, FailingSince: at.Add(-45 * time.Second),
			PollerError: "poller invsync-poll-erp: workflow not found for ID: invsync-poll-erp"},
			"cannot reach the poller: workflow not found for ID: invsync-poll-erp for 45 s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.s.PollerInWords())
		})
	}
}

func TestApprox(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 s", 40 * time.Second: "40 s", 59 * time.Second: "59 s", 59700 * time.Millisecond: "1 min",
		3 * time.Minute: "3 min", 61 * time.Minute: "1 h 1 min", 2 * time.Hour: "2 h", 72 * time.Hour: "3 days",
	} {
		require.Equal(t, want, approx(d), "%v", d)
	}
}
