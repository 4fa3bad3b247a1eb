package rabbit

import (
	"net"
	"sync"
)

// coalescingConn batches the writes of a connection. amqp091 flushes its buffer after every
// frame group, i.e. one write system call per publish and per ack; a replay publishing a
// window of messages in a burst then costs one system call (and one TCP segment for the
// broker to read) per message. Here Write only appends to a buffer and a single writer
// goroutine sends whatever accumulated in one call. Order is preserved, so everything the
// package relies on (acks written before the next publishes) holds on the wire too.
//
// Back-pressure is kept: Write blocks while more than maxPending bytes wait. A write error
// is returned by every later Write (and the reader side fails on its own).
//
// Reads are buffered the same way: amqp091 reads through a 4 KiB bufio.Reader, one system
// call per 3 deliveries of 1 KiB; here one call takes up to 64 KiB.
type coalescingConn struct {
	net.Conn

	// Read side: only amqp091's reader goroutine reads, no lock needed.
	rbuf       []byte
	rpos, rend int

	mu     sync.Mutex
	cond   *sync.Cond // signalled on new bytes, a batch taken or written, an error, a close
	buf    []byte     // waiting to be written
	spare  []byte     // the writer's previous batch, reused
	err    error      // the first write error; sticky
	closed bool
}

const maxPending = 1 << 20

const readBufferSize = 64 << 10

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, rbuf: make([]byte, readBufferSize)}
	cc.cond = sync.NewCond(&cc.mu)
	go cc.writer()
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
	for c.err == nil && !c.closed && len(c.buf) > maxPending {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	c.buf = append(c.buf, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// writer sends the accumulated bytes, one system call per batch.
func (c *coalescingConn) writer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.buf) == 0 && !c.closed && c.err == nil {
			c.cond.Wait()
		}
		if c.err != nil || (c.closed && len(c.buf) == 0) {
			return
		}
		batch := c.buf
		c.buf, c.spare = c.spare[:0], nil
		c.cond.Broadcast() // room for blocked writers
		c.mu.Unlock()
		_, err := c.Conn.Write(batch)
		c.mu.Lock()
		c.spare = batch
		if err != nil && c.err == nil {
			c.err = err
		}
		c.cond.Broadcast()
	}
}

// Close closes the connection at once; bytes still pending are dropped, as a kernel buffer
// would be on a reset. amqp091 only closes after its connection.close-ok exchange (so the
// buffer is empty then) or on a connection that is already broken, where waiting for a
// blocked write could hang forever.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	return c.Conn.Close()
}
