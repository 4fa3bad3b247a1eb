package rabbit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// classicOnly is a SafetyChecker for tests that know the queue is classic.
type classicOnly struct{}

func (classicOnly) QueueSafety(context.Context, string, string) (Safety, error) {
	return Safety{Known: true, Safe: true, Type: "classic", DeliveryLimit: -1, Reason: "test"}, nil
}

func TestPeekRestoresDepthAndOrder(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	q := f.queue(f.name("dlq"), nil)
	sent := msgs("m", 50, 100, amqp.Table{"x-error": "i/o timeout"})
	f.publish(q, sent...)
	ctx := context.Background()

	for _, max := range []int{1, 20, 50, 80} {
		t.Run(fmt.Sprintf("max=%d", max), func(t *testing.T) {
			s, err := c.Peek(ctx, q, PeekOptions{Max: max, Safety: classicOnly{}})
			if err != nil {
				t.Fatal(err)
			}
			want := min(max, 50)
			if len(s.Messages) != want || s.Depth != 50 || s.Complete != (max >= 50) {
				t.Fatalf("sample of %d messages, depth %d, complete %v", len(s.Messages), s.Depth, s.Complete)
			}
			for i, m := range s.Messages {
				if m.MessageID != sent[i].MessageId {
					t.Fatalf("message %d is %s, want %s (order)", i, m.MessageID, sent[i].MessageId)
				}
			}
			// Depth restored, nothing left unacknowledged (the channel is closed).
			f.waitReady(q, 50, 3*time.Second)
		})
	}
	// And the queue order is intact for the real consumer.
	got := ids(f.take(q))
	if !slices.Equal(got, idsOf(sent)) {
		t.Errorf("order after peeks:\n got %v\nwant %v", got, idsOf(sent))
	}
}

