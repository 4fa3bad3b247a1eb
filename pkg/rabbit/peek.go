package rabbit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// ErrPeekUnsafe means consuming and requeueing the queue's messages would harm them (a quorum
// queue with a delivery limit, a stream); nothing was consumed.
var ErrPeekUnsafe = errors.New("peeking would be destructive")

// ErrQueueTypeUnknown means the queue type could not be determined (no management API, or it
// failed), so a peek could not be shown to be harmless; nothing was consumed. The caller
// decides: retry with AllowUnverified, or report without a sample.
var ErrQueueTypeUnknown = errors.New("queue type could not be determined")

// SafetyChecker tells whether a queue may be consumed and requeued without harm.
// *Management implements it.
type SafetyChecker interface {
	QueueSafety(ctx context.Context, vhost, queue string) (Safety, error)
}

// Defaults of PeekOptions.
const (
	DefaultPeekMax      = 100
	DefaultPreviewBytes = 512
	// maxPrefetch is AMQP's limit on basic.qos prefetch-count.
	maxPrefetch = 65535
	// maxIdlePeriods bounds how long a peek waits on a broker that has ready messages but
	// does not deliver them (a single-active-consumer queue, an overloaded node).
	maxIdlePeriods = 5
)

// PeekOptions bound a peek.
type PeekOptions struct {
	// Max is how many messages to look at (default 100, at most 65535).
	Max int
	// PreviewBytes is how much of each payload to keep, redacted (default 512; -1 keeps none).
	PreviewBytes int
	// ErrorHeaders are the application error headers to read, first found wins
	// (default DefaultErrorHeaders).
	ErrorHeaders []string
	// Safety checks the queue type before consuming; nil means the type is unknown.
	Safety SafetyChecker
	// AllowUnverified peeks even when the type could not be determined (the caller accepts
	// the risk, e.g. it knows the DLQ is a classic queue).
	AllowUnverified bool
	// Idle is how long to wait for the next delivery before checking whether the rest is held
	// by another consumer (default 1 s); a slow broker gets a few such periods.
	Idle time.Duration
}

// Sample is the result of a peek.
type Sample struct {
	Queue string `json:"queue"`
	// Depth is the number of ready messages when the peek started; Consumers the consumers.
	Depth     int `json:"depth"`
	Consumers int `json:"consumers"`
	// Messages are in queue order (oldest first).
	Messages []Message `json:"messages"`
	Groups   []Group   `json:"groups"`
	// Safety is the verdict that allowed (or refused) the peek.
	Safety Safety `json:"safety"`
	// Complete says every ready message was seen (Depth <= len(Messages)).
	Complete bool `json:"complete"`
}

var consumerSeq atomic.Uint64

func consumerTag(kind string) string {
	return "gp-remediation-" + kind + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatUint(consumerSeq.Add(1), 10)
}

// checkSafety applies a SafetyChecker; it returns the verdict and, when the operation must not
// go ahead, an error wrapping ErrPeekUnsafe or ErrQueueTypeUnknown.
func (c *Client) checkSafety(ctx context.Context, queue string, sc SafetyChecker, allowUnverified bool) (Safety, error) {
	s := Safety{Reason: "no management API to check the queue type", DeliveryLimit: -1}
	if sc != nil {
		got, err := sc.QueueSafety(ctx, c.vhost, queue)
		switch {
		case errors.Is(err, ErrQueueNotFound):
			return s, err
		case err != nil:
			s.Reason = "queue type check failed: " + err.Error()
		default:
			s = got
		}
	}
	switch {
	case !s.Known && !allowUnverified:
		return s, fmt.Errorf("%w: queue %s: %s", ErrQueueTypeUnknown, queue, s.Reason)
	case s.Known && !s.Safe:
		return s, fmt.Errorf("%w: queue %s: %s", ErrPeekUnsafe, queue, s.Reason)
	}
	return s, nil
}

// Peek looks at up to opt.Max messages at the head of queue without removing any: it holds
// them as unacknowledged deliveries (prefetch = Max, manual ack), copies what a report needs
// (metadata, x-death, error headers, a redacted preview), then closes its channel, which
// returns every one of them to the queue in its original position (each comes back flagged
// redelivered). It refuses queues where that is destructive (see PeekSafety).
func (c *Client) Peek(ctx context.Context, queue string, opt PeekOptions) (Sample, error) {
	if opt.Max <= 0 {
		opt.Max = DefaultPeekMax
	}
	opt.Max = min(opt.Max, maxPrefetch)
	if opt.PreviewBytes == 0 {
		opt.PreviewBytes = DefaultPreviewBytes
	}
	if opt.ErrorHeaders == nil {
		opt.ErrorHeaders = DefaultErrorHeaders
	}
	if opt.Idle <= 0 {
		opt.Idle = time.Second
	}
	sample := Sample{Queue: queue}
	safety, err := c.checkSafety(ctx, queue, opt.Safety, opt.AllowUnverified)
	sample.Safety = safety
	if err != nil {
		return sample, err
	}

	ch, err := c.conn.Channel()
	if err != nil {
		return sample, c.scrub(fmt.Errorf("peek %s: open channel: %w", queue, err))
	}
	// Closing the channel is what puts every held delivery back, in order; it runs whatever
	// happens below. If the connection is gone the broker has requeued them already.
	defer ch.Close()

	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		return sample, c.scrub(fmt.Errorf("peek %s: %w", queue, queueErr(queue, err)))
	}
	sample.Depth, sample.Consumers = q.Messages, q.Consumers
	if q.Messages == 0 {
		sample.Complete = true
		return sample, nil
	}
	want := min(opt.Max, q.Messages)
	if err := ch.Qos(want, 0, false); err != nil {
		return sample, c.scrub(fmt.Errorf("peek %s: set prefetch %d: %w", queue, want, err))
	}
	deliveries, err := ch.Consume(queue, consumerTag("peek"), false, false, false, false, nil)
	if err != nil {
		return sample, c.scrub(fmt.Errorf("peek %s: consume: %w", queue, queueErr(queue, err)))
	}
	mopt := messageOptions{previewBytes: max(opt.PreviewBytes, 0), errorHeaders: opt.ErrorHeaders}
	sample.Messages = make([]Message, 0, want)
	idle := time.NewTimer(opt.Idle)
	defer idle.Stop()
	idlePeriods := 0
	for len(sample.Messages) < want {
		select {
		case d, ok := <-deliveries:
			if !ok {
				err := errors.New("consumer cancelled by the broker (queue deleted?) or connection lost")
				return finishSample(sample), fmt.Errorf("peek %s after %d messages: %w", queue, len(sample.Messages), err)
			}
			sample.Messages = append(sample.Messages, newMessage(&d, mopt))
			idle.Reset(opt.Idle)
			idlePeriods = 0
		case <-idle.C:
			// Quiet: with nothing ready the rest is held by another consumer (or was consumed
			// meanwhile); otherwise the broker is just slow: wait, a few idle periods at most.
			idlePeriods++
			if q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil); err != nil || q.Messages == 0 || idlePeriods >= maxIdlePeriods {
				return finishSample(sample), nil
			}
			idle.Reset(opt.Idle)
		case <-ctx.Done():
			return finishSample(sample), fmt.Errorf("peek %s after %d messages: %w", queue, len(sample.Messages), ctx.Err())
		}
	}
	return finishSample(sample), nil
}

func finishSample(s Sample) Sample {
	s.Complete = len(s.Messages) >= s.Depth
	s.Groups = GroupMessages(s.Messages)
	return s
}

var _ SafetyChecker = (*Management)(nil)
