package consumer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/invsync/invsync/internal/consumer"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
	"github.com/invsync/invsync/workflows"
)

// starter stands in for Temporal here (the end-to-end tests use a real
// server). refuse, when set, answers each start attempt (numbered from 1)
// with an error or nil. A started batch's workflow closes at once, or, with
// hold, when the test closes it.
type starter struct {
	refuse func(attempt int, in workflows.ApplyInput) error
	hold   bool

	mu       sync.Mutex
	attempts int
	started  []workflows.ApplyInput
	open     map[string]chan struct{}
	maxOpen  int
}

func (s *starter) StartBatch(_ context.Context, id string, changes []inventory.Change) (consumer.Batch, error) {
	in := workflows.ApplyInput{BatchID: id, Changes: changes}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.refuse != nil {
		if err := s.refuse(s.attempts, in); err != nil {
			return nil, err
		}
	}
	s.started = append(s.started, in)
	closed := make(chan struct{})
	if !s.hold {
		close(closed)
		return workflow{closed}, nil
	}
	if s.open == nil {
		s.open = map[string]chan struct{}{}
	}
	s.open[in.BatchID] = closed
	s.maxOpen = max(s.maxOpen, len(s.open))
	return workflow{closed}, nil
}

// closeAll closes the workflows open now and says how many there were.
func (s *starter) closeAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.open)
	for id, c := range s.open {
		close(c)
		delete(s.open, id)
	}
	return n
}

func (s *starter) figures() (open, maxOpen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open), s.maxOpen
}

func (s *starter) batches() []workflows.ApplyInput {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.started)
}

// skus counts each SKU over the started batches.
func (s *starter) skus() map[string]int {
	n := map[string]int{}
	for _, b := range s.batches() {
		for _, c := range b.Changes {
			n[c.SKU]++
		}
	}
	return n
}

type workflow struct{ closed <-chan struct{} }

func (w workflow) Wait(ctx context.Context) error {
	select {
	case <-w.closed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// letterBox stands in for the PostgreSQL dead-letter store: one letter per
// ID, as there.
type letterBox struct {
	mu   sync.Mutex
	byID map[string]deadletter.Letter
}

func (b *letterBox) PutDeadLetters(_ context.Context, letters []deadletter.Letter) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byID == nil {
		b.byID = map[string]deadletter.Letter{}
	}
	for _, l := range letters {
		b.byID[l.ID] = l
	}
	return nil
}

func (b *letterBox) all() []deadletter.Letter {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []deadletter.Letter
	for _, l := range b.byID {
		out = append(out, l)
	}
	return out
}

// noLeaks fails the test if goroutines started during it outlive it. Call it
// first, so that its check runs after every other cleanup.
func noLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines left, %d before the test:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// logs keeps a pool's log lines as JSON, and shows them if the test fails.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newLogs(t *testing.T) *logs {
	l := &logs{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pool log:\n%s", l.String())
		}
	})
	return l
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logs) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// record is a log line.
type record struct {
	Time time.Time     `json:"time"`
	Msg  string        `json:"msg"`
	In   time.Duration `json:"in"`
}

func (l *logs) records(t *testing.T, msg string) []record {
	var out []record
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var r record
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		if r.Msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// run runs a pool until the test ends or stop is called, and fails the test
// if it does not stop promptly.
func run(t *testing.T, cfg consumer.Config, s consumer.BatchStarter) (pool *consumer.Pool, stop func()) {
	if cfg.Logger == nil {
		cfg.Logger = newLogs(t).logger()
	}
	pool = consumer.New(cfg, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pool.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("pool did not stop within 10 s")
			}
		})
	}
	t.Cleanup(stop)
	return pool, stop
}

var at = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func change(sku string) inventory.Change {
	q, p := int64(len(sku)), "1.00"
	return inventory.Change{SKU: sku, Quantity: &q, Price: &p, LastModified: at, ObservedAt: at}
}

func changes(prefix string, n int) []inventory.Change {
	var cs []inventory.Change
	for i := range n {
		cs = append(cs, change(fmt.Sprintf("%s-%04d", prefix, i)))
	}
	return cs
}

func skus(cs []inventory.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.SKU)
	}
	return out
}

