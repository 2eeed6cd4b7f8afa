package tests

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/dev/demoerp"
	"github.com/invsync/invsync/internal/testenv"
)

// TestDaylightSavingEndsWhileSyncing moves the demo ERP into a zone whose
// daylight saving ends half a minute after the sync starts. The ERP writes
// local wall-clock times (a timestamp column, its server's local clock), so
// after the change its clock repeats an hour: rows written then carry times
// an hour behind the poller's cursor and behind the versions the storefront
// holds. They must still arrive, and replace what was written before.
func TestDaylightSavingEndsWhileSyncing(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, 2000, "INVSYNC_ERP_CLOCK=local")

	// UTC+2 in summer, UTC+1 after; summer ends at `change`, as the ERP's
	// wall clock reads it then. POSIX rules count days without 29 February.
	change := time.Now().UTC().Add(30 * time.Second).Truncate(time.Second)
	summerWall := change.Add(2 * time.Hour)
	day := summerWall.YearDay()
	if y := summerWall.Year(); (y%4 == 0 && y%100 != 0 || y%400 == 0) && summerWall.Month() > time.February {
		day--
	}
	zone := fmt.Sprintf("ERP-1ERPS-2,J1/0,J%d/%s", day, summerWall.Format("15:04:05"))
	u, err := url.Parse(p.erpDSN)
	require.NoError(t, err)
	testenv.Exec(t, p.erpDSN,
		`SET timezone TO '`+zone+`'`,
		`ALTER DATABASE `+strings.TrimPrefix(u.Path, "/")+` SET timezone TO '`+zone+`'`,
		`DROP VIEW `+demoerp.View,
		`ALTER TABLE erp_items ALTER COLUMN last_modified TYPE timestamp(6) USING last_modified::timestamp`,
		`CREATE VIEW `+demoerp.View+` AS SELECT sku, quantity, price, last_modified, cost, category FROM erp_items`,
		`GRANT SELECT ON `+demoerp.View+` TO `+demoerp.Reader,
	)
	p.startWorker()
	p.run("starter")
	p.waitConverged(ctx, time.Minute, nil)

	// Before the change, then after it: the later write has the earlier
	// wall-clock time.
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = 111 WHERE sku IN ('SKU-0000001', 'SKU-0000002')`)
	p.waitConverged(ctx, 30*time.Second, nil)
	require.Positive(t, time.Until(change), "the first writes came before daylight saving ended")
	time.Sleep(time.Until(change) + 2*time.Second)
	testenv.Exec(t, p.erpDSN,
		`UPDATE erp_items SET quantity = 222 WHERE sku = 'SKU-0000001'`,
		`UPDATE erp_items SET quantity = 333 WHERE sku = 'SKU-0000003'`)
	var before, after time.Time
	row := p.load(ctx, p.erpDSN, `SELECT sku, quantity, 0::bigint, last_modified FROM erp_items WHERE sku IN ('SKU-0000001', 'SKU-0000002')`)
	before, after = row["SKU-0000002"].Modified, row["SKU-0000001"].Modified
	require.True(t, after.Before(before), "the ERP's clock went back: the later write reads %s, the earlier %s", after, before)

	converged := p.waitConverged(ctx, 30*time.Second, nil)
	t.Logf("daylight saving ended at %s UTC (%s); the repeated hour's writes synced %s later",
		change.Format("15:04:05"), zone, converged.Round(time.Millisecond))
	status := queryStatus(t, temporal.Client(), p.pollerID())
	require.Equal(t, int64(1), status.Totals.Rewinds, "the poller read the repeated hour again, once")
	p.stopWorker(30 * time.Second)
}
