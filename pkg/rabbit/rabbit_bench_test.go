package rabbit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Benchmarks against the local broker. Run them with `make bench` (or
// `go test -run '^$' -bench . -benchtime 3x ./pkg/rabbit/`); each op moves or peeks
// benchMessages messages of benchSize bytes, and the msgs/s metrics of BenchmarkReplay and
// BenchmarkShovelBaseline are comparable: same messages, same broker, same measurement
// (from connecting until the destination holds every message).
const (
	benchMessages = 10000
	benchSize     = 1024
)

// benchFill publishes the benchmark messages into a fresh DLQ and returns it with an empty
// target queue.
func benchFill(b *testing.B, f *fixture, tag string) (dlq, target string) {
	b.Helper()
	dlq = f.queue(f.name(tag+".dlq"), nil)
	target = f.queue(f.name(tag+".target"), nil)
	f.publish(dlq, msgs("m", benchMessages, benchSize, amqp.Table{
		"x-error": "dial tcp 10.0.0.9:5432: i/o timeout", "x-first-death-queue": target, "x-first-death-reason": "rejected",
	})...)
	return dlq, target
}

// run is one measured move: wall time, and the CPU the broker (beam.smp) and this process
// used meanwhile. CPU per message is a load-independent measure of efficiency on a busy
// machine, where wall time is noisy.
type run struct {
	took      time.Duration
	brokerCPU time.Duration
	clientCPU time.Duration
}

func (r *run) add(o run) {
	r.took += o.took
	r.brokerCPU += o.brokerCPU
	r.clientCPU += o.clientCPU
}

// report adds msgs/s and CPU-per-message metrics with the given prefix.
func (r run) report(b *testing.B, prefix string, msgs int) {
	b.ReportMetric(float64(msgs)/r.took.Seconds(), prefix+"msgs/s")
	if r.brokerCPU > 0 {
		b.ReportMetric(float64(r.brokerCPU.Microseconds())/float64(msgs), prefix+"broker-cpu-us/msg")
	}
	b.ReportMetric(float64(r.clientCPU.Microseconds())/float64(msgs), prefix+"client-cpu-us/msg")
}

// measure times fn and the CPU the broker and this process spent during it.
func measure(fn func()) run {
	bPID := brokerPID()
	b0, c0 := procCPU(bPID), selfCPU()
	start := time.Now()
	fn()
	r := run{took: time.Since(start), clientCPU: selfCPU() - c0}
	if bPID > 0 {
		r.brokerCPU = procCPU(bPID) - b0
	}
	return r
}

// brokerPID finds the local RabbitMQ node (0 when not found, e.g. a remote broker).
func brokerPID() int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.TrimSpace(string(comm)) == "beam.smp" {
			return pid
		}
	}
	return 0
}

// procCPU is the user+system CPU of a process from /proc/<pid>/stat (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the 12th and 13th.
	rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchWindow is the replay window of the benchmarks: the default unless
// GPR_BENCH_WINDOW says otherwise (to explore its effect).
func benchWindow() int {
	if n, err := strconv.Atoi(os.Getenv("GPR_BENCH_WINDOW")); err == nil && n > 0 {
		return n
	}
	return DefaultWindow
}

// replayOnce moves the benchmark messages with Replay, counting the connection set-up, as a
// Lambda invocation would.
func replayOnce(b *testing.B, f *fixture, i int) run {
	b.Helper()
	b.StopTimer()
	dlq, target := benchFill(b, f, "replay"+strconv.Itoa(i))
	debug.FreeOSMemory() // the fixture's garbage is not the replay's to collect
	b.StartTimer()
	var res ReplayResult
	var err error
	r := measure(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// The label follows every goroutine started from here (amqp091's reader, the
		// coalescing writer), so `go tool pprof -tagfocus mover=replay` shows the replay's
		// own CPU apart from the fixture's publishing and the shovel's polling.
		pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("mover", "replay")))
		defer pprof.SetGoroutineLabels(context.Background())
		c, derr := Dial(ctx, testEndpoint())
		if derr != nil {
			err = derr
			return
		}
		defer c.Close()
		res, err = c.Replay(ctx, ReplayRequest{DLQ: dlq, Select: transientOnly, MaxPerRun: benchMessages,
			MaxPerMessage: 3, Window: benchWindow(), Safety: classicOnly{}})
	})
	b.StopTimer()
	if err != nil || res.Replayed != benchMessages {
		b.Fatalf("replay: %+v, %v", res, err)
	}
	if n := f.ready(target); n != benchMessages {
		b.Fatalf("target holds %d", n)
	}
	f.drop(dlq, target) // a broker filling up with earlier runs' messages slows later ones
	b.StartTimer()
	return r
}