func publishBodies(t *testing.T, pub *queue.Publisher, topo queue.Topology, bodies ...[]byte) {
	t.Helper()
	msgs := make([]amqp.Publishing, len(bodies))
	for i, b := range bodies {
		msgs[i] = amqp.Publishing{Body: b, DeliveryMode: amqp.Persistent}
	}
	require.NoError(t, pub.Publish(context.Background(), topo.Exchange(), topo.ChangesQueue(), msgs))
}

// publishEach publishes each change as a message of its own, as polls that
// each find one change do.
func publishEach(t *testing.T, pub *queue.Publisher, topo queue.Topology, cs []inventory.Change) {
	t.Helper()
	sets, err := inventory.EncodeChangeSets(cs, 1)
	require.NoError(t, err)
	require.Len(t, sets, len(cs))
	publishBodies(t, pub, topo, sets...)
}

// requireStartedOnce checks that each SKU reached exactly one started batch
// and that nothing else did.
func requireStartedOnce(t *testing.T, s *starter, want []string) {
	t.Helper()
	got := s.skus()
	for _, sku := range want {
		require.Equal(t, 1, got[sku], "SKU %s in started batches", sku)
	}
	require.Len(t, got, len(want))
}

// requireQueueEmpty checks, once the pool has stopped, that nothing is left
// in the queue: every message was acked, none is ready or comes back.
func requireQueueEmpty(t *testing.T, topo queue.Topology) {
	t.Helper()
	require.Empty(t, testenv.Drain(t, topo.ChangesQueue(), 1, 500*time.Millisecond))
}

func TestPoolKeepsBadMessagesAsDeadLetters(t *testing.T) {
	noLeaks(t)
	topo := testenv.Topology(t)
	pub := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer pub.Close()
	ctx := context.Background()

	// Good changes around 3 MB of garbage, 20 changes of 20 KB each (over
	// the limit for a change, though well-formed) and two messages that are
	// not changes.
	good := changes("good", 300)
	garbage := bytes.Repeat([]byte("garbage "), 3<<20/8)
	var oversized [][]byte
	for i := range 20 {
		c := change(fmt.Sprintf("big-%02d", i))
		category := strings.Repeat("x", 20<<10)
		c.Category = &category
		body, err := json.Marshal(c)
		require.NoError(t, err)
		oversized = append(oversized, body)
	}
	undecodable := [][]byte{[]byte("not json"), []byte(`{"SKU":"A-1"}`)}
	require.NoError(t, pub.PublishChanges(ctx, good[:100]))
	publishBodies(t, pub, topo, garbage)
	publishBodies(t, pub, topo, oversized[:10]...)
	publishBodies(t, pub, topo, undecodable[0])
	require.NoError(t, pub.PublishChanges(ctx, good[100:200]))
	publishBodies(t, pub, topo, oversized[10:]...)
	publishBodies(t, pub, topo, undecodable[1])
	require.NoError(t, pub.PublishChanges(ctx, good[200:]))

	s, box := &starter{}, &letterBox{}
	_, stop := run(t, consumer.Config{
		URL: testenv.AMQPURL(), Topology: topo, Consumers: 3, BatchSize: 50, BatchWait: 20 * time.Millisecond,
		DeadLetters: box,
	}, s)
	require.Eventually(t, func() bool {
		ready, err := pub.ChangesReady(ctx)
		return len(s.skus()) == len(good) && len(box.all()) == 23 && err == nil && ready == 0
	}, 30*time.Second, 20*time.Millisecond)
	stop()
	requireStartedOnce(t, s, skus(good))
	requireQueueEmpty(t, topo)

	want := map[string]string{} // payload hash -> reason
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	want[sum(garbage)] = inventory.ReasonOversized
	for _, b := range oversized {
		want[sum(b)] = inventory.ReasonOversized
	}
	for _, b := range undecodable {
		want[sum(b)] = inventory.ReasonUndecodable
	}
	letters := box.all()
	require.Len(t, letters, len(want))
	for _, l := range letters {
		reason, ok := want[l.PayloadSHA256]
		require.True(t, ok, "letter %s is of no bad message", l.ID)
		require.Equal(t, reason, l.Reason.Code)
		require.Equal(t, deadletter.StageConsumer, l.Stage)
		require.LessOrEqual(t, len(l.Payload), deadletter.MaxPayload)
		delete(want, l.PayloadSHA256)
		if l.PayloadSize == len(garbage) {
			require.Equal(t, garbage[:deadletter.MaxPayload], l.Payload)
			require.Contains(t, l.Reason.Message, fmt.Sprint(len(garbage)))
		}
	}
}

