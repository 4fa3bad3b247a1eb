package cases

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/arrakis/gp-remediation/pkg/config"
)

// Broker is the RabbitMQ state a case needs, built on the real local broker in a virtual host
// of its own (so cases never see each other's or other tests' queues and connections).
type Broker struct {
	// Ready messages put on the work queue (arrakis.interactions).
	Ready int `json:"ready"`
	// Consumers are worker connections ("gp-worker-<n>") that subscribe to the work queue and
	// hold their prefetch without acknowledging (busy workers).
	Consumers int `json:"consumers"`
	Prefetch  int `json:"prefetch"`
	// Ingestor opens an idle connection named like the ingestor's.
	Ingestor bool `json:"ingestor"`
	// DeadLetters are dead-lettered for real: published to the work queue and rejected.
	DeadLetters []DeadLetters `json:"deadLetters"`
	// Parking declares the parking queue (GPR_PARKING_QUEUE).
	Parking string `json:"parking"`
	// NoWorkQueue deletes the work queue after dead-lettering (replay target missing).
	NoWorkQueue bool `json:"noWorkQueue"`

	vhost string
	conns []*amqp.Connection
}

// DeadLetters is a batch of identical dead letters.
type DeadLetters struct {
	Count  int    `json:"count"`
	Header string `json:"header"` // the application's error header, e.g. x-error
	Error  string `json:"error"`
	Body   string `json:"body"`
}

// Local broker settings (the machine's RabbitMQ).
const (
	amqpBase = "amqp://guest:guest@127.0.0.1:5672/"
	mgmtBase = "http://127.0.0.1:15672"
)

// Prepare builds the case's vhost, queues, messages and connections; the cleanup closes the
// connections and deletes the vhost (and with it everything in it).
func (b *Broker) Prepare(ctx context.Context) (func(), error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	b.vhost = "gpr-case-" + hex.EncodeToString(rnd[:])
	if err := mgmt(ctx, http.MethodPut, "/api/vhosts/"+url.PathEscape(b.vhost), ""); err != nil {
		return nil, fmt.Errorf("create vhost (is the management plugin on? scripts/rabbit-plugins.sh): %w", err)
	}
	cleanup := func() {
		for _, c := range b.conns {
			c.Close()
		}
		_ = mgmt(context.Background(), http.MethodDelete, "/api/vhosts/"+url.PathEscape(b.vhost), "")
	}
	if err := mgmt(ctx, http.MethodPut, "/api/permissions/"+url.PathEscape(b.vhost)+"/guest", `{"configure":".*","write":".*","read":".*"}`); err != nil {
		cleanup()
		return nil, err
	}
	if err := b.build(); err != nil {
		cleanup()
		return nil, err
	}
	return cleanup, nil
}

