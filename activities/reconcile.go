package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/erp"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
	"github.com/invsync/invsync/internal/telemetry"
)

// ReconcileSource is the ERP side of a reconcile: chunk digests, and the rows
// of the chunks that differ.
type ReconcileSource interface {
	Clock(ctx context.Context) (inventory.Clock, error)
	Digest(ctx context.Context, after string, limit int) (erp.Digest, error)
	Range(ctx context.Context, after, through string) ([]inventory.Row, error)
	Lookup(ctx context.Context, skus []string) ([]inventory.Row, error)
}

// ReconcileStore is the storefront side of a reconcile.
type ReconcileStore interface {
	Digest(ctx context.Context, after, through string) (storefront.ChunkDigest, error)
	Keys(ctx context.Context, after, through string) ([]storefront.Key, error)
	Discontinue(ctx context.Context, skus []string, seenAt time.Time, remove bool, writtenBy string) (int, error)
}

// Reconciler holds the clients of the reconcile activity. It runs on the ERP
// task queue, so its ERP reads take turns with the poller's, one at a time
// and under the same rate limit.
type Reconciler struct {
	ERP   ReconcileSource
	Store ReconcileStore
	// Apply prices and writes the rows that differ and keeps the letters of
	// those that cannot be; it should record no freshness (a repaired row's
	// age is not a sync delay).
	Apply   *Applier
	Metrics *telemetry.Metrics // nil: not recorded
}

// Policies for rows the ERP no longer has.
const (
	// PolicyDiscontinue keeps the row, with quantity 0 and deleted_at set.
	PolicyDiscontinue = "discontinue"
	// PolicyDelete deletes the row.
	PolicyDelete = "delete"
)

// ReconcileInput says where a reconcile step starts and how much it does.
type ReconcileInput struct {
	// After is the last SKU of the chunks done; "" is the start.
	After     string `json:"after"`
	ChunkRows int    `json:"chunk_rows"`
	// MaxChunks bounds one step, so the poller's reads come in between.
	MaxChunks int `json:"max_chunks"`
	// MaxDuration bounds one step's time likewise.
	MaxDuration time.Duration `json:"max_duration"`
	// Policy is PolicyDiscontinue or PolicyDelete.
	Policy string `json:"policy"`
}

// ReconcileCounts count a reconcile's work.
type ReconcileCounts struct {
	Chunks int64 `json:"chunks"`
	// Differing chunks had their rows compared one by one.
	Differing int64 `json:"differing"`
	// RowsRead counts the ERP rows the digests summed up, and RowsCompared
	// those read again, whole, to compare a differing chunk.
	RowsRead     int64 `json:"rows_read"`
	RowsCompared int64 `json:"rows_compared"`
	// Fixed rows were written again as the ERP has them; Restored ones among
	// them had been discontinued.
	Fixed    int64 `json:"fixed"`
	Restored int64 `json:"restored"`
	// Discontinued rows are gone from the ERP.
	Discontinued int64 `json:"discontinued"`
	// Rejected rows cannot be applied: each is a dead letter.
	Rejected int64 `json:"rejected"`
	// Later rows are dated past the ERP clock: the poller takes them when
	// their time comes.
	Later int64 `json:"later,omitempty"`
}

// Add adds o to c.
func (c *ReconcileCounts) Add(o ReconcileCounts) {
	c.Chunks += o.Chunks
	c.Differing += o.Differing
	c.RowsRead += o.RowsRead
	c.RowsCompared += o.RowsCompared
	c.Fixed += o.Fixed
	c.Restored += o.Restored
	c.Discontinued += o.Discontinued
	c.Rejected += o.Rejected
	c.Later += o.Later
}

// ReconcileResult is where a step stopped. It is also the heartbeat detail,
// so a retried step resumes after the last chunk done.
type ReconcileResult struct {
	After  string          `json:"after"`
	Done   bool            `json:"done"`
	Counts ReconcileCounts `json:"counts"`
}

