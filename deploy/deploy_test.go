// Package deploy holds what runs invsync outside a developer's shell: the
// systemd unit and environment file of the gateway, the container image, and
// (at the top of the repository) the docker-compose stack. Its tests build the
// worker as dev/release does and read those files as the tools would.
package deploy

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/invsync/invsync/internal/config"
)

// versionFlag is the linker flag that stamps the version, as dev/release and
// deploy/Dockerfile pass it.
const versionFlag = "-X github.com/invsync/invsync/internal/version.Version="

// buildWorker builds ../workers with a stamped version, as dev/release does,
// and returns the binary's path. It leaves out the release's -trimpath and
// CGO_ENABLED=0, which would compile every dependency again instead of
// reusing what the other tests built (TestReleaseScript checks the script
// has them).
func buildWorker(t *testing.T, ver string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "workers")
	cmd := exec.Command("go", "build", "-ldflags", "-s -w "+versionFlag+ver, "-o", bin, "../workers")
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

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(readFile(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// workerPort is the port of the worker's default INVSYNC_HTTP_ADDR.
func workerPort(t *testing.T) string {
	t.Helper()
	for _, o := range config.Reference() {
		if o.Env == "INVSYNC_HTTP_ADDR" {
			_, port, err := net.SplitHostPort(o.Default)
			if err != nil {
				t.Fatal(err)
			}
			return port
		}
	}
	t.Fatal("no INVSYNC_HTTP_ADDR setting")
	return ""
}

// unpinned says why an image reference does not name a fixed release, or "".
func unpinned(image string) string {
	name, tag := image, ""
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		name, tag = image[:i], image[i+1:]
	}
	switch {
	case strings.Contains(name, "@sha256"):
		return ""
	case tag == "":
		return "no tag (means latest)"
	case strings.Contains(tag, "latest"):
		return "tag " + tag
	}
	return ""
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Restart     string `yaml:"restart"`
	NetworkMode string `yaml:"network_mode"`
	Healthcheck *struct {
		Test    any  `yaml:"test"`
		Disable bool `yaml:"disable"`
	} `yaml:"healthcheck"`
	// depends_on in its long form, a condition each; the short form (a
	// list) fails to decode here.
	DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
	Ports       []string                              `yaml:"ports"`
	Volumes     []string                              `yaml:"volumes"`
	Environment map[string]string                     `yaml:"environment"`
	Entrypoint  []string                              `yaml:"entrypoint"`
}

// job says whether a service runs once and exits (restart: "no"); every
// other service runs for the life of the stack.
func (s composeService) job() bool { return s.Restart == "no" }

func (s composeService) healthy() bool {
	return s.Healthcheck != nil && !s.Healthcheck.Disable && s.Healthcheck.Test != nil
}

// TestCompose reads docker-compose.yml as `docker compose config` would check
// it, and for what the stack needs to come up in order.
func TestCompose(t *testing.T) {
	// The compose tool's own check, where one is installed: the plugin
	// (docker compose) or the standalone docker-compose.
	checked := false
	for _, argv := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if _, err := exec.LookPath(argv[0]); err != nil || exec.Command(argv[0], append(argv[1:], "version")...).Run() != nil {
			continue
		}
		cmd := exec.Command(argv[0], append(argv[1:], "-f", "../docker-compose.yml", "config", "--quiet")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s config: %v\n%s", strings.Join(argv, " "), err, out)
		}
		checked = true
		break
	}
	if !checked {
		t.Log("neither docker compose nor docker-compose is installed: checking the file's shape only")
	}

	var c composeFile
	readYAML(t, "../docker-compose.yml", &c)
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range c.Services {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		s := c.Services[name]
		switch {
		case s.Image == "" && s.Build == nil:
			t.Errorf("%s: neither image nor build", name)
		case s.Image != "" && s.Build == nil:
			if why := unpinned(s.Image); why != "" {
				t.Errorf("%s: image %s is not pinned: %s", name, s.Image, why)
			}
		}
		if s.NetworkMode != "" {
			t.Errorf("%s: network_mode %s; every service belongs on the compose network", name, s.NetworkMode)
		}
		switch s.Restart {
		case "no":
			if len(s.Ports) > 0 {
				t.Errorf("%s: a one-shot job (restart: \"no\") publishes ports", name)
			}
		case "unless-stopped", "always", "on-failure":
			if !s.healthy() {
				t.Errorf("%s: a long-running service without a healthcheck", name)
			}
		default:
			t.Errorf("%s: restart %q; say \"no\" for a one-shot job, unless-stopped for a service", name, s.Restart)
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s: depends on %s, which is not a service", name, dep)
			case d.Condition == "service_healthy" && !target.healthy():
				t.Errorf("%s: waits for %s to be healthy, which has no healthcheck", name, dep)
			case d.Condition == "service_completed_successfully" && !target.job():
				t.Errorf("%s: waits for %s to complete, which is not a one-shot job", name, dep)
			case d.Condition != "service_healthy" && d.Condition != "service_completed_successfully":
				t.Errorf("%s: depends on %s with condition %q; want service_healthy or service_completed_successfully", name, dep, d.Condition)
			}
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %s is published on every interface; bind it to 127.0.0.1", name, p)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s: mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: volume %s is not declared under volumes:", name, src)
			}
		}
	}

	// The stores keep their data in named volumes.
	for name, dir := range map[string]string{"postgres": "/var/lib/postgresql/data", "rabbitmq": "/var/lib/rabbitmq", "sqlserver": "/var/opt/mssql"} {
		named := false
		for _, v := range c.Services[name].Volumes {
			src, target, _ := strings.Cut(v, ":")
			_, declared := c.Volumes[src]
			named = named || declared && target == dir
		}
		if !named {
			t.Errorf("%s: no named volume at %s", name, dir)
		}
	}

	if img := c.Services["rabbitmq"].Image; !regexp.MustCompile(`^rabbitmq:4\.\d+(\.\d+)?-management$`).MatchString(img) {
		t.Errorf("rabbitmq: image %q; want RabbitMQ 4.x with the management plugin (rabbitmq:4.N-management)", img)
	}

	// Temporal persists in PostgreSQL: a server on the postgres12 plugin whose
	// seeds are the compose postgres, after the schema job, and a Web UI.
	temporal := c.Services["temporal"]
	if !strings.HasPrefix(temporal.Image, "temporalio/server:") && !strings.HasPrefix(temporal.Image, "temporalio/auto-setup:") {
		t.Errorf("temporal: image %q; want temporalio/server (or auto-setup)", temporal.Image)
	}
	if db := temporal.Environment["DB"]; db != "postgres12" && db != "postgres12_pgx" {
		t.Errorf("temporal: DB=%q; want postgres12 persistence", db)
	}
	if seeds := temporal.Environment["POSTGRES_SEEDS"]; c.Services[seeds].Image == "" || !strings.HasPrefix(c.Services[seeds].Image, "postgres:") {
		t.Errorf("temporal: POSTGRES_SEEDS=%q is not the compose PostgreSQL", seeds)
	}
	if strings.HasPrefix(temporal.Image, "temporalio/server:") {
		schemaJob := false
		for dep, d := range temporal.DependsOn {
			schemaJob = schemaJob || d.Condition == "service_completed_successfully" && strings.HasPrefix(c.Services[dep].Image, "temporalio/admin-tools:")
		}
		if !schemaJob {
			t.Error("temporal: temporalio/server creates no tables; it must wait for an admin-tools schema job")
		}
	}
	uiFound := false
	for _, s := range c.Services {
		uiFound = uiFound || strings.HasPrefix(s.Image, "temporalio/ui:")
	}
	if !uiFound {
		t.Error("no temporalio/ui service")
	}

	// The worker is built from deploy/Dockerfile and reaches the others by
	// their service names; Prometheus scrapes it there.
	worker := c.Services["worker"]
	if worker.Build == nil || worker.Build.Dockerfile != "deploy/Dockerfile" || worker.Build.Context != "." {
		t.Errorf("worker: build %+v; want context . and dockerfile deploy/Dockerfile", worker.Build)
	}
	for _, env := range []string{"INVSYNC_TEMPORAL_ADDRESS", "INVSYNC_ERP_DSN", "INVSYNC_STORE_DSN", "INVSYNC_AMQP_URL", "INVSYNC_RABBITMQ_MANAGEMENT_URL"} {
		v := worker.Environment[env]
		host, _, err := net.SplitHostPort(v)
		if u, uerr := url.Parse(v); strings.Contains(v, "://") && uerr == nil {
			host, err = u.Hostname(), nil
		}
		if _, ok := c.Services[host]; err != nil || !ok {
			t.Errorf("worker: %s=%q does not name a compose service", env, v)
		}
	}
	_, port, err := net.SplitHostPort(worker.Environment["INVSYNC_HTTP_ADDR"])
	if err != nil || port != workerPort(t) {
		t.Errorf("worker: INVSYNC_HTTP_ADDR=%q; want a wildcard address on port %s", worker.Environment["INVSYNC_HTTP_ADDR"], workerPort(t))
	}

	var prom struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "../dev/prometheus/prometheus.yml", &prom)
	scraped := false
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			scraped = scraped || slices.Contains(st.Targets, "worker:"+port)
		}
	}
	if !scraped {
		t.Errorf("dev/prometheus/prometheus.yml does not scrape worker:%s", port)
	}
	var ds struct{ Datasources []struct{ URL string } }
	readYAML(t, "../dev/grafana/provisioning/datasources/prometheus.yml", &ds)
	for _, d := range ds.Datasources {
		if d.URL != "http://prometheus:9090" {
			t.Errorf("Grafana datasource %s; want http://prometheus:9090 on the compose network", d.URL)
		}
	}
}

