package testenv

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// Chromium finds the headless browser that dev/test installs:
// $INVSYNC_CHROMIUM, then PATH.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("INVSYNC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("headless Chromium is needed for this test: run dev/test, which installs it (or set INVSYNC_CHROMIUM)")
	return ""
}

// Browse loads url in headless Chromium, a profile of its own and no
// background traffic, with the extra flags (--screenshot, --dump-dom,
// --virtual-time-budget) and returns what it printed.
func Browse(t testing.TB, url string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}, flags...)
	if !slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "--window-size=") }) {
		args = append(args, "--window-size=1000,1400")
	}
	cmd := exec.CommandContext(ctx, Chromium(t), append(args, url)...)
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", flags, err)
	}
	return string(out)
}
