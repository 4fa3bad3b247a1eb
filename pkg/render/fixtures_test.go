package render

import (
	"github.com/arrakis/gp-remediation/internal/reportfixture"
	"github.com/arrakis/gp-remediation/pkg/report"
)

var (
	fixtureOOM        = reportfixture.OOM
	fixtureDryRun     = reportfixture.DryRun
	fixturePaged      = reportfixture.Paged
	fixtureInputError = reportfixture.InputError
	fixtureScaleBack  = reportfixture.ScaleBack
	fixtureOffered    = reportfixture.Offered
)

var fixtures = []struct {
	name   string
	report func() report.Report
}{
	{"oom-restarted", fixtureOOM},
	{"dry-run", fixtureDryRun},
	{"failed-paged", fixturePaged},
	{"input-error", fixtureInputError},
	{"scale-back", fixtureScaleBack},
	{"offered", fixtureOffered},
}
