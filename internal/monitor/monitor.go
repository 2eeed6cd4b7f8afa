// Package monitor watches the running pipeline for its operator: it samples
// the poller's status, the changes queue's depth, the dead letters kept and
// the process's own counters every few seconds, exports the sampled gauges,
// and serves the status page, /metrics, /healthz and /readyz.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/telemetry"
	"github.com/invsync/invsync/workflows"
)

// PollerStatus reads the poller's status query and its current run.
type PollerStatus interface {
	PollerStatus(ctx context.Context) (workflows.PollStatus, string, error)
}

// RepricerStatus reads the Reprice workflow's status query.
type RepricerStatus interface {
	RepriceStatus(ctx context.Context) (workflows.RepriceStatus, error)
}

// Reconciles reads the latest reconcile of the source.
type Reconciles interface {
	LastReconcile(ctx context.Context) (ReconcileRun, error)
}

// ReconcileRun is the latest reconcile: under way, or done.
type ReconcileRun struct {
	WorkflowID string                    `json:"workflow_id"`
	RunID      string                    `json:"run_id"`
	State      string                    `json:"state"` // Temporal's status: Running, Completed, Failed...
	StartedAt  time.Time                 `json:"started_at"`
	ClosedAt   time.Time                 `json:"closed_at,omitzero"`
	Status     workflows.ReconcileStatus `json:"status"`
	// Failure is why a run that did not complete ended.
	Failure string `json:"failure,omitempty"`
}

// QueueDepths reads a queue's message counts.
type QueueDepths interface {
	Depth(ctx context.Context, queue string) (queue.Depth, error)
}

// DeadLetterCounter counts the dead letters kept (in the storefront's
// PostgreSQL) and lists the newest. The DLQ's depth is read there, not from
// the broker: the broker's dead-letter queue only passes letters on to the
// store.
type DeadLetterCounter interface {
	CountDeadLetters(ctx context.Context) (deadletter.Counts, error)
	// ListDeadLetters returns up to limit letters of the filter, most
	// recently written first, without their payloads.
	ListDeadLetters(ctx context.Context, f deadletter.Filter, limit int) ([]deadletter.Letter, error)
}

// NewestLetters is how many of the newest dead letters a sample lists.
const NewestLetters = 10