// shovelOnce moves the benchmark messages with a dynamic shovel (ack-mode on-confirm, deleted
// once the source length is moved): from creating it until the destination holds them all.
//
// The shovel runs with its defaults unless GPR_BENCH_SHOVEL_PREFETCH is set: src-prefetch-count
// 1000, so up to 1,000 messages are unacknowledged at the source at any time, which is also
// how many a connection cut can duplicate. Replay's equivalents are Window (256 by default,
// the duplicate bound) and a prefetch of Window plus a chunk for held messages. Setting
// GPR_BENCH_SHOVEL_PREFETCH to the replay's window compares the two at the same bound.
//
// Completion is polled on one channel kept open (one passive declare every 2 ms): opening a
// channel per poll would cost the broker, and so slow the shovel, more than the poll itself.
func shovelOnce(b *testing.B, f *fixture, i int) run {
	b.Helper()
	b.StopTimer()
	dlq, target := benchFill(b, f, "shovel"+strconv.Itoa(i))
	name := "gpr-bench-shovel-" + f.id + "-" + strconv.Itoa(i)
	def := map[string]any{
		"src-protocol": "amqp091", "src-uri": "amqp://", "src-queue": dlq,
		"dest-protocol": "amqp091", "dest-uri": "amqp://", "dest-queue": target,
		"ack-mode": "on-confirm", "src-delete-after": "queue-length",
	}
	if n, err := strconv.Atoi(os.Getenv("GPR_BENCH_SHOVEL_PREFETCH")); err == nil && n > 0 {
		def["src-prefetch-count"] = n
	}
	poll, err := f.conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	defer poll.Close()
	moved := func() int {
		q, err := poll.QueueDeclarePassive(target, false, false, false, false, nil)
		if err != nil {
			b.Fatalf("inspect %s: %v", target, err)
		}
		return q.Messages
	}
	debug.FreeOSMemory()
	b.StartTimer()
	r := measure(func() {
		start := time.Now()
		shovel(b, name, def)
		for moved() < benchMessages {
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("shovel moved %d in 5 min", moved())
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	b.StopTimer()
	if n := f.ready(dlq); n != 0 {
		b.Fatalf("source still holds %d", n)
	}
	shovel(b, name, nil) // normally gone already (src-delete-after): then a no-op
	f.drop(dlq, target)
	b.StartTimer()
	return r
}

// BenchmarkReplay moves 10,000 × 1 KiB dead letters to their target with Replay (confirms,
// mandatory, default window 256).
func BenchmarkReplay(b *testing.B) {
	requireBroker(b)
	f := newFixture(b)
	var total run
	n := 0
	for b.Loop() {
		total.add(replayOnce(b, f, n))
		n++
	}
	total.report(b, "", n*benchMessages)
}

// BenchmarkShovelBaseline moves the same messages with RabbitMQ's own shovel. Needs
// rabbitmq_shovel (see scripts/rabbit-plugins.sh).
func BenchmarkShovelBaseline(b *testing.B) {
	requireBroker(b)
	testMgmt(b)
	f := newFixture(b)
	var total run
	n := 0
	for b.Loop() {
		total.add(shovelOnce(b, f, n))
		n++
	}
	total.report(b, "", n*benchMessages)
}

// BenchmarkReplayVsShovel alternates the two movers within one run, so that a busy machine
// slows both alike, and reports the ratio (target: >= 0.9) for a few configurations:
//
//   - gomaxprocs: the client shares this machine's two cores with the broker; with more than
//     one P the Go scheduler hands every delivery and confirm between OS threads and burns
//     CPU the co-located broker needs. One P models the deployment better (a Lambda of up to
//     1.75 GB has less than one vCPU, and the broker runs elsewhere).
//   - window: the broker confirms persistent messages on its fsync cycle (~25 ms), so the
//     publishes in flight bound the throughput; the shovel keeps up to 1,000 (its prefetch).
//     A larger window is faster and allows that many duplicates after a connection loss.
//
// The broker-cpu-us/msg metrics compare what each mover costs the broker itself,
// independent of where the client runs.
func BenchmarkReplayVsShovel(b *testing.B) {
	requireBroker(b)
	testMgmt(b)
	type config struct{ procs, window int }
	configs := []config{{runtime.GOMAXPROCS(0), DefaultWindow}, {1, DefaultWindow}, {1, 2 * DefaultWindow}}
	for _, cf := range slices.Compact(configs) {
		b.Run(fmt.Sprintf("gomaxprocs=%d/window=%d", cf.procs, cf.window), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cf.procs))
			b.Setenv("GPR_BENCH_WINDOW", strconv.Itoa(cf.window))
			f := newFixture(b)
			var replay, shov run
			n := 0
			for b.Loop() {
				if n%2 == 0 { // alternate which goes first
					replay.add(replayOnce(b, f, n))
					shov.add(shovelOnce(b, f, n))
				} else {
					shov.add(shovelOnce(b, f, n))
					replay.add(replayOnce(b, f, n))
				}
				n++
			}
			replay.report(b, "replay-", n*benchMessages)
			shov.report(b, "shovel-", n*benchMessages)
			b.ReportMetric(shov.took.Seconds()/replay.took.Seconds(), "replay/shovel")
		})
	}
}

