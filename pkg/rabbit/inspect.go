package rabbit

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrQueueNotFound is returned (wrapped) when a queue does not exist (AMQP 404). The
// connection stays usable: only the throwaway channel of the failed call is closed.
var ErrQueueNotFound = errors.New("queue not found")

// QueueState is what a passive declare tells: no management API needed, no lag.
type QueueState struct {
	Name string `json:"name"`
	// Ready is the number of messages ready for delivery (not counting unacknowledged ones).
	Ready int `json:"ready"`
	// Consumers is the number of consumers subscribed right now.
	Consumers int `json:"consumers"`
}

// Inspect reads a queue's ready count and consumer count with a passive declare on a channel
// of its own. A missing queue is ErrQueueNotFound.
func (c *Client) Inspect(ctx context.Context, queue string) (QueueState, error) {
	var st QueueState
	err := c.withChannel(ctx, "inspect queue "+queue, func(ch *amqp.Channel) error {
		q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
		if err != nil {
			return queueErr(queue, err)
		}
		st = QueueState{Name: q.Name, Ready: q.Messages, Consumers: q.Consumers}
		return nil
	})
	return st, err
}

// queueErr maps a 404 channel exception to ErrQueueNotFound.
func queueErr(queue string, err error) error {
	if amqpCode(err) == amqp.NotFound {
		return fmt.Errorf("%w: %s", ErrQueueNotFound, queue)
	}
	return err
}

// withChannel runs fn on a fresh channel and closes it afterwards. amqp091's calls are not
// context-aware: fn runs in a goroutine so that a cancelled ctx returns at once; the goroutine
// ends when the broker answers or the heartbeat declares the connection dead.
func (c *Client) withChannel(ctx context.Context, what string, fn func(*amqp.Channel) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() {
		ch, err := c.conn.Channel()
		if err != nil {
			done <- fmt.Errorf("open channel: %w", err)
			return
		}
		err = fn(ch)
		// After a channel exception the channel is already closed; closing again is harmless.
		if cerr := ch.Close(); cerr != nil && err == nil && !errors.Is(cerr, amqp.ErrClosed) {
			err = fmt.Errorf("close channel: %w", cerr)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return c.scrub(fmt.Errorf("%s: %w", what, err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
}
