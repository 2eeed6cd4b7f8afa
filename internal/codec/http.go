package codec

import (
	"net/http"
	"slices"

	"go.temporal.io/sdk/converter"
)

// MaxRequestBytes bounds a request to the codec endpoint: Temporal refuses
// payloads over 2 MiB, and the Web UI sends one event's payloads at a time.
const MaxRequestBytes = 8 << 20

// Handler serves Temporal's remote codec protocol: POST .../encode and
// .../decode with a JSON Payloads body, as the Web UI and `temporal
// --codec-endpoint` call it. The UI calls it from the browser, so requests
// from the origins listed are allowed by CORS, with the X-Namespace header
// the UI sends; a request from any other origin is refused, and one without
// an Origin (the CLI, curl) is served.
func (c *Codec) Handler(origins []string) http.Handler {
	next := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" {
			if !slices.Contains(origins, origin) {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
		next.ServeHTTP(w, r)
	})
}
