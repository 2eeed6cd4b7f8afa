package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/config"
	"github.com/invsync/invsync/workflows"
)

// explainTimeout bounds one /explain.json request: the ERP read waits its
// turn behind a poll or a reconcile step, seconds at most.
const explainTimeout = 30 * time.Second

// maxExplains bounds the explanations under way at once; more are refused
// (429) rather than queued, so a search box held down costs the ERP little.
const maxExplains = 4

// explainHandler serves GET /explain.json?sku=SKU: the ExplainSKU workflow's
// result as JSON. It runs the workflow, as `dlq explain` does, rather than
// the same reads in-process: one path to the answer, and the ERP read stays
// on the ERP task queue, one query at a time with the poller's and the
// reconcile's. Each request is a workflow in the Web UI, with its answer.
type explainHandler struct {
	// run executes the workflow for in.
	run func(ctx context.Context, in activities.ExplainInput) (activities.Explanation, error)
	// in holds the ERP task queue and the Web UI's address.
	in      activities.ExplainInput
	busy    chan struct{}
	timeout time.Duration
}

func newExplainHandler(tc client.Client, cfg config.Config) *explainHandler {
	return &explainHandler{
		run: func(ctx context.Context, in activities.ExplainInput) (activities.Explanation, error) {
			var out activities.Explanation
			run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:        fmt.Sprintf("invsync-explain-%d", time.Now().UnixNano()),
				TaskQueue: cfg.ApplyTaskQueue,
				// It ends by itself if nobody picks it up.
				WorkflowExecutionTimeout: 10 * time.Minute,
			}, workflows.ExplainSKU, in)
			if err != nil {
				return out, err
			}
			return out, run.Get(ctx, &out)
		},
		in:      activities.ExplainInput{ERPTaskQueue: cfg.ERPTaskQueue, WebUI: cfg.TemporalUI},
		busy:    make(chan struct{}, maxExplains),
		timeout: explainTimeout,
	}
}

func (h *explainHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		explainError(w, http.StatusMethodNotAllowed, "GET /explain.json?sku=SKU")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		explainError(w, http.StatusBadRequest, "the query cannot be read: %v", err)
		return
	}
	if len(q["sku"]) != 1 {
		explainError(w, http.StatusBadRequest, "name one SKU: /explain.json?sku=SKU-0000001")
		return
	}
	in := h.in
	in.SKU = q.Get("sku")
	if err := in.Validate(); err != nil {
		explainError(w, http.StatusBadRequest, "%v", err)
		return
	}
	select {
	case h.busy <- struct{}{}:
		defer func() { <-h.busy }()
	default:
		explainError(w, http.StatusTooManyRequests, "%d explanations are under way: try again", cap(h.busy))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	e, err := h.run(ctx, in)
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	case errors.As(err, &appErr) && appErr.Type() == "InvalidInput":
		explainError(w, http.StatusBadRequest, "%s", appErr.Message())
	case ctx.Err() != nil && r.Context().Err() == nil:
		explainError(w, http.StatusGatewayTimeout, "no answer within %s: is a worker running on the ERP and apply task queues?", h.timeout)
	default:
		explainError(w, http.StatusBadGateway, "explain: %v", err)
	}
}

// explainError answers {"error": "..."}.
func explainError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, args...)})
}

// withExplain serves /explain.json beside the status page's handler.
func withExplain(status http.Handler, explain http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/explain.json", explain)
	mux.Handle("/", status)
	return mux
}
