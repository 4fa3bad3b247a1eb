package rabbit

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestCoalescingConnKeepsOrderBothWays(t *testing.T) {
	raw, peer := tcpPair(t)
	c := newCoalescingConn(raw)
	// Many small writes from two goroutines, each write a tagged record: all arrive, each
	// writer's records in its order, none torn.
	const n = 5000
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				rec := []byte{byte('a' + w), byte(i >> 8), byte(i), '\n'}
				if _, err := c.Write(rec); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	got := make([]byte, 2*n*4)
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(peer, got); done <- err }()
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	next := [2]int{}
	for i := 0; i < len(got); i += 4 {
		w := int(got[i] - 'a')
		seq := int(got[i+1])<<8 | int(got[i+2])
		if w < 0 || w > 1 || got[i+3] != '\n' || seq != next[w] {
			t.Fatalf("record %d torn or out of order: %q", i/4, got[i:i+4])
		}
		next[w]++
	}

	// Reads: a large message from the peer arrives whole through small reads.
	want := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	go func() { _, _ = peer.Write(want) }()
	back := make([]byte, len(want))
	for off := 0; off < len(back); {
		m, err := c.Read(back[off:min(off+4096, len(back))])
		if err != nil {
			t.Fatal(err)
		}
		off += m
	}
	if !bytes.Equal(back, want) {
		t.Error("read data differs")
	}
}

func TestCoalescingConnBackPressureAndErrors(t *testing.T) {
	raw, peer := net.Pipe() // synchronous: nothing moves unless the peer reads
	c := newCoalescingConn(raw)
	chunk := make([]byte, 64<<10)
	wrote := make(chan int, 1)
	go func() {
		total := 0
		for total < 4*maxPending {
			if _, err := c.Write(chunk); err != nil {
				break
			}
			total += len(chunk)
		}
		wrote <- total
	}()
	select {
	case n := <-wrote:
		t.Fatalf("%d bytes accepted with nobody reading: no back-pressure", n)
	case <-time.After(200 * time.Millisecond):
	}
	// The peer goes away: the blocked writer fails, and so does every later write.
	peer.Close()
	select {
	case <-wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("writer still blocked after the peer closed")
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("write after a failed write succeeded")
	}
	if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Errorf("close: %v", err)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("write after close succeeded")
	}
}

func TestCoalescingConnCloseUnblocksWriter(t *testing.T) {
	raw, _ := net.Pipe()
	c := newCoalescingConn(raw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		chunk := make([]byte, 64<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a writer blocked")
	}
}

// TestCoalescingConnCork: corked writes wait for Flush and leave in one piece, in order with
// the writes before and after; a corked write nobody flushes still leaves within
// maxCorkDelay (a heartbeat or an RPC written while a replay holds the cork).
func TestCoalescingConnCork(t *testing.T) {
	raw, peer := tcpPair(t)
	c := newCoalescingConn(raw)
	readAll := func(n int, within time.Duration) []byte {
		t.Helper()
		buf := make([]byte, n)
		_ = peer.SetReadDeadline(time.Now().Add(within))
		if _, err := io.ReadFull(peer, buf); err != nil {
			t.Fatalf("read %d bytes: %v", n, err)
		}
		return buf
	}
	nothingWaiting := func() {
		t.Helper()
		_ = peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		one := make([]byte, 1)
		if n, err := peer.Read(one); n > 0 || err == nil {
			t.Fatalf("bytes sent while corked: %q", one[:n])
		}
	}

	if _, err := c.Write([]byte("a")); err != nil { // not corked: sent at once
		t.Fatal(err)
	}
	if got := readAll(1, time.Second); string(got) != "a" {
		t.Fatalf("got %q", got)
	}

	c.corkDelay = time.Hour // this part checks Flush alone: keep the safety net out of the way
	c.Cork()
	for _, s := range []string{"b", "c", "d"} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	held := string(c.buf)
	c.mu.Unlock()
	if held != "bcd" {
		t.Fatalf("corked buffer %q, want bcd", held)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("e")); err != nil { // uncorked again: direct
		t.Fatal(err)
	}
	if got := readAll(4, time.Second); string(got) != "bcde" {
		t.Fatalf("got %q, want bcde", got)
	}

	// Corked, never flushed: the timer sends it.
	c.corkDelay = maxCorkDelay
	c.Cork()
	start := time.Now()
	if _, err := c.Write([]byte("f")); err != nil {
		t.Fatal(err)
	}
	if got := readAll(1, time.Second); string(got) != "f" {
		t.Fatalf("got %q", got)
	}
	if waited := time.Since(start); waited < maxCorkDelay/2 {
		t.Errorf("corked write sent after %v: the cork did not hold it", waited)
	}
	nothingWaiting()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestCoalescingConnFlushAfterFailure: a write error is returned by the next Flush and every
// later Write, never swallowed.
func TestCoalescingConnFlushAfterFailure(t *testing.T) {
	raw, peer := net.Pipe()
	c := newCoalescingConn(raw)
	c.Cork()
	if _, err := c.Write([]byte("queued")); err != nil {
		t.Fatalf("corked write: %v", err)
	}
	peer.Close()
	if err := c.Flush(); err == nil {
		t.Fatal("flush to a closed peer succeeded")
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("write after a failed flush succeeded")
	}
	if err := c.Flush(); err == nil {
		t.Error("second flush after a failure succeeded")
	}
}
