package rabbit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
)

// startProxy runs an in-process toxiproxy between the client and the broker. It listens on
// an ephemeral port (never 25672, RabbitMQ's distribution port).
func startProxy(t *testing.T) *toxiproxy.Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	upstream := strings.TrimSuffix(strings.TrimPrefix(testAMQPURL, "amqp://"), "/")
	p := toxiproxy.NewProxy(srv, "rabbit-"+t.Name(), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("start proxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

func addToxic(t *testing.T, p *toxiproxy.Proxy, name, typ, stream string, attrs string) {
	t.Helper()
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		t.Fatalf("add toxic %s: %v", name, err)
	}
}

// TestReplaySurvivesConnectionCuts cuts the connection in the middle of a replay in several
// ways and at several points. Afterwards every message must be in the DLQ or in its target
// (zero lost), with at most Window duplicates, counted by message id on both queues.
func TestReplaySurvivesConnectionCuts(t *testing.T) {
	if testing.Short() {
		t.Skip("connection cuts take a while")
	}
	const (
		n      = 4000
		window = 64
	)
	tests := []struct {
		name string
		// before runs before the replay starts (toxics that fire by themselves).
		before func(t *testing.T, p *toxiproxy.Proxy)
		// when is the target depth at which cut runs (0: no trigger).
		when int
		cut  func(t *testing.T, p *toxiproxy.Proxy)
		// mixed interleaves messages the replay does not select (held until the run ends),
		// so acknowledgements go one by one instead of as contiguous multiple-acks.
		mixed bool
	}{
		{
			name: "upstream closed after 300 kB (mid-publish)",
			before: func(t *testing.T, p *toxiproxy.Proxy) {
				addToxic(t, p, "cut", "limit_data", "upstream", `{"bytes":300000}`)
			},
		},
		{
			name: "downstream closed after 2 MB (mid-delivery)",
			before: func(t *testing.T, p *toxiproxy.Proxy) {
				addToxic(t, p, "cut", "limit_data", "downstream", `{"bytes":2000000}`)
			},
		},
		{
			name: "TCP reset at 1,000 replayed",
			when: 1000,
			cut: func(t *testing.T, p *toxiproxy.Proxy) {
				addToxic(t, p, "rst", "reset_peer", "upstream", `{"timeout":0}`)
			},
		},
		{
			name:  "TCP reset at 700 replayed, half the messages held",
			when:  700,
			mixed: true,
			cut: func(t *testing.T, p *toxiproxy.Proxy) {
				addToxic(t, p, "rst", "reset_peer", "upstream", `{"timeout":0}`)
			},
		},
		{
			name: "blackhole at 2,000 replayed (heartbeat detects it)",
			when: 2000,
			cut: func(t *testing.T, p *toxiproxy.Proxy) {
				addToxic(t, p, "hole-up", "timeout", "upstream", `{"timeout":0}`)
				addToxic(t, p, "hole-down", "timeout", "downstream", `{"timeout":0}`)
			},
		},
		{
			name: "proxy stopped at 3,000 replayed",
			when: 3000,
			cut:  func(t *testing.T, p *toxiproxy.Proxy) { p.Stop() },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			work, dlq := f.dlqPair()
			sent := msgs("m", n, 1024, amqp.Table{"x-error": "i/o timeout", "x-first-death-queue": work, "x-first-death-reason": "rejected"})
			if tc.mixed {
				for i := 1; i < n; i += 2 {
					sent[i].Headers["x-error"] = "panic: nil map" // a bug: not selected
				}
			}
			f.publish(dlq, sent...)

			p := startProxy(t)
			ep := testEndpoint()
			ep.URL = "amqp://" + p.Listen + "/"
			ep.Heartbeat = time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, err := Dial(ctx, ep)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.before != nil {
				tc.before(t, p)
			}

			req := baseRequest(dlq, transientOnly)
			req.Window = window
			req.Idle = 3 * time.Second // longer than a blackhole takes to be noticed
			type outcome struct {
				res ReplayResult
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				res, err := c.Replay(ctx, req)
				done <- outcome{res, err}
			}()
			if tc.cut != nil {
				for f.ready(work) < tc.when {
					select {
					case o := <-done:
						t.Fatalf("replay ended before the cut: %+v, %v", o.res, o.err)
					case <-time.After(2 * time.Millisecond):
					}
				}
				tc.cut(t, p)
			}
			o := <-done
			t.Logf("replay: replayed %d, seen %d, in doubt %d, stopped %s, err %v", o.res.Replayed, o.res.Seen, o.res.InDoubt, o.res.Stopped, o.err)
			if o.err == nil || !errors.Is(o.err, ErrConnectionLost) {
				t.Errorf("replay error %v, want ErrConnectionLost", o.err)
			}
			if o.res.Replayed >= n || o.res.InDoubt > window {
				t.Errorf("result %+v", o.res)
			}

			// The broker requeues the unacked deliveries once it notices the connection is gone
			// (for a blackhole, after its own heartbeat timeout).
			deadline := time.Now().Add(30 * time.Second)
			for f.ready(dlq)+f.ready(work) < n && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			inDLQ, inWork := ids(f.take(dlq)), ids(f.take(work))
			count := map[string]int{}
			for _, id := range append(inDLQ, inWork...) {
				count[id]++
			}
			var lost []string
			dups := 0
			for _, m := range sent {
				switch c := count[m.MessageId]; {
				case c == 0:
					lost = append(lost, m.MessageId)
				case c > 1:
					dups += c - 1
				}
			}
			sort.Strings(lost)
			t.Logf("after the cut: %d in the DLQ, %d in the target, %d lost, %d duplicates", len(inDLQ), len(inWork), len(lost), dups)
			if len(lost) > 0 {
				t.Errorf("%d messages lost: %v", len(lost), lost[:min(len(lost), 10)])
			}
			if dups > window {
				t.Errorf("%d duplicates, more than the window %d", dups, window)
			}
			if len(inWork) < o.res.Replayed {
				t.Errorf("%d in the target but %d reported replayed", len(inWork), o.res.Replayed)
			}
			if tc.mixed {
				for _, id := range inWork {
					if i, _ := strconv.Atoi(strings.TrimPrefix(id, "m-")); i%2 == 1 {
						t.Errorf("%s (not selected) reached the target", id)
						break
					}
				}
			}
		})
	}
}
