// Package deploy holds what runs invsync outside a developer's shell: the
// systemd unit and environment file of the gateway, the container image, and
// (at the top of the repository) the docker-compose stack. Its tests build the
// worker as dev/release does and read those files as the tools would.
package deploy

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildWorker builds ../workers with the release's flags and a stamped
// version, and returns the binary's path.
func buildWorker(t *testing.T, ver string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "workers")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/invsync/invsync/internal/version.Version="+ver,
		"-o", bin, "../workers")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestWorkerVersionAndHealthcheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the worker")
	}
	bin := buildWorker(t, "v9.8.7-test")

	for _, arg := range []string{"-version", "--version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("workers %s: %v\n%s", arg, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "workers v9.8.7-test" {
			t.Errorf("workers %s printed %q, want %q", arg, got, "workers v9.8.7-test")
		}
	}

	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer healthy.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	// A port nothing listens on: one the kernel just handed out and took back.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, healthyPort, _ := net.SplitHostPort(healthy.Listener.Addr().String())

	for _, c := range []struct {
		name, addr string
		want       int
	}{
		{"healthy", healthy.Listener.Addr().String(), 0},
		{"wildcard address reached on loopback", "0.0.0.0:" + healthyPort, 0},
		{"503", failing.Listener.Addr().String(), 1},
		{"nothing listening", closed, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, "-healthcheck")
			cmd.Env = append(cmd.Environ(), "INVSYNC_HTTP_ADDR="+c.addr)
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.want {
				t.Errorf("workers -healthcheck against %s exited %d, want %d\n%s", c.addr, code, c.want, out)
			}
		})
	}
}
