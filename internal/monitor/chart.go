package monitor

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart is a line chart of the history as the status page draws it: an SVG
// drawn on the server, its paths already in the viewBox's coordinates.
type Chart struct {
	ID, Title string
	// Desc says in words what the chart shows, for those who cannot see it.
	Desc string
	// Unit labels the y axis.
	Unit   string
	Series []Series
	YTicks []Tick
	XTicks []Tick
	// Empty: no point to draw yet.
	Empty bool
}

// Series is one line of a chart.
type Series struct {
	// Key names the series in element IDs; Class styles its line.
	Key, Name, Class string
	// D is the path's data; a gap in the samples starts a new subpath.
	D string
	// Latest is the newest value, formatted, or "—".
	Latest string
}

// Tick is a label on an axis at Pos, in the viewBox's coordinates, and
// where its text is anchored (start, middle or end).
type Tick struct {
	Pos           float64
	Label, Anchor string
}

// The charts' viewBox and plot area.
const (
	chartW, chartH            = 400, 190
	plotLeft, plotRight       = 52, 388
	plotTop, plotBottom       = 16, 158
	chartMinSpan              = time.Minute
	chartGapFactor            = 3 // a missing stretch of this many periods breaks the line
	chartTickCount            = 2 // y ticks above zero
	chartXLabels              = 3
	chartXLabelY, chartUnitsY = 178, 10
)

// ChartView is what the template draws a chart with: its fixed geometry
// and the chart.
type ChartView struct {
	Chart
	W, H, Left, Right, Top, Bottom, XLabelY, YLabelX, UnitY int
}

func view(c Chart) ChartView {
	return ChartView{Chart: c, W: chartW, H: chartH, Left: plotLeft, Right: plotRight, Top: plotTop, Bottom: plotBottom,
		XLabelY: chartXLabelY, YLabelX: plotLeft - 6, UnitY: chartUnitsY}
}

// charts are the status page's three charts over the history up to now,
// sampled every period.
func charts(points []Point, now time.Time, every time.Duration) []ChartView {
	from := now.Add(-HistoryWindow)
	kept := points[:0:0]
	for _, p := range points {
		if !p.At.Before(from) && !p.At.After(now) {
			kept = append(kept, p)
		}
	}
	if len(kept) > 0 {
		from = kept[0].At
	}
	if now.Sub(from) < chartMinSpan {
		from = now.Add(-chartMinSpan)
	}
	span := now.Sub(from)
	desc := fmt.Sprintf("sampled every %s over the last %s", approx(every), approx(span))
	value := func(f func(Point) float64) []float64 {
		v := make([]float64, len(kept))
		for i, p := range kept {
			v[i] = f(p)
		}
		return v
	}
	g := grid{points: kept, from: from, span: span, every: every}
	return []ChartView{
		view(g.chart("chart-rows", "Rows applied per second", "Rows written to the storefront per second, "+desc+".",
			"rows/s", counts, []line{{"applied", "applied", "s1", value(func(p Point) float64 { return p.RowsPerSecond })}})),
		view(g.chart("chart-freshness", "Freshness, p50 and p99",
			"Storefront write time minus the ERP's change time of the rows written in each sample, median (solid) and 99th percentile (dashed), "+desc+".",
			"seconds", seconds, []line{
				{"p50", "p50", "s1", value(func(p Point) float64 { return p.FreshnessP50 })},
				{"p99", "p99", "s2", value(func(p Point) float64 { return p.FreshnessP99 })},
			})),
		view(g.chart("chart-queue", "Changes queue depth", "Messages ready or unacknowledged in the changes queue, "+desc+".",
			"messages", counts, []line{{"queued", "ready + unacked", "s1", value(func(p Point) float64 { return p.Queue })}})),
	}
}

type line struct {
	key, name, class string
	values           []float64
}

// grid places points on a chart's time axis.
type grid struct {
	points []Point
	from   time.Time
	span   time.Duration
	every  time.Duration
}

func (g grid) x(t time.Time) float64 {
	return plotLeft + float64(plotRight-plotLeft)*t.Sub(g.from).Seconds()/g.span.Seconds()
}

// scale is how a chart's values read: their label, and the top of the axis
// for the largest.
type scale struct {
	format func(float64) string
	ceil   func(float64) float64
}

var (
	counts  = scale{compact, niceCeil}
	seconds = scale{secs, niceSeconds}
)

func (g grid) chart(id, title, desc, unit string, sc scale, lines []line) Chart {
	format := sc.format
	c := Chart{ID: id, Title: title, Unit: unit, Empty: true}
	top := 0.0
	for _, l := range lines {
		for _, v := range l.values {
			if !math.IsNaN(v) {
				top, c.Empty = max(top, v), false
			}
		}
	}
	top = sc.ceil(top)
	y := func(v float64) float64 { return plotBottom - float64(plotBottom-plotTop)*v/top }
	for i := 0; i <= chartTickCount; i++ {
		v := top * float64(i) / chartTickCount
		c.YTicks = append(c.YTicks, Tick{Pos: y(v), Label: format(v), Anchor: "end"})
	}
	for i := range chartXLabels {
		t := g.from.Add(g.span * time.Duration(i) / (chartXLabels - 1))
		tick := Tick{Pos: g.x(t), Label: t.UTC().Format("15:04"), Anchor: "middle"}
		switch i {
		case 0:
			tick.Anchor = "start"
		case chartXLabels - 1:
			tick.Anchor, tick.Label = "end", tick.Label+" UTC"
		}
		c.XTicks = append(c.XTicks, tick)
	}
	var latest []string
	for _, l := range lines {
		s := Series{Key: l.key, Name: l.name, Class: l.class, Latest: "—"}
		var d strings.Builder
		var last time.Time
		for i, v := range l.values {
			if math.IsNaN(v) {
				continue
			}
			at := g.points[i].At
			cmd := "L"
			if last.IsZero() || at.Sub(last) > chartGapFactor*g.every {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s %s ", cmd, coord(g.x(at)), coord(y(v)))
			if cmd == "M" {
				d.WriteString("l0 0 ") // a lone point still shows, as a dot
			}
			last, s.Latest = at, format(v)
		}
		s.D = strings.TrimSpace(d.String())
		c.Series = append(c.Series, s)
		latest = append(latest, l.name+" "+s.Latest)
	}
	c.Desc = desc + " Latest: " + strings.Join(latest, ", ") + "; the axis goes up to " + format(top) + "."
	return c
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceCeil is the least of 1, 2 or 5 times a power of ten that is v or
// more: the top of a y axis.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// niceSeconds is the top of a y axis of seconds: a round number of seconds,
// minutes or hours, so that its half reads well too.
func niceSeconds(v float64) float64 {
	for _, top := range []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200} {
		if top >= v*(1-1e-9) {
			return top
		}
	}
	return 3600 * niceCeil(v/3600)
}

// compact is a count for an axis label or a latest value: 950, 1.2k, 3.5M.
func compact(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trimZero(v/1e6) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case a >= 1e3:
		return trimZero(v/1e3) + "k"
	case a >= 10 || a == 0:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return trimZero(v)
}

func trimZero(v float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
}

// secs is seconds for an axis label or a latest value: 45 s, 3.3 min, 2 h.
func secs(v float64) string {
	switch {
	case v <= 120:
		return trimZero(v) + " s"
	case v < 7200:
		return trimZero(v/60) + " min"
	}
	return trimZero(v/3600) + " h"
}