// TestDockerfile checks deploy/Dockerfile the way a linter would: a builder
// and a minimal final stage, a static, trimmed, stamped build, a non-root
// user, the status port and a health check.
func TestDockerfile(t *testing.T) {
	var froms []string
	var final []string // instructions of the last stage
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(readFile(t, "Dockerfile"), "\\\n", " ")))
	args := map[string]string{}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			froms = append(froms, rest)
			final = nil
		case "ARG":
			if k, v, ok := strings.Cut(rest, "="); ok && len(froms) == 0 {
				args[k] = v
			}
		}
		final = append(final, line)
	}
	if len(froms) < 2 {
		t.Fatalf("FROM %q: want a build stage and a final stage", froms)
	}
	for _, f := range froms {
		image := strings.Fields(regexp.MustCompile(`--platform=\S+\s+`).ReplaceAllString(f, ""))[0]
		image = os.Expand(image, func(k string) string { return args[k] })
		if why := unpinned(image); why != "" {
			t.Errorf("FROM %s: not pinned: %s", image, why)
		}
	}
	if !strings.Contains(froms[0], " AS ") {
		t.Errorf("FROM %s: the build stage has no name", froms[0])
	}
	last := froms[len(froms)-1]
	if !strings.HasPrefix(last, "gcr.io/distroless/static") && last != "scratch" {
		t.Errorf("final FROM %s: want distroless/static or scratch", last)
	}
	text := readFile(t, "Dockerfile")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", versionFlag + "${VERSION}", "./workers"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile: no %q in the build", want)
		}
	}
	has := func(prefix string) string {
		for _, l := range final {
			if strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix))
			}
		}
		return ""
	}
	if u := has("USER "); u == "" || u == "root" || strings.HasPrefix(u, "0:") || u == "0" {
		t.Errorf("final stage USER %q: want a non-root user", u)
	}
	if p := has("EXPOSE "); p != workerPort(t) {
		t.Errorf("final stage EXPOSE %q: want the status port %s", p, workerPort(t))
	}
	if hc := has("HEALTHCHECK "); !strings.Contains(hc, "-healthcheck") {
		t.Errorf("final stage HEALTHCHECK %q: want the worker's -healthcheck", hc)
	}
	if ep := has("ENTRYPOINT "); !strings.Contains(ep, "workers") {
		t.Errorf("final stage ENTRYPOINT %q: want the worker", ep)
	}
}