func TestPeekNothingUnackedPerManagement(t *testing.T) {
	c := dialTest(t)
	m := testMgmt(t)
	f := newFixture(t)
	q := f.queue(f.name("dlq"), nil)
	f.publish(q, msgs("m", 30, 100, nil)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.Peek(ctx, q, PeekOptions{Max: 30, Safety: m})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Safety.Known || !s.Safety.Safe || s.Safety.Type != "classic" {
		t.Errorf("safety %+v", s.Safety)
	}
	// Stats lag ~5 s. To know they were taken after the peek, publish one more message and
	// wait for the queue's own counts to show 31: the queue process emits those, whereas the
	// peek's delivery counters come from its channel and are lost when a channel closes
	// before its next emission (the test used to wait for them and failed now and then). Then
	// all 31 must be ready and none unacknowledged. On a busy broker the lag grows: allow a
	// minute.
	f.publish(q, msgs("after-peek", 1, 10, nil)...)
	wait, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	var last QueueInfo
	var lastErr error
	for {
		info, err := m.Queue(wait, "/", q)
		if err == nil {
			last = info
			if info.Messages == 31 {
				if info.Ready != 31 || info.Unacked != 0 || info.Consumers != 0 {
					t.Fatalf("queue after peek: %+v, want 31 ready, none unacknowledged, no consumer", info)
				}
				break
			}
		}
		lastErr = err
		if wait.Err() != nil {
			t.Fatalf("queue after peek, last seen: %+v (last error: %v)", last, lastErr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestPeekPreviewBounded(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	q := f.queue(f.name("dlq"), nil)
	body := `{"token":"` + fakeDiscordToken + `","email":"paul@atreides.example","data":"` + strings.Repeat("é", 3000) + `"}`
	f.publish(q, amqp.Publishing{MessageId: "big", ContentType: "application/json", Body: []byte(body),
		Headers: amqp.Table{"x-error": "dial tcp: lookup db on 10.0.0.2:53: i/o timeout", "x-api-key": "k-123", "CC": []any{"x"}}})
	s, err := c.Peek(context.Background(), q, PeekOptions{Max: 5, PreviewBytes: 100, Safety: classicOnly{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Messages) != 1 {
		t.Fatalf("%d messages", len(s.Messages))
	}
	m := s.Messages[0]
	if len(m.Preview) > 100 || !m.Truncated || m.Size != len(body) {
		t.Errorf("preview %d bytes, truncated %v, size %d", len(m.Preview), m.Truncated, m.Size)
	}
	for _, secret := range []string{fakeDiscordToken[:10], "paul@atreides", "k-123"} {
		if strings.Contains(m.Preview+fmt.Sprint(m.Headers), secret) {
			t.Errorf("%q visible in %q %v", secret, m.Preview, m.Headers)
		}
	}
	if len(s.Groups) != 1 || s.Groups[0].Class != ClassTransient || s.Groups[0].Count != 1 {
		t.Errorf("groups %+v", s.Groups)
	}
	f.waitReady(q, 1, 3*time.Second)
}

func TestPeekXDeathFromRealDeadLettering(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	dlq := f.queue(f.name("dlq"), nil)
	dlx := amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
	rejectQ := f.queue(f.name("reject"), dlx)
	expireQ := f.queue(f.name("expire"), dlx)
	maxlenArgs := amqp.Table{"x-max-length": int32(1)}
	for k, v := range dlx {
		maxlenArgs[k] = v
	}
	maxlenQ := f.queue(f.name("maxlen"), maxlenArgs)
	before := time.Now().Add(-2 * time.Second)

	// rejected, with an application error header
	f.deadLetter(rejectQ, msgs("rej", 1, 10, amqp.Table{"x-error": "TypeError: Cannot read properties of undefined (reading 'id')"}))
	// expired: a per-message TTL, so x-death carries original-expiration
	exp := msgs("exp", 1, 10, nil)
	exp[0].Expiration = "1"
	f.publish(expireQ, exp...)
	f.waitReady(dlq, 2, 5*time.Second)
	// maxlen: the second publish pushes the first out
	f.publish(maxlenQ, msgs("max", 2, 10, nil)...)
	f.waitReady(dlq, 3, 5*time.Second)

	s, err := c.Peek(context.Background(), dlq, PeekOptions{Max: 10, Safety: classicOnly{}})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Message{}
	for _, m := range s.Messages {
		byID[m.MessageID] = m
	}
	tests := []struct {
		id, queue, reason, origExp string
		class                      Class
	}{
		{"rej-0", rejectQ, "rejected", "", ClassBug},
		{"exp-0", expireQ, "expired", "1", ClassTransient},
		{"max-0", maxlenQ, "maxlen", "", ClassTransient},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			m, ok := byID[tc.id]
			if !ok {
				t.Fatalf("message %s not in the sample", tc.id)
			}
			if len(m.Deaths) != 1 {
				t.Fatalf("x-death %+v", m.Deaths)
			}
			d := m.Deaths[0]
			if d.Queue != tc.queue || d.Reason != tc.reason || d.Count != 1 || d.Exchange != "" ||
				!slices.Equal(d.RoutingKeys, []string{tc.queue}) || d.OriginalExpiration != tc.origExp {
				t.Errorf("death %+v", d)
			}
			if d.Time.Before(before.Truncate(time.Second)) || d.Time.After(time.Now().Add(2*time.Second)) {
				t.Errorf("death time %v not around now", d.Time)
			}
			if m.First.Queue != tc.queue || m.First.Reason != tc.reason {
				t.Errorf("x-first-death %+v", m.First)
			}
			if m.Class() != tc.class {
				t.Errorf("class %s, want %s", m.Class(), tc.class)
			}
		})
	}

	// The same message dead-lettered twice from the same queue for the same reason: one entry,
	// count 2 (the broker increments it).
	twice := f.queue(f.name("twice"), dlx)
	ds := f.take(dlq)
	var rej amqp.Delivery
	for _, d := range ds {
		if d.MessageId == "rej-0" {
			rej = d
		}
	}
	f.deadLetter(twice, []amqp.Publishing{{MessageId: "again", Headers: rej.Headers, Body: rej.Body}})
	f.waitReady(dlq, 1, 3*time.Second)
	// Back through the same queue, dying the same way.
	again := f.take(dlq)[0]
	f.deadLetter(twice, []amqp.Publishing{{MessageId: "again", Headers: again.Headers, Body: again.Body}})
	f.waitReady(dlq, 1, 3*time.Second)
	s, err = c.Peek(context.Background(), dlq, PeekOptions{Max: 10, Safety: classicOnly{}})
	if err != nil {
		t.Fatal(err)
	}
	m := s.Messages[0]
	if len(m.Deaths) != 2 || m.Deaths[0].Queue != twice || m.Deaths[0].Count != 2 || m.Deaths[1].Queue != rejectQ || m.Deaths[1].Count != 1 {
		t.Errorf("x-death after two deaths in %s: %+v", twice, m.Deaths)
	}
	if q, _ := m.Origin(); q != twice {
		t.Errorf("origin %s, want the queue it died in last (%s)", q, twice)
	}
	if m.First.Queue != rejectQ {
		t.Errorf("x-first-death-queue %s, want %s", m.First.Queue, rejectQ)
	}
}

func TestPeekRefusesQuorumWithDeliveryLimit(t *testing.T) {
	c := dialTest(t)
	m := testMgmt(t)
	f := newFixture(t)
	limited := f.queue(f.name("limited"), amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int32(2)})
	f.publish(limited, msgs("q", 3, 10, nil)...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	s, err := c.Peek(ctx, limited, PeekOptions{Max: 10, Safety: m})
	if !errors.Is(err, ErrPeekUnsafe) {
		t.Fatalf("peek of a quorum queue with a delivery limit: %v, want ErrPeekUnsafe", err)
	}
	if s.Safety.DeliveryLimit != 2 || s.Safety.Type != "quorum" || len(s.Messages) != 0 {
		t.Errorf("sample %+v", s)
	}
	// Without a way to check the type, a peek is refused unless the caller accepts the risk.
	if _, err := c.Peek(ctx, limited, PeekOptions{Max: 10}); !errors.Is(err, ErrQueueTypeUnknown) {
		t.Errorf("peek without a checker: %v, want ErrQueueTypeUnknown", err)
	}
	// Untouched: no delivery happened, so no x-delivery-count.
	ds := f.take(limited)
	if len(ds) != 3 {
		t.Fatalf("%d messages left, want 3", len(ds))
	}
	for _, d := range ds {
		if d.Redelivered || d.Headers["x-delivery-count"] != nil {
			t.Errorf("message %s was delivered before: %v", d.MessageId, d.Headers)
		}
	}

	// A quorum queue without a limit on this 3.x broker is fine to peek.
	free := f.queue(f.name("free"), amqp.Table{"x-queue-type": "quorum"})
	f.publish(free, msgs("f", 2, 10, nil)...)
	s, err = c.Peek(ctx, free, PeekOptions{Max: 10, Safety: m})
	ov, _ := m.Overview(ctx)
	if major, _ := majorVersion(ov.RabbitMQVersion); major >= 4 {
		if !errors.Is(err, ErrPeekUnsafe) {
			t.Errorf("quorum queue on %s (default limit): %v", ov.RabbitMQVersion, err)
		}
	} else if err != nil || len(s.Messages) != 2 {
		t.Errorf("quorum queue without a limit: %d messages, %v", len(s.Messages), err)
	}
}

func TestPeekEmptyAndMissing(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	q := f.queue(f.name("empty"), nil)
	s, err := c.Peek(context.Background(), q, PeekOptions{Safety: classicOnly{}})
	if err != nil || len(s.Messages) != 0 || !s.Complete {
		t.Errorf("empty queue: %+v, %v", s, err)
	}
	if _, err := c.Peek(context.Background(), f.name("missing"), PeekOptions{Safety: classicOnly{}}); !errors.Is(err, ErrQueueNotFound) {
		t.Errorf("missing queue: %v", err)
	}
	if c.IsClosed() {
		t.Error("connection closed by a missing queue")
	}
}

func TestPeekSharesWithAnotherConsumer(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	q := f.queue(f.name("dlq"), nil)
	f.publish(q, msgs("m", 10, 10, nil)...)
	// Another consumer holds 4 of them unacked: the peek sees the other 6 and returns
	// after the idle wait instead of waiting for the 10 it was told about.
	ch, err := f.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Qos(4, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		<-ds
	}
	f.waitReady(q, 6, 2*time.Second)
	s, err := c.Peek(context.Background(), q, PeekOptions{Max: 10, Idle: 300 * time.Millisecond, Safety: classicOnly{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Messages) != 6 || s.Depth != 6 {
		t.Errorf("saw %d of depth %d", len(s.Messages), s.Depth)
	}
}
