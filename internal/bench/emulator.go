package bench

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/arrakis/gp-remediation/internal/lambdarun"
	"github.com/arrakis/gp-remediation/sandbox"
)

// ColdStart starts a fresh emulator for bootstrap, so the function's init runs, invokes it
// once with payload, and returns the init time the emulator reports (INIT REPORT durationMs:
// the real init time; the REPORT line's "Init Duration" is not, see NOTES.md).
func ColdStart(ctx context.Context, rie, bootstrap string, env map[string]string, payload []byte) (time.Duration, error) {
	emu, err := lambdarun.Start(ctx, lambdarun.Options{RIE: rie, Bootstrap: bootstrap, Env: env, Timeout: 30 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("start emulator for %s: %w", bootstrap, err)
	}
	defer emu.Stop()
	if _, err := emu.Invoke(ctx, payload); err != nil {
		return 0, fmt.Errorf("invoke %s: %w\n%s", bootstrap, err, tail(emu.Output(), 2000))
	}
	// The emulator logs INIT REPORT before the invocation starts; its output is copied by
	// another goroutine, so give it a moment to arrive.
	deadline := time.Now().Add(2 * time.Second)
	for {
		d, err := emu.InitDuration()
		if err == nil {
			return d, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: %w\n%s", bootstrap, err, tail(emu.Output(), 2000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var initReport = regexp.MustCompile(`INIT REPORT[^\n]*?durationMs:\s*([0-9.]+)`)

// InitDuration reads the init time from the emulator's output ("INIT REPORT(durationMs: …)",
// logged before the invocation starts).
func InitDuration(output string) (time.Duration, error) {
	m := initReport.FindStringSubmatch(output)
	if m == nil {
		return 0, errors.New("no INIT REPORT line in the emulator output")
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("INIT REPORT duration %q: %w", m[1], err)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// InvocationWall is the wall time of a cold invocation without its init: the time the
// caller waited for the response (elapsed) less the init the emulator reports. What remains
// is the handler's run plus the emulator's hand-over of the event and the response (about a
// millisecond), so it errs on the long side. (The emulator's own "INVOKE RTDONE … duration"
// line is printed after the response and may not be in the output yet when it is read.)
func InvocationWall(elapsed time.Duration, output string) (time.Duration, error) {
	init, err := InitDuration(output)
	if err != nil {
		return 0, err
	}
	if init >= elapsed {
		return 0, fmt.Errorf("init %s is not shorter than the whole call %s", init, elapsed)
	}
	return elapsed - init, nil
}

// SandboxCalls converts what the sandbox recorded into Calls: its AWS calls (arrival time
// and duration, the added latency included) and its HTTP stand-in requests (Slack, Discord,
// PagerDuty, the Discord API), which are recorded at arrival only: their end is estimated as
// arrival + latency, the hold the sandbox applies before answering.
func SandboxCalls(calls []sandbox.Call, reqs []sandbox.Request, latency time.Duration) []Call {
	out := make([]Call, 0, len(calls)+len(reqs))
	for _, c := range calls {
		out = append(out, Call{Op: c.Service + ":" + c.Operation, Start: c.Time, End: c.Time.Add(time.Duration(c.DurationMS) * time.Millisecond)})
	}
	for _, r := range reqs {
		out = append(out, Call{Op: r.Kind + ":" + r.Method, Start: r.Time, End: r.Time.Add(latency), Estimated: true})
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