// unit reads a systemd unit file: each key's values, in order.
func unit(t *testing.T, path string) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	section := ""
	for _, line := range strings.Split(readFile(t, path), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("%s: not a key=value line: %q", path, line)
			}
			keys[section+"."+k] = append(keys[section+"."+k], v)
		}
	}
	return keys
}

func TestSystemdUnit(t *testing.T) {
	u := unit(t, "invsync-worker.service")
	one := func(k string) string {
		v := u["Service."+k]
		if len(v) == 0 {
			return ""
		}
		return v[len(v)-1]
	}
	for k, want := range map[string]string{
		"Restart":                  "on-failure",
		"KillSignal":               "SIGTERM",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"DynamicUser":              "yes",
		"CapabilityBoundingSet":    "",
		"RestrictAddressFamilies":  "AF_INET AF_INET6 AF_UNIX",
		"MemoryDenyWriteExecute":   "yes",
		"RestartPreventExitStatus": "2",
		"EnvironmentFile":          "/etc/invsync/invsync-worker.env",
	} {
		if got, ok := u["Service."+k]; !ok || one(k) != want {
			t.Errorf("[Service] %s=%q, want %q", k, got, want)
		}
	}
	if !slices.Contains(u["Service.SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter %q: want @system-service", u["Service.SystemCallFilter"])
	}
	if one("RestartSec") == "" {
		t.Error("no RestartSec: restarts need a backoff")
	}

	// The stop timeout covers the worker's graceful stop: the apply worker's
	// activities, then the ERP worker's poll (30 s each), then 5 s of
	// telemetry flush.
	stop, err := time.ParseDuration(one("TimeoutStopSec"))
	if err != nil || stop < 65*time.Second {
		t.Errorf("TimeoutStopSec=%q: want at least 65s", one("TimeoutStopSec"))
	}

	// GOMEMLIMIT sits below the cgroup's hard limit.
	var limit string
	for _, e := range u["Service.Environment"] {
		if v, ok := strings.CutPrefix(e, "GOMEMLIMIT="); ok {
			limit = v
		}
	}
	limitBytes, max := bytesOf(t, limit), bytesOf(t, one("MemoryMax"))
	if limitBytes == 0 || max <= limitBytes || max > 4<<30 {
		t.Errorf("GOMEMLIMIT=%q, MemoryMax=%q: want a soft limit below the hard one, both within a 4 GB gateway", limit, one("MemoryMax"))
	}

	// systemd's own check, where systemd is installed (the binary and the
	// environment file are not: the copy points at stand-ins).
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: unit not verified by systemd")
		return
	}
	dir := t.TempDir()
	text := readFile(t, "invsync-worker.service")
	text = strings.Replace(text, "ExecStart=/usr/local/bin/invsync-worker", "ExecStart=/bin/true", 1)
	if err := os.WriteFile(filepath.Join(dir, "invsync-worker.service"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", filepath.Join(dir, "invsync-worker.service")).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// systemd before 254 does not know the growing restart delay.
		if line == "" || strings.Contains(line, "Unknown key") && (strings.Contains(line, "'RestartSteps'") || strings.Contains(line, "'RestartMaxDelaySec'")) {
			continue
		}
		t.Errorf("systemd-analyze verify: %s", line)
	}
	if err != nil {
		t.Errorf("systemd-analyze verify: %v", err)
	}
}

