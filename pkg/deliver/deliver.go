// Package deliver sends rendered reports to their destinations (the SNS topic, Slack and
// Discord webhooks) with bounded retries, and pages through PagerDuty's Events API. A
// destination that fails is reported in the Result's sinks and never fails the function;
// secrets (webhook URLs, routing keys) never appear in an error.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/arrakis/gp-remediation/pkg/report"

	scrubpkg "github.com/arrakis/gp-remediation/pkg/scrub"
)

// Destination is one place a report goes: the report SNS topic, a Slack or Discord
// webhook, PagerDuty. (Sink, the name the brief suggests, is already the delivery status
// in the Result contract.)
type Destination interface {
	// Name is the stable name shown in the Result's sinks, e.g. "slack".
	Name() string
	// Send delivers r, or says why not. It must honour ctx.
	Send(ctx context.Context, r report.Report) error
}

// ErrNothingToSend is what a Destination returns when this report is not for it (PagerDuty
// when nobody is to be paged). Deliver leaves such a destination out of the statuses, so
// the Result lists only where a report went or failed to go.
var ErrNothingToSend = errors.New("nothing to send")

// DefaultSendTimeout is how long Deliver gives each destination.
const DefaultSendTimeout = 5 * time.Second

// Deliver sends r to every destination at once, each with DefaultSendTimeout, and returns
// one status per destination in the order given. See DeliverTimeout.
func Deliver(ctx context.Context, r report.Report, dests []Destination) []report.Sink {
	return DeliverTimeout(ctx, r, dests, DefaultSendTimeout)
}

// DeliverTimeout is Deliver with a given time per destination. A destination that fails,
// panics or overruns its time is a status with ok false and never stops the others; an
// overrunning one is not waited for (it keeps its goroutine until it returns). Statuses
// carry no secret: every error is scrubbed of URLs and of the secrets the destination
// declares (secretHolder).
func DeliverTimeout(ctx context.Context, r report.Report, dests []Destination, timeout time.Duration) []report.Sink {
	return run(ctx, dests, timeout, func(ctx context.Context, _ int, d Destination) error { return d.Send(ctx, r) })
}

// run calls send for every destination at once, each with its own timeout, and returns one
// status per destination in the order given, leaving out those with nothing to send.
func run(ctx context.Context, dests []Destination, timeout time.Duration, send func(ctx context.Context, i int, d Destination) error) []report.Sink {
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	statuses := make([]report.Sink, len(dests))
	skip := make([]bool, len(dests))
	var wg sync.WaitGroup
	for i, d := range dests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := safeName(d)
			err := sendOne(ctx, d, timeout, func(ctx context.Context) error { return send(ctx, i, d) })
			switch {
			case errors.Is(err, ErrNothingToSend):
				skip[i] = true
			case err != nil:
				statuses[i] = report.Sink{Name: name, OK: false, Error: scrub(err.Error(), secretsOf(d))}
			default:
				statuses[i] = report.Sink{Name: name, OK: true}
			}
		}()
	}
	wg.Wait()
	out := make([]report.Sink, 0, len(dests))
	for i, s := range statuses {
		if !skip[i] {
			out = append(out, s)
		}
	}
	return out
}

// sendOne runs one Send with its own deadline, turning a panic into an error and not
// waiting past the deadline for a destination that ignores its context.
func sendOne(ctx context.Context, d Destination, timeout time.Duration, send func(context.Context) error) error {
	if d == nil {
		return errors.New("no destination")
	}
	// Say the time the destination really had: the caller's deadline may come first.
	limit := timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		limit = max(time.Until(dl), 0).Round(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1) // buffered: a late Send must not block forever
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- send(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// Give a context-aware Send a moment to return its own, more precise error.
		select {
		case err := <-done:
			return err
		case <-time.After(50 * time.Millisecond):
			if errors.Is(ctx.Err(), context.Canceled) {
				return errors.New("cancelled before it finished")
			}
			return fmt.Errorf("timed out after %s", limit)
		}
	}
}

// safeName is the destination's name; a Name that panics must not take Deliver down.
func safeName(d Destination) (name string) {
	defer func() {
		if recover() != nil {
			name = "unknown"
		}
	}()
	if d == nil {
		return "unknown"
	}
	return d.Name()
}

// secretHolder is implemented by destinations that hold secrets (webhook URLs, routing
// keys) so that Deliver can remove them from any error or panic message.
type secretHolder interface {
	secrets() []string
}

func secretsOf(d Destination) []string {
	if s, ok := d.(secretHolder); ok {
		return s.secrets()
	}
	return nil
}

// urlPattern matches anything URL-like; net/http puts the whole request URL (for a
// webhook, the secret) into its errors.
var urlPattern = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+`)

// scrub removes URLs and the given secrets (and their URL-escaped forms) from msg.
func scrub(msg string, secrets []string) string {
	return urlPattern.ReplaceAllString(scrubpkg.Text(msg, secrets...), "[url]")
}
