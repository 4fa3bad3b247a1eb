package rabbit

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrConnectionLost means the connection (or one of the replay's channels) went away during a
// replay. Nothing is lost: every message not acknowledged is back in the dead-letter queue;
// the ones in flight (ReplayResult.InDoubt) may also have reached their target.
var ErrConnectionLost = errors.New("connection lost during replay")

// Defaults of ReplayRequest.
const (
	DefaultWindow  = 256
	DefaultMaxScan = 10000
	DefaultDrain   = 2 * time.Second
	DefaultIdle    = time.Second
)

// ReplayRequest bounds a replay (or a parking) run.
type ReplayRequest struct {
	// DLQ is the dead-letter queue to take messages from.
	DLQ string
	// Select says where a message goes: its target queue (published through the default
	// exchange, routing key = queue), or ok=false to leave it in the DLQ untouched.
	Select func(Message) (target string, ok bool)
	// ParkingQueue, when a Select target equals it, makes the move a park: no replay counter,
	// no per-message limit, counted as parked.
	ParkingQueue string
	// MaxPerRun caps the messages moved (replayed + parked) in this run; 0 moves nothing.
	MaxPerRun int
	// MaxPerMessage: a message whose replay counter (ReplayHeader) has reached it is not
	// replayed again but left in the DLQ and counted (reason limit); 0 replays nothing.
	MaxPerMessage int
	// Window is the number of publishes awaiting a confirm at any time (default 256). It is
	// also the bound on duplicates if the connection drops mid-run.
	Window int
	// MaxScan bounds the deliveries looked at in one run (default 10,000): messages that are
	// not moved are held unacknowledged until the run ends, so each is seen once per run.
	MaxScan int
	// Deadline is when the run must be over (zero: ctx's deadline; one of them is required).
	Deadline time.Time
	// Drain is how long before Deadline the run stops taking messages and waits for the
	// outstanding confirms (default 2 s).
	Drain time.Duration
	// Idle is how long without a delivery or a confirm before the run checks the DLQ: with no
	// ready message left the rest is held by another consumer and the run ends (default 1 s).
	Idle time.Duration
	// PreviewBytes of payload to keep in the Messages given to Select (default 0: none).
	PreviewBytes int
	// ErrorHeaders as for PeekOptions (default DefaultErrorHeaders).
	ErrorHeaders []string
	// Safety and AllowUnverified as for PeekOptions: a replay requeues what it does not move,
	// which is as destructive as a peek on a quorum queue with a delivery limit.
	Safety          SafetyChecker
	AllowUnverified bool
}

// LeftReason says why a message seen by a run is still in the DLQ.
type LeftReason string

const (
	LeftNotSelected   LeftReason = "not-selected"   // Select said no
	LeftLimit         LeftReason = "limit"          // replayed MaxPerMessage times already
	LeftMissingTarget LeftReason = "missing-target" // the target queue does not exist
	LeftInvalidTarget LeftReason = "invalid-target" // empty target, or the DLQ itself
	LeftCap           LeftReason = "cap"            // MaxPerRun reached (also counts the unseen rest)
	LeftDeadline      LeftReason = "deadline"       // no confirm before the deadline (may be a duplicate)
	LeftNack          LeftReason = "nack"           // the broker refused the publish
	LeftReturn        LeftReason = "return"         // unroutable (basic.return, e.g. 312 NO_ROUTE)
	LeftScanLimit     LeftReason = "scan-limit"     // MaxScan reached: the unseen rest
	LeftLost          LeftReason = "connection-lost"
)

// StopReason says why a run ended.
type StopReason string

const (
	StopDrained        StopReason = "drained"    // every message ready at the start was seen
	StopIdle           StopReason = "idle"       // deliveries stopped coming (another consumer holds the rest)
	StopCap            StopReason = "cap"        // MaxPerRun moves done
	StopScanLimit      StopReason = "scan-limit" // MaxScan deliveries seen
	StopDeadline       StopReason = "deadline"
	StopCancelled      StopReason = "cancelled" // ctx was cancelled
	StopConnectionLost StopReason = "connection-lost"
	StopWatchdog       StopReason = "watchdog" // stuck past the deadline: the connection was closed
)

// GroupOutcome is what a run did with one group of messages.
type GroupOutcome struct {
	Key      GroupKey           `json:"key"`
	Class    Class              `json:"class"`
	Seen     int                `json:"seen"`
	Replayed int                `json:"replayed"`
	Parked   int                `json:"parked"`
	Left     map[LeftReason]int `json:"left,omitempty"`
}

// ReplayResult is what a run did. After a run without error, Replayed+Parked messages are in
// their targets and gone from the DLQ, and everything else is still in the DLQ. After
// ErrConnectionLost nothing is lost either, but acknowledgements sent just before the cut may
// not have reached the broker: up to Window messages (InDoubt ones, and some counted as
// Replayed or Parked) can be both in their target and back in the DLQ.
type ReplayResult struct {
	DLQ   string `json:"dlq"`
	RunID string `json:"runId"`
	// Depth is the DLQ's ready count when the run started.
	Depth    int                `json:"depth"`
	Seen     int                `json:"seen"`
	Replayed int                `json:"replayed"`
	Parked   int                `json:"parked"`
	Left     map[LeftReason]int `json:"left,omitempty"`
	Groups   []GroupOutcome     `json:"groups,omitempty"`
	Stopped  StopReason         `json:"stopped"`
	// MissingTargets are the target queues that did not exist.
	MissingTargets []string `json:"missingTargets,omitempty"`
	// InDoubt were published but not confirmed when the run ended: they are in the DLQ and
	// may also be in their target (a duplicate). At most Window.
	InDoubt  int           `json:"inDoubt"`
	Duration time.Duration `json:"duration"`
}

// SelectByClass returns a Select that sends messages whose group class is in replay back to
// the queue they died in, and those in park to parkingQueue (when not empty). The rest stay.
func SelectByClass(replay, park []Class, parkingQueue string) func(Message) (string, bool) {
	return func(m Message) (string, bool) {
		cls := m.Class()
		if parkingQueue != "" && slices.Contains(park, cls) {
			return parkingQueue, true
		}
		if slices.Contains(replay, cls) {
			if q, _ := m.Origin(); q != "" {
				return q, true
			}
		}
		return "", false
	}
}

// Park moves the messages want selects to req.ParkingQueue with the same no-loss protocol as
// Replay (req.Select is replaced).
func (c *Client) Park(ctx context.Context, req ReplayRequest, want func(Message) bool) (ReplayResult, error) {
	if req.ParkingQueue == "" {
		return ReplayResult{DLQ: req.DLQ}, errors.New("park: no parking queue configured")
	}
	if want == nil {
		return ReplayResult{DLQ: req.DLQ}, errors.New("park: no selection")
	}
	parking := req.ParkingQueue
	req.Select = func(m Message) (string, bool) {
		if want(m) {
			return parking, true
		}
		return "", false
	}
	return c.Replay(ctx, req)
}

// Replay moves selected dead letters to their target queues without ever losing one:
//
//   - it consumes the DLQ with manual acks and publishes each selected message to its target
//     on the same channel (see replayer.ch) in confirm mode with mandatory=true, at most
//     Window unconfirmed;
//   - the DLQ delivery is acknowledged only after a positive confirm with no basic.return for
//     that publish; a nack or a return leaves it in the DLQ (counted);
//   - CC/BCC headers are stripped (they would copy the message to other queues) and the
//     replay counter header incremented; a message at MaxPerMessage stays in the DLQ;
//   - target queues are checked with a passive declare first; messages for a missing one stay;
//   - messages it does not move are held unacknowledged until the run ends, then returned to
//     the DLQ in order (by closing the channel): a requeued message would go back to the head
//     and be delivered again at once, so holding is what makes each message seen once per run.
//     Holding is bounded by MaxScan; the consumer is renewed as held messages accumulate so
//     the prefetch window (and memory) stays Window + a chunk whatever MaxScan is;
//   - it stops at MaxPerRun, at MaxScan, when every message ready at the start was seen, on
//     ctx cancellation, or Drain before the deadline: then it waits for outstanding confirms
//     until the deadline at most, and whatever is unconfirmed stays in the DLQ;
//   - if the connection drops, the broker requeues every unacknowledged delivery: at most the
//     Window in flight may also have reached their targets (duplicates), none is lost.
//
// It never purges. An error comes with the counts of what was done before it.
func (c *Client) Replay(ctx context.Context, req ReplayRequest) (ReplayResult, error) {
	res := ReplayResult{DLQ: req.DLQ, Left: map[LeftReason]int{}}
	if err := req.normalize(ctx); err != nil {
		return res, err
	}
	if _, err := c.checkSafety(ctx, req.DLQ, req.Safety, req.AllowUnverified); err != nil {
		return res, fmt.Errorf("replay from %s: %w", req.DLQ, err)
	}
	r := &replayer{c: c, req: req, res: res, groups: map[GroupKey]*GroupOutcome{},
		targets: map[string]bool{}, ackedAbove: map[uint64]struct{}{},
		inflight: pendingRing{buf: make([]pending, req.Window)}}
	r.res.RunID = newRunID()
	start := time.Now()
	err := r.run(ctx)
	r.res.Duration = time.Since(start)
	r.res.Groups = r.groupList()
	if len(r.res.Left) == 0 {
		r.res.Left = nil
	}
	if err != nil {
		return r.res, c.scrub(fmt.Errorf("replay from %s: %w", req.DLQ, err))
	}
	return r.res, nil
}

func (req *ReplayRequest) normalize(ctx context.Context) error {
	switch {
	case req.DLQ == "":
		return errors.New("replay: no DLQ named")
	case req.Select == nil:
		return errors.New("replay: no Select function")
	case req.MaxPerRun < 0 || req.MaxPerMessage < 0 || req.Window < 0 || req.MaxScan < 0:
		return errors.New("replay: negative limits")
	}
	if req.Window == 0 {
		req.Window = DefaultWindow
	}
	if req.MaxScan == 0 {
		req.MaxScan = DefaultMaxScan
	}
	if req.Drain <= 0 {
		req.Drain = DefaultDrain
	}
	if req.Idle <= 0 {
		req.Idle = DefaultIdle
	}
	if req.ErrorHeaders == nil {
		req.ErrorHeaders = DefaultErrorHeaders
	}
	if d, ok := ctx.Deadline(); ok && (req.Deadline.IsZero() || d.Before(req.Deadline)) {
		req.Deadline = d
	}
	if req.Deadline.IsZero() {
		return errors.New("replay: no deadline (set ReplayRequest.Deadline or a ctx deadline)")
	}
	// A window larger than the prefetch limit could never fill.
	req.Window = min(req.Window, maxPrefetch/2)
	return nil
}

// pending is one publish awaiting its confirm.
type pending struct {
	seq      uint64 // publish sequence number on the channel
	dc       *amqp.DeferredConfirmation
	tag      uint64 // DLQ delivery tag
	gen      int    // the consumer that delivered it
	group    *GroupOutcome
	park     bool
	returned bool
}

// pendingRing holds the publishes awaiting their confirm, oldest first. Their sequence
// numbers are consecutive (one publish channel, one publish each), so the one a
// basic.return names is found by subtraction. Its capacity is the window: no allocation per
// message.
type pendingRing struct {
	buf     []pending
	head, n int
}

func (q *pendingRing) len() int          { return q.n }
func (q *pendingRing) at(i int) *pending { return &q.buf[(q.head+i)%len(q.buf)] }
func (q *pendingRing) front() *pending   { return &q.buf[q.head] }

func (q *pendingRing) push(p pending) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = p
	q.n++
}

