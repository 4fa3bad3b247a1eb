package playbook

import (
	"testing"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/deadletter"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/operation"
)

func TestOfferFor(t *testing.T) {
	c := config.Config{IngestorService: "ing", WorkerService: "wrk", DLQ: "dlq", ScaleStep: 1, MaxWorkers: 3, MaxTaskMemoryMiB: 4096, MaxReplaysPerRun: 500}
	policy, capped := guard.Rule{Code: guard.RulePolicy}, guard.Rule{Code: guard.RuleCap}
	tests := []struct {
		name   string
		action Action
		rule   guard.Rule
		want   *operation.Request
		desire int    // bound desired count, -1 none
		td     string // bound task definition
	}{
		{"rollback off by policy", Action{Kind: KindRollback, Target: "wrk", Change: Change{FromTaskDefinition: "td/w:42", ToTaskDefinition: "td/w:41"}}, policy,
			&operation.Request{Kind: operation.KindRollback, Role: "worker", Revision: "w:41"}, -1, "td/w:42"},
		{"raise memory off by policy", Action{Kind: KindRaiseTaskMemory, Target: "ing", Change: Change{FromMiB: 512, ToMiB: 768, FromTaskDefinition: "td/i:7"}}, policy,
			&operation.Request{Kind: operation.KindRaiseMemory, Role: "ingestor", MemoryMiB: 768}, -1, "td/i:7"},
		{"raise memory past the cap is not offered", Action{Kind: KindRaiseTaskMemory, Target: "ing", Change: Change{FromMiB: 4096, ToMiB: 4096}}, capped, nil, 0, ""},
		{"a worker past the cap", Action{Kind: KindScaleService, Target: "wrk", Change: Change{FromCount: 3, ToCount: 3}}, capped,
			&operation.Request{Kind: operation.KindScale, Role: "worker", Count: 4}, 3, ""},
		{"cooldown is not offered", Action{Kind: KindForceNewDeployment, Target: "wrk"}, guard.Rule{Code: guard.RuleCooldown}, nil, 0, ""},
		{"budget is not offered", Action{Kind: KindScaleService, Target: "wrk", Change: Change{FromCount: 1, ToCount: 2}}, guard.Rule{Code: guard.RuleBudget}, nil, 0, ""},
		{"a transient replay past the cap is not offered", Action{Kind: KindReplay, Target: "dlq", Change: Change{Class: deadletter.Transient, Messages: 30}}, capped, nil, 0, ""},
		{"a transient replay held by policy is not offered", Action{Kind: KindReplay, Target: "dlq", Change: Change{Class: deadletter.Transient, Messages: 30}}, policy, nil, 0, ""},
		{"a parking is not offered", Action{Kind: KindPark, Target: "dlq", Change: Change{Class: deadletter.BadData, Messages: 4, Destination: "parking"}}, policy, nil, 0, ""},
		{"bugs: the replay is offered", Action{Kind: KindReplay, Target: "dlq", Change: Change{Class: deadletter.Bug, Messages: 3}}, policy,
			&operation.Request{Kind: operation.KindReplayDLQ, Class: deadletter.Bug, Messages: 3}, -1, ""},
		{"bugs past the per-run cap: the cap's worth", Action{Kind: KindReplay, Target: "dlq", Change: Change{Class: deadletter.Bug, Messages: 800, Unseen: 4000}}, policy,
			&operation.Request{Kind: operation.KindReplayDLQ, Class: deadletter.Bug, Messages: 500}, -1, ""},
		{"bugs capped by something else are not offered", Action{Kind: KindReplay, Target: "dlq", Change: Change{Class: deadletter.Bug, Messages: 3}}, capped, nil, 0, ""},
		{"bugs of another queue are not offered", Action{Kind: KindReplay, Target: "other.dlq", Change: Change{Class: deadletter.Bug, Messages: 3}}, policy, nil, 0, ""},
		{"a replay of nothing seen is not offered", Action{Kind: KindReplay, Target: "dlq", Change: Change{Class: deadletter.Bug, Unseen: 40}}, policy, nil, 0, ""},
		{"bad data is never replayed", Action{Kind: KindReplay, Target: "dlq", Change: Change{Class: deadletter.BadData, Messages: 3}}, policy, nil, 0, ""},
		{"unknown service is not offered", Action{Kind: KindForceNewDeployment, Target: "other"}, policy, nil, 0, ""},
		{"restart held by policy", Action{Kind: KindForceNewDeployment, Target: "ing", Change: Change{FromTaskDefinition: "td/i:7"}}, policy,
			&operation.Request{Kind: operation.KindRestart, Role: "ingestor"}, -1, "td/i:7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, bound, ok := OfferFor(c, tt.action, tt.rule)
			if (tt.want != nil) != ok {
				t.Fatalf("offered %v, want %v", ok, tt.want != nil)
			}
			if !ok {
				return
			}
			if req != *tt.want {
				t.Errorf("request %+v, want %+v", req, *tt.want)
			}
			if err := req.Validate(c); err != nil {
				t.Errorf("the offered %s does not validate: %v", req, err)
			}
			if tt.action.Kind == KindReplay {
				// No service state to bind to: the replay re-reads the DLQ itself.
				if len(bound) != 0 {
					t.Errorf("a replay bound to %+v", bound)
				}
				return
			}
			if len(bound) != 1 || bound[0].Service != tt.action.Target || bound[0].TaskDefinition != tt.td {
				t.Fatalf("bound %+v", bound)
			}
			if got := bound[0].Desired; (tt.desire < 0) != (got == nil) || (got != nil && *got != tt.desire) {
				t.Errorf("bound desired %v, want %d", got, tt.desire)
			}
		})
	}
}

// With replays off in the environment (GPR_MAX_REPLAYS_PER_RUN=0) there is no count to offer.
func TestReplayOfferWithReplaysOff(t *testing.T) {
	c := config.Config{DLQ: "dlq", MaxReplaysPerRun: 0}
	a := Action{Kind: KindReplay, Target: "dlq", Change: Change{Class: deadletter.Bug, Messages: 3}}
	if req, _, ok := OfferFor(c, a, guard.Rule{Code: guard.RulePolicy}); ok {
		t.Errorf("offered %s with replays off", req)
	}
}
