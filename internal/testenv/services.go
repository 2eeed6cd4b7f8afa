package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// stopGrace bounds a graceful stop; a server still running after it is
// killed.
const stopGrace = 20 * time.Second

// server is a server process the test owns, so it can stop, kill and restart
// it without touching the machine's shared services. It keeps its ports and
// data directory across restarts. It runs in a process group of its own, so
// Kill takes any children with it, and it is killed with the test binary if
// the test never reaches its cleanup (a timeout panic).
//
// Its methods fail the test, so call them from the test's goroutine.
type server struct {
	t       testing.TB
	name    string
	logPath string
	// command builds the command line for each start.
	command func() *exec.Cmd
	// ready reports whether the server answers.
	ready func(context.Context) error
	// stopSig asks the server to shut down cleanly.
	stopSig syscall.Signal
	// startWithin bounds a start, until ready answers.
	startWithin time.Duration

	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed once cmd has exited
}

// newServer returns a stopped server whose output goes to dir/name.log. The
// server is stopped when the test ends, and the end of its log shown if the
// test failed.
func newServer(t testing.TB, name, dir string) *server {
	s := &server{t: t, name: name, logPath: filepath.Join(dir, name+".log"), stopSig: syscall.SIGTERM, startWithin: time.Minute}
	t.Cleanup(func() {
		s.stop(s.stopSig)
		if t.Failed() {
			t.Logf("%s log, last lines:\n%s", s.name, s.logTail())
		}
	})
	return s
}

// PID is the server's process ID, 0 while it is stopped.
func (s *server) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Start starts the server on its ports and data directory and returns once it
// answers. A server that exits while starting is started again, twice at
// most: right after a kill -9, PostgreSQL may still find its old shared
// memory attached for a moment and refuse to start.
func (s *server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatalf("%s: Start while it runs (pid %d)", s.name, s.cmd.Process.Pid)
	}
	for attempt := 1; ; attempt++ {
		err := s.start()
		if err == nil {
			return
		}
		if attempt == 3 || !errors.Is(err, errExited) {
			s.t.Fatalf("%v\n%s", err, s.logTail())
		}
		s.t.Logf("%v; starting it again", err)
		time.Sleep(500 * time.Millisecond)
	}
}

var errExited = errors.New("exited while starting")

// start runs the server once and waits until it answers, it exits, or
// startWithin has passed.
func (s *server) start() error {
	log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	defer log.Close() // the child has its own descriptor
	cmd := s.command()
	cmd.Stdout, cmd.Stderr = log, log
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	ctx, cancel := context.WithTimeout(context.Background(), s.startWithin)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.ready(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			s.reapGroup(cmd.Process.Pid)
			return fmt.Errorf("%s %w (%v): %v", s.name, errExited, cmd.ProcessState, err)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer within %s of its start: %w", s.name, s.startWithin, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop shuts the server down cleanly, and kills it if it still runs after
// stopGrace. Stopping a stopped server does nothing.
func (s *server) Stop() { s.stop(s.stopSig) }

// Kill kills the server and its children with SIGKILL, as a crash would: no
// shutdown of any kind.
func (s *server) Kill() { s.stop(syscall.SIGKILL) }

func (s *server) stop(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	s.cmd = nil
	defer s.reapGroup(pid)
	select {
	case <-s.exited:
		return // it died on its own
	default:
	}
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-pid, sig)
	} else {
		_ = syscall.Kill(pid, sig)
	}
	select {
	case <-s.exited:
	case <-time.After(stopGrace):
		s.t.Logf("%s (pid %d) still runs %s after %v; killing it", s.name, pid, stopGrace, sig)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exited
	}
}

// reapGroup kills what is left of the exited server's process group and
// waits until it is gone: after a kill, PostgreSQL's backends outlive the
// postmaster by a moment, holding its shared memory, and a restart then
// refuses to start.
func (s *server) reapGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			s.t.Logf("%s: processes of group %d still there 10s after its leader exited", s.name, pgid)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// FreePorts returns n distinct TCP ports free on 127.0.0.1 now.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		defer ln.Close() // held until all are chosen, so they differ
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func randomHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func dialTCP(ctx context.Context, port int) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err == nil {
		conn.Close()
	}
	return err
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// RabbitMQ is a RabbitMQ node of the test's own.
type RabbitMQ struct {
	*server
	port int
}

