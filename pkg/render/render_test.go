package render

import (
	"math"
	"strings"
	"testing"

	"github.com/arrakis/gp-remediation/pkg/report"
)

func TestSparkline(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	ramp := make([]float64, 480)
	for i := range ramp {
		ramp[i] = float64(i)
	}
	cases := []struct {
		name   string
		values []float64
		want   string
	}{
		{"empty", nil, ""},
		{"flat line sits in the middle", []float64{5, 5, 5}, "▄▄▄"},
		{"ramp uses every height", []float64{0, 1, 2, 3, 4, 5, 6, 7}, "▁▂▃▄▅▆▇█"},
		{"gap is a space", []float64{1, nan, 8}, "▁ █"},
		{"infinities are gaps", []float64{inf, 0, math.Inf(-1), 10}, " ▁ █"},
		{"nothing but gaps", []float64{nan, nan}, "  "},
		{"extremes do not overflow", []float64{-math.MaxFloat64, 0, math.MaxFloat64}, "▁▅█"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Sparkline(tc.values, SparkWidth)
			if got != tc.want {
				t.Errorf("Sparkline = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("long series is bucketed, shape kept", func(t *testing.T) {
		got := []rune(Sparkline(ramp, SparkWidth))
		if len(got) != SparkWidth || got[0] != '▁' || got[len(got)-1] != '█' {
			t.Fatalf("Sparkline(ramp of 480) = %q", string(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i] < got[i-1] {
				t.Errorf("a rising series falls at column %d: %q", i, string(got))
			}
		}
	})
}

func TestSeriesStats(t *testing.T) {
	cases := []struct {
		name string
		s    report.Series
		want string
	}{
		{"percent, last is the newest datapoint", report.Series{Label: "MemoryUtilization", Unit: "Percent", Values: []float64{41, 92.456, 80, math.NaN()}},
			"MemoryUtilization `▁█▆ ` min 41 % · max 92.46 % · last 80 %"},
		{"counts need no unit", report.Series{Label: "MessageCount", Unit: "Count", Values: []float64{1200, 4210}},
			"MessageCount `▁█` min 1200 · max 4210 · last 4210"},
		{"no datapoints", report.Series{Label: "CPU", Unit: "Percent", Values: []float64{math.NaN()}},
			"CPU no datapoints"},
		{"no label", report.Series{Unit: "Seconds", Values: []float64{0.004, 2}}, "metric `▁█` min 0.004 s · max 2 s · last 2 s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := md.series(&tc.s); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSubject(t *testing.T) {
	long := fixtureOOM()
	long.Result.Environment = strings.Repeat("very-long-environment-", 8)
	unicode := fixtureOOM()
	unicode.Result.Finding.Code = "oom-killé\n日本"
	var mixed report.Report
	mixed.Severity = report.SeverityWarning
	mixed.Result = report.Result{Function: "dlq", Environment: "prod", Finding: report.Finding{Code: "transient"}, Actions: []report.Action{
		{Kind: "replay", Outcome: report.OutcomeDone}, {Kind: "replay", Outcome: report.OutcomeDone}, {Kind: "park", Outcome: report.OutcomeDryRun},
		{Kind: "custom-thing", Outcome: report.OutcomeFailed}}}
	skippedOnly := fixtureOOM()
	skippedOnly.Result.Actions = skippedOnly.Result.Actions[1:]

	cases := []struct {
		name string
		r    report.Report
		want string
	}{
		{"restarted", fixtureOOM(), "[CRITICAL] staging no-tasks: oom-killed, restarted"},
		{"dry run", fixtureDryRun(), "[WARNING] staging queue-depth: under-provisioned, would scale"},
		{"failed and paged", fixturePaged(), "[CRITICAL] production dlq: transient, replay failed, paged, not verified"},
		{"unusable input", fixtureInputError(), "[INFO] staging no-tasks: unusable input"},
		{"scale back resolves the page", fixtureScaleBack(), "[INFO] staging queue-depth: draining, scaled, page resolved"},
		{"failures first, repeats once", mixed, "[WARNING] prod dlq: transient, custom-thing failed, replayed, would park"},
		{"only skipped", skippedOnly, "[CRITICAL] staging no-tasks: oom-killed, skipped by guard"},
		{"empty", report.Report{}, "[INFO] gp-remediation: report only"},
		{"non-ASCII and newlines", unicode, "[CRITICAL] staging no-tasks: oom-kill? ??, restarted"},
		{"cut to 99", long, "[CRITICAL] very-long-environment-very-long-environment-very-long-environment-very-long-environme..."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := Text(tc.r)
			if got != tc.want {
				t.Errorf("subject %q\nwant    %q", got, tc.want)
			}
			if len(got) > MaxSubjectChars {
				t.Errorf("subject is %d chars", len(got))
			}
		})
	}
}

func TestColour(t *testing.T) {
	withVerif := func(r report.Report, status string) report.Report {
		r.Result.Verification = &report.Verification{Status: status}
		return r
	}
	critical := fixtureOOM()
	critical.Result.Actions = nil
	critical.Result.Verification = nil
	cases := []struct {
		name string
		r    report.Report
		want int
	}{
		{"done and verified is green, even CRITICAL", withVerif(fixtureOOM(), report.Verified), ColourGreen},
		{"done but pending stays by severity", withVerif(fixtureScaleBack(), report.Pending), ColourBlue},
		{"unverified is red", withVerif(fixtureScaleBack(), report.Unverified), ColourRed},
		{"failed action and page are red", fixturePaged(), ColourRed},
		{"dry run of a WARNING is amber", fixtureDryRun(), ColourAmber},
		{"CRITICAL with nothing done is red", critical, ColourRed},
		{"unusable input is red", fixtureInputError(), ColourRed},
		{"INFO is blue", report.Report{}, ColourBlue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Colour(tc.r); got != tc.want {
				t.Errorf("Colour = %#x, want %#x", got, tc.want)
			}
		})
	}
}

func TestNormSeverity(t *testing.T) {
	for in, want := range map[report.Severity]report.Severity{
		"CRITICAL": report.SeverityCritical, "critical": report.SeverityCritical, " Warning ": report.SeverityWarning,
		"INFO": report.SeverityInfo, "": report.SeverityInfo, "SEV1": report.SeverityWarning,
	} {
		if got := normSeverity(in); got != want {
			t.Errorf("normSeverity(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHeadlineFirst: whatever the report, every rendering's first line carries the headline.
func TestHeadlineFirst(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			r := fx.report()
			h := newView(r).headline
			if first, _, _ := strings.Cut(Markdown(r), "\n"); !strings.HasSuffix(first, mdEscape(h)) {
				t.Errorf("markdown starts %q", first)
			}
			if _, body := Text(r); !strings.HasPrefix(body, h+"\n") {
				t.Errorf("text starts %.100q", body)
			}
			raw, _ := Slack(r)
			m, _ := checkSlack(raw)
			if !strings.HasPrefix(m.Text, string(newView(r).sev)) && !strings.Contains(m.Text[:min(len(m.Text), 400)], slackEscape(h)) {
				t.Errorf("slack fallback starts %.100q", m.Text)
			}
			if m.Blocks[0].Text.Text != sevEmoji(newView(r).sev)+" "+h {
				t.Errorf("slack header is %q", m.Blocks[0].Text.Text)
			}
			raw, _ = Discord(r)
			e, _ := checkDiscord(raw)
			if e.Title != sevEmoji(newView(r).sev)+" "+h {
				t.Errorf("discord title is %q", e.Title)
			}
		})
	}
	t.Run("missing headline is made up, never empty", func(t *testing.T) {
		if h := newView(fixtureInputError()).headline; h != "gp-remediation could not use its input: not an SNS event: unexpected end of JSON input" {
			t.Errorf("headline %q", h)
		}
		r := fixtureOOM()
		r.Headline = " \n "
		if h := newView(r).headline; h != "staging no-tasks: oom-killed - Ingestor tasks were killed for running out of memory (exit 137) 3 times in the last hour." {
			t.Errorf("headline %q", h)
		}
	})
	t.Run("long headline moves below a short header, whole", func(t *testing.T) {
		r := fixtureOOM()
		r.Headline = strings.Repeat("word ", 60) + "end"
		raw, _ := Slack(r)
		m, _ := checkSlack(raw)
		if m.Blocks[0].Text.Text != "🔴 [CRITICAL] staging no-tasks: oom-killed, restarted" || m.Blocks[1].Text.Text != "*"+r.Headline+"*" {
			t.Errorf("blocks start %q, %q", m.Blocks[0].Text.Text, m.Blocks[1].Text.Text)
		}
		raw, _ = Discord(r)
		e, _ := checkDiscord(raw)
		if !strings.HasPrefix(e.Description, "**"+r.Headline+"**\n") {
			t.Errorf("description starts %.100q", e.Description)
		}
	})
}

func TestSubjectCarriesIncident(t *testing.T) {
	r := fixturePaged()
	r.Result.Incident = "INC-20261127-0007"
	r.Result.Environment = strings.Repeat("very-long-environment-", 10)
	subject, _ := Text(r)
	if !strings.HasPrefix(subject, "[INC-20261127-0007] [CRITICAL] ") || len(subject) > MaxSubjectChars || strings.ContainsAny(subject, "\r\n") {
		t.Errorf("subject %q", subject)
	}
	if s, _ := Text(fixturePaged()); strings.HasPrefix(s, "[INC") {
		t.Errorf("subject %q names an incident the report has not", s)
	}
}