// lookupBatch is the most SKUs one ERP lookup names.
const lookupBatch = 1000

// ReconcileChunks compares chunks of SKUs from in.After on, each by one
// digest on each side, and for a chunk that differs makes the storefront
// equal to the ERP: rows missing, different, edited by hand or discontinued
// are written again from the ERP's values (the ERP is right even when its
// version is older, as after a restore from backup; the write's version is
// this read, so a newer write that lands meanwhile wins), and rows the ERP no
// longer has are discontinued, each confirmed missing by a keyed lookup
// first (the two sides may order SKUs differently).
func (r *Reconciler) ReconcileChunks(ctx context.Context, in ReconcileInput) (ReconcileResult, error) {
	res := ReconcileResult{After: in.After}
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		var last ReconcileResult
		if err := activity.GetHeartbeatDetails(ctx, &last); err == nil {
			res = last
		}
	}
	var hb *heartbeat[ReconcileResult]
	if activity.IsActivity(ctx) {
		hb = startHeartbeat(ctx, 5*time.Second, res)
		defer hb.stop()
	}
	start := time.Now()
	for n := 0; n < max(in.MaxChunks, 1); n++ {
		if in.MaxDuration > 0 && n > 0 && time.Since(start) > in.MaxDuration {
			break
		}
		counts, through, done, err := r.chunk(ctx, res.After, in)
		if err != nil {
			return res, err
		}
		res.Counts.Add(counts)
		r.Metrics.Reconciled(ctx, counts.RowsRead, counts.Fixed, counts.Restored, counts.Discontinued)
		res.After, res.Done = through, done
		if hb != nil {
			hb.record(res)
		}
		if done {
			break
		}
	}
	return res, nil
}

// chunk reconciles the chunk after after, and returns its last SKU and
// whether it was the last chunk.
func (r *Reconciler) chunk(ctx context.Context, after string, in ReconcileInput) (ReconcileCounts, string, bool, error) {
	c := ReconcileCounts{Chunks: 1}
	d, err := r.ERP.Digest(ctx, after, in.ChunkRows)
	if err != nil {
		return c, "", false, err
	}
	c.RowsRead = d.Rows
	// The last chunk runs to the end of the SKUs on both sides, so the
	// storefront's SKUs past the ERP's last are compared too.
	last := d.Rows < int64(in.ChunkRows)
	through := d.Last
	if last {
		through = ""
	}
	s, err := r.Store.Digest(ctx, after, through)
	if err != nil {
		return c, "", false, err
	}
	if s.Rows == d.Rows && s.Sum == d.Sum && s.Suspect == 0 {
		return c, d.Last, last, nil
	}
	c.Differing = 1
	clock, err := r.ERP.Clock(ctx)
	if err != nil {
		return c, "", false, err
	}
	rows, err := r.ERP.Range(ctx, after, through)
	if err != nil {
		return c, "", false, err
	}
	keys, err := r.Store.Keys(ctx, after, through)
	if err != nil {
		return c, "", false, err
	}
	c.RowsCompared = int64(len(rows))
	diff := newChunkDiff(keys, r.Apply.Limits.OrDefault())
	diff.add(rows, clock)
	batchID := fmt.Sprintf("reconcile-%s-%s", clock.Instant.Format("20060102T150405.000000Z"), inventory.Quote(after))
	by := workflowID(ctx, batchID)
	// Storefront rows the ERP's chunk lacks: confirmed missing by SKU.
	missing := diff.unseen()
	for len(missing) > 0 {
		batch := missing[:min(len(missing), lookupBatch)]
		missing = missing[len(batch):]
		seenAt, err := r.ERP.Clock(ctx)
		if err != nil {
			return c, "", false, err
		}
		found, err := r.ERP.Lookup(ctx, batch)
		if err != nil {
			return c, "", false, err
		}
		c.RowsCompared += int64(len(found))
		diff.add(found, seenAt)
		var gone []string
		for _, sku := range batch {
			if !diff.seen[sku] {
				gone = append(gone, sku)
			}
		}
		n, err := r.Store.Discontinue(ctx, gone, seenAt.Instant, in.Policy == PolicyDelete, by)
		if err != nil {
			return c, "", false, err
		}
		c.Discontinued += int64(n)
	}
	c.Later = diff.later
	letters := diff.letters
	if len(diff.fixes) > 0 {
		res, rejected, err := r.Apply.apply(ctx, batchID, diff.fixes, writer{by: by, verdicts: diff.verdicts})
		if err != nil {
			return c, "", false, err
		}
		letters = append(letters, rejected...)
		c.Fixed = int64(res.Applied)
		for _, sku := range res.SKUs.Applied {
			if diff.verdicts[sku] == storefront.VerdictRestored {
				c.Restored++
			}
		}
	}
	if err := r.Apply.DeadLetter(ctx, DeadLetterInput{Letters: letters}); err != nil {
		return c, "", false, err
	}
	c.Rejected = int64(len(letters))
	return c, d.Last, last, nil
}

