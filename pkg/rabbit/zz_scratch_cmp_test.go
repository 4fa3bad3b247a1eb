package rabbit

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// bareMove is the leanest confirm-then-ack mover amqp091 allows: window W.
func bareMove(tb testing.TB, src, dst string, n, window int, coalesce bool) {
	u := strings.Replace(testAMQPURL, "amqp://", "amqp://"+testUser+":"+testPass+"@", 1)
	cfg := amqp.Config{Heartbeat: 5 * time.Second, Locale: "en_US"}
	if coalesce {
		cfg.Dial = func(network, addr string) (net_Conn, error) {
			c, err := defaultDial(network, addr)
			if err != nil {
				return nil, err
			}
			return newCoalescingConn(c), nil
		}
	}
	conn, err := amqp.DialConfig(u, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	cons, _ := conn.Channel()
	pub, _ := conn.Channel()
	pub.Confirm(false)
	confs := pub.NotifyPublish(make(chan amqp.Confirmation, window+1))
	cons.Qos(window, 0, false)
	ds, err := cons.Consume(src, "", false, false, false, false, nil)
	if err != nil {
		tb.Fatal(err)
	}
	inflight, acked, taken := 0, 0, 0
	for acked < n {
		var in <-chan amqp.Delivery
		if inflight < window && taken < n {
			in = ds
		}
		select {
		case d := <-in:
			taken++
			inflight++
			if err := pub.Publish("", dst, true, false, amqp.Publishing{Headers: d.Headers, DeliveryMode: d.DeliveryMode, MessageId: d.MessageId, ContentType: d.ContentType, Body: d.Body}); err != nil {
				tb.Fatal(err)
			}
		case c := <-confs:
			top := c.DeliveryTag
		more:
			for {
				select {
				case c2 := <-confs:
					top = c2.DeliveryTag
				default:
					break more
				}
			}
			done := int(top) - acked
			acked = int(top)
			inflight -= done
			cons.Ack(top, true)
		}
	}
}

func BenchmarkZZCompare(b *testing.B) {
	requireBroker(b)
	testMgmt(b)
	f := newFixture(b)
	windows := []int{256}
	if s := os.Getenv("ZZ_WINDOWS"); s != "" {
		windows = nil
		for _, w := range strings.Split(s, ",") {
			n, _ := strconv.Atoi(w)
			windows = append(windows, n)
		}
	}
	totals := map[string]*run{}
	add := func(k string, r run) {
		fmt.Fprintf(os.Stderr, "RUN %s %.0f msg/s client %.1f broker %.1f\n", k, benchMessages/r.took.Seconds(), float64(r.clientCPU.Microseconds())/benchMessages, float64(r.brokerCPU.Microseconds())/benchMessages)
		if totals[k] == nil {
			totals[k] = &run{}
		}
		totals[k].add(r)
	}
	n := 0
	for b.Loop() {
		for _, w := range windows {
			b.Setenv("GPR_BENCH_WINDOW", strconv.Itoa(w))
			jobs := []func(){
				func() { add("shovel", shovelOnce(b, f, n)) },
				func() { add(fmt.Sprintf("replay-w%d", w), replayOnce(b, f, n)) },
				func() {
					b.StopTimer()
					dlq, target := benchFill(b, f, "bare"+strconv.Itoa(n))
					b.StartTimer()
					add(fmt.Sprintf("bare-w%d", w), measure(func() { bareMove(b, dlq, target, benchMessages, w, false) }))
					b.StopTimer()
					if got := f.ready(target); got != benchMessages {
						b.Fatalf("bare: %d", got)
					}
					f.drop(dlq, target)
					b.StartTimer()
				},
				func() {
					b.StopTimer()
					dlq, target := benchFill(b, f, "barec"+strconv.Itoa(n))
					b.StartTimer()
					add(fmt.Sprintf("barecoal-w%d", w), measure(func() { bareMove(b, dlq, target, benchMessages, w, true) }))
					b.StopTimer()
					if got := f.ready(target); got != benchMessages {
						b.Fatalf("bare: %d", got)
					}
					f.drop(dlq, target)
					b.StartTimer()
				},
			}
			for j := range jobs {
				jobs[(j+n)%len(jobs)]()
			}
			n++
		}
	}
	iters := n / len(windows)
	sh := totals["shovel"]
	for k, r := range totals {
		msgs := iters * benchMessages
		if k == "shovel" {
			msgs = n * benchMessages
		}
		r.report(b, k+"-", msgs)
		if k != "shovel" {
			// ratio of rates against the shovel's mean time per run
			b.ReportMetric((sh.took.Seconds()/float64(n))/(r.took.Seconds()/float64(iters)), k+"/shovel")
		}
	}
}

type net_Conn = net.Conn

func defaultDial(network, addr string) (net.Conn, error) {
	return net.DialTimeout(network, addr, 10*time.Second)
}
