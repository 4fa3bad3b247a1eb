package render

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// FuzzRenderers: no Report makes a renderer panic or break a limit. The fuzzer drives every
// string of the report, list lengths (up to tens of thousands of evidence lines), the
// number of actions and the metric values, NaN and infinities included.
//
//	go test -run '^$' -fuzz FuzzRenderers -fuzztime 60s ./pkg/report
func FuzzRenderers(f *testing.F) {
	f.Add("staging ingestor OOM-killed: restarted", "desired 1 running 0\nexit 137", uint16(3), uint8(2),
		"force-new-deployment", "arrakis-staging-ingestor", "done", "oom", "desired 1", "aws ecs describe-services", "CRITICAL", []byte{1, 5, 9, 255, 3})
	f.Add("", "", uint16(0), uint8(0), "", "", "", "", "", "", "", []byte{})
	f.Add(strings.Repeat("🚀", 3000), strings.Repeat("日本語\n", 500), uint16(40), uint8(30),
		"```", "<!channel>", "failed", "@everyone", "&<>", "```\n```", "warning", []byte{254, 253, 0, 255})
	f.Add("\x00\xff\xfe", "\r\n\u2028", uint16(65535), uint8(255), "\x1b", "\t", "skipped", "*_~|", "[x](y)", "$(rm -rf /)", "INFO", []byte{128})

	f.Fuzz(func(t *testing.T, headline, evidence string, repeat uint16, nActions uint8,
		kind, target, outcome, reason, extra, cmd, sev string, series []byte) {
		lines := strings.Split(evidence, "\n")
		var ev []string
		for range int(repeat) % 5000 {
			if len(ev) > 20_000 { // past every limit already; more only slows the fuzzer
				break
			}
			ev = append(ev, lines...)
		}
		var actions []report.Action
		for i := range int(nActions) % 64 {
			o := []report.Outcome{report.OutcomeDone, report.OutcomeDryRun, report.OutcomeSkipped, report.OutcomeFailed, report.Outcome(outcome)}[i%5]
			actions = append(actions, report.Action{Kind: kind, Target: target, Outcome: o, Reason: reason, Detail: extra})
		}
		var values []float64
		for _, b := range series {
			switch b {
			case 255:
				values = append(values, math.NaN())
			case 254:
				values = append(values, math.Inf(1))
			case 253:
				values = append(values, -math.MaxFloat64)
			default:
				values = append(values, float64(b)*1.5)
			}
		}
		n := int(repeat) % 300
		r := report.Report{
			Severity: report.Severity(sev),

			Result: report.Result{
				Function:        extra,
				Environment:     target,
				Mode:            outcome,
				Alarm:           report.AlarmRef{Name: kind, State: sev, ChangedAt: time.Unix(int64(repeat)*1000, 0)},
				Finding:         report.Finding{Code: kind, Summary: reason, Evidence: ev},
				Actions:         actions,
				Recommendations: repeatString(reason, n),
				Diagnostics:     []report.Diagnostic{{Name: kind, Error: evidence}, {Name: "ok", OK: true}},
				Verification:    &report.Verification{Status: outcome, Detail: extra, MS: int64(repeat)},
				Escalation:      &report.Escalation{Paged: nActions%2 == 0, Reason: reason, DedupKey: target, Resolved: nActions%3 == 0},
				Error:           strings.Repeat(extra, int(nActions)%3),
				More:            []report.Result{{Alarm: report.AlarmRef{Name: headline}}},
			},
			Presentation: report.Presentation{Headline: headline, Series: &report.Series{Label: kind, Unit: extra, Values: values}},
		}
		for range n % 40 {
			r.Commands = append(r.Commands, report.Command{Title: reason, Cmd: cmd})
			r.Links = append(r.Links, report.Link{Title: target, URL: "https://x/" + cmd})
		}
		for _, e := range checkAll(r) {
			t.Error(e)
		}
	})
}

func repeatString(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