// chunkDiff compares the ERP's rows of a chunk with the storefront's keys of
// it, as the rows are read (the chunk's range, then lookups by SKU).
type chunkDiff struct {
	lim    inventory.Limits
	stored map[string]storefront.Key
	keys   []storefront.Key
	// seen holds the SKUs the ERP has, whatever became of their rows.
	seen map[string]bool
	// fixes are the ERP rows the storefront does not hold as they are, with
	// each one's verdict (why it is written again); letters the rows that
	// cannot become changes; later counts rows dated past the ERP clock.
	fixes    []inventory.Change
	verdicts map[string]string
	letters  []deadletter.Letter
	later    int64
}

func newChunkDiff(keys []storefront.Key, lim inventory.Limits) *chunkDiff {
	stored := make(map[string]storefront.Key, len(keys))
	for _, k := range keys {
		stored[k.SKU] = k
	}
	return &chunkDiff{lim: lim, stored: stored, keys: keys, seen: map[string]bool{}, verdicts: map[string]string{}}
}

// add compares rows the ERP gave at clock.
func (d *chunkDiff) add(rows []inventory.Row, clock inventory.Clock) {
	for _, row := range rows {
		if row.SKU != nil {
			d.seen[*row.SKU] = true
		}
		if row.LastModified.After(clock.Wall) {
			d.later++ // the poller reads it once the ERP's clock has passed it
			continue
		}
		ch, rej := inventory.ParseRow(row, clock, d.lim)
		if rej != nil {
			d.letters = append(d.letters, deadletter.ForRow(row, *rej))
			continue
		}
		k, ok := d.stored[ch.SKU]
		if ok && k.ERPHash == ch.ERPHash && !k.Drifted && !k.Discontinued {
			continue
		}
		d.verdicts[ch.SKU] = verdict(k, ok)
		d.fixes = append(d.fixes, ch)
	}
}

// unseen lists the storefront's SKUs for sale that the ERP rows added so far
// lack.
func (d *chunkDiff) unseen() []string {
	var out []string
	for _, k := range d.keys {
		if !d.seen[k.SKU] && !k.Discontinued {
			out = append(out, k.SKU)
		}
	}
	return out
}

// verdict says why a reconcile writes a row again: the storefront's key of
// it, if it has one.
func verdict(k storefront.Key, stored bool) string {
	switch {
	case !stored:
		return storefront.VerdictMissing
	case k.Discontinued:
		return storefront.VerdictRestored
	case k.ERPHash == 0:
		return storefront.VerdictUnknown
	case k.Drifted:
		return storefront.VerdictHandEdit
	}
	return storefront.VerdictDiffered
}

// workflowID is the ID of the workflow an activity runs for, the writer its
// rows record; fallback outside an activity.
func workflowID(ctx context.Context, fallback string) string {
	if activity.IsActivity(ctx) {
		return activity.GetInfo(ctx).WorkflowExecution.ID
	}
	return fallback
}
