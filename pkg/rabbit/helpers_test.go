package rabbit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The broker the integration tests use; CI runs RabbitMQ locally (see .ci/run and
// scripts/rabbit-plugins.sh for the management API).
var (
	testAMQPURL = envOr("GPR_TEST_AMQP_URL", "amqp://127.0.0.1:5672/")
	testMgmtURL = envOr("GPR_TEST_RABBIT_MGMT_URL", "http://127.0.0.1:15672")
	testUser    = envOr("GPR_TEST_RABBIT_USER", "guest")
	testPass    = envOr("GPR_TEST_RABBIT_PASSWORD", "guest")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// requireBroker skips the test when the broker is unreachable, unless GPR_REQUIRE_BROKER is
// set (CI), where an unreachable broker is a failure.
func requireBroker(tb testing.TB) {
	tb.Helper()
	host := strings.TrimSuffix(strings.TrimPrefix(testAMQPURL, "amqp://"), "/")
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		if os.Getenv("GPR_REQUIRE_BROKER") != "" {
			tb.Fatalf("RabbitMQ unreachable at %s: %v", host, err)
		}
		tb.Skipf("RabbitMQ unreachable at %s (%v): start it with 'rabbitmq-server -detached'", host, err)
	}
	c.Close()
}

// testEndpoint is the endpoint of the local broker.
func testEndpoint() Endpoint {
	return Endpoint{URL: testAMQPURL, Username: testUser, Password: testPass, ConnectionName: "gp-remediation/test", Heartbeat: 2 * time.Second}
}

// dialTest connects a Client and closes it when the test ends.
func dialTest(tb testing.TB) *Client {
	tb.Helper()
	requireBroker(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, testEndpoint())
	if err != nil {
		tb.Fatalf("Dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// testMgmt returns a management client, skipping when the plugin is not enabled.
func testMgmt(tb testing.TB) *Management {
	tb.Helper()
	requireBroker(tb)
	m, err := NewManagement(testMgmtURL, testUser, testPass, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := m.Overview(ctx); err != nil {
		if os.Getenv("GPR_REQUIRE_BROKER") != "" {
			tb.Fatalf("management API: %v (run scripts/rabbit-plugins.sh)", err)
		}
		tb.Skipf("management API unavailable (%v): run scripts/rabbit-plugins.sh", err)
	}
	return m
}

// fixture is a raw amqp091 connection for setting up and checking queues, independent of the
// code under test.
type fixture struct {
	tb   testing.TB
	conn *amqp.Connection
	ch   *amqp.Channel
	id   string
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	requireBroker(tb)
	u := strings.Replace(testAMQPURL, "amqp://", "amqp://"+testUser+":"+testPass+"@", 1)
	conn, err := amqp.Dial(u)
	if err != nil {
		tb.Fatalf("fixture dial: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatalf("fixture channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	f := &fixture{tb: tb, conn: conn, ch: ch, id: hex.EncodeToString(b)}
	tb.Cleanup(func() { conn.Close() })
	return f
}

// name returns a queue name unique to this test run.
func (f *fixture) name(suffix string) string {
	n := strings.NewReplacer("/", "-", " ", "_").Replace(f.tb.Name())
	if len(n) > 60 {
		n = n[:60]
	}
	return "gpr-test." + n + "." + f.id + "." + suffix
}

// queue declares a durable queue deleted at the end of the test.
func (f *fixture) queue(name string, args amqp.Table) string {
	f.tb.Helper()
	if _, err := f.ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		f.tb.Fatalf("declare %s: %v", name, err)
	}
	f.tb.Cleanup(func() {
		ch, err := f.conn.Channel()
		if err != nil {
			return
		}
		defer ch.Close()
		_, _ = ch.QueueDelete(name, false, false, false)
	})
	return name
}

// drop deletes queues now (they would otherwise stay until the test ends).
func (f *fixture) drop(names ...string) {
	f.tb.Helper()
	ch, err := f.conn.Channel()
	if err != nil {
		f.tb.Fatal(err)
	}
	defer ch.Close()
	for _, n := range names {
		if _, err := ch.QueueDelete(n, false, false, false); err != nil {
			f.tb.Fatalf("delete %s: %v", n, err)
		}
	}
}

// dlqPair declares a DLQ and a work queue dead-lettering into it.
func (f *fixture) dlqPair() (work, dlq string) {
	dlq = f.queue(f.name("dlq"), nil)
	work = f.queue(f.name("work"), amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
	return work, dlq
}

// publish sends messages to a queue through the default exchange and waits for the confirms.
func (f *fixture) publish(queue string, msgs ...amqp.Publishing) {
	f.tb.Helper()
	var dcs []*amqp.DeferredConfirmation
	for i, m := range msgs {
		if m.DeliveryMode == 0 {
			m.DeliveryMode = amqp.Persistent
		}
		dc, err := f.ch.PublishWithDeferredConfirm("", queue, false, false, m)
		if err != nil {
			f.tb.Fatalf("publish %d to %s: %v", i, queue, err)
		}
		dcs = append(dcs, dc)
		if len(dcs) >= 512 {
			f.wait(dcs)
			dcs = dcs[:0]
		}
	}
	f.wait(dcs)
}

func (f *fixture) wait(dcs []*amqp.DeferredConfirmation) {
	f.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, dc := range dcs {
		ok, err := dc.WaitContext(ctx)
		if err != nil || !ok {
			f.tb.Fatalf("publish not confirmed: ok=%v err=%v", ok, err)
		}
	}
}

// msgs builds n publishings with ids prefix-0..n-1, a JSON body of at least size bytes, and
// the given headers.
func msgs(prefix string, n, size int, headers amqp.Table) []amqp.Publishing {
	out := make([]amqp.Publishing, n)
	for i := range out {
		id := fmt.Sprintf("%s-%d", prefix, i)
		body := fmt.Sprintf(`{"id":%q,"type":"interaction","pad":"`, id)
		if pad := size - len(body) - 2; pad > 0 {
			body += strings.Repeat("x", pad)
		}
		body += `"}`
		h := amqp.Table{}
		for k, v := range headers {
			h[k] = v
		}
		out[i] = amqp.Publishing{MessageId: id, ContentType: "application/json", Timestamp: time.Now().Truncate(time.Second), Headers: h, Body: []byte(body)}
	}
	return out
}

// rejectAll consumes n messages from queue and rejects them without requeue, so the broker
// dead-letters them (reason rejected) for real.
func (f *fixture) rejectAll(queue string, n int) {
	f.tb.Helper()
	ch, err := f.conn.Channel()
	if err != nil {
		f.tb.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Qos(500, 0, false); err != nil {
		f.tb.Fatal(err)
	}
	ds, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		f.tb.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case d := <-ds:
			if err := d.Reject(false); err != nil {
				f.tb.Fatal(err)
			}
		case <-timeout:
			f.tb.Fatalf("rejected %d of %d messages from %s", i, n, queue)
		}
	}
}

// deadLetter publishes messages to work and rejects them into its DLQ.
func (f *fixture) deadLetter(work string, ms []amqp.Publishing) {
	f.tb.Helper()
	f.publish(work, ms...)
	f.rejectAll(work, len(ms))
}

// ready is the queue's ready count (passive declare).
func (f *fixture) ready(queue string) int {
	f.tb.Helper()
	ch, err := f.conn.Channel()
	if err != nil {
		f.tb.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		f.tb.Fatalf("inspect %s: %v", queue, err)
	}
	return q.Messages
}

// waitReady waits until the queue's ready count is want (requeues are asynchronous) and
// fails with the last count otherwise.
func (f *fixture) waitReady(queue string, want int, within time.Duration) {
	f.tb.Helper()
	end := time.Now().Add(within)
	n := f.ready(queue)
	for n != want && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
		n = f.ready(queue)
	}
	if n != want {
		f.tb.Fatalf("queue %s: %d ready, want %d", queue, n, want)
	}
}

// take consumes every ready message of queue (acking them) and returns them in order.
func (f *fixture) take(queue string) []amqp.Delivery {
	f.tb.Helper()
	n := f.ready(queue)
	ch, err := f.conn.Channel()
	if err != nil {
		f.tb.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Qos(1000, 0, false); err != nil {
		f.tb.Fatal(err)
	}
	ds, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		f.tb.Fatal(err)
	}
	out := make([]amqp.Delivery, 0, n)
	timeout := time.After(60 * time.Second)
	for len(out) < n {
		select {
		case d := <-ds:
			d.Body = append([]byte(nil), d.Body...)
			out = append(out, d)
			if err := d.Ack(false); err != nil {
				f.tb.Fatal(err)
			}
		case <-timeout:
			f.tb.Fatalf("took %d of %d from %s", len(out), n, queue)
		}
	}
	return out
}

// ids returns the message ids of deliveries.
func ids(ds []amqp.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.MessageId
	}
	return out
}

func idsOf(ms []amqp.Publishing) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.MessageId
	}
	return out
}

// inTime returns a context and deadline for a replay run.
func inTime(tb testing.TB, d time.Duration) (context.Context, time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	dl, _ := ctx.Deadline()
	return ctx, dl
}
