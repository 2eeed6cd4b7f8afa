package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/activities"
)

// fakeExplain answers for any SKU, and counts the calls.
func fakeExplain(calls *int, err error, wait time.Duration) func(context.Context, activities.ExplainInput) (activities.Explanation, error) {
	return func(ctx context.Context, in activities.ExplainInput) (activities.Explanation, error) {
		*calls++
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return activities.Explanation{}, ctx.Err()
			}
		}
		return activities.Explanation{SKU: in.SKU, Agree: true, Summary: "agree"}, err
	}
}

func serveExplain(t *testing.T, h *explainHandler, method, rawQuery string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, "/explain.json", nil)
	req.URL.RawQuery = rawQuery
	withExplain(http.NotFoundHandler(), h).ServeHTTP(rec, req)
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	return rec.Code, body
}

// TestExplainEndpointRefusesWhatIsNotASKU: no SKU, two, an empty one, one
// with control characters or invalid UTF-8, one of 10 KB, a query that does
// not parse: each is a 400 with a reason, and no workflow is started.
func TestExplainEndpointRefusesWhatIsNotASKU(t *testing.T) {
	calls := 0
	h := &explainHandler{run: fakeExplain(&calls, nil, 0), busy: make(chan struct{}, 1), timeout: time.Second}
	for _, tt := range []struct{ name, query, want string }{
		{"no SKU", "", "name one SKU"},
		{"two", "sku=A&sku=B", "name one SKU"},
		{"empty", "sku=", "sku is empty"},
		{"control characters", "sku=" + url.QueryEscape("SKU-1\x1b[2J\n"), "control characters"},
		{"a NUL", "sku=A%00B", "control characters"},
		{"invalid UTF-8", "sku=%ff%fe", "not valid UTF-8"},
		{"10 KB", "sku=" + strings.Repeat("A", 10<<10), "10240 bytes, the limit is 64"},
		{"a bad escape", "sku=%zz", "cannot be read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := serveExplain(t, h, http.MethodGet, tt.query)
			require.Equal(t, http.StatusBadRequest, code)
			require.Contains(t, body["error"], tt.want)
			require.Less(t, len(body["error"].(string)), 400, "the error quotes a long SKU cut")
		})
	}
	require.Zero(t, calls, "nothing is started for a bad request")
	code, _ := serveExplain(t, h, http.MethodPost, "sku=A")
	require.Equal(t, http.StatusMethodNotAllowed, code)
}

func TestExplainEndpointAnswers(t *testing.T) {
	calls := 0
	h := &explainHandler{run: fakeExplain(&calls, nil, 0), busy: make(chan struct{}, 1), timeout: time.Second,
		in: activities.ExplainInput{ERPTaskQueue: "q"}}
	code, body := serveExplain(t, h, http.MethodGet, "sku="+url.QueryEscape("SKU 0001/ä"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "SKU 0001/ä", body["sku"])
	require.Equal(t, true, body["agree"])
	require.Equal(t, 1, calls)

	// A refusal by the workflow is the caller's fault; a slow worker is a
	// timeout; a busy endpoint says so.
	h.run = fakeExplain(&calls, temporal.NewNonRetryableApplicationError("not a SKU: x", "InvalidInput", nil), 0)
	code, body = serveExplain(t, h, http.MethodGet, "sku=A")
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "not a SKU: x", body["error"])
	h.run, h.timeout = fakeExplain(&calls, nil, time.Minute), 50*time.Millisecond
	code, body = serveExplain(t, h, http.MethodGet, "sku=A")
	require.Equal(t, http.StatusGatewayTimeout, code)
	require.Contains(t, body["error"], "no answer within")
	h.busy <- struct{}{}
	code, _ = serveExplain(t, h, http.MethodGet, "sku=A")
	require.Equal(t, http.StatusTooManyRequests, code)
}
