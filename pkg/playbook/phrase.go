package playbook

import (
	"strings"

	"github.com/arrakis/gp-remediation/pkg/report"
)

var actionVerb = map[string][2]string{ // done, would
	KindForceNewDeployment: {"restarted", "would restart"},
	KindRollback:           {"rolled back", "would roll back"},
	KindRaiseTaskMemory:    {"raised task memory", "would raise task memory"},
	KindScaleService:       {"scaled", "would scale"},
	KindReplay:             {"replayed", "would replay"},
	KindPark:               {"parked", "would park"},
}

// ActionsPhrase says in a few words what the actions came to.
func ActionsPhrase(r report.Result) string {
	var done, would, skipped, failed []string
	for _, a := range r.Actions {
		verbs, ok := actionVerb[a.Kind]
		if !ok {
			verbs = [2]string{a.Kind + " done", "would " + a.Kind}
		}
		switch a.Outcome {
		case report.OutcomeDone:
			done = append(done, verbs[0])
		case report.OutcomeDryRun:
			would = append(would, verbs[1]+" (dry-run)")
		case report.OutcomeSkipped:
			skipped = append(skipped, a.Kind+" skipped ("+ruleName(a.Reason)+")")
		case report.OutcomeFailed:
			failed = append(failed, a.Kind+" FAILED")
		}
	}
	all := append(append(append(failed, done...), would...), skipped...)
	if len(all) == 0 {
		return "no automatic action"
	}
	return strings.Join(all, "; ")
}

// ruleName keeps the rule part of a skip reason ("policy: rollback is off …" -> "policy").
func ruleName(reason string) string {
	if i := strings.Index(reason, ":"); i > 0 && i < 32 {
		return reason[:i]
	}
	return reason
}
