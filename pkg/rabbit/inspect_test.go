package rabbit

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestDialErrorsNeverShowThePassword(t *testing.T) {
	requireBroker(t)
	const pw = "Pl4nted-S3cret-Pw"
	// A port nothing listens on: the connect error names the address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()
	tests := []struct {
		name string
		ep   Endpoint
	}{
		{name: "wrong password", ep: Endpoint{URL: testAMQPURL, Username: testUser, Password: pw}},
		{name: "password in URL, wrong", ep: Endpoint{URL: "amqp://" + testUser + ":" + pw + "@" + strings.TrimPrefix(testAMQPURL, "amqp://")}},
		{name: "unreachable port", ep: Endpoint{URL: "amqp://u:" + pw + "@" + closedAddr + "/"}},
		{name: "unparseable URL", ep: Endpoint{URL: "amqp://u:" + pw + "@host:99999999x/"}},
		{name: "bad scheme", ep: Endpoint{URL: "http://u:" + pw + "@host/"}},
		{name: "amqps to a plain AMQP port (TLS handshake fails)", ep: Endpoint{URL: "amqps://" + strings.TrimPrefix(testAMQPURL, "amqp://"), Username: testUser, Password: pw}},
		{name: "vhost that does not exist", ep: Endpoint{URL: strings.TrimSuffix(testAMQPURL, "/") + "/nope", Username: testUser, Password: pw}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, tc.ep)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestDialHonoursContext(t *testing.T) {
	// A listener that accepts and never answers: the AMQP handshake would hang.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Dial(ctx, Endpoint{URL: "amqp://" + l.Addr().String() + "/"})
	if err == nil {
		t.Fatal("Dial to a silent peer succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not say the deadline passed", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Dial took %v with a 300ms context", d)
	}
}

func TestInspect(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	q := f.queue(f.name("q"), nil)
	f.publish(q, msgs("m", 3, 10, nil)...)
	ctx := context.Background()

	st, err := c.Inspect(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if st != (QueueState{Name: q, Ready: 3, Consumers: 0}) {
		t.Errorf("Inspect = %+v", st)
	}

	// A consumer holding one unacked message: 2 ready, 1 consumer.
	ch, err := f.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-ds
	f.waitReady(q, 2, 2*time.Second)
	if st, err = c.Inspect(ctx, q); err != nil || st.Ready != 2 || st.Consumers != 1 {
		t.Errorf("Inspect with a consumer = %+v, %v", st, err)
	}

	// A missing queue is typed, and the connection survives it.
	_, err = c.Inspect(ctx, f.name("missing"))
	if !errors.Is(err, ErrQueueNotFound) {
		t.Fatalf("missing queue: %v, want ErrQueueNotFound", err)
	}
	if c.IsClosed() {
		t.Fatal("a missing queue closed the connection")
	}
	if st, err = c.Inspect(ctx, q); err != nil || st.Name != q {
		t.Errorf("Inspect after a 404: %+v, %v", st, err)
	}
}

func TestConnectionNameAndManagement(t *testing.T) {
	m := testMgmt(t)
	f := newFixture(t)
	name := "gp-remediation/test-" + f.id
	ep := testEndpoint()
	ep.ConnectionName = name
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A queue with a consumer on our named connection, prefetch 7.
	q := f.queue(f.name("q"), amqp.Table{"x-dead-letter-exchange": ""})
	f.publish(q, msgs("m", 5, 10, nil)...)
	ch, err := c.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(7, 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume(q, "probe-consumer", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}

	// The management API lags (stats every 5 s): poll.
	var info QueueInfo
	for {
		info, err = m.Queue(ctx, "/", q)
		if err == nil && len(info.ConsumerDetails) == 1 && info.ConsumerDetails[0].ClientName != "" && info.Unacked == 5 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("management never showed the consumer: %+v, %v", info, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if info.Type != "classic" || !info.Durable || info.Arguments["x-dead-letter-exchange"] != "" {
		t.Errorf("queue info %+v", info)
	}
	cd := info.ConsumerDetails[0]
	if cd.Tag != "probe-consumer" || cd.PrefetchCount != 7 || !cd.AckRequired || cd.ClientName != name || cd.Channel == "" {
		t.Errorf("consumer %+v", cd)
	}

	conns, err := m.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, cn := range conns {
		if cn.ClientName == name {
			found = true
			if cn.User != testUser || cn.ConnectedAt.IsZero() || cn.State == "" {
				t.Errorf("connection %+v", cn)
			}
		}
	}
	if !found {
		t.Errorf("connection %q not listed", name)
	}
	// Channel stats lag too: poll until the channel shows its consumer.
	for {
		chans, err := m.Channels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got *ChannelInfo
		for i := range chans {
			if chans[i].Name == cd.Channel {
				got = &chans[i]
			}
		}
		if got != nil && got.Consumers == 1 {
			if got.PrefetchCount != 7 || got.Connection != cd.Connection || got.Unacked != 5 {
				t.Errorf("channel %+v", *got)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("channel %q never listed with its consumer: %+v", cd.Channel, got)
		}
		time.Sleep(250 * time.Millisecond)
	}

	if _, err := m.Queue(ctx, "/", f.name("missing")); !errors.Is(err, ErrQueueNotFound) {
		t.Errorf("missing queue: %v", err)
	}
	ov, err := m.Overview(ctx)
	if err != nil || ov.RabbitMQVersion == "" {
		t.Errorf("overview %+v, %v", ov, err)
	}
}

func TestManagementErrorsNeverShowThePassword(t *testing.T) {
	requireBroker(t)
	const pw = "Pl4nted-Mgmt-Pw"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tests := []struct {
		name string
		url  string
		user string
		pass string
	}{
		{name: "wrong password", url: testMgmtURL, user: testUser, pass: pw},
		{name: "credentials in URL", url: strings.Replace(testMgmtURL, "://", "://"+testUser+":"+pw+"@", 1)},
		{name: "unreachable", url: "http://u:" + pw + "@127.0.0.1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewManagement(tc.url, tc.user, tc.pass, nil)
			if err == nil {
				_, err = m.Overview(ctx)
			}
			if err == nil {
				t.Skip("management API accepted the credentials") // only if the plugin is off
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	if _, err := NewManagement("http://u:"+pw+"@host:bad port/", "", "", nil); err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("unparseable URL: %v", err)
	}
}
