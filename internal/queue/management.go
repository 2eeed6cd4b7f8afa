package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Management reads queue depths from the RabbitMQ management API, which,
// unlike AMQP, also counts the messages delivered and not yet acknowledged.
type Management struct {
	// URL is the management API's base, such as http://127.0.0.1:15672.
	URL string
	// AMQPURL supplies the user, password and virtual host.
	AMQPURL string
	Client  *http.Client
}

// Depth returns the named queue's counts.
func (m Management) Depth(ctx context.Context, queue string) (Depth, error) {
	au, err := url.Parse(m.AMQPURL)
	if err != nil {
		return Depth{}, fmt.Errorf("rabbitmq management: amqp url does not parse")
	}
	vhost := strings.TrimPrefix(au.Path, "/")
	if vhost == "" {
		vhost = "/"
	}
	u := strings.TrimSuffix(m.URL, "/") + "/api/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(queue)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Depth{}, fmt.Errorf("rabbitmq management: %w", err)
	}
	user, pass := "guest", "guest"
	if au.User != nil {
		user = au.User.Username()
		pass, _ = au.User.Password()
	}
	req.SetBasicAuth(user, pass)
	client := m.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Depth{}, fmt.Errorf("rabbitmq management: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Depth{}, fmt.Errorf("rabbitmq management: %s for queue %s", resp.Status, queue)
	}
	var q struct {
		Ready     int `json:"messages_ready"`
		Unacked   int `json:"messages_unacknowledged"`
		Consumers int `json:"consumers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil {
		return Depth{}, fmt.Errorf("rabbitmq management: queue %s: %w", queue, err)
	}
	return Depth{Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers}, nil
}

// Depths reads queue depths from the management API when it answers, and
// otherwise from AMQP, which knows only the ready count.
type Depths struct {
	Management Management
	Publisher  *Publisher
}

// Depth returns the named queue's counts.
func (d Depths) Depth(ctx context.Context, queue string) (Depth, error) {
	if d.Management.URL != "" {
		if depth, err := d.Management.Depth(ctx, queue); err == nil {
			return depth, nil
		}
	}
	return d.Publisher.QueueDepth(ctx, queue)
}

// ChangesWaiting returns the changes not yet handed to Temporal: ready in the
// changes queue, and delivered to consumers but not acknowledged when the
// management API tells that. The poller holds back on it, so what sits in
// the broker stays bounded; what is in Temporal is bounded by the consumers'
// limit of open batches.
func (d Depths) ChangesWaiting(ctx context.Context) (int, error) {
	depth, err := d.Depth(ctx, d.Publisher.topo.ChangesQueue())
	if err != nil {
		return 0, err
	}
	return depth.Ready + max(depth.Unacked, 0), nil
}
