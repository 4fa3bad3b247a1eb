package rabbit

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// coalescingConn batches the writes of a connection. amqp091 flushes its buffer after every
// frame group, i.e. one write system call per publish and per ack; on loopback or a fast
// network such a call costs more CPU than everything else amqp091 does for a message (the
// kernel runs the TCP send and, on loopback, the receive path too).
//
// A replay knows when it has a burst of frames to send (a window of publishes, the acks of a
// confirm batch): it corks the connection, makes its calls, and flushes once. While corked,
// Write only appends to a buffer; otherwise (and for every other goroutine's write when the
// buffer is empty and nothing is corked) Write goes straight to the socket, as amqp091 would.
// A timer flushes a corked buffer after maxCorkDelay, so that a frame written while corked
// by someone else (a heartbeat, a channel.open of an RPC) is never held longer than that
// even if a flush were missed. There is no writer goroutine: a hand-off per publish to one
// costs a thread wake-up per message, more than the system call it saves.
//
// Order is preserved: every byte goes through the one buffer, under one lock, so what the
// package relies on (acks written before the next publishes) holds on the wire too.
// Back-pressure is the socket's own: a write that cannot proceed blocks, as it does without
// this wrapper. A write error is sticky: every later Write and Flush returns it.
//
// Reads are buffered too: amqp091 reads through a 4 KiB bufio.Reader, one system call per 3
// deliveries of 1 KiB; here one call takes up to 64 KiB.
type coalescingConn struct {
	net.Conn

	// Read side: only amqp091's reader goroutine reads, no lock needed.
	rbuf       []byte
	rpos, rend int

	mu        sync.Mutex // held across the write system call: it orders the bytes
	buf       []byte     // written while corked, not yet sent
	corked    bool
	err       error // the first write error; sticky
	timer     *time.Timer
	armed     bool          // timer pending for the current corked buffer
	corkDelay time.Duration // maxCorkDelay; tests lengthen it
	closed    atomic.Bool   // set by Close, which must not wait for mu (a write may be stuck)
}

// maxPending bounds the corked buffer: past it a Write sends at once.
const maxPending = 1 << 20

const readBufferSize = 64 << 10

// maxCorkDelay bounds how long a corked byte can wait for its flush.
const maxCorkDelay = 2 * time.Millisecond

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, rbuf: make([]byte, readBufferSize), corkDelay: maxCorkDelay}
	cc.timer = time.AfterFunc(time.Hour, cc.timerFlush)
	cc.timer.Stop()
	return cc
}

func (c *coalescingConn) Read(p []byte) (int, error) {
	if c.rpos == c.rend {
		if len(p) >= len(c.rbuf) {
			return c.Conn.Read(p)
		}
		n, err := c.Conn.Read(c.rbuf)
		c.rpos, c.rend = 0, n
		if n == 0 {
			return 0, err
		}
	}
	n := copy(p, c.rbuf[c.rpos:c.rend])
	c.rpos += n
	return n, nil
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if c.corked && len(c.buf)+len(p) <= maxPending {
		c.buf = append(c.buf, p...)
		if !c.armed {
			c.armed = true
			c.timer.Reset(c.corkDelay)
		}
		return len(p), nil
	}
	if len(c.buf) == 0 {
		// Nothing waiting: write the caller's bytes as they are, no copy.
		if err := c.send(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Cork makes the following writes wait in the buffer until Flush (or maxCorkDelay).
func (c *coalescingConn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Flush sends what waits, in one system call, and uncorks.
func (c *coalescingConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

// timerFlush is the safety net: a corked buffer is sent after maxCorkDelay; the cork stays.
func (c *coalescingConn) timerFlush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.flushLocked()
}

func (c *coalescingConn) flushLocked() error {
	if c.armed {
		c.armed = false
		c.timer.Stop()
	}
	if c.err != nil {
		return c.err
	}
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > 4*maxPending { // do not keep a one-off huge buffer
		c.buf = nil
	}
	return err
}

// send writes p to the socket; mu is held.
func (c *coalescingConn) send(p []byte) error {
	if c.closed.Load() {
		c.err = net.ErrClosed
		return c.err
	}
	if _, err := c.Conn.Write(p); err != nil {
		c.err = err
		return err
	}
	return nil
}

// Close closes the socket at once, without waiting for a write in progress (closing the
// socket is what ends it); bytes still corked are dropped, as a kernel buffer would be on a
// reset. amqp091 only closes after its connection.close-ok exchange (so nothing waits then)
// or on a connection that is already broken.
func (c *coalescingConn) Close() error {
	c.closed.Store(true)
	err := c.Conn.Close()
	c.timer.Stop()
	return err
}
