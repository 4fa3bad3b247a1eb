// Package deadletter names the classes of dead letters: what kind of failure put a message in
// the dead-letter queue, which decides what may be done with it. It is a leaf package, so a
// class keeps its type from the broker's classification (pkg/rabbit) through a decision's
// action (pkg/playbook) to a person's replay request (pkg/operation) without those linking
// the AMQP client.
package deadletter

// Class is what kind of failure put a group of messages in the dead-letter queue.
type Class string

const (
	// Transient failures (timeouts, refused or reset connections, 429/503, TTL expiry, queue
	// length limits) are expected to succeed when replayed.
	Transient Class = "transient"
	// BadData messages (unparseable, failing validation, unknown type) will fail again
	// whatever happens: park them, never replay them.
	BadData Class = "bad-data"
	// Bug failures (panic, nil dereference, index out of range, TypeError) need a code fix
	// first: replay after the fix, when a person says it is deployed.
	Bug Class = "bug"
	// Unknown is everything else: a human looks.
	Unknown Class = "unknown"
)

// Replayable says whether messages of c may be sent back to the queue they died in at all:
// every class but bad data, which fails again whatever happens.
func Replayable(c Class) bool { return c == Transient || c == Bug || c == Unknown }
