package playbook

import (
	"fmt"
	"strings"
	"time"

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
			skipped = append(skipped, a.Kind+" skipped ("+a.Rule+")")
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

// Ago renders a duration for people: "25m", "3h05m", "6d2h".
func Ago(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}