func (q *pendingRing) pop() pending {
	p := q.buf[q.head]
	q.buf[q.head] = pending{} // let the confirmation and group go
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return p
}

// bySeq returns the pending publish with sequence number seq, or nil.
func (q *pendingRing) bySeq(seq uint64) *pending {
	if q.n == 0 || seq < q.front().seq || seq-q.front().seq >= uint64(q.n) {
		return nil
	}
	return q.at(int(seq - q.front().seq))
}

func (q *pendingRing) grow() {
	buf := make([]pending, max(2*len(q.buf), 16))
	for i := range q.n {
		buf[i] = *q.at(i)
	}
	q.buf, q.head = buf, 0
}

// toAck is a DLQ delivery whose copy was confirmed, waiting for its acknowledgement.
type toAck struct {
	tag   uint64
	group *GroupOutcome
	park  bool
}

type replayer struct {
	c   *Client
	req ReplayRequest
	res ReplayResult

	// ch carries the DLQ consumer, its acknowledgements and the confirmed publishes. One
	// channel, not two: the broker runs each channel in a process of its own, and when the
	// connection drops, frames one channel process had not handled yet are discarded while
	// the other's were. With publishes on one channel and acks on another, acks written
	// before later publishes could be lost while those publishes landed, and the duplicates
	// could exceed Window (seen: 87 with a window of 64). On one channel the broker handles
	// frames in the order written, so what it handled is a prefix of the stream.
	ch *amqp.Channel
	// The current DLQ consumer, and the previous one while its last deliveries drain (it is
	// read first: its delivery tags are lower). gen numbers the consumers.
	cur, old  <-chan amqp.Delivery
	curTag    string
	gen       int
	curHeld   int // deliveries of the current consumer held unacknowledged (they fill its prefetch)
	holdChunk int
	taking    bool // still taking deliveries (false once a stop reason is set)

	groups map[GroupKey]*GroupOutcome
	// Publishes awaiting their confirm, oldest first.
	inflight pendingRing

	// Acknowledgement bookkeeping (delivery tags of the channel, contiguous from 1).
	acks       []toAck             // confirmed, not yet acknowledged, in the order settled
	ackFloor   uint64              // every tag <= ackFloor is acknowledged
	ackedAbove map[uint64]struct{} // acknowledged one by one above the floor
	targets    map[string]bool     // target queue -> exists
	moved      int                 // publishes started (the MaxPerRun cap)

	// Reused per publish: amqp091 encodes the headers before Publish returns.
	headers amqp.Table
	idBuf   []byte
	// lastKey and lastGroup skip the group lookup for a run of messages of one group.
	lastKey   GroupKey
	lastGroup *GroupOutcome
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run moves messages in three phases: open (channels, the DLQ's depth, the consumer), move
// (the confirm-then-ack loop) and account (what stayed in the DLQ, and why).
func (r *replayer) run(ctx context.Context) error {
	req := &r.req
	stopAt := req.Deadline.Add(-req.Drain)
	if !time.Now().Before(stopAt) {
		r.res.Stopped = StopDeadline
		return nil
	}

	// Last resort: a publish blocked by TCP back-pressure or a blocked connection cannot be
	// interrupted otherwise. Closing the connection requeues every unacked delivery: no loss.
	finished := make(chan struct{})
	defer close(finished)
	watchdog := time.AfterFunc(time.Until(req.Deadline)+500*time.Millisecond, func() {
		select {
		case <-finished:
		default:
			_ = r.c.conn.CloseDeadline(time.Now().Add(500 * time.Millisecond))
		}
	})
	defer watchdog.Stop()
	// Closing the channel returns every delivery not acknowledged (held, refused,
	// unconfirmed, prefetched but unseen) to the DLQ, in order. It must come after the last ack.
	defer r.closeChannel()

	n, more, err := r.open()
	if err != nil || !more {
		return err
	}
	return r.account(r.move(ctx, n, stopAt))
}

// notifications are the broker's signals the move loop listens to.
type notifications struct {
	connClosed, chClosed <-chan *amqp.Error
	cancels              <-chan string
	returns              <-chan amqp.Return
}

// closeChannel closes the channel, which requeues what was not acknowledged. Closing a
// channel twice is harmless.
func (r *replayer) closeChannel() {
	if r.ch != nil {
		_ = r.ch.Close()
	}
}

// open prepares a run: the channel, the DLQ's depth, confirm mode, the prefetch and the
// consumer. more is false when there is nothing to move.
func (r *replayer) open() (n notifications, more bool, err error) {
	req := &r.req
	n.connClosed = r.c.conn.NotifyClose(make(chan *amqp.Error, 1))
	if r.ch, err = r.c.conn.Channel(); err != nil {
		return n, false, fmt.Errorf("open channel: %w", err)
	}
	n.chClosed = r.ch.NotifyClose(make(chan *amqp.Error, 1))
	n.cancels = r.ch.NotifyCancel(make(chan string, 4))

	q, err := r.ch.QueueDeclarePassive(req.DLQ, false, false, false, false, nil)
	if err != nil {
		return n, false, queueErr(req.DLQ, err)
	}
	r.res.Depth = q.Messages
	switch {
	case q.Messages == 0:
		r.res.Stopped = StopDrained
		return n, false, nil
	case req.MaxPerRun == 0:
		r.res.Stopped = StopCap
		r.res.Left[LeftCap] += q.Messages
		return n, false, nil
	}

	if err := r.ch.Confirm(false); err != nil {
		return n, false, fmt.Errorf("confirm mode: %w", err)
	}
	// Confirms are read from each publish's DeferredConfirmation (no listener channel that
	// could fill up and drop them). Returns need a listener: it holds at least Window entries,
	// since at most Window publishes are outstanding and the reader goroutine must not block.
	n.returns = r.ch.NotifyReturn(make(chan amqp.Return, req.Window+1))

	// Prefetch per consumer: Window publishes in flight plus a chunk of held deliveries; when
	// the chunk is full the consumer is renewed (see hold).
	r.holdChunk = max(req.Window, 256)
	if err := r.ch.Qos(min(req.Window+r.holdChunk, maxPrefetch), 0, false); err != nil {
		return n, false, fmt.Errorf("set prefetch: %w", err)
	}
	if err := r.subscribe(); err != nil {
		return n, false, err
	}
	return n, true, nil
}

// move takes deliveries, publishes the selected ones and acknowledges each DLQ copy once its
// publish is confirmed, until the run stops (cap, deadline, idle, cancel) and the publishes in
// flight are settled, or the connection fails (the error).
func (r *replayer) move(ctx context.Context, n notifications, stopAt time.Time) error {
	req := &r.req
	r.taking = true
	stopTimer := time.NewTimer(time.Until(stopAt))
	defer stopTimer.Stop()
	idle := time.NewTimer(req.Idle)
	defer idle.Stop()
	var drainEnd <-chan time.Time
	var runErr error

loop:
	for {
		if !r.taking {
			if r.inflight.len() == 0 {
				break
			}
			if drainEnd == nil {
				drainEnd = time.After(min(req.Drain, time.Until(req.Deadline)))
			}
		}
		// Take the deliveries already waiting, without blocking: their publishes, and the
		// acks of the round before, leave in one write.
		r.cork()
		if n, err := r.intake(ctx); err != nil {
			runErr = err
			break loop
		} else if n > 0 {
			idle.Reset(req.Idle)
		}
		var headDone <-chan struct{}
		if r.inflight.len() > 0 {
			headDone = r.inflight.front().dc.Done()
		}
		var in <-chan amqp.Delivery
		if r.taking && r.inflight.len() < req.Window {
			in = r.source()
		}
		if err := r.flush(); err != nil {
			runErr = err
			break loop
		}
		select {
		case d, ok := <-in:
			idle.Reset(req.Idle)
			r.cork()
			if err := r.delivered(ctx, &d, ok, in); err != nil {
				runErr = err
				break loop
			}

		case <-headDone:
			idle.Reset(req.Idle)
			r.cork()
			// A basic.return arrives before the confirm of the same publish, and the reader
			// goroutine passed it on before settling this confirm: it is in the buffer now.
			r.drainReturns(n.returns)
			if err := r.settle(); err != nil {
				runErr = err
				break loop
			}
			// Acks are written before any new publish, so at every point of the stream at
			// most Window messages are published but not acknowledged: the duplicate bound.
			if err := r.flushAcks(); err != nil {
				runErr = err
				break loop
			}

		case ret, ok := <-n.returns:
			if ok {
				r.markReturned(ret)
			}

		case <-idle.C:
			// Quiet for a while: if the DLQ still has ready messages the broker is only slow
			// (or busy), keep going; if none are ready, the rest are held by another consumer.
			q, err := r.ch.QueueDeclarePassive(req.DLQ, false, false, false, false, nil)
			if err != nil {
				runErr = lostErr(nil)
				if amqpCode(err) == amqp.NotFound {
					runErr = fmt.Errorf("DLQ deleted during the run: %w", ErrConnectionLost)
				}
				break loop
			}
			if q.Messages == 0 {
				r.stop(StopIdle)
			} else {
				idle.Reset(req.Idle)
			}
		case <-stopTimer.C:
			r.stop(StopDeadline)
		case <-ctx.Done():
			r.stop(StopCancelled)
		case tag := <-n.cancels:
			if tag == r.curTag {
				runErr = fmt.Errorf("the broker cancelled the DLQ consumer (queue deleted?): %w", ErrConnectionLost)
				break loop
			}
		case <-drainEnd:
			break loop
		case e := <-n.connClosed:
			runErr = lostErr(e)
			break loop
		case e := <-n.chClosed:
			runErr = lostErr(e)
			break loop
		}
	}
	// Acks written in the last round must reach the broker before the channels close.
	if err := r.flush(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// account says what stayed in the DLQ and why, returns the held messages to it, and gives
// the run's error (runErr from move, or one found while closing).
func (r *replayer) account(runErr error) error {
	req := &r.req
	// Whatever is still unconfirmed stays in the DLQ (the channel close below requeues it).
	if n := r.inflight.len(); n > 0 {
		reason := LeftDeadline
		if runErr != nil {
			reason = LeftLost
			if r.res.Stopped == "" || r.res.Stopped == StopIdle {
				r.res.Stopped = StopConnectionLost
			}
		}
		for i := range n {
			r.leave(r.inflight.at(i).group, reason)
		}
		r.res.InDoubt = n
	}
	if runErr != nil && r.res.Stopped == "" {
		r.res.Stopped = StopConnectionLost
	}
	if r.res.Stopped == StopCap || r.res.Stopped == StopScanLimit || r.res.Stopped == StopDeadline {
		// The messages not reached are left too; they belong to no group (never seen).
		reason := map[StopReason]LeftReason{StopCap: LeftCap, StopScanLimit: LeftScanLimit, StopDeadline: LeftDeadline}[r.res.Stopped]
		if unseen := r.res.Depth - r.res.Seen; unseen > 0 {
			r.res.Left[reason] += unseen
		}
	}
	if r.c.conn.IsClosed() && runErr == nil {
		runErr = ErrConnectionLost
	}
	if runErr == nil {
		// Explicit close so that an error is reported; the deferred close is then a no-op.
		if err := r.ch.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			runErr = fmt.Errorf("return held messages to the DLQ: %w", err)
			if r.c.conn.IsClosed() {
				runErr = errors.Join(ErrConnectionLost, runErr)
			}
		}
	}
	if runErr != nil && time.Now().After(req.Deadline) && r.c.conn.IsClosed() {
		r.res.Stopped = StopWatchdog
	}
	return runErr
}

func lostErr(e *amqp.Error) error {
	if e == nil {
		return ErrConnectionLost
	}
	return fmt.Errorf("%w: %s", ErrConnectionLost, e.Error())
}

// stop ends the taking of deliveries, for the first reason given.
func (r *replayer) stop(why StopReason) {
	if r.taking {
		r.taking = false
		r.res.Stopped = why
	}
}

// source is the consumer channel to read: the previous consumer's until it has drained.
func (r *replayer) source() <-chan amqp.Delivery {
	if r.old != nil {
		return r.old
	}
	return r.cur
}

// delivered handles what the consumer channel in gave: a delivery or, when !ok, its end.
func (r *replayer) delivered(ctx context.Context, d *amqp.Delivery, ok bool, in <-chan amqp.Delivery) error {
	fromOld := r.old != nil && in == r.old
	if !ok {
		if fromOld { // the cancelled consumer has delivered its last message
			r.old = nil
			return nil
		}
		return fmt.Errorf("DLQ consumer closed (queue deleted or connection lost): %w", ErrConnectionLost)
	}
	gen := r.gen
	if fromOld {
		gen = r.gen - 1
	}
	if err := r.handle(ctx, d, gen); err != nil {
		return err
	}
	switch {
	case r.res.Seen >= r.res.Depth:
		r.stop(StopDrained)
	case r.moved >= r.req.MaxPerRun:
		r.stop(StopCap)
	case r.res.Seen >= r.req.MaxScan:
		r.stop(StopScanLimit)
	}
	return nil
}

// intake handles the deliveries that are ready, up to the window, without blocking, and
// returns how many it took. amqp091 hands deliveries over one at a time through an
// unbuffered channel fed by a goroutine of its own: when none is ready, yielding once lets
// that goroutine (on this P, when GOMAXPROCS is 1) offer the next one, so a burst is taken
// whole and its publishes written in one system call. A burst is at most a window long, so
// that the run's select (deadline, cancellation, a closed channel) is never far away.
func (r *replayer) intake(ctx context.Context) (int, error) {
	n, yielded := 0, false
	for r.taking && r.inflight.len() < r.req.Window && n < r.req.Window {
		in := r.source()
		select {
		case d, ok := <-in:
			n++
			yielded = false
			if err := r.delivered(ctx, &d, ok, in); err != nil {
				return n, err
			}
			continue
		default:
		}
		if yielded {
			break
		}
		runtime.Gosched()
		yielded = true
	}
	return n, nil
}

// cork holds this round's frames (publishes, acks) in the connection's buffer; flush sends
// them in one system call. Every blocking wait and every RPC is preceded by a flush.
func (r *replayer) cork() {
	if r.c.wire != nil {
		r.c.wire.Cork()
	}
}

func (r *replayer) flush() error {
	if r.c.wire == nil {
		return nil
	}
	if err := r.c.wire.Flush(); err != nil {
		return fmt.Errorf("send to the broker: %w", errors.Join(ErrConnectionLost, err))
	}
	return nil
}

// subscribe starts a consumer on the DLQ; it becomes the current one.
func (r *replayer) subscribe() error {
	if err := r.flush(); err != nil { // an RPC: its request must not wait in the cork
		return err
	}
	tag := consumerTag("replay")
	ds, err := r.ch.Consume(r.req.DLQ, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", r.req.DLQ, queueErr(r.req.DLQ, err))
	}
	r.cur, r.curTag, r.curHeld = ds, tag, 0
	r.gen++
	return nil
}

// renew replaces the current consumer, whose prefetch is filling up with held deliveries,
// by a fresh one with a full window. The old consumer is cancelled: the broker sends it no
// more, what it already sent is read (first) until its channel closes, and its held
// deliveries stay unacknowledged until the run ends. One renewal at a time: while the
// previous consumer drains, the current one keeps its window.
func (r *replayer) renew() error {
	if r.old != nil {
		return nil
	}
	oldTag, oldCh := r.curTag, r.cur
	if err := r.subscribe(); err != nil {
		return err
	}
	if err := r.ch.Cancel(oldTag, false); err != nil {
		return fmt.Errorf("cancel consumer: %w", err)
	}
	r.old = oldCh
	return nil
}

func (r *replayer) group(k GroupKey) *GroupOutcome {
	if r.lastGroup != nil && k == r.lastKey {
		return r.lastGroup
	}
	defer func() { r.lastKey, r.lastGroup = k, r.groups[k] }()
	g, ok := r.groups[k]
	if !ok {
		g = &GroupOutcome{Key: k, Class: Classify(k), Left: map[LeftReason]int{}}
		r.groups[k] = g
	}
	return g
}

func (r *replayer) leave(g *GroupOutcome, why LeftReason) {
	g.Left[why]++
	r.res.Left[why]++
}

// hold keeps a delivery of consumer gen unacknowledged until the run ends.
func (r *replayer) hold(g *GroupOutcome, why LeftReason, gen int) error {
	r.leave(g, why)
	if gen != r.gen {
		return nil // an old consumer's: it no longer limits what the current one receives
	}
	r.curHeld++
	if r.curHeld >= r.holdChunk {
		return r.renew()
	}
	return nil
}

// handle decides what to do with one delivery.
func (r *replayer) handle(ctx context.Context, d *amqp.Delivery, gen int) error {
	req := &r.req
	r.res.Seen++
	m := newMessage(d, messageOptions{previewBytes: req.PreviewBytes, errorHeaders: req.ErrorHeaders})
	g := r.group(m.Key())
	g.Seen++

	target, ok := req.Select(m)
	if !ok {
		return r.hold(g, LeftNotSelected, gen)
	}
	park := req.ParkingQueue != "" && target == req.ParkingQueue
	switch {
	case target == "" || target == req.DLQ:
		return r.hold(g, LeftInvalidTarget, gen)
	case !park && m.Replays >= req.MaxPerMessage:
		return r.hold(g, LeftLimit, gen)
	}
	exists, err := r.targetExists(ctx, target)
	if err != nil {
		r.leave(g, LeftLost)
		return err
	}
	if !exists {
		return r.hold(g, LeftMissingTarget, gen)
	}

	seq := r.ch.GetNextPublishSeqNo()
	r.idBuf = strconv.AppendUint(append(append(r.idBuf[:0], r.res.RunID...), '/'), seq, 10)
	r.headers = republishHeaders(r.headers, d.Headers, m.Replays, park, string(r.idBuf))
	msg := republishing(d, r.headers)
	dc, err := r.ch.PublishWithDeferredConfirm("", target, true, false, msg)
	if err != nil {
		// Not published (or unknown): the delivery stays unacked and goes back to the DLQ.
		r.leave(g, LeftLost)
		return fmt.Errorf("publish to %s: %w", target, errors.Join(ErrConnectionLost, err))
	}
	r.inflight.push(pending{seq: seq, dc: dc, tag: d.DeliveryTag, gen: gen, group: g, park: park})
	r.moved++
	return nil
}

// republishing is the copy sent to the target: same body and properties, with headers h
// (see republishHeaders). UserId is dropped: the broker refuses a publish whose user-id is
// not the publishing connection's user, and that would close the channel.
func republishing(d *amqp.Delivery, h amqp.Table) amqp.Publishing {
	return amqp.Publishing{
		Headers:         h,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    d.DeliveryMode,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		Expiration:      d.Expiration,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		AppId:           d.AppId,
		Body:            d.Body,
	}
}

// republishHeaders fills h (cleared; allocated when nil) with the headers of the copy: the
// original's without CC/BCC (sender-selected distribution would copy it to other queues),
// the replay counter incremented (not for a park), the publish id added. The delivery's own
// headers are left as they were.
func republishHeaders(h, orig amqp.Table, replays int, park bool, id string) amqp.Table {
	if h == nil {
		h = make(amqp.Table, len(orig)+2)
	} else {
		clear(h)
	}
	for k, v := range orig {
		if strings.EqualFold(k, "CC") || strings.EqualFold(k, "BCC") {
			continue
		}
		h[k] = v
	}
	if !park {
		h[ReplayHeader] = int64(replays + 1)
	}
	h[ReplayIDHeader] = id
	return h
}

// targetExists checks a target queue once per run (passive declare on a throwaway channel).
func (r *replayer) targetExists(ctx context.Context, queue string) (bool, error) {
	if ok, seen := r.targets[queue]; seen {
		return ok, nil
	}
	if err := r.flush(); err != nil { // an RPC: its request must not wait in the cork
		return false, err
	}
	_, err := r.c.Inspect(ctx, queue)
	switch {
	case errors.Is(err, ErrQueueNotFound):
		r.targets[queue] = false
		r.res.MissingTargets = append(r.res.MissingTargets, queue)
		sort.Strings(r.res.MissingTargets)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check target queue %s: %w", queue, err)
	}
	r.targets[queue] = true
	return true, nil
}

func (r *replayer) drainReturns(returns <-chan amqp.Return) {
	for {
		select {
		case ret, ok := <-returns:
			if !ok {
				return
			}
			r.markReturned(ret)
		default:
			return
		}
	}
}

// markReturned flags the publish a basic.return belongs to; the publish id header says which.
func (r *replayer) markReturned(ret amqp.Return) {
	id, _ := ret.Headers[ReplayIDHeader].(string)
	run, seqText, ok := strings.Cut(id, "/")
	if !ok || run != r.res.RunID {
		return
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return
	}
	if p := r.inflight.bySeq(seq); p != nil {
		p.returned = true
	}
}

// settle takes the confirmed publishes off the head of the in-flight queue, in publish
// order, up to the first one still unconfirmed: a positive confirm without a return queues
// its DLQ delivery for acknowledgement; a nack or a return holds it (back to the DLQ at the
// end of the run). A channel that closed nacks everything pending: that is a lost
// connection, and those stay in flight (in doubt).
func (r *replayer) settle() error {
	for r.inflight.len() > 0 {
		dc := r.inflight.front().dc
		select {
		case <-dc.Done():
		default:
			return nil
		}
		acked := dc.Acked()
		if !acked && r.ch.IsClosed() {
			return ErrConnectionLost
		}
		p := r.inflight.pop()
		var err error
		switch {
		case acked && !p.returned:
			// acknowledged by flushAcks, before the next delivery is taken
			r.acks = append(r.acks, toAck{tag: p.tag, group: p.group, park: p.park})
		case p.returned:
			err = r.hold(p.group, LeftReturn, p.gen)
		default:
			err = r.hold(p.group, LeftNack, p.gen)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// flushAcks acknowledges the DLQ deliveries whose copies were confirmed: the contiguous run
// of settled tags above the floor with one multiple-ack (its highest tag is one not yet
// acknowledged, so the broker knows it), the rest one by one. Held deliveries are never
// covered: the floor stops below the first of them.
func (r *replayer) flushAcks() error {
	if len(r.acks) == 0 {
		return nil
	}
	// Settled in publish order, which is delivery order except around a consumer renewal.
	if !slices.IsSortedFunc(r.acks, byTag) {
		slices.SortFunc(r.acks, byTag)
	}
	floor, multi, i := r.ackFloor, uint64(0), 0
	for {
		next := floor + 1
		if i < len(r.acks) && r.acks[i].tag == next {
			multi, floor = next, next
			i++
			continue
		}
		if _, ok := r.ackedAbove[next]; ok {
			delete(r.ackedAbove, next)
			floor = next
			continue
		}
		break
	}
	if multi > 0 {
		if err := r.ch.Ack(multi, true); err != nil {
			return r.ackFailed(err)
		}
		for _, a := range r.acks[:i] {
			r.count(a)
		}
	}
	r.ackFloor = floor
	r.acks = r.acks[i:]
	for len(r.acks) > 0 {
		a := r.acks[0]
		if err := r.ch.Ack(a.tag, false); err != nil {
			return r.ackFailed(err)
		}
		r.ackedAbove[a.tag] = struct{}{}
		r.count(a)
		r.acks = r.acks[1:]
	}
	r.acks = r.acks[:0:cap(r.acks)]
	return nil
}

func byTag(a, b toAck) int { return cmp.Compare(a.tag, b.tag) }

// ackFailed: the copies are in their targets and the DLQ copies will be requeued, so these
// are duplicates in doubt.
func (r *replayer) ackFailed(err error) error {
	for _, a := range r.acks {
		r.leave(a.group, LeftLost)
		r.res.InDoubt++
	}
	r.acks = r.acks[:0]
	return fmt.Errorf("ack DLQ deliveries: %w", errors.Join(ErrConnectionLost, err))
}

// count counts a message whose DLQ copy was acknowledged: it now lives in its target only.
func (r *replayer) count(a toAck) {
	if a.park {
		a.group.Parked++
		r.res.Parked++
	} else {
		a.group.Replayed++
		r.res.Replayed++
	}
}

func (r *replayer) groupList() []GroupOutcome {
	out := make([]GroupOutcome, 0, len(r.groups))
	for _, g := range r.groups {
		if len(g.Left) == 0 {
			g.Left = nil
		}
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Seen != out[j].Seen {
			return out[i].Seen > out[j].Seen
		}
		a, b := out[i].Key, out[j].Key
		if a.Queue != b.Queue {
			return a.Queue < b.Queue
		}
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		return a.Error < b.Error
	})
	return out
}
