package rabbit

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scratch: alternate several movers in one run (removed before hand-off).
func zzShovel(b *testing.B, f *fixture, i int, prefetch int) run {
	b.StopTimer()
	dlq, target := benchFill(b, f, "zsh"+strconv.Itoa(i))
	name := "gpr-bench-zshovel-" + f.id + "-" + strconv.Itoa(i)
	debug.FreeOSMemory()
	b.StartTimer()
	def := map[string]any{
		"src-protocol": "amqp091", "src-uri": "amqp://", "src-queue": dlq,
		"dest-protocol": "amqp091", "dest-uri": "amqp://", "dest-queue": target,
		"ack-mode": "on-confirm", "src-delete-after": "queue-length",
	}
	if prefetch > 0 {
		def["src-prefetch-count"] = prefetch
	}
	ch, err := f.conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	r := measure(func() {
		start := time.Now()
		shovel(b, name, def)
		for {
			q, err := ch.QueueDeclarePassive(target, false, false, false, false, nil)
			if err != nil {
				b.Fatal(err)
			}
			if q.Messages >= benchMessages {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("shovel moved %d in 5 min", q.Messages)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	b.StopTimer()
	shovel(b, name, nil)
	f.drop(dlq, target)
	b.StartTimer()
	return r
}

func BenchmarkZZCompare(b *testing.B) {
	requireBroker(b)
	testMgmt(b)
	f := newFixture(b)
	if p, err := strconv.Atoi(os.Getenv("ZZ_PROCS")); err == nil {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(p))
	}
	windows := []int{256}
	if s := os.Getenv("ZZ_WINDOWS"); s != "" {
		windows = nil
		for _, w := range strings.Split(s, ",") {
			n, _ := strconv.Atoi(w)
			windows = append(windows, n)
		}
	}
	type job struct {
		name string
		fn   func(i int) run
	}
	var jobs []job
	jobs = append(jobs, job{"shovel", func(i int) run { return zzShovel(b, f, i, 0) }})
	jobs = append(jobs, job{"shovel-pf256", func(i int) run { return zzShovel(b, f, i, 256) }})
	for _, w := range windows {
		jobs = append(jobs, job{fmt.Sprintf("replay-w%d", w), func(i int) run {
			b.Setenv("GPR_BENCH_WINDOW", strconv.Itoa(w))
			return replayOnce(b, f, i)
		}})
	}
	totals := map[string]*run{}
	n := 0
	for b.Loop() {
		for j := range jobs {
			jb := jobs[(j+n)%len(jobs)]
			r := jb.fn(n*100 + j)
			fmt.Fprintf(os.Stderr, "RUN %s %.0f msg/s client %.1f broker %.1f load %s\n", jb.name, benchMessages/r.took.Seconds(), float64(r.clientCPU.Microseconds())/benchMessages, float64(r.brokerCPU.Microseconds())/benchMessages, zzLoad())
			if totals[jb.name] == nil {
				totals[jb.name] = &run{}
			}
			totals[jb.name].add(r)
		}
		n++
	}
	sh := totals["shovel"]
	for k, r := range totals {
		r.report(b, k+"-", n*benchMessages)
		if k != "shovel" {
			b.ReportMetric(sh.took.Seconds()/r.took.Seconds(), k+"/shovel")
		}
	}
}

func zzLoad() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:1], "")
}