// StartRabbitMQ starts a RabbitMQ node with its own name, ports, data, logs,
// configuration, no plugins and its own epmd, so neither the shared node nor
// its epmd is touched. It is stopped when the test ends.
func StartRabbitMQ(t testing.TB) *RabbitMQ {
	t.Helper()
	bin := rabbitmqServer(t)
	epmdBin, err := exec.LookPath("epmd")
	if err != nil {
		t.Fatalf("epmd (Erlang) is needed for a test RabbitMQ node (dev/test installs RabbitMQ): %v", err)
	}
	dir := t.TempDir()
	ports := FreePorts(t, 3)
	port, distPort, epmdPort := ports[0], ports[1], ports[2]
	writeFiles(t, dir, map[string]string{
		"enabled_plugins": "[].\n",
		// The node reads this instead of /etc/rabbitmq/rabbitmq.conf, which
		// holds the shared node's listener.
		"rabbitmq.conf": fmt.Sprintf("listeners.tcp.1 = 127.0.0.1:%d\n", port),
		// And this instead of /etc/rabbitmq/rabbitmq-env.conf, which names
		// the shared node.
		"rabbitmq-env.conf": "",
	})

	// An epmd in the foreground, so it is ours to stop; one the node started
	// itself would daemonize and outlive the test.
	epmd := newServer(t, "epmd", dir)
	epmd.command = func() *exec.Cmd {
		return exec.Command(epmdBin, "-port", strconv.Itoa(epmdPort), "-address", "127.0.0.1")
	}
	epmd.ready = func(ctx context.Context) error { return dialTCP(ctx, epmdPort) }
	epmd.Start()

	r := &RabbitMQ{server: newServer(t, "rabbitmq", dir), port: port}
	env := append(os.Environ(),
		// The Erlang cookie is created here, not in the user's home.
		"HOME="+dir,
		"ERL_EPMD_PORT="+strconv.Itoa(epmdPort),
		// With input allowed the script execs the Erlang VM instead of
		// running it behind a shell, so the PID we hold is the node's, and
		// SIGTERM stops it cleanly. -noinput still keeps it off stdin.
		"RABBITMQ_ALLOW_INPUT=1",
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-noinput -kernel inet_dist_use_interface {127,0,0,1}",
		"RABBITMQ_NODENAME=invsync-chaos-"+randomHex()+"@localhost",
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_LOGS=-",
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
	)
	r.command = func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env, cmd.Dir = env, dir
		return cmd
	}
	r.ready = func(ctx context.Context) error {
		conn, err := amqp.DialConfig(r.URL(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err != nil {
			return err
		}
		return conn.Close()
	}
	r.startWithin = 2 * time.Minute
	r.Start()
	return r
}

// URL is the node's AMQP URL.
func (r *RabbitMQ) URL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", r.port) }

// rabbitmqServer finds the rabbitmq-server script. Debian's /usr/sbin wrapper
// switches to the rabbitmq user through su, which would put su's PID in our
// hands and need the data owned by that user, so the script behind it is
// preferred.
func rabbitmqServer(t testing.TB) string {
	t.Helper()
	const debian = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	p, err := exec.LookPath("rabbitmq-server")
	if err != nil {
		t.Fatalf("rabbitmq-server is needed for a test RabbitMQ node (dev/test installs it): %v", err)
	}
	return p
}

// Postgres is a PostgreSQL cluster of the test's own, with trust
// authentication for the user postgres.
type Postgres struct {
	*server
	port int
}

// StartPostgres creates a cluster with initdb and starts it on a port of its
// own, listening on 127.0.0.1 only. It is stopped when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := postgresBin(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL refuses to run as root: as root, it runs as the postgres OS
	// user, who must own the data and reach it through the test's temporary
	// directories (created 0700).
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("a test PostgreSQL run by root needs the postgres OS user (dev/test installs PostgreSQL): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	p := &Postgres{server: newServer(t, "postgres", dir), port: FreePorts(t, 1)[0]}
	p.command = func() *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(p.port), "-k", data,
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}
	p.ready = func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, p.URL("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
	// SIGTERM is a smart shutdown, which waits for every client to leave;
	// SIGINT is the fast one: it disconnects them.
	p.stopSig = syscall.SIGINT
	p.Start()
	return p
}

// URL is the URL of a database of the cluster, as the user postgres.
func (p *Postgres) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, database)
}

// postgresBin finds the directory of initdb and postgres: the newest
// /usr/lib/postgresql/*/bin (Debian), else the one on PATH.
func postgresBin(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		t.Fatalf("initdb is needed for a test PostgreSQL cluster (dev/test installs PostgreSQL): not in /usr/lib/postgresql/*/bin nor on PATH")
	}
	return filepath.Dir(p)
}

// Temporal is a Temporal dev server of the test's own, its state in a file so
// that it survives a restart.
type Temporal struct {
	*server
	port int
}

// StartTemporal starts a headless Temporal dev server with the namespace
// default. It is stopped when the test ends.
func StartTemporal(t testing.TB) *Temporal {
	t.Helper()
	cli, err := TemporalCLI()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Temporal{server: newServer(t, "temporal", dir), port: FreePorts(t, 1)[0]}
	s.command = func() *exec.Cmd {
		return exec.Command(cli, "server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(s.port), "--headless",
			"--db-filename", filepath.Join(dir, "temporal.db"), "--log-level", "error", "--namespace", "default")
	}
	s.ready = s.answers
	s.Start()
	return s
}

// Address is the frontend's host:port.
func (s *Temporal) Address() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// answers reports whether the frontend is healthy and knows the namespace.
func (s *Temporal) answers(ctx context.Context) error {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  s.Address(),
		Namespace: "default",
		Logger:    tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return err
	}
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	return err
}

// TemporalCLI finds the temporal CLI that dev/test installs:
// $INVSYNC_TEMPORAL_CLI, then PATH, then GOPATH/bin.
func TemporalCLI() (string, error) {
	if p := os.Getenv("INVSYNC_TEMPORAL_CLI"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("the temporal CLI is needed for a test Temporal server: run dev/test, which installs it")
}
