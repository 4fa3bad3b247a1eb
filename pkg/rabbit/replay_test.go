package rabbit

import (
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var transientOnly = SelectByClass([]Class{ClassTransient}, nil, "")

// baseRequest is a replay request with generous bounds for tests.
func baseRequest(dlq string, sel func(Message) (string, bool)) ReplayRequest {
	return ReplayRequest{DLQ: dlq, Select: sel, MaxPerRun: 100000, MaxPerMessage: 3, Window: 64,
		Idle: 500 * time.Millisecond, Safety: classicOnly{}}
}

func sortedIDs(ds []amqp.Delivery) []string {
	out := ids(ds)
	sort.Strings(out)
	return out
}

func TestReplayHappyPath(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	sent := msgs("m", 40, 200, amqp.Table{"x-error": "dial tcp 10.0.0.7:5432: i/o timeout"})
	f.deadLetter(work, sent)
	f.waitReady(dlq, 40, 5*time.Second)

	ctx, _ := inTime(t, 30*time.Second)
	res, err := c.Replay(ctx, baseRequest(dlq, transientOnly))
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 40 || res.Seen != 40 || res.Depth != 40 || res.Stopped != StopDrained || res.InDoubt != 0 || len(res.Left) != 0 {
		t.Errorf("result %+v", res)
	}
	if len(res.Groups) != 1 || res.Groups[0].Class != ClassTransient || res.Groups[0].Replayed != 40 ||
		res.Groups[0].Key != (GroupKey{Queue: work, Reason: "rejected", Error: "dial tcp <n>:<n>: i/o timeout"}) {
		t.Errorf("groups %+v", res.Groups)
	}
	f.waitReady(dlq, 0, 3*time.Second)
	got := f.take(work)
	if !slices.Equal(ids(got), idsOf(sent)) {
		t.Errorf("work queue holds %v, want %v in order", ids(got), idsOf(sent))
	}
	for _, d := range got {
		if n, _ := number(d.Headers[ReplayHeader]); n != 1 {
			t.Errorf("%s: replay counter %v, want 1", d.MessageId, d.Headers[ReplayHeader])
		}
		if d.Headers["x-error"] == nil || d.Headers["x-death"] == nil || d.DeliveryMode != amqp.Persistent || d.ContentType != "application/json" {
			t.Errorf("%s lost headers or properties: %+v", d.MessageId, d)
		}
		if id, _ := d.Headers[ReplayIDHeader].(string); len(id) < len(res.RunID) || id[:len(res.RunID)] != res.RunID {
			t.Errorf("%s: replay id %q not of run %s", d.MessageId, id, res.RunID)
		}
	}
}

func TestReplaySelectsParksAndLeaves(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	parking := f.queue(f.name("parking"), nil)
	transient := msgs("t", 10, 100, amqp.Table{"x-error": "503 Service Unavailable"})
	bad := msgs("b", 5, 100, amqp.Table{"x-error": "invalid character 'x' looking for beginning of value"})
	bug := msgs("g", 5, 100, amqp.Table{"x-error": "panic: runtime error: index out of range [1] with length 1"})
	// Interleaved, so the held (not selected) ones sit between moved ones.
	var all []amqp.Publishing
	for i := range 10 {
		all = append(all, transient[i])
		if i < 5 {
			all = append(all, bad[i], bug[i])
		}
	}
	f.deadLetter(work, all)
	f.waitReady(dlq, 20, 5*time.Second)

	ctx, _ := inTime(t, 30*time.Second)
	req := baseRequest(dlq, SelectByClass([]Class{ClassTransient}, []Class{ClassBadData}, parking))
	req.ParkingQueue = parking
	res, err := c.Replay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 10 || res.Parked != 5 || res.Left[LeftNotSelected] != 5 || res.Seen != 20 || res.Stopped != StopDrained {
		t.Errorf("result %+v", res)
	}
	classes := map[Class]GroupOutcome{}
	for _, g := range res.Groups {
		classes[g.Class] = g
	}
	if classes[ClassTransient].Replayed != 10 || classes[ClassBadData].Parked != 5 || classes[ClassBug].Left[LeftNotSelected] != 5 {
		t.Errorf("groups %+v", res.Groups)
	}
	// The bugs stay in the DLQ, in their original order, flagged redelivered.
	f.waitReady(dlq, 5, 3*time.Second)
	left := f.take(dlq)
	if !slices.Equal(ids(left), idsOf(bug)) {
		t.Errorf("DLQ holds %v, want %v", ids(left), idsOf(bug))
	}
	if got := ids(f.take(work)); !slices.Equal(got, idsOf(transient)) {
		t.Errorf("work holds %v", got)
	}
	parked := f.take(parking)
	if !slices.Equal(ids(parked), idsOf(bad)) {
		t.Errorf("parking holds %v", ids(parked))
	}
	for _, d := range parked {
		if d.Headers[ReplayHeader] != nil {
			t.Errorf("parked %s got a replay counter", d.MessageId)
		}
	}
}

func TestReplayMissingTargetStays(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	gone := f.queue(f.name("gone"), amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
	f.deadLetter(work, msgs("w", 5, 50, amqp.Table{"x-error": "i/o timeout"}))
	f.deadLetter(gone, msgs("g", 7, 50, amqp.Table{"x-error": "i/o timeout"}))
	f.waitReady(dlq, 12, 5*time.Second)
	ch, _ := f.conn.Channel()
	if _, err := ch.QueueDelete(gone, false, false, false); err != nil {
		t.Fatal(err)
	}
	ch.Close()

	ctx, _ := inTime(t, 30*time.Second)
	res, err := c.Replay(ctx, baseRequest(dlq, transientOnly))
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 5 || res.Left[LeftMissingTarget] != 7 || !slices.Equal(res.MissingTargets, []string{gone}) {
		t.Errorf("result %+v", res)
	}
	f.waitReady(dlq, 7, 3*time.Second)
	if got := sortedIDs(f.take(dlq)); !slices.Equal(got, []string{"g-0", "g-1", "g-2", "g-3", "g-4", "g-5", "g-6"}) {
		t.Errorf("DLQ holds %v", got)
	}
	if c.IsClosed() {
		t.Error("the missing target closed the connection")
	}
}

func TestReplayPerMessageLimit(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	// Two replays so far: one more allowed. Three: none.
	f.deadLetter(work, msgs("two", 4, 50, amqp.Table{"x-error": "i/o timeout", ReplayHeader: int64(2)}))
	f.deadLetter(work, msgs("three", 3, 50, amqp.Table{"x-error": "i/o timeout", ReplayHeader: int32(3)}))
	f.waitReady(dlq, 7, 5*time.Second)

	ctx, _ := inTime(t, 30*time.Second)
	req := baseRequest(dlq, transientOnly)
	req.MaxPerMessage = 3
	res, err := c.Replay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 4 || res.Left[LeftLimit] != 3 {
		t.Errorf("result %+v", res)
	}
	f.waitReady(dlq, 3, 3*time.Second)
	f.waitReady(work, 4, 3*time.Second)

	// The replayed ones fail again and come back with counter 3: the next run leaves them all.
	f.rejectAll(work, 4)
	f.waitReady(dlq, 7, 3*time.Second)
	res, err = c.Replay(ctx, req)
	if err != nil || res.Replayed != 0 || res.Left[LeftLimit] != 7 {
		t.Errorf("second run %+v, %v", res, err)
	}
	f.waitReady(dlq, 7, 3*time.Second)
	for _, d := range f.take(dlq) {
		if n, _ := number(d.Headers[ReplayHeader]); n != 3 {
			t.Errorf("%s replay counter %v, want 3", d.MessageId, d.Headers[ReplayHeader])
		}
	}
}

func TestReplayPerRunCap(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	f.deadLetter(work, msgs("m", 50, 50, amqp.Table{"x-error": "ECONNRESET"}))
	f.waitReady(dlq, 50, 5*time.Second)

	ctx, _ := inTime(t, 30*time.Second)
	req := baseRequest(dlq, transientOnly)
	req.MaxPerRun = 20
	req.Window = 8
	res, err := c.Replay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 20 || res.Stopped != StopCap || res.Left[LeftCap] != 30 {
		t.Errorf("result %+v", res)
	}
	f.waitReady(dlq, 30, 3*time.Second)
	f.waitReady(work, 20, 3*time.Second)

	// MaxPerRun 0 moves nothing and says so.
	req.MaxPerRun = 0
	res, err = c.Replay(ctx, req)
	if err != nil || res.Replayed != 0 || res.Stopped != StopCap || res.Left[LeftCap] != 30 {
		t.Errorf("zero cap: %+v, %v", res, err)
	}
	f.waitReady(dlq, 30, 3*time.Second)
}

func TestReplayScanLimitAndRenewedConsumers(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	// 1,500 messages nobody selects, then 100 transient ones: the run must hold the 1,500
	// (well past one consumer's prefetch) to reach them.
	f.deadLetter(work, msgs("bug", 1500, 50, amqp.Table{"x-error": "panic: nil map"}))
	f.deadLetter(work, msgs("ok", 100, 50, amqp.Table{"x-error": "i/o timeout"}))
	f.waitReady(dlq, 1600, 10*time.Second)

	ctx, _ := inTime(t, 60*time.Second)
	req := baseRequest(dlq, transientOnly)
	req.Window = 16
	res, err := c.Replay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Seen != 1600 || res.Replayed != 100 || res.Left[LeftNotSelected] != 1500 || res.Stopped != StopDrained {
		t.Errorf("result %+v", res)
	}
	t.Logf("1,600 seen, 100 replayed in %v", res.Duration)
	f.waitReady(dlq, 1500, 5*time.Second)
	f.waitReady(work, 100, 5*time.Second)

	// MaxScan stops the run early and counts the rest.
	req.MaxScan = 300
	res, err = c.Replay(ctx, req)
	if err != nil || res.Seen != 300 || res.Stopped != StopScanLimit || res.Left[LeftScanLimit] != 1200 {
		t.Errorf("scan limit: %+v, %v", res, err)
	}
	f.waitReady(dlq, 1500, 5*time.Second)
}

func TestReplayStripsCCAndBCC(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	other := f.queue(f.name("other"), nil)
	hidden := f.queue(f.name("hidden"), nil)
	// Published straight into the DLQ with sender-selected distribution headers, as a message
	// that was originally published with CC/BCC would carry them.
	m := msgs("cc", 3, 50, amqp.Table{"x-error": "i/o timeout", "CC": []any{other}, "BCC": []any{hidden},
		"x-first-death-queue": work, "x-first-death-reason": "rejected"})
	f.publish(dlq, m...)
	// CC routes copies to `other` on the first publish; empty it so only the replay counts.
	f.waitReady(other, 3, 3*time.Second)
	f.take(other)
	f.take(hidden)

	ctx, _ := inTime(t, 30*time.Second)
	res, err := c.Replay(ctx, baseRequest(dlq, transientOnly))
	if err != nil || res.Replayed != 3 {
		t.Fatalf("result %+v, %v", res, err)
	}
	for _, d := range f.take(work) {
		if d.Headers["CC"] != nil || d.Headers["BCC"] != nil {
			t.Errorf("%s still has CC/BCC: %v", d.MessageId, d.Headers)
		}
	}
	if n := f.ready(other) + f.ready(hidden); n != 0 {
		t.Errorf("the replay copied %d messages to the CC/BCC queues", n)
	}
}

func TestReplayReturnLeavesMessages(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	_, dlq := f.dlqPair()
	target := f.queue(f.name("target"), nil)
	f.publish(dlq, msgs("m", 10, 50, amqp.Table{"x-error": "i/o timeout"})...)

	// The target exists when the run checks it, and disappears after the 4th message: the
	// remaining publishes are unroutable, come back as basic.return, and must stay in the DLQ.
	seen := 0
	sel := func(m Message) (string, bool) {
		seen++
		if seen == 5 {
			ch, _ := f.conn.Channel()
			if _, err := ch.QueueDelete(target, false, false, false); err != nil {
				t.Errorf("delete target: %v", err)
			}
			ch.Close()
		}
		return target, true
	}
	ctx, _ := inTime(t, 30*time.Second)
	req := baseRequest(dlq, sel)
	req.Window = 1 // settle each publish before the next delivery, so the cut is exact
	res, err := c.Replay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 4 || res.Left[LeftReturn] != 6 || res.Seen != 10 {
		t.Errorf("result %+v", res)
	}
	f.waitReady(dlq, 6, 3*time.Second)
	if got := ids(f.take(dlq)); !slices.Equal(got, []string{"m-4", "m-5", "m-6", "m-7", "m-8", "m-9"}) {
		t.Errorf("DLQ holds %v", got)
	}
}

func TestReplayNackLeavesMessages(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	_, dlq := f.dlqPair()
	// A target that refuses publishes past 5 messages: the broker nacks them.
	full := f.queue(f.name("full"), amqp.Table{"x-max-length": int32(5), "x-overflow": "reject-publish"})
	f.publish(dlq, msgs("m", 12, 50, amqp.Table{"x-error": "i/o timeout"})...)

	ctx, _ := inTime(t, 30*time.Second)
	res, err := c.Replay(ctx, baseRequest(dlq, func(Message) (string, bool) { return full, true }))
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 5 || res.Left[LeftNack] != 7 {
		t.Errorf("result %+v", res)
	}
	f.waitReady(dlq, 7, 3*time.Second)
	f.waitReady(full, 5, 3*time.Second)
}

func TestReplayDeadlineStopsCleanly(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	const n = 3000
	sent := msgs("m", n, 100, amqp.Table{"x-error": "i/o timeout"})
	f.publish(dlq, sent...)

	// Slow the replay down: Select takes 1 ms, so 3,000 messages need 3 s; the deadline
	// leaves 1 s of taking.
	sel := func(m Message) (string, bool) {
		time.Sleep(time.Millisecond)
		return work, true
	}
	req := baseRequest(dlq, sel)
	req.Deadline = time.Now().Add(1500 * time.Millisecond)
	req.Drain = 500 * time.Millisecond
	start := time.Now()
	res, err := c.Replay(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// The run stops taking at deadline-Drain and returns by the deadline; the slack only
	// absorbs a busy machine's scheduling (the property, not a speed target).
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond+time.Second {
		t.Errorf("run took %v, well past its 1.5 s deadline", elapsed)
	}
	if res.Stopped != StopDeadline || res.Replayed == 0 || res.Replayed >= n {
		t.Errorf("result %+v", res)
	}
	if res.Left[LeftDeadline] != n-res.Seen+res.InDoubt {
		t.Errorf("left %v for %d seen, %d in doubt", res.Left, res.Seen, res.InDoubt)
	}
	// Nothing lost, nothing duplicated: everything is in exactly one of the two queues.
	f.waitReady(dlq, n-res.Replayed, 5*time.Second)
	all := append(sortedIDs(f.take(dlq)), sortedIDs(f.take(work))...)
	sort.Strings(all)
	want := idsOf(sent)
	sort.Strings(want)
	if !slices.Equal(all, want) {
		t.Errorf("%d messages in the two queues, want exactly the %d sent", len(all), n)
	}

	// A deadline already too close: nothing is taken.
	req.Deadline = time.Now().Add(100 * time.Millisecond)
	res, err = c.Replay(context.Background(), req)
	if err != nil || res.Stopped != StopDeadline || res.Seen != 0 {
		t.Errorf("late start: %+v, %v", res, err)
	}
}

func TestReplayRefusesUnsafeOrUnknownDLQ(t *testing.T) {
	c := dialTest(t)
	m := testMgmt(t)
	f := newFixture(t)
	dlq := f.queue(f.name("qdlq"), amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int32(5)})
	f.publish(dlq, msgs("m", 2, 10, amqp.Table{"x-error": "i/o timeout", "x-first-death-queue": "x"})...)
	ctx, _ := inTime(t, 20*time.Second)
	req := baseRequest(dlq, transientOnly)
	req.Safety = m
	if _, err := c.Replay(ctx, req); !errors.Is(err, ErrPeekUnsafe) {
		t.Errorf("quorum DLQ with a delivery limit: %v", err)
	}
	req.Safety = nil
	if _, err := c.Replay(ctx, req); !errors.Is(err, ErrQueueTypeUnknown) {
		t.Errorf("no safety checker: %v", err)
	}
	if n := f.ready(dlq); n != 2 {
		t.Errorf("%d messages left, want 2", n)
	}
}

func TestReplayValidation(t *testing.T) {
	c := dialTest(t)
	ctx, _ := inTime(t, 10*time.Second)
	tests := []struct {
		name string
		req  ReplayRequest
	}{
		{name: "no dlq", req: ReplayRequest{Select: transientOnly}},
		{name: "no select", req: ReplayRequest{DLQ: "x"}},
		{name: "negative cap", req: ReplayRequest{DLQ: "x", Select: transientOnly, MaxPerRun: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Replay(ctx, tc.req); err == nil {
				t.Error("accepted")
			}
		})
	}
	// No deadline anywhere.
	if _, err := c.Replay(context.Background(), ReplayRequest{DLQ: "x", Select: transientOnly, AllowUnverified: true}); err == nil {
		t.Error("a replay without a deadline was accepted")
	}
	if _, err := c.Park(ctx, ReplayRequest{DLQ: "x"}, func(Message) bool { return true }); err == nil {
		t.Error("park without a parking queue accepted")
	}
}

func TestPark(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	parking := f.queue(f.name("parking"), nil)
	f.deadLetter(work, msgs("bad", 4, 50, amqp.Table{"x-error": "unknown interaction type 42"}))
	f.deadLetter(work, msgs("ok", 2, 50, amqp.Table{"x-error": "i/o timeout"}))
	f.waitReady(dlq, 6, 5*time.Second) // dead-lettering is asynchronous
	ctx, _ := inTime(t, 30*time.Second)
	req := baseRequest(dlq, nil)
	req.ParkingQueue = parking
	res, err := c.Park(ctx, req, func(m Message) bool { return m.Class() == ClassBadData })
	if err != nil {
		t.Fatal(err)
	}
	if res.Parked != 4 || res.Replayed != 0 || res.Left[LeftNotSelected] != 2 {
		t.Errorf("result %+v", res)
	}
	f.waitReady(parking, 4, 3*time.Second)
	f.waitReady(dlq, 2, 3*time.Second)
}

func TestReplayCancelledStopsCleanly(t *testing.T) {
	c := dialTest(t)
	f := newFixture(t)
	work, dlq := f.dlqPair()
	const n = 2000
	sent := msgs("m", n, 100, amqp.Table{"x-error": "i/o timeout"})
	f.publish(dlq, sent...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the run is well under way (100 messages looked at), however slow the
	// machine: a fixed delay was sometimes over before the first delivery on a loaded one.
	selected := 0
	sel := func(m Message) (string, bool) {
		if selected++; selected == 100 {
			cancel()
		}
		time.Sleep(time.Millisecond)
		return work, true
	}
	req := baseRequest(dlq, sel)
	req.Deadline = time.Now().Add(30 * time.Second)
	res, err := c.Replay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != StopCancelled || res.Replayed == 0 || res.Replayed >= n || res.InDoubt != 0 {
		t.Errorf("result %+v", res)
	}
	f.waitReady(dlq, n-res.Replayed, 5*time.Second)
	f.waitReady(work, res.Replayed, 5*time.Second)
}