// bytesOf reads a size as systemd (1536M) or GOMEMLIMIT (1GiB) writes it.
func bytesOf(t *testing.T, s string) int64 {
	t.Helper()
	m := regexp.MustCompile(`^(\d+)([KMGT]?)(i?B)?$`).FindStringSubmatch(s)
	if m == nil {
		t.Errorf("size %q", s)
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m[2]]
	return n << shift
}

// TestEnvironmentFile: the gateway's environment file names every setting,
// each under a comment, commented-out lines with their defaults, secrets as
// placeholders; and sh reads it as systemd does.
func TestEnvironmentFile(t *testing.T) {
	text := readFile(t, "invsync-worker.env")
	defaults := map[string]string{}
	for _, o := range config.Reference() {
		defaults[o.Env] = o.Default
	}
	set := map[string]string{} // uncommented: value as systemd reads it
	seen := map[string]bool{}
	lines := strings.Split(text, "\n")
	assign := regexp.MustCompile(`^(#?)([A-Z][A-Z0-9_]*)=(.*)$`)
	for i, line := range lines {
		m := assign.FindStringSubmatch(line)
		if m == nil {
			if line != "" && !strings.HasPrefix(line, "#") {
				t.Errorf("line %d: neither a comment nor NAME=value: %q", i+1, line)
			}
			continue
		}
		commented, name, value := m[1] == "#", m[2], m[3]
		if i == 0 || !strings.HasPrefix(lines[i-1], "# ") || assign.MatchString(lines[i-1]) {
			t.Errorf("line %d: %s has no comment of its own above it", i+1, name)
		}
		seen[name] = true
		def, known := defaults[name]
		if !known && name != "GOMEMLIMIT" {
			t.Errorf("line %d: %s is not a setting of the worker", i+1, name)
		}
		if commented {
			if known && value != def {
				t.Errorf("line %d: #%s=%s, but its default is %q", i+1, name, value, def)
			}
			continue
		}
		set[name] = strings.Trim(value, "'")
	}
	for name := range defaults {
		if !seen[name] {
			t.Errorf("%s is missing from invsync-worker.env", name)
		}
	}
	for _, secret := range []string{"INVSYNC_ERP_DSN", "INVSYNC_STORE_DSN", "INVSYNC_AMQP_URL"} {
		if v, ok := set[secret]; !ok || !strings.Contains(v, "<") {
			t.Errorf("%s=%q: want a placeholder in <angle brackets>, not a value", secret, v)
		}
	}

	// The starter reads the file with `set -a; . file`: sh must see the same
	// values as systemd.
	cmd := exec.Command("sh", "-ec", `set -a; . ./invsync-worker.env; env`)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh . invsync-worker.env: %v\n%s", err, out)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	for k, v := range set {
		if env[k] != v {
			t.Errorf("sh reads %s as %q, systemd as %q", k, env[k], v)
		}
	}
}

