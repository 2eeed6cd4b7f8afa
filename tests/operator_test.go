package tests

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// temporalCmd runs the temporal CLI against the test server, as the README
// tells an operator to.
func temporalCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cli, err := testenv.TemporalCLI()
	require.NoError(t, err)
	out, err := exec.Command(cli, append(args, "--address", temporal.FrontendHostPort())...).CombinedOutput()
	return string(out), err
}

func mustTemporal(t *testing.T, args ...string) string {
	t.Helper()
	out, err := temporalCmd(t, args...)
	require.NoError(t, err, "temporal %v: %s", args, out)
	return out
}

// TestOperatorControlsThePollerWithTheTemporalCLI drives a poller whose
// interval is an hour, so every poll after the first is one an operator asked
// for: poll-now, resume, and a cursor reset.
func TestOperatorControlsThePollerWithTheTemporalCLI(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, 100, "INVSYNC_POLL_INTERVAL=1h")
	p.startWorker()
	time.Sleep(time.Second) // past the settle delay, so the first poll sees the seed
	p.run("starter")
	p.waitConverged(ctx, time.Minute, nil)
	id := p.pollerID()
	tc := temporal.Client()

	out := mustTemporal(t, "workflow", "query", "--workflow-id", id, "--name", workflows.QueryStatus)
	require.Contains(t, out, `"state":"idle"`)

	// poll-now
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = 7777 WHERE sku = 'SKU-0000005'`)
	time.Sleep(2 * time.Second)
	bad, _ := p.diff(ctx, nil)
	require.Equal(t, 1, bad, "no poll before the interval or a poll-now")
	mustTemporal(t, "workflow", "signal", "--workflow-id", id, "--name", workflows.SignalPollNow)
	p.waitConverged(ctx, 30*time.Second, nil)

	// pause, poll-now ignored, resume
	mustTemporal(t, "workflow", "signal", "--workflow-id", id, "--name", workflows.SignalPause)
	require.Eventually(t, func() bool { return queryStatus(t, tc, id).State == workflows.StatePaused }, 10*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { return p.scrape().sum("invsync_poller_state", `state="paused"`) == 1 },
		20*time.Second, 200*time.Millisecond, "the paused state shows on /metrics")
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = 8888 WHERE sku = 'SKU-0000006'`)
	mustTemporal(t, "workflow", "signal", "--workflow-id", id, "--name", workflows.SignalPollNow)
	time.Sleep(2 * time.Second)
	bad, _ = p.diff(ctx, nil)
	require.Equal(t, 1, bad, "a paused poller does not poll")
	mustTemporal(t, "workflow", "signal", "--workflow-id", id, "--name", workflows.SignalResume)
	p.waitConverged(ctx, 30*time.Second, nil)

	// reset-cursor: a future cursor is refused, the start re-reads everything,
	// and re-reading changes nothing in the storefront.
	out, err := temporalCmd(t, "workflow", "update", "execute", "--workflow-id", id, "--name", workflows.UpdateResetCursor,
		"--input", `{"cursor":{"last_modified":"2999-01-01T00:00:00Z"}}`)
	require.Error(t, err)
	require.Contains(t, out, "in the future")

	before := queryStatus(t, tc, id).Totals.Rows
	lastWrite := p.lastWrite(ctx)
	out = mustTemporal(t, "workflow", "update", "execute", "--workflow-id", id, "--name", workflows.UpdateResetCursor,
		"--input", `{"cursor":{}}`)
	require.Contains(t, out, "SKU-", "the update returns the cursor it replaced")
	require.Eventually(t, func() bool { return queryStatus(t, tc, id).Totals.Rows >= before+100 }, 30*time.Second, 100*time.Millisecond)
	time.Sleep(2 * time.Second) // let the re-read rows through the consumers
	p.waitConverged(ctx, 30*time.Second, nil)
	require.Equal(t, lastWrite, p.lastWrite(ctx), "re-read rows are no-ops: no row was written")
	require.GreaterOrEqual(t, p.scrape().sum("invsync_rows_stale_total"), 100.0, "re-read rows are counted as stale")

	replayHistories(t, tc, id)
	p.stopWorker(30 * time.Second)
}

// lastWrite is the storefront's row count and latest synced_at.
func (p *pipeline) lastWrite(ctx context.Context) string {
	p.t.Helper()
	conn, err := pgx.Connect(ctx, p.storeDSN)
	require.NoError(p.t, err)
	defer conn.Close(ctx)
	var n int
	var latest time.Time
	require.NoError(p.t, conn.QueryRow(ctx, `SELECT count(*), max(synced_at) FROM inventory`).Scan(&n, &latest))
	return fmt.Sprintf("%d rows, last written %s", n, latest.UTC().Format(time.RFC3339Nano))
}
