package render

import (
	"testing"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// Rendering happens once per invocation inside a Lambda's time budget; these show what it
// costs for an ordinary report and for one buried in evidence (hugeReport: 10,000 lines,
// megabyte strings), where fitting to the limits does the most work.
//
//	go test -run '^$' -bench . -benchmem ./pkg/report
func BenchmarkRender(b *testing.B) {
	for _, rc := range []struct {
		name string
		r    report.Report
	}{{"ordinary", fixtureOOM()}, {"huge", hugeReport()}} {
		b.Run(rc.name+"/markdown", func(b *testing.B) {
			for b.Loop() {
				_ = Markdown(rc.r)
			}
		})
		b.Run(rc.name+"/slack", func(b *testing.B) {
			for b.Loop() {
				if _, err := Slack(rc.r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(rc.name+"/discord", func(b *testing.B) {
			for b.Loop() {
				if _, err := Discord(rc.r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(rc.name+"/text", func(b *testing.B) {
			for b.Loop() {
				_, _ = Text(rc.r)
			}
		})
	}
}
