package ops

import "github.com/arrakis/gp-remediation/pkg/operation"

// The request types live in pkg/operation, a leaf package, so offers (pkg/offer) and the
// runner's offers (pkg/playbook) can hold a Request without linking the operations.
type (
	Kind    = operation.Kind
	Request = operation.Request
)

// The operations and roles, as in pkg/operation.
const (
	KindHealth          = operation.KindHealth
	KindScale           = operation.KindScale
	KindRestart         = operation.KindRestart
	KindRollback        = operation.KindRollback
	KindRaiseMemory     = operation.KindRaiseMemory
	KindCompleteRestart = operation.KindCompleteRestart
	KindDisable         = operation.KindDisable
	KindReplayDLQ       = operation.KindReplayDLQ
	RoleIngestor        = operation.RoleIngestor
	RoleWorker          = operation.RoleWorker
	Usage               = operation.Usage
)

// Parse reads an operation as typed (see operation.Parse).
func Parse(args []string) (Request, error) { return operation.Parse(args) }