// TestReleaseScript: dev/release is valid bash, builds every command the
// way the version test above does, and writes into a git-ignored dist/.
func TestReleaseScript(t *testing.T) {
	if out, err := exec.Command("bash", "-n", "../dev/release").CombinedOutput(); err != nil {
		t.Fatalf("bash -n dev/release: %v\n%s", err, out)
	}
	text := readFile(t, "../dev/release")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w " + versionFlag, "git describe", "linux/amd64", "linux/arm64", "workers starter dlq", "SHA256SUMS"} {
		if !strings.Contains(text, want) {
			t.Errorf("dev/release: no %q", want)
		}
	}
	if !slices.Contains(strings.Split(readFile(t, "../.gitignore"), "\n"), "/dist/") {
		t.Error(".gitignore does not ignore /dist/")
	}
}

// TestWorkflows: the GitHub workflows parse, and their service containers
// use pinned images, RabbitMQ 4.x where there is one.
func TestWorkflows(t *testing.T) {
	files, err := filepath.Glob("../.github/workflows/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows: %v", err)
	}
	for _, f := range files {
		var wf struct {
			Name string `yaml:"name"`
			On   any    `yaml:"on"`
			Jobs map[string]struct {
				RunsOn   any                               `yaml:"runs-on"`
				Services map[string]struct{ Image string } `yaml:"services"`
				Steps    []map[string]any                  `yaml:"steps"`
			} `yaml:"jobs"`
		}
		readYAML(t, f, &wf)
		if wf.Name == "" || wf.On == nil || len(wf.Jobs) == 0 {
			t.Errorf("%s: want name, on and jobs", f)
		}
		for job, j := range wf.Jobs {
			if j.RunsOn == nil || len(j.Steps) == 0 {
				t.Errorf("%s: job %s has no runs-on or steps", f, job)
			}
			for name, s := range j.Services {
				if why := unpinned(s.Image); why != "" {
					t.Errorf("%s: service %s image %s is not pinned: %s", f, name, s.Image, why)
				}
				if strings.HasPrefix(s.Image, "rabbitmq:") && !strings.HasPrefix(s.Image, "rabbitmq:4.") {
					t.Errorf("%s: service %s runs %s; want RabbitMQ 4.x", f, name, s.Image)
				}
			}
		}
	}
}
