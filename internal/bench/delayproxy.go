package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DelayProxy forwards HTTP requests to a target after holding each one for a fixed delay, and
// records them as Calls. The sandbox adds its latency to the AWS APIs it serves; DynamoDB (the
// ledger) is served by dynalite, so the latency benchmark puts this in front of it to give the
// guard's ledger reads and writes the same network cost as every other call.
type DelayProxy struct {
	delay  time.Duration
	target *url.URL
	proxy  *httputil.ReverseProxy
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
	err    error // from Serve, returned by Close

	mu    sync.Mutex
	calls []Call
}

// StartDelayProxy serves a DelayProxy for target on a free loopback port.
func StartDelayProxy(target string, delay time.Duration) (*DelayProxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("delay proxy: bad target %q", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("delay proxy: listen: %w", err)
	}
	p := &DelayProxy{delay: delay, target: u, proxy: httputil.NewSingleHostReverseProxy(u), ln: ln, done: make(chan struct{})}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.err = err
		}
	}()
	return p, nil
}

// URL is the proxy's base URL (what AWS_ENDPOINT_URL_DYNAMODB points at).
func (p *DelayProxy) URL() string { return "http://" + p.ln.Addr().String() }

// ServeHTTP holds the request for the delay (as the sandbox does: before answering), then
// forwards it.
func (p *DelayProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// Recorded however it ends, a client that gave up during the delay included: it waited.
	defer func() {
		c := Call{Op: dynamoOp(r), Start: start, End: time.Now()}
		p.mu.Lock()
		p.calls = append(p.calls, c)
		p.mu.Unlock()
	}()
	t := time.NewTimer(p.delay)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// dynamoOp names a DynamoDB call by its X-Amz-Target ("DynamoDB_20120810.PutItem" ->
// "dynamodb:PutItem").
func dynamoOp(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if _, op, ok := strings.Cut(t, "."); ok && op != "" {
		return "dynamodb:" + op
	}
	return "dynamodb:" + r.Method + " " + r.URL.Path
}

// Calls returns the recorded calls, oldest first.
func (p *DelayProxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// Reset forgets the recorded calls (e.g. the table's creation before an invocation).
func (p *DelayProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// Close stops the proxy.
func (p *DelayProxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	<-p.done
	return errors.Join(err, p.err)
}
