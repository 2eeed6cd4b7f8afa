package pricing

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// Watcher holds the rules in force and reloads them when their file
// changes: a change of rules takes effect within one check, without a
// restart. A file that no longer checks out is logged and ignored; the rules
// before it stay in force.
type Watcher struct {
	path string
	log  *slog.Logger
	cur  atomic.Pointer[Rules]
	last []byte
	// onReload is told of each set of rules reloaded; nil: no one.
	onReload func(*Rules)
}

// OnReload has fn called with the new rules after each reload, on the
// goroutine that checks the file (Run's), so that what depends on the rules
// in force (the re-pricing of stored rows) follows them. Call it before Run.
func (w *Watcher) OnReload(fn func(*Rules)) { w.onReload = fn }

// Watch loads the rules file; an error here should stop the worker.
func Watch(path string, log *slog.Logger) (*Watcher, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := Load(path)
	if err != nil {
		return nil, err
	}
	w := &Watcher{path: path, log: log, last: b}
	w.cur.Store(r)
	return w, nil
}

// Current returns the rules in force.
func (w *Watcher) Current() *Rules { return w.cur.Load() }

// Run checks the file every period until ctx is done.
func (w *Watcher) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.Check()
		}
	}
}

// Check reloads the file if its contents changed.
func (w *Watcher) Check() {
	b, err := os.ReadFile(w.path)
	if err != nil {
		w.log.Error("pricing rules: cannot read the file; the rules in force stay", "path", w.path, "error", err)
		return
	}
	if bytes.Equal(b, w.last) {
		return
	}
	w.last = b
	r, err := Parse(b)
	if err != nil {
		w.log.Error("pricing rules: the changed file is not valid; the rules in force stay",
			"path", w.path, "error", err, "version", w.Current().Version)
		return
	}
	w.cur.Store(r)
	w.log.Info("pricing rules reloaded", "path", w.path, "version", r.Version)
	if w.onReload != nil {
		w.onReload(r)
	}
}
