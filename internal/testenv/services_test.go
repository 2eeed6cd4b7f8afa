package testenv

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// exited reports whether the process is gone (a zombie counts as alive until
// reaped, and the server's own goroutine reaps it).
func exited(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

// TestServicesRabbitMQ restarts a node, cleanly and by kill -9, and requires
// a persistent message in a quorum queue to survive both.
func TestServicesRabbitMQ(t *testing.T) {
	t.Parallel()
	r := StartRabbitMQ(t)
	require.NotContains(t, r.URL(), ":5672/", "not the shared node")
	publish := func() {
		conn, err := amqp.Dial(r.URL())
		require.NoError(t, err)
		defer conn.Close()
		ch, err := conn.Channel()
		require.NoError(t, err)
		_, err = ch.QueueDeclare("q", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		require.NoError(t, err)
		require.NoError(t, ch.Confirm(false))
		conf, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", "q", false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("kept")})
		require.NoError(t, err)
		ok, err := conf.WaitContext(context.Background())
		require.NoError(t, err)
		require.True(t, ok)
	}
	// requireMessages waits for the queue to be back, its log replayed,
	// with the messages.
	requireMessages := func(want int, msg string) {
		conn, err := amqp.Dial(r.URL())
		require.NoError(t, err)
		defer conn.Close()
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			// A failed declare closes its channel: one channel a try.
			ch, err := conn.Channel()
			if !assert.NoError(c, err) {
				return
			}
			defer ch.Close()
			q, err := ch.QueueDeclarePassive("q", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
			if assert.NoError(c, err) {
				assert.Equal(c, want, q.Messages)
			}
		}, 30*time.Second, 100*time.Millisecond, msg)
	}
	publish()

	pid := r.PID()
	r.Stop()
	require.True(t, exited(pid), "stopped by its PID")
	r.Start()
	requireMessages(1, "the message survived a clean restart")

	publish()
	pid = r.PID()
	r.Kill()
	require.True(t, exited(pid), "killed by its PID")
	r.Start()
	requireMessages(2, "the messages survived kill -9")
}

// TestServicesPostgres restarts a cluster, cleanly and by kill -9, and
// requires committed rows to survive both.
func TestServicesPostgres(t *testing.T) {
	t.Parallel()
	p := StartPostgres(t)
	Exec(t, p.URL("postgres"), `CREATE TABLE kept (n int)`, `INSERT INTO kept VALUES (1)`)
	count := func() int {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, p.URL("postgres"))
		require.NoError(t, err)
		defer conn.Close(ctx)
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM kept`).Scan(&n))
		return n
	}
	// A client holds a connection, as the worker's pool does: the stop
	// must not wait for it.
	ctx := context.Background()
	held, err := pgx.Connect(ctx, p.URL("postgres"))
	require.NoError(t, err)
	defer held.Close(ctx)

	pid := p.PID()
	start := time.Now()
	p.Stop()
	require.Less(t, time.Since(start), stopGrace, "a clean stop does not wait for clients")
	require.True(t, exited(pid))
	p.Start()
	require.Equal(t, 1, count())

	Exec(t, p.URL("postgres"), `INSERT INTO kept VALUES (2)`)
	pid = p.PID()
	p.Kill()
	require.True(t, exited(pid))
	p.Start()
	require.Equal(t, 2, count(), "committed rows survived kill -9 (crash recovery)")
}

// TestServicesTemporal kills a dev server with kill -9 and restarts it, then
// stops it cleanly and restarts it, and requires a workflow started before to
// be known to the server after each.
func TestServicesTemporal(t *testing.T) {
	t.Parallel()
	s := StartTemporal(t)
	ctx := context.Background()
	c, err := client.Dial(client.Options{HostPort: s.Address()})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "kept", TaskQueue: "nobody"}, "Kept")
	require.NoError(t, err)
	running := func() {
		d, err := c.DescribeWorkflowExecution(ctx, "kept", "")
		require.NoError(t, err)
		require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, d.WorkflowExecutionInfo.Status)
	}

	pid := s.PID()
	s.Kill()
	require.True(t, exited(pid))
	s.Start()
	running()

	pid = s.PID()
	s.Stop()
	require.True(t, exited(pid))
	s.Start()
	running()
}