// RecentLetter is one of the newest dead letters, as the status page lists
// it.
type RecentLetter struct {
	ID      string `json:"id"`
	SKU     string `json:"sku,omitempty"`
	Stage   string `json:"stage"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
	// At is when the letter was last written.
	At       time.Time `json:"at"`
	Attempts int       `json:"attempts"`
}

// Gauges the monitor samples.
const (
	// MetricDeadLetters is the gauge of dead letters kept, by reason code.
	MetricDeadLetters = "invsync_dead_letters"
	// MetricBatchesStuck is the gauge of batches failing for a minute or
	// more.
	MetricBatchesStuck = "invsync_batches_stuck"
)

// Config wires a Monitor.
type Config struct {
	Poller PollerStatus
	// Reprice reads the re-pricing of stored rows; nil: not shown.
	Reprice RepricerStatus
	// Reconciles reads the latest reconcile; nil: not shown.
	Reconciles Reconciles
	Queues     QueueDepths
	// ChangesQueue is the changes queue's name.
	ChangesQueue string
	// DeadLetters counts the DLQ; nil: not shown.
	DeadLetters DeadLetterCounter
	// Stuck lists the batches whose upsert keeps failing; nil: none.
	Stuck func() []activities.StuckBatch
	// Totals reads this process's own counters (telemetry.Telemetry.Totals).
	Totals func() (telemetry.Totals, error)
	// Checks are the readiness checks by component.
	Checks map[string]func(context.Context) error
	// WebUI, Namespace and PollerID build the links to the Temporal Web UI.
	WebUI, Namespace, PollerID string
	// Codec serves Temporal's remote codec protocol under /codec/, for the
	// Web UI and the CLI to read encrypted payloads; nil: not served.
	Codec http.Handler
	// Every is the sampling period; zero is DefaultEvery.
	Every  time.Duration
	Logger *slog.Logger
}

// Snapshot is one sample: everything the status page shows.
type Snapshot struct {
	At time.Time `json:"at"`

	Poller      *workflows.PollStatus `json:"poller,omitempty"`
	PollerRunID string                `json:"poller_run_id,omitempty"`
	PollerError string                `json:"poller_error,omitempty"`
	// FailingSince is the first of the samples in a row, up to this one,
	// in which the poller was failing or could not be reached; zero when
	// it is neither.
	FailingSince time.Time `json:"failing_since,omitzero"`
	// CursorLag is the ERP's clock (as of the last poll, moved on by the
	// time since) minus the time up to which every row has been read.
	CursorLag time.Duration `json:"cursor_lag"`

	Reprice      *workflows.RepriceStatus `json:"reprice,omitempty"`
	RepriceError string                   `json:"reprice_error,omitempty"`

	// Reconcile is the latest reconcile, nil when none ran yet.
	Reconcile      *ReconcileRun `json:"reconcile,omitempty"`
	ReconcileURL   string        `json:"reconcile_url,omitempty"`
	ReconcileError string        `json:"reconcile_error,omitempty"`

	Changes    queue.Depth `json:"changes"`
	QueueError string      `json:"queue_error,omitempty"`

	// DeadLetters counts the DLQ; nil until counted.
	DeadLetters *deadletter.Counts `json:"dead_letters,omitempty"`
	// NewestDeadLetters are the NewestLetters most recently written.
	NewestDeadLetters []RecentLetter `json:"newest_dead_letters,omitempty"`
	// Stuck are the batches whose upsert has kept failing for
	// activities.StuckAfter or more.
	Stuck           []activities.StuckBatch `json:"stuck"`
	DeadLetterError string                  `json:"dead_letter_error,omitempty"`

	Rows     RowCounts `json:"rows"`
	InFlight int64     `json:"in_flight"`
	// UpsertMean and FreshnessMean are averages since the process started;
	// FreshnessP95 is estimated from the histogram's buckets.
	UpsertMean    time.Duration `json:"upsert_mean"`
	FreshnessMean time.Duration `json:"freshness_mean"`
	FreshnessP95  time.Duration `json:"freshness_p95"`
	Retries       int64         `json:"activity_retries"`

	Progress Progress `json:"progress"`

	// PollerURL and BatchesURL open the Temporal Web UI.
	PollerURL  string `json:"poller_url,omitempty"`
	BatchesURL string `json:"batches_url,omitempty"`
}

// RowCounts are this process's row counters.
type RowCounts struct {
	Fetched   int64            `json:"fetched"`
	Published int64            `json:"published"`
	Applied   int64            `json:"applied"`
	Stale     int64            `json:"stale"`
	Rejected  map[string]int64 `json:"rejected"`
}

// Processed is rows applied, found stale or rejected.
func (r RowCounts) Processed() int64 {
	n := r.Applied + r.Stale
	for _, v := range r.Rejected {
		n += v
	}
	return n
}

// Progress describes a backlog draining: the first sync, or a burst.
type Progress struct {
	Active bool    `json:"active"`
	Done   int64   `json:"done"`
	Left   int64   `json:"left"`
	Rate   float64 `json:"rate"` // rows per second over the last minute
	// ETA is Left at Rate; 0 when the rate is not known yet.
	ETA time.Duration `json:"eta"`
}

// Percent is the share done, 0 to 100.
func (p Progress) Percent() float64 {
	if p.Done+p.Left == 0 {
		return 0
	}
	return 100 * float64(p.Done) / float64(p.Done+p.Left)
}

// Monitor samples the pipeline.
type Monitor struct {
	cfg Config

	// now is the clock samples are taken by.
	now     func() time.Time
	charts  *History
	mu      sync.Mutex
	last    Snapshot
	history []sample // processed counts over the last minute, for the rate
	base    int64    // processed count when the current drain began
}

type sample struct {
	at        time.Time
	processed int64
}

// DefaultEvery is the sampling period when Config sets none: each sample
// asks Temporal, RabbitMQ and PostgreSQL, so the status page is a few
// seconds behind at a small cost to them.
const DefaultEvery = 5 * time.Second

// New returns a Monitor and registers its gauges on meter.
func New(cfg Config, meter metric.Meter) (*Monitor, error) {
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{cfg: cfg, now: time.Now, charts: NewHistory(cfg.Every)}
	m.last.PollerURL, m.last.BatchesURL = m.links("")
	return m, m.registerGauges(meter)
}

// Run samples until ctx is done.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Every)
	defer t.Stop()
	for {
		m.Sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Snapshot returns the latest sample.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// Sample takes one sample now.
func (m *Monitor) Sample(ctx context.Context) Snapshot {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	s := Snapshot{At: m.now()}

	status, runID, err := m.cfg.Poller.PollerStatus(ctx)
	if err != nil {
		s.PollerError = err.Error()
	} else {
		s.Poller, s.PollerRunID = &status, runID
		if !status.CaughtUpTo.IsZero() {
			clock := status.ERPClock.Add(s.At.Sub(status.LastPollAt))
			s.CursorLag = max(clock.Sub(status.CaughtUpTo), 0)
		}
	}
	s.PollerURL, s.BatchesURL = m.links(runID)
	if m.cfg.Reprice != nil {
		if status, err := m.cfg.Reprice.RepriceStatus(ctx); err != nil {
			s.RepriceError = err.Error()
		} else {
			s.Reprice = &status
		}
	}

	if m.cfg.Reconciles != nil {
		run, err := m.cfg.Reconciles.LastReconcile(ctx)
		switch {
		case err != nil:
			s.ReconcileError = err.Error()
		case run.WorkflowID != "":
			s.Reconcile = &run
			s.ReconcileURL = m.workflowLink(run.WorkflowID, run.RunID)
		}
	}

	if s.Changes, err = m.cfg.Queues.Depth(ctx, m.cfg.ChangesQueue); err != nil {
		s.QueueError = err.Error()
	}
	if m.cfg.DeadLetters != nil {
		if counts, err := m.cfg.DeadLetters.CountDeadLetters(ctx); err != nil {
			s.DeadLetterError = err.Error()
		} else {
			s.DeadLetters = &counts
		}
		if letters, err := m.cfg.DeadLetters.ListDeadLetters(ctx, deadletter.Filter{}, NewestLetters); err != nil {
			s.DeadLetterError = err.Error()
		} else {
			for _, l := range letters {
				s.NewestDeadLetters = append(s.NewestDeadLetters, RecentLetter{ID: l.ID, SKU: l.SKU, Stage: l.Stage,
					Reason: l.Reason.Code, Message: l.Reason.Message, At: l.LastAt, Attempts: l.Attempts})
			}
		}
	}

	if m.cfg.Stuck != nil {
		s.Stuck = m.cfg.Stuck()
	}

	tot, err := m.cfg.Totals()
	if err == nil {
		s.Rows = RowCounts{Fetched: tot.Fetched, Published: tot.Published, Applied: tot.Applied, Stale: tot.Stale, Rejected: tot.Rejected}
		s.InFlight, s.Retries = tot.InFlight, tot.Retries
		s.UpsertMean = tot.Upsert.Mean()
		s.FreshnessMean, s.FreshnessP95 = tot.Freshness.Mean(), tot.Freshness.Quantile(0.95)
	} else {
		m.cfg.Logger.Warn("cannot read own metrics", "error", err)
	}

	queued := int64(-1)
	if s.QueueError == "" {
		queued = int64(s.Changes.Ready + max(s.Changes.Unacked, 0))
	}
	m.charts.Record(s.At, tot, err == nil, queued)

	m.mu.Lock()
	defer m.mu.Unlock()
	s.Progress = m.progress(s)
	if s.Poller == nil || s.Poller.State == workflows.StateFailing {
		s.FailingSince = m.last.FailingSince
		if s.FailingSince.IsZero() {
			s.FailingSince = s.At
		}
	}
	m.last = s
	return s
}

// History returns the points the charts draw, oldest first.
func (m *Monitor) History() []Point { return m.charts.Points() }

// progress works out how far a drain has come. Rows left are those the ERP
// still holds past the cursor plus those waiting in the changes queue.
func (m *Monitor) progress(s Snapshot) Progress {
	processed := s.Rows.Processed()
	m.history = append(m.history, sample{s.At, processed})
	for len(m.history) > 2 && s.At.Sub(m.history[0].at) > time.Minute {
		m.history = m.history[1:]
	}
	var p Progress
	if s.Poller != nil {
		p.Left = s.Poller.Backlog
	}
	p.Left += int64(s.Changes.Ready + max(s.Changes.Unacked, 0))
	if p.Left == 0 {
		return p
	}
	if !m.last.Progress.Active {
		m.base = processed
	}
	p.Active = true
	p.Done = processed - m.base
	if first := m.history[0]; s.At.Sub(first.at) > 0 && processed > first.processed {
		p.Rate = float64(processed-first.processed) / s.At.Sub(first.at).Seconds()
		p.ETA = time.Duration(float64(p.Left) / p.Rate * float64(time.Second)).Round(time.Second)
	}
	return p
}

func (m *Monitor) links(runID string) (poller, batches string) {
	if m.cfg.WebUI == "" {
		return "", ""
	}
	batches = m.cfg.WebUI + "/namespaces/" + url.PathEscape(m.cfg.Namespace) +
		"/workflows?query=" + url.QueryEscape(fmt.Sprintf("WorkflowType=%q", "ApplyChanges"))
	return m.workflowLink(m.cfg.PollerID, runID), batches
}

// workflowLink is a workflow's page in the Web UI: its run's history when
// runID is known.
func (m *Monitor) workflowLink(workflowID, runID string) string {
	if m.cfg.WebUI == "" {
		return ""
	}
	link := m.cfg.WebUI + "/namespaces/" + url.PathEscape(m.cfg.Namespace) + "/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		link += "/" + url.PathEscape(runID) + "/history"
	}
	return link
}

// Poller states for the state gauge, beside the poller's own.
const stateUnreachable = "unreachable"

func (m *Monitor) registerGauges(meter metric.Meter) error {
	lag, err1 := meter.Float64ObservableGauge(telemetry.MetricCursorLag, metric.WithUnit("s"),
		metric.WithDescription("ERP clock minus the time up to which every ERP row has been read."))
	state, err2 := meter.Int64ObservableGauge(telemetry.MetricPollerState,
		metric.WithDescription("1 for the poller's current state, 0 for the others."))
	depth, err3 := meter.Int64ObservableGauge(telemetry.MetricQueueMessages,
		metric.WithDescription("Messages in a queue, by queue and state (ready, unacked); the dlq's are the dead letters kept."))
	backlog, err4 := meter.Int64ObservableGauge(telemetry.MetricERPBacklog,
		metric.WithDescription("ERP rows past the cursor that the last poll left for the next."))
	letters, err5 := meter.Int64ObservableGauge(MetricDeadLetters,
		metric.WithDescription("Dead letters kept, by reason code."))
	stuck, err6 := meter.Int64ObservableGauge(MetricBatchesStuck,
		metric.WithDescription("Batches whose upsert has kept failing for a minute or more."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	_, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s := m.Snapshot()
		current := stateUnreachable
		if s.Poller != nil {
			current = s.Poller.State
			o.ObserveFloat64(lag, s.CursorLag.Seconds())
			o.ObserveInt64(backlog, s.Poller.Backlog)
		}
		for _, st := range []string{workflows.StatePolling, workflows.StateIdle, workflows.StateThrottled, workflows.StatePaused, workflows.StateFailing, stateUnreachable} {
			v := int64(0)
			if st == current {
				v = 1
			}
			o.ObserveInt64(state, v, metric.WithAttributes(attribute.String("state", st)))
		}
		if s.QueueError == "" && !s.At.IsZero() {
			d := s.Changes
			o.ObserveInt64(depth, int64(d.Ready), metric.WithAttributes(attribute.String("queue", "changes"), attribute.String("state", "ready")))
			if d.Unacked >= 0 {
				o.ObserveInt64(depth, int64(d.Unacked), metric.WithAttributes(attribute.String("queue", "changes"), attribute.String("state", "unacked")))
			}
		}
		if s.DeadLetters != nil {
			// The DLQ's depth keeps its name: every letter kept waits for an
			// operator, as a ready message would.
			o.ObserveInt64(depth, s.DeadLetters.Total, metric.WithAttributes(attribute.String("queue", "dlq"), attribute.String("state", "ready")))
			for code, n := range s.DeadLetters.ByReason {
				o.ObserveInt64(letters, n, metric.WithAttributes(attribute.String("reason", code)))
			}
		}
		if !s.At.IsZero() {
			o.ObserveInt64(stuck, int64(len(s.Stuck)))
		}
		return nil
	}, lag, state, depth, backlog, letters, stuck)
	return err
}

// WorkflowClient is what reading a running workflow's status needs of the
// Temporal client.
type WorkflowClient interface {
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// PollerQuery reads the poller's status through the Temporal client.
type PollerQuery struct {
	Client     WorkflowClient
	WorkflowID string
}

// PollerStatus queries the running poller.
func (p PollerQuery) PollerStatus(ctx context.Context) (workflows.PollStatus, string, error) {
	var s workflows.PollStatus
	runID, err := queryStatus(ctx, p.Client, "poller", p.WorkflowID, &s)
	return s, runID, err
}

// RepriceQuery reads the Reprice workflow's status through the Temporal
// client.
type RepriceQuery struct {
	Client     WorkflowClient
	WorkflowID string
}

// RepriceStatus queries the running Reprice workflow.
func (q RepriceQuery) RepriceStatus(ctx context.Context) (workflows.RepriceStatus, error) {
	var s workflows.RepriceStatus
	_, err := queryStatus(ctx, q.Client, "re-pricing", q.WorkflowID, &s)
	return s, err
}

// ReconcileQuery finds the source's latest reconcile through the Temporal
// client: the runs its schedule started (IDs <id>-<time>) and any started by
// hand under the schedule's ID.
type ReconcileQuery struct {
	Client interface {
		WorkflowClient
		ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
		GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
	}
	Namespace string
	// ScheduleID is workflows.ReconcileWorkflowID of the source.
	ScheduleID string
}

// LastReconcile returns the latest reconcile, the zero run when none ran.
func (q ReconcileQuery) LastReconcile(ctx context.Context) (ReconcileRun, error) {
	res, err := q.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: q.Namespace,
		PageSize:  1,
		// Visibility lists running workflows first, then the most
		// recently closed (ORDER BY is not supported everywhere).
		Query: fmt.Sprintf("WorkflowType = 'Reconcile' AND (WorkflowId = '%s' OR WorkflowId STARTS_WITH '%s-')",
			q.ScheduleID, q.ScheduleID),
	})
	if err != nil {
		return ReconcileRun{}, fmt.Errorf("reconcile runs: %w", err)
	}
	if len(res.GetExecutions()) == 0 {
		return ReconcileRun{}, nil
	}
	e := res.GetExecutions()[0]
	run := ReconcileRun{WorkflowID: e.GetExecution().GetWorkflowId(), RunID: e.GetExecution().GetRunId(),
		State: e.GetStatus().String(), StartedAt: e.GetStartTime().AsTime()}
	if e.GetCloseTime() != nil {
		run.ClosedAt = e.GetCloseTime().AsTime()
	}
	switch e.GetStatus() {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		_, err = queryStatus(ctx, q.Client, "reconcile", run.WorkflowID, &run.Status)
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		err = q.Client.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &run.Status)
	default:
		if ferr := q.Client.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, nil); ferr != nil {
			run.Failure = ferr.Error()
		}
	}
	return run, err
}

// queryStatus asks the running workflow named what for its status, into
// out, and returns its run ID.
func queryStatus(ctx context.Context, c WorkflowClient, what, workflowID string, out any) (string, error) {
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, workflowID, err)
	}
	runID := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return runID, fmt.Errorf("%s %s is not running: %s", what, workflowID, st)
	}
	v, err := c.QueryWorkflow(ctx, workflowID, runID, workflows.QueryStatus)
	if err != nil {
		return runID, fmt.Errorf("%s %s: status query: %w", what, workflowID, err)
	}
	return runID, v.Get(out)
}
