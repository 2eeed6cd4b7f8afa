package monitor

import (
	"fmt"
	"strings"
	"time"

	"github.com/invsync/invsync/workflows"
)

// PollerInWords says what the poller is doing, in a line an operator reads
// at a glance: its state, how far behind it is and for how long, and why.
func (s Snapshot) PollerInWords() string {
	p := s.Poller
	if p == nil {
		if s.At.IsZero() {
			return "not sampled yet"
		}
		return "cannot reach the poller: " + shortError(s.PollerError) + s.failingFor()
	}
	behind := ""
	if s.Progress.Left > 0 {
		behind = ", " + group(s.Progress.Left) + plural(s.Progress.Left, " row", " rows") + " behind"
	}
	switch p.State {
	case workflows.StatePaused:
		return "paused by an operator" + behind
	case workflows.StateFailing:
		return "waiting for " + failingOn(p.LastError) + ": " + shortError(p.LastError) + s.failingFor()
	case workflows.StateThrottled:
		queued := int64(s.Changes.Ready + max(s.Changes.Unacked, 0))
		return fmt.Sprintf("holding back: the changes queue is above its high-water mark (%s waiting)",
			group(queued)+plural(queued, " message", " messages"))
	}
	switch {
	case p.Backlog > 0:
		switch {
		case s.Progress.Rate <= 0:
			return "catching up" + behind + ", measuring the rate"
		case s.Progress.ETA < time.Second:
			return "catching up" + behind + ", under 1 s left"
		}
		return "catching up" + behind + ", about " + approx(s.Progress.ETA) + " left"
	case !p.CaughtUpTo.IsZero():
		at := p.CaughtUpTo.UTC()
		layout := "15:04:05"
		if s.At.Sub(at) > 12*time.Hour || at.Sub(s.At) > 12*time.Hour {
			layout = "2006-01-02 15:04:05"
		}
		return "up to date: every ERP change up to " + at.Format(layout) + " UTC is published" + s.queueNote()
	case p.LastPollAt.IsZero():
		return "starting: no poll has finished yet"
	}
	return "up to date"
}

// queueNote says how much the changes queue still holds once the ERP is
// read, when that is more than a moment's work: the storefront is behind
// by that much even though every change is published.
func (s Snapshot) queueNote() string {
	queued := int64(s.Changes.Ready + max(s.Changes.Unacked, 0))
	if queued == 0 || (queued < 1000 && s.Progress.Rate > 0 && s.Progress.ETA < 30*time.Second) {
		return ""
	}
	note := "; " + group(queued) + plural(queued, " message waits", " messages wait") + " in the changes queue"
	if s.Progress.Rate > 0 && s.Progress.ETA >= time.Second {
		note += ", about " + approx(s.Progress.ETA) + " of work"
	}
	return note
}

// failingFor is how long the poller has been failing, as " for 3 min", or
// nothing at the first sample that saw it.
func (s Snapshot) failingFor() string {
	if s.FailingSince.IsZero() || s.At.Sub(s.FailingSince) < time.Second {
		return ""
	}
	return " for " + approx(s.At.Sub(s.FailingSince))
}

// failingOn names what a failing poll waits for, from its error.
func failingOn(err string) string {
	e := strings.ToLower(err)
	for _, broker := range []string{"rabbitmq", "amqp"} {
		if strings.Contains(e, broker) {
			return "RabbitMQ"
		}
	}
	return "the ERP"
}

// shortError is the innermost cause of a wrapped error's text ("permission
// denied for view x" of "poll: erp: ERROR: permission denied for view x"),
// cut to a line.
func shortError(err string) string {
	err = strings.TrimSpace(err)
	if err == "" {
		return "unknown error"
	}
	// The last segment that reads as a phrase, with what it qualifies:
	// "permission denied", "workflow not found for ID: invsync-poll-erp".
	parts := strings.Split(err, ": ")
	for i := len(parts) - 1; i >= 0; i-- {
		if tail := strings.Join(parts[i:], ": "); strings.Contains(parts[i], " ") || i == 0 {
			err = tail
			break
		}
	}
	if r := []rune(err); len(r) > 120 {
		err = string(r[:119]) + "…"
	}
	return err
}

// approx is a duration as a person says it: 40 s, 3 min, 2 h 5 min, 3 days.
func approx(d time.Duration) string {
	switch {
	case d < 59500*time.Millisecond:
		return fmt.Sprintf("%d s", int64(d.Round(time.Second)/time.Second))
	case d < 59*time.Minute+30*time.Second:
		return fmt.Sprintf("%d min", int64(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d days", int64(d.Round(24*time.Hour)/(24*time.Hour)))
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
