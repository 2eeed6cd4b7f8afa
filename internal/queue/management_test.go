package queue_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/internal/testenv"
)

// TestChangesWaitingCountsDeliveredMessages: the poller's high-water mark
// counts the changes consumers hold unacknowledged as well as the ready
// ones, when the management API tells them; without it, the ready ones.
func TestChangesWaitingCountsDeliveredMessages(t *testing.T) {
	ctx := context.Background()
	topo := testenv.Topology(t)
	pub := queue.NewPublisher(testenv.AMQPURL(), topo)
	defer pub.Close()
	require.NoError(t, pub.PublishChanges(ctx, changes(2)))
	require.NoError(t, pub.PublishChanges(ctx, changes(2))) // a change set each

	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/api/queues/%2F/"+topo.ChangesQueue(), r.URL.EscapedPath())
		_, _ = w.Write([]byte(`{"messages_ready":7,"messages_unacknowledged":3,"consumers":5}`))
	}))
	defer api.Close()
	waiting, err := queue.Depths{Management: queue.Management{URL: api.URL, AMQPURL: testenv.AMQPURL()}, Publisher: pub}.ChangesWaiting(ctx)
	require.NoError(t, err)
	require.Equal(t, 10, waiting, "ready and unacknowledged")

	waiting, err = queue.Depths{Publisher: pub}.ChangesWaiting(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, waiting, "AMQP alone tells the ready ones")
}