func TestPoolStartFailures(t *testing.T) {
	refusedErr := serviceerror.NewInvalidArgument("Blob data size exceeds limit.")
	poisoned := func(in workflows.ApplyInput) bool {
		return slices.ContainsFunc(in.Changes, func(c inventory.Change) bool { return strings.HasPrefix(c.SKU, "poison") })
	}
	for _, tc := range []struct {
		name    string
		refuse  func(attempt int, in workflows.ApplyInput) error
		poison  int // poisoned changes among the good ones
		retries int64
	}{
		{
			name: "transient errors are retried until the start succeeds",
			refuse: func(attempt int, _ workflows.ApplyInput) error {
				return []error{
					serviceerror.NewUnavailable("connection refused"),
					serviceerror.NewDeadlineExceeded("context deadline exceeded"),
					serviceerror.NewResourceExhausted(enums.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "namespace rate limit exceeded"),
					errors.New("dial tcp 127.0.0.1:7233: connect: connection refused"),
					nil,
				}[min(attempt, 5)-1]
			},
			retries: 4,
		},
		{
			name: "a refused batch is split down to the change Temporal refuses",
			refuse: func(_ int, in workflows.ApplyInput) error {
				if poisoned(in) {
					return refusedErr
				}
				return nil
			},
			poison: 1,
		},
		{
			name: "each refused change is one letter",
			refuse: func(_ int, in workflows.ApplyInput) error {
				if poisoned(in) {
					return refusedErr
				}
				return nil
			},
			poison: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			topo := testenv.Topology(t)
			pub := queue.NewPublisher(testenv.AMQPURL(), topo)
			defer pub.Close()
			ctx := context.Background()
			good := changes("good", 100)
			all := slices.Clone(good)
			for i, at := range []int{92, 55, 18}[3-tc.poison:] {
				all = slices.Insert(all, at, change(fmt.Sprintf("poison-%d", i)))
			}
			publishEach(t, pub, topo, all)

			s, box := &starter{refuse: tc.refuse}, &letterBox{}
			pool, stop := run(t, consumer.Config{
				URL: testenv.AMQPURL(), Topology: topo, Consumers: 2, BatchSize: 50, BatchWait: 20 * time.Millisecond,
				DeadLetters: box,
			}, s)
			require.Eventually(t, func() bool {
				ready, err := pub.ChangesReady(ctx)
				return len(s.skus()) == len(good) && len(box.all()) == tc.poison && err == nil && ready == 0
			}, 30*time.Second, 20*time.Millisecond)
			stop()
			requireStartedOnce(t, s, skus(good))
			requireQueueEmpty(t, topo)

			stats := pool.Stats()
			require.Equal(t, tc.retries, stats.StartRetries)
			if tc.poison > 0 {
				// At least the poisoned batch and each half on the way down.
				require.GreaterOrEqual(t, stats.Refused, int64(tc.poison)*2)
			}
			for _, l := range box.all() {
				require.Equal(t, inventory.ReasonTemporalRefused, l.Reason.Code)
				require.Equal(t, refusedErr.Error(), l.Reason.Message)
				require.True(t, strings.HasPrefix(l.SKU, "poison"), l.SKU)
				require.True(t, strings.HasPrefix(l.BatchID, "invsync-apply-"), l.BatchID)
			}
		})
	}
}