func (b *Broker) dial(name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props["connection_name"] = name
	c, err := amqp.DialConfig(b.URL(), amqp.Config{Properties: props, Heartbeat: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	b.conns = append(b.conns, c)
	return c, nil
}

func (b *Broker) build() error {
	n := config.Defaults("staging")
	c, err := b.dial("case-setup")
	if err != nil {
		return err
	}
	ch, err := c.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(n.DLQ, true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(n.Queue, true, false, false, false, amqp.Table{
		"x-dead-letter-exchange": "", "x-dead-letter-routing-key": n.DLQ}); err != nil {
		return err
	}
	if b.Parking != "" {
		if _, err := ch.QueueDeclare(b.Parking, true, false, false, false, nil); err != nil {
			return err
		}
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	var pending []*amqp.DeferredConfirmation
	publish := func(body string, headers amqp.Table, id string) error {
		dc, err := ch.PublishWithDeferredConfirm("", n.Queue, true, false, amqp.Publishing{
			ContentType: "application/json", Body: []byte(body), Headers: headers, MessageId: id, Timestamp: time.Now(), DeliveryMode: amqp.Persistent})
		if err != nil {
			return err
		}
		pending = append(pending, dc)
		return nil
	}
	confirmAll := func() error {
		for _, dc := range pending {
			if !dc.Wait() {
				return fmt.Errorf("publish %d not confirmed", dc.DeliveryTag)
			}
		}
		pending = pending[:0]
		return nil
	}
	// Dead letters: published, then rejected, so the broker writes x-death itself.
	dead := 0
	for gi, g := range b.DeadLetters {
		for i := 0; i < g.Count; i++ {
			body := g.Body
			if body == "" {
				body = fmt.Sprintf(`{"type":2,"id":"%d%05d","guild_id":"1180000000000000%02d","data":{"name":"balance"}}`, gi, i, gi)
			}
			if err := publish(body, amqp.Table{g.Header: g.Error}, fmt.Sprintf("dl-%d-%05d", gi, i)); err != nil {
				return err
			}
			dead++
		}
	}
	if err := confirmAll(); err != nil {
		return err
	}
	if dead > 0 {
		rch, err := c.Channel()
		if err != nil {
			return err
		}
		if err := rch.Qos(500, 0, false); err != nil {
			return err
		}
		deliveries, err := rch.Consume(n.Queue, "case-setup-reject", false, false, false, false, nil)
		if err != nil {
			return err
		}
		for ; dead > 0; dead-- {
			d, ok := <-deliveries
			if !ok {
				return fmt.Errorf("setup consumer closed with %d dead letters to go", dead)
			}
			if err := d.Reject(false); err != nil {
				return err
			}
		}
		rch.Close()
	}
	if b.NoWorkQueue {
		if _, err := ch.QueueDelete(n.Queue, false, false, false); err != nil {
			return err
		}
	}
	for i := 0; i < b.Ready; i++ {
		if err := publish(fmt.Sprintf(`{"type":2,"id":"r%05d","data":{"name":"balance"}}`, i), nil, fmt.Sprintf("r-%05d", i)); err != nil {
			return err
		}
	}
	if err := confirmAll(); err != nil {
		return err
	}
	for i := 0; i < b.Consumers; i++ {
		wc, err := b.dial(fmt.Sprintf("gp-worker-%d", i+1))
		if err != nil {
			return err
		}
		wch, err := wc.Channel()
		if err != nil {
			return err
		}
		if err := wch.Qos(max(1, b.Prefetch), 0, false); err != nil {
			return err
		}
		if _, err := wch.Consume(n.Queue, "", false, false, false, false, nil); err != nil {
			return err
		}
	}
	if b.Ingestor {
		if _, err := b.dial("ingestor-1"); err != nil {
			return err
		}
	}
	return nil
}

// VirtualHost is the case's virtual host.
func (b *Broker) VirtualHost() string { return b.vhost }

// URL is the AMQP URL of the case's virtual host.
func (b *Broker) URL() string { return amqpBase + url.PathEscape(b.vhost) }

// Env is the environment the function needs to reach the prepared broker.
func (b *Broker) Env() map[string]string {
	// The virtual host travels in the rabbit secret's amqp_url (the sandbox's), as on Amazon
	// MQ; GPR_VHOST stays the environment's, so the report's commands name the real one.
	env := map[string]string{}
	if b.Parking != "" {
		env[config.EnvParkingQueue] = b.Parking
	}
	return env
}

func mgmt(ctx context.Context, method, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, method, mgmtBase+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 && !(method == http.MethodDelete && resp.StatusCode == http.StatusNotFound) {
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return nil
}

// Depth is a queue's ready count in the case's vhost (a passive declare).
func (b *Broker) Depth(queue string) (int, error) {
	c, err := amqp.Dial(b.URL())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	return q.Messages, nil
}

// depths reads the ready count of every queue the case uses (nil broker: none).
func (b *Broker) depths() map[string]int {
	if b == nil {
		return nil
	}
	n := config.Defaults("staging")
	out := map[string]int{}
	for _, q := range []string{n.Queue, n.DLQ, b.Parking} {
		if q == "" {
			continue
		}
		d, err := b.Depth(q)
		if err != nil {
			d = -1
		}
		out[q] = d
	}
	return out
}
