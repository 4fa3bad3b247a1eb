package rabbit

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
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
	var res ReplayResult
	var err error
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
	if err != nil || res.Replayed != benchMessages {
		t.Fatal(res, err)
	}
	fmt.Printf("took %v client %.1f us/msg broker %.1f us/msg %.0f msg/s\n", r.took, float64(r.clientCPU.Microseconds())/benchMessages, float64(r.brokerCPU.Microseconds())/benchMessages, benchMessages/r.took.Seconds())
}