func TestPoolCapsBatchBytes(t *testing.T) {
	for _, batchBytes := range []int{2 << 10, 8 << 10} {
		t.Run(fmt.Sprint(batchBytes), func(t *testing.T) {
			noLeaks(t)
			topo := testenv.Topology(t)
			pub := queue.NewPublisher(testenv.AMQPURL(), topo)
			defer pub.Close()
			good := changes("sized", 300)
			// Change sets of about 1 KiB, so that a batch holds several.
			sets, err := inventory.EncodeChangeSets(good, 1<<10)
			require.NoError(t, err)
			setOf := map[string]int{}
			total := 0
			for i, set := range sets {
				cs, _, err := inventory.DecodeChangeSet(set)
				require.NoError(t, err)
				for _, c := range cs {
					setOf[c.SKU] = i
				}
				total += len(set)
			}
			publishBodies(t, pub, topo, sets...)

			s := &starter{}
			_, stop := run(t, consumer.Config{
				URL: testenv.AMQPURL(), Topology: topo, Consumers: 2, BatchSize: 100, BatchBytes: batchBytes,
				BatchWait: 50 * time.Millisecond, DeadLetters: &letterBox{},
			}, s)
			require.Eventually(t, func() bool { return len(s.skus()) == len(good) }, 30*time.Second, 20*time.Millisecond)
			stop()
			requireStartedOnce(t, s, skus(good))
			batches := s.batches()
			largest := 0
			for _, b := range batches {
				bytes := 0
				in := map[int]bool{}
				for _, c := range b.Changes {
					if i := setOf[c.SKU]; !in[i] {
						in[i] = true
						bytes += len(sets[i])
					}
				}
				require.LessOrEqual(t, bytes, batchBytes, "batch %s", b.BatchID)
				largest = max(largest, bytes)
			}
			require.GreaterOrEqual(t, len(batches), total/batchBytes)
			t.Logf("%d changes, %d bytes: %d batches, the largest %d bytes", len(good), total, len(batches), largest)
		})
	}
}

func TestPoolBoundsOpenBatches(t *testing.T) {
	noLeaks(t)
	topo := testenv.Topology(t)
	pub := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer pub.Close()
	ctx := context.Background()
	good := changes("open", 60)
	publishEach(t, pub, topo, good)

	const maxOpen = 3
	s := &starter{hold: true}
	pool, stop := run(t, consumer.Config{
		URL: testenv.AMQPURL(), Topology: topo, Consumers: 2, BatchSize: 5, BatchWait: 20 * time.Millisecond,
		MaxOpenBatches: maxOpen, DeadLetters: &letterBox{},
	}, s)
	require.Eventually(t, func() bool { open, _ := s.figures(); return open == maxOpen }, 10*time.Second, 10*time.Millisecond)
	// Nothing more starts while they stay open, and the rest of the backlog
	// stays ready in the queue, where the poller sees it.
	time.Sleep(500 * time.Millisecond)
	require.Len(t, s.batches(), maxOpen)
	require.Equal(t, maxOpen, pool.Stats().OpenBatches)
	ready, err := pub.ChangesReady(ctx)
	require.NoError(t, err)
	// Each consumer holds at most a prefetch of 5 beyond the started ones.
	require.GreaterOrEqual(t, ready, len(good)-maxOpen*5-2*5)
	t.Logf("%d batches open: %d changes started, %d ready in the queue", maxOpen, maxOpen*5, ready)

	// As they close, the pool takes the rest.
	require.Eventually(t, func() bool {
		if len(s.skus()) == len(good) {
			return true
		}
		s.closeAll()
		return false
	}, 30*time.Second, 50*time.Millisecond)
	_, most := s.figures()
	require.Equal(t, maxOpen, most, "never more than MaxOpenBatches open at once")
	require.Eventually(t, func() bool {
		ready, err := pub.ChangesReady(ctx)
		return err == nil && ready == 0
	}, 10*time.Second, 20*time.Millisecond)
	// The pool stops with batches still open (most likely): their waits end
	// with it.
	stop()
	requireStartedOnce(t, s, skus(good))
	requireQueueEmpty(t, topo)
}

func TestPoolHandsBackUnstartedBatchesOnShutdown(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *starter
		// back are the changes that must be back in the queue, the first
		// the one the pool was holding.
		back []string
	}{
		// The pool holds A, retrying; B waits in the queue.
		{"Temporal never comes back", &starter{refuse: func(int, workflows.ApplyInput) error {
			return serviceerror.NewUnavailable("connection refused")
		}}, []string{"A", "B"}},
		// A is started and stays open; the pool holds B until it closes.
		{"the open batch never closes", &starter{hold: true}, []string{"B"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			topo := testenv.Topology(t)
			pub := queue.NewPublisher(testenv.AMQPURL(), topo)
			defer pub.Close()
			publishEach(t, pub, topo, []inventory.Change{change("A"), change("B")})
			_, stop := run(t, consumer.Config{
				URL: testenv.AMQPURL(), Topology: topo, Consumers: 1, BatchSize: 1, BatchWait: 10 * time.Millisecond,
				MaxOpenBatches: 1, StartTimeout: time.Second, DeadLetters: &letterBox{},
			}, tc.s)
			time.Sleep(time.Second)
			stop()

			got := map[string]bool{} // SKU -> redelivered
			for _, d := range testenv.Drain(t, topo.ChangesQueue(), len(tc.back), 3*time.Second) {
				cs, _, err := inventory.DecodeChangeSet(d.Body)
				require.NoError(t, err)
				require.Len(t, cs, 1)
				got[cs[0].SKU] = d.Redelivered
			}
			require.Len(t, got, len(tc.back), "the changes not started are back in the queue, not lost")
			for _, sku := range tc.back {
				require.Contains(t, got, sku)
			}
			require.True(t, got[tc.back[0]], "%s was delivered and handed back", tc.back[0])
			requireQueueEmpty(t, topo)
		})
	}
}