// shovel creates (def != nil) or deletes a dynamic shovel through the management API.
func shovel(b *testing.B, name string, def map[string]any) {
	b.Helper()
	u := strings.TrimRight(testMgmtURL, "/") + "/api/parameters/shovel/%2F/" + url.PathEscape(name)
	method, body := http.MethodDelete, []byte(nil)
	if def != nil {
		method = http.MethodPut
		body, _ = json.Marshal(map[string]any{"value": def})
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && !(def == nil && resp.StatusCode == http.StatusNotFound) {
		b.Fatalf("%s shovel %s: %s", method, name, resp.Status)
	}
}

// BenchmarkPeek10k peeks at 10,000 × 1 KiB messages (Max 10,000, preview 512 B) and reports
// the peak heap in use during the peek (sampled every millisecond from runtime/metrics) and,
// from a fresh child process doing one such peek, its peak RSS (VmHWM).
func BenchmarkPeek10k(b *testing.B) {
	requireBroker(b)
	f := newFixture(b)
	q := f.queue(f.name("peek"), nil)
	f.publish(q, msgs("m", benchMessages, benchSize, amqp.Table{
		"x-error": "dial tcp 10.0.0.9:5432: i/o timeout", "x-first-death-queue": "arrakis.interactions", "x-first-death-reason": "rejected",
	})...)
	c := dialTest(b)
	ctx := context.Background()

	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if h := heapBytes(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()
	for b.Loop() {
		s, err := c.Peek(ctx, q, PeekOptions{Max: benchMessages, PreviewBytes: 512, Safety: classicOnly{}})
		if err != nil || len(s.Messages) != benchMessages {
			b.Fatalf("peek: %d messages, %v", len(s.Messages), err)
		}
		b.StopTimer()
		f.waitReady(q, benchMessages, 10*time.Second)
		b.StartTimer()
	}
	close(stop)
	<-sampled
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peak.Load()-min(base, peak.Load()))/(1<<20), "peak-heap-growth-MB")

	// Peak RSS of a process that does nothing but one peek.
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeekRSSChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GPR_PEEK_RSS_CHILD_QUEUE="+q)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PEAK_RSS_KB "); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(v))
			b.ReportMetric(float64(kb)/1024, "peak-rss-MB")
			return
		}
	}
	b.Fatalf("child printed no PEAK_RSS_KB:\n%s", out)
}

// BenchmarkConsumeBaseline is the floor under BenchmarkPeek10k: a bare amqp091 consumer
// taking the same 10,000 messages with the same prefetch and requeueing them (channel close),
// with no parsing, preview or redaction.
func BenchmarkConsumeBaseline(b *testing.B) {
	requireBroker(b)
	f := newFixture(b)
	q := f.queue(f.name("raw"), nil)
	f.publish(q, msgs("m", benchMessages, benchSize, amqp.Table{"x-error": "i/o timeout"})...)
	for b.Loop() {
		ch, err := f.conn.Channel()
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Qos(benchMessages, 0, false); err != nil {
			b.Fatal(err)
		}
		ds, err := ch.Consume(q, "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range benchMessages {
			<-ds
		}
		ch.Close()
		b.StopTimer()
		f.waitReady(q, benchMessages, 10*time.Second)
		b.StartTimer()
	}
}

// TestPeekRSSChild is the child process of BenchmarkPeek10k: it peeks once and prints its
// peak RSS. It does nothing in a normal test run.
func TestPeekRSSChild(t *testing.T) {
	q := os.Getenv("GPR_PEEK_RSS_CHILD_QUEUE")
	if q == "" {
		t.Skip("child of BenchmarkPeek10k only")
	}
	c := dialTest(t)
	s, err := c.Peek(context.Background(), q, PeekOptions{Max: benchMessages, PreviewBytes: 512, Safety: classicOnly{}})
	if err != nil || len(s.Messages) != benchMessages {
		t.Fatalf("peek: %d messages, %v", len(s.Messages), err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Printf("PEAK_RSS_KB %s\n", strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
