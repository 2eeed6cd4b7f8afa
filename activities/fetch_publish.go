// Package activities holds the Temporal activities: the only code in the
// pipeline that talks to the ERP, RabbitMQ and the storefront.
package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/telemetry"
)

// ChangeSource is the read side of the ERP.
type ChangeSource interface {
	Clock(ctx context.Context) (inventory.Clock, error)
	Page(ctx context.Context, after inventory.Cursor, upTo time.Time, limit int) ([]inventory.Row, error)
	Future(ctx context.Context, after time.Time, limit int) ([]inventory.Row, error)
	Backlog(ctx context.Context, after inventory.Cursor, upTo time.Time) (int64, error)
}

// ChangePublisher puts changes on the changes queue, confirmed.
type ChangePublisher interface {
	PublishChanges(ctx context.Context, changes []inventory.Change) error
}

// ChangesQueue says how many changes wait in the changes queue.
type ChangesQueue interface {
	ChangesWaiting(ctx context.Context) (int, error)
}

// Fetcher holds the clients of the activities that run on the ERP task queue:
// they fetch rows from the ERP and publish them.
type Fetcher struct {
	Source    ChangeSource
	Publisher ChangePublisher
	// Queue is read for the high-water mark.
	Queue ChangesQueue
	// DeadLetters keeps the rows that cannot become changes.
	DeadLetters deadletter.Writer
	// Limits bound every value read; zero: inventory.DefaultLimits.
	Limits  inventory.Limits
	Metrics *telemetry.Metrics // nil: not recorded
	// Synced says how far the storefront has got, for a poller that starts
	// with no cursor; nil: from the start of the view.
	Synced SyncedVersion
}

// SyncedVersion is how far the storefront has got.
type SyncedVersion interface {
	NewestVersion(ctx context.Context) (time.Time, error)
}

// NewestVersion returns the latest ERP LastModified the storefront holds,
// zero when it holds none. A poller with no history of its own (terminated,
// or started in a new namespace) resumes a look-back before it instead of
// reading the whole view again.
func (f *Fetcher) NewestVersion(ctx context.Context) (time.Time, error) {
	if f == nil || f.Synced == nil {
		return time.Time{}, nil
	}
	return f.Synced.NewestVersion(ctx)
}

// FetchInput says where to read from and how much.
type FetchInput struct {
	Cursor      inventory.Cursor `json:"cursor"`
	PageSize    int              `json:"page_size"`
	MaxPages    int              `json:"max_pages"`
	SettleDelay time.Duration    `json:"settle_delay"`
	// StopAt, when set, ends the read at this LastModified: a look-back
	// re-reading a window behind the poller's cursor.
	StopAt time.Time `json:"stop_at,omitzero"`
	// HighWater is the number of messages waiting in the changes queue
	// (ready, or delivered and not yet acknowledged) at or above which no
	// more pages are read; 0 disables the check.
	HighWater int `json:"high_water"`
}

// FetchResult is where the read stopped. It is also the heartbeat detail, so a
// retried attempt resumes after the last confirmed page.
type FetchResult struct {
	Cursor inventory.Cursor `json:"cursor"`
	Rows   int              `json:"rows"`
	Pages  int              `json:"pages"`
	// More is true when the read stopped at MaxPages on a full page: a
	// backlog remains and the poller should read again at once.
	More bool `json:"more"`
	// Throttled is true when the changes queue was at its high-water mark.
	Throttled bool `json:"throttled"`
	// Settling is true when rows newer than the settle bound were seen: the
	// poller should look again once they have settled, not a whole interval
	// later.
	Settling bool `json:"settling"`
	// ERPClock is the ERP's time when the read began, in the last-modified
	// column's convention.
	ERPClock time.Time `json:"erp_clock"`
	// ERPOffset is that clock's lead over UTC: the ERP's UTC offset for a
	// column written in local time, else zero.
	ERPOffset time.Duration `json:"erp_offset,omitempty"`
	// CaughtUpTo is the time up to which every row has been published: the
	// settle bound when the read reached the end, else the cursor's time.
	CaughtUpTo time.Time `json:"caught_up_to,omitzero"`
	// Backlog is the number of settled rows left after Cursor when More is
	// true (counted once per poll, for progress); otherwise 0.
	Backlog int64 `json:"backlog,omitempty"`
	// Rejected is the number of rows read that could not become changes:
	// each is a dead letter, and the cursor moved past it.
	Rejected int `json:"rejected,omitempty"`
	// Future is the number of rows whose last-modified is past the ERP clock
	// by more than the allowance (up to futureCheck): dead letters too, seen
	// again at each poll that reaches the end until the ERP fixes them.
	Future int `json:"future,omitempty"`
}

// pollHeartbeatEvery is how often a poll heartbeats besides after each page.
const pollHeartbeatEvery = 3 * time.Second

// futureCheck is the most rows from the future one poll looks at.
const futureCheck = 100

