package rabbit

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// scratch: profile one replay interval only (removed before hand-off).
func TestZZProfReplay(t *testing.T) {
	path := os.Getenv("ZZ_PROF")
	if path == "" {
		t.Skip()
	}
	f := newFixture(t)
	dlq := f.queue(f.name("dlq"), nil)
	target := f.queue(f.name("target"), nil)
	f.publish(dlq, msgs("m", benchMessages, benchSize, amqp.Table{
		"x-error": "dial tcp 10.0.0.9:5432: i/o timeout", "x-first-death-queue": target, "x-first-death-reason": "rejected",
	})...)
	out, _ := os.Create(path)
	debug.FreeOSMemory()
	var res ReplayResult
	var err error
	io0, cs0 := zzIO(), zzCS()
	r := measure(func() {
		pprof.StartCPUProfile(out)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c, derr := Dial(ctx, testEndpoint())
		if derr != nil {
			err = derr
			return
		}
		defer c.Close()
		res, err = c.Replay(ctx, ReplayRequest{DLQ: dlq, Select: transientOnly, MaxPerRun: benchMessages,
			MaxPerMessage: 3, Window: benchWindow(), Safety: classicOnly{}})
		pprof.StopCPUProfile()
	})
	io1, cs1 := zzIO(), zzCS()
	fmt.Printf("per msg: syscr %.3f syscw %.3f wchar %.0f vcsw %.3f ivcsw %.3f\n", float64(io1[0]-io0[0])/benchMessages, float64(io1[1]-io0[1])/benchMessages, float64(io1[2]-io0[2])/benchMessages, float64(cs1[0]-cs0[0])/benchMessages, float64(cs1[1]-cs0[1])/benchMessages)
	if err != nil || res.Replayed != benchMessages {
		t.Fatal(res, err)
	}
	fmt.Printf("took %v client %.1f us/msg broker %.1f us/msg %.0f msg/s\n", r.took, float64(r.clientCPU.Microseconds())/benchMessages, float64(r.brokerCPU.Microseconds())/benchMessages, benchMessages/r.took.Seconds())
}

func zzIO() [3]int64 {
	b, _ := os.ReadFile("/proc/self/io")
	var out [3]int64
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "syscr:":
			out[0] = n
		case "syscw:":
			out[1] = n
		case "wchar:":
			out[2] = n
		}
	}
	return out
}

func zzCS() [2]int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return [2]int64{ru.Nvcsw, ru.Nivcsw}
}
