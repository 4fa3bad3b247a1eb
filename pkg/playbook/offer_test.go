package playbook

import (
	"testing"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/operation"
)

func TestOfferFor(t *testing.T) {
	c := config.Config{IngestorService: "ing", WorkerService: "wrk", ScaleStep: 1}
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
		{"replay is not offered", Action{Kind: KindReplay, Target: "dlq"}, capped, nil, 0, ""},
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
			if len(bound) != 1 || bound[0].Service != tt.action.Target || bound[0].TaskDefinition != tt.td {
				t.Fatalf("bound %+v", bound)
			}
			if got := bound[0].Desired; (tt.desire < 0) != (got == nil) || (got != nil && *got != tt.desire) {
				t.Errorf("bound desired %v, want %d", got, tt.desire)
			}
		})
	}
}
