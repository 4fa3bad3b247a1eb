package cases

import "context"

// Broker describes the RabbitMQ state a case needs (queues and messages on the real local
// broker). The queue-depth and dlq cases use it.
type Broker struct{}

// Prepare creates the case's queues and messages and returns a cleanup.
func (b *Broker) Prepare(ctx context.Context) (func(), error) { return func() {}, nil }

// Env is the environment the function needs to reach the prepared broker.
func (b *Broker) Env() map[string]string { return nil }