// FetchAndPublish reads pages of rows after the cursor, turns each into a
// change or, when it cannot be one, a dead letter, publishes the changes and
// waits for the broker's confirms before moving the cursor past the page.
// Only the cursor is returned: row sets never enter workflow history.
func (p *Fetcher) FetchAndPublish(ctx context.Context, in FetchInput) (FetchResult, error) {
	res := FetchResult{Cursor: in.Cursor}
	if activity.HasHeartbeatDetails(ctx) {
		var last FetchResult
		if err := activity.GetHeartbeatDetails(ctx, &last); err == nil {
			res.Cursor, res.Rows, res.Pages, res.Rejected = last.Cursor, last.Rows, last.Pages, last.Rejected
		}
	}
	// Heartbeat on a ticker as well as after each page, so a slow ERP query
	// does not look like a dead worker, while a dead worker is noticed within
	// the heartbeat timeout. The details are always the last confirmed state.
	hb := startHeartbeat(ctx, pollHeartbeatEvery, res)
	defer hb.stop()
	start := time.Now()
	clock, err := p.Source.Clock(ctx)
	if err != nil {
		return res, err
	}
	p.Metrics.ERPQuery(ctx, "clock", time.Since(start))
	res.ERPClock, res.ERPOffset = clock.Wall, clock.Offset()
	upTo := clock.Wall.Add(-in.SettleDelay)
	if !in.StopAt.IsZero() && in.StopAt.Before(upTo) {
		upTo = in.StopAt
	}
	for res.Pages < in.MaxPages {
		if in.HighWater > 0 {
			waiting, err := p.Queue.ChangesWaiting(ctx)
			if err != nil {
				return res, err
			}
			if waiting >= in.HighWater {
				res.Throttled = true
				activity.GetLogger(ctx).Info("changes queue at high-water mark, holding back", "waiting", waiting, "high_water", in.HighWater)
				return res, nil
			}
		}
		// Read up to the ERP clock and cut at the settle bound here, so that
		// rows still settling are noticed without a query of their own.
		start := time.Now()
		page, err := p.Source.Page(ctx, res.Cursor, clock.Wall, in.PageSize)
		if err != nil {
			return res, err
		}
		p.Metrics.ERPQuery(ctx, "page", time.Since(start))
		p.Metrics.Fetched(ctx, len(page))
		full := len(page) >= in.PageSize // a page ends after the rows tied with its last
		for i, r := range page {
			if r.LastModified.After(upTo) {
				page, res.Settling, full = page[:i], true, false
				break
			}
		}
		if len(page) == 0 {
			res.CaughtUpTo = upTo
			break
		}
		if err := p.publish(ctx, page, clock, &res); err != nil {
			return res, err
		}
		res.Cursor = page[len(page)-1].Cursor()
		res.Rows += len(page)
		res.Pages++
		hb.record(res)
		if !full {
			res.CaughtUpTo = upTo
			break
		}
	}
	if res.CaughtUpTo.IsZero() {
		res.More = true
		res.CaughtUpTo = res.Cursor.LastModified
		start = time.Now()
		if res.Backlog, err = p.Source.Backlog(ctx, res.Cursor, upTo); err != nil {
			// The count only feeds progress reports: the published pages stand.
			activity.GetLogger(ctx).Warn("cannot count the ERP backlog", "error", err)
		}
		p.Metrics.ERPQuery(ctx, "backlog", time.Since(start))
		return res, nil
	}
	if in.StopAt.IsZero() {
		if err := p.future(ctx, clock, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// publish turns a page of rows into changes and dead letters, keeps the
// letters, and publishes the changes, confirmed. Letters are kept first: a
// retry after a failed publish writes them again, which changes nothing.
func (p *Fetcher) publish(ctx context.Context, page []inventory.Row, clock inventory.Clock, res *FetchResult) error {
	lim := p.Limits.OrDefault()
	changes := make([]inventory.Change, 0, len(page))
	var letters []deadletter.Letter
	for _, r := range page {
		c, rej := inventory.ParseRow(r, clock, lim)
		if rej != nil {
			letters = append(letters, deadletter.ForRow(r, *rej))
			continue
		}
		changes = append(changes, c)
	}
	if len(letters) > 0 {
		if err := p.DeadLetters.PutDeadLetters(ctx, letters); err != nil {
			return err
		}
		for _, l := range letters {
			p.Metrics.Rejected(ctx, l.Reason.Code)
		}
		res.Rejected += len(letters)
	}
	if len(changes) == 0 {
		return nil
	}
	if err := p.Publisher.PublishChanges(ctx, changes); err != nil {
		return err
	}
	p.Metrics.Published(ctx, len(changes))
	return nil
}

// future keeps a dead letter for each row dated past the ERP clock by more
// than the allowance. Pages stop at the ERP clock, so without this look
// such a row would never be read, nor seen by anyone. The query is a seek to
// the end of the (last_modified, sku) index.
func (p *Fetcher) future(ctx context.Context, clock inventory.Clock, res *FetchResult) error {
	lim := p.Limits.OrDefault()
	start := time.Now()
	rows, err := p.Source.Future(ctx, clock.Wall.Add(lim.FutureAllowance), futureCheck)
	if err != nil {
		return err
	}
	p.Metrics.ERPQuery(ctx, "future", time.Since(start))
	if len(rows) == 0 {
		return nil
	}
	letters := make([]deadletter.Letter, 0, len(rows))
	for _, r := range rows {
		if _, rej := inventory.ParseRow(r, clock, lim); rej != nil {
			letters = append(letters, deadletter.ForRow(r, *rej))
		}
	}
	res.Future = len(letters)
	activity.GetLogger(ctx).Warn("ERP rows dated in the future are dead letters until the ERP fixes them", "rows", len(letters))
	return p.DeadLetters.PutDeadLetters(ctx, letters)
}