// proxy forwards TCP connections to the broker, and can cut them all and
// refuse new ones for a while, as an outage would.
type proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener // nil while cut
	conns        map[net.Conn]bool
	wg           sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	p.restore(t)
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) restore(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() { p.accept(ln) })
}

func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // cut meanwhile
			p.mu.Unlock()
			c.Close()
			b.Close()
			return
		}
		p.conns[c], p.conns[b] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(b, c) })
		p.wg.Go(func() { pipe(c, b) })
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// connections lists the broker's connections whose name starts with prefix.
func connections(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "-q", "list_connections", "pid", "client_properties").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var pids []string
	for _, line := range strings.Split(string(out), "\n") {
		if pid, props, ok := strings.Cut(line, "\t"); ok && strings.Contains(props, `"`+prefix) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPoolIsBackWithin2sOfADrop: after an outage long enough to take the
// reconnect pause to its cap, and then a healthy while, a dropped connection
// is replaced at once, not after the pause the outage left behind.
func TestPoolIsBackWithin2sOfADrop(t *testing.T) {
	noLeaks(t)
	topo := testenv.Topology(t)
	pub := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer pub.Close()
	ctx := context.Background()
	broker, err := url.Parse(testenv.AMQPURL())
	require.NoError(t, err)
	px := startProxy(t, broker.Host)
	viaProxy := *broker
	viaProxy.Host = px.addr

	s, log := &starter{}, newLogs(t)
	_, stop := run(t, consumer.Config{
		URL: viaProxy.String(), Topology: topo, Consumers: 1, BatchSize: 10, BatchWait: 10 * time.Millisecond,
		Logger: log.logger(), DeadLetters: &letterBox{},
	}, s)
	consumes := func(sku string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		require.NoError(t, pub.PublishChanges(ctx, []inventory.Change{change(sku)}))
		require.Eventually(t, func() bool { return s.skus()[sku] > 0 }, within, 5*time.Millisecond, "%s consumed", sku)
		return time.Since(start)
	}
	consumes("before", 10*time.Second)

	// The broker is out of reach for 3 s: the pause between attempts grows
	// to its 1 s cap.
	px.cut()
	time.Sleep(3 * time.Second)
	px.restore(t)
	consumes("after-outage", 5*time.Second)
	healthySince := time.Now()
	pauses := log.records(t, "consumer disconnected, reconnecting")
	require.InEpsilon(t, float64(time.Second), float64(pauses[len(pauses)-1].In), 0.2+1e-9, "the outage took the pause to its cap, give or take its jitter")

	// Healthy for over 10 s, then the broker drops the connection.
	pids := connections(t, topo.Prefix+"-consumer-")
	require.Len(t, pids, 1)
	time.Sleep(time.Until(healthySince.Add(11 * time.Second)))
	out, err := exec.Command("rabbitmqctl", "-q", "close_connection", pids[0], "test: connection dropped").CombinedOutput()
	require.NoError(t, err, "%s", out)
	latency := consumes("after-drop", 2*time.Second)

	drops := log.records(t, "consumer disconnected, reconnecting")
	drop := drops[len(drops)-1]
	require.InEpsilon(t, float64(100*time.Millisecond), float64(drop.In), 0.2+1e-9, "the pause started over after a healthy connection")
	connects := log.records(t, "consumer connected")
	back := connects[len(connects)-1].Time.Sub(drop.Time)
	t.Logf("after the drop: connected again in %v, a change published after the drop consumed in %v", back, latency)
	require.Less(t, back, 2*time.Second)
	require.Equal(t, 1, s.skus()["after-drop"])
	stop()
	requireQueueEmpty(t, topo)
}
