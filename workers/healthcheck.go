package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/invsync/invsync/internal/config"
)

// healthcheck is `workers -healthcheck [flags]`: it GETs /healthz of the
// worker listening on INVSYNC_HTTP_ADDR (or -http-addr) and returns the exit
// status, 0 when it answers 200. The container image has no shell, curl or
// wget, so its HEALTHCHECK runs the worker binary itself.
func healthcheck(args []string) int {
	cfg, _, err := config.Load("workers", args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 2
	}
	url, err := healthURL(cfg.HTTPAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 2
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck:", url, resp.Status)
		return 1
	}
	return 0
}

// healthURL is the /healthz URL of a server listening on addr: a wildcard
// host (0.0.0.0, ::, none) is reached on the loopback address.
func healthURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("http-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
