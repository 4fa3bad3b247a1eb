package render

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/arrakis/gp-remediation/internal/reportfixture"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// The checks below restate each service's limits independently of the renderers' own
// constants where the brief fixes them, so a wrong constant cannot pass its own test.

func checkMarkdown(out string) []string {
	var errs []string
	if n := u16len(out); n > 65536 {
		errs = append(errs, fmt.Sprintf("markdown is %d chars, limit 65536", n))
	}
	if !utf8.ValidString(out) {
		errs = append(errs, "markdown is not valid UTF-8")
	}
	return errs
}

func checkSlack(raw []byte) (slackMessage, []string) {
	var m slackMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, []string{"slack payload is not JSON: " + err.Error()}
	}
	var errs []string
	if !utf8.Valid(raw) {
		errs = append(errs, "slack payload is not valid UTF-8")
	}
	if len(m.Blocks) > 50 {
		errs = append(errs, fmt.Sprintf("%d blocks, limit 50", len(m.Blocks)))
	}
	if n := u16len(m.Text); n > 40000 || n == 0 {
		errs = append(errs, fmt.Sprintf("fallback text is %d chars, want 1..40000", n))
	}
	total := 0
	for i, b := range m.Blocks {
		switch b.Type {
		case "header":
			if n := u16len(b.Text.Text); n > 150 || b.Text.Type != "plain_text" {
				errs = append(errs, fmt.Sprintf("block %d: header %s of %d chars, limit 150", i, b.Text.Type, n))
			}
		case "section":
			if n := u16len(b.Text.Text); n > 3000 || n == 0 {
				errs = append(errs, fmt.Sprintf("block %d: section of %d chars, want 1..3000", i, n))
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				errs = append(errs, fmt.Sprintf("block %d: context with %d elements", i, len(b.Elements)))
			}
			for _, e := range b.Elements {
				if n := u16len(e.Text); n > 3000 || n == 0 {
					errs = append(errs, fmt.Sprintf("block %d: context text of %d chars", i, n))
				}
			}
		case "actions":
			if len(b.Buttons) == 0 || len(b.Buttons) > 25 {
				errs = append(errs, fmt.Sprintf("block %d: actions with %d elements", i, len(b.Buttons)))
			}
			for _, e := range b.Buttons {
				if n := u16len(e.Text.Text); n > 75 || n == 0 || len(e.Value) > 2000 || e.ActionID == "" {
					errs = append(errs, fmt.Sprintf("block %d: button %q of %d chars", i, e.Text.Text, n))
				}
			}
		default:
			errs = append(errs, fmt.Sprintf("block %d: unexpected type %q", i, b.Type))
		}
		total += u16len(blockText(b))
	}
	if total > SlackMaxBlocksChars {
		errs = append(errs, fmt.Sprintf("blocks hold %d chars, limit %d", total, SlackMaxBlocksChars))
	}
	return m, errs
}

func checkDiscord(raw []byte) (discordEmbed, []string) {
	var m struct {
		Embeds          []discordEmbed `json:"embeds"`
		AllowedMentions *struct {
			Parse *[]string `json:"parse"`
		} `json:"allowed_mentions"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return discordEmbed{}, []string{"discord payload is not JSON: " + err.Error()}
	}
	var errs []string
	if m.AllowedMentions == nil || m.AllowedMentions.Parse == nil || len(*m.AllowedMentions.Parse) != 0 {
		errs = append(errs, `allowed_mentions is not {"parse": []}`)
	}
	if len(m.Embeds) != 1 {
		return discordEmbed{}, append(errs, fmt.Sprintf("%d embeds, want 1", len(m.Embeds)))
	}
	e := m.Embeds[0]
	total := u16len(e.Title) + u16len(e.Description)
	if n := u16len(e.Title); n > 256 || n == 0 {
		errs = append(errs, fmt.Sprintf("title of %d chars, want 1..256", n))
	}
	if n := u16len(e.Description); n > 4096 {
		errs = append(errs, fmt.Sprintf("description of %d chars, limit 4096", n))
	}
	if len(e.Fields) > 25 {
		errs = append(errs, fmt.Sprintf("%d fields, limit 25", len(e.Fields)))
	}
	for i, f := range e.Fields {
		if n := u16len(f.Name); n > 256 || n == 0 {
			errs = append(errs, fmt.Sprintf("field %d: name of %d chars, want 1..256", i, n))
		}
		if n := u16len(f.Value); n > 1024 || n == 0 {
			errs = append(errs, fmt.Sprintf("field %d: value of %d chars, want 1..1024", i, n))
		}
		total += u16len(f.Name) + u16len(f.Value)
	}
	if e.Footer != nil {
		if n := u16len(e.Footer.Text); n > 2048 {
			errs = append(errs, fmt.Sprintf("footer of %d chars, limit 2048", n))
		}
		total += u16len(e.Footer.Text)
	}
	if total > 6000 {
		errs = append(errs, fmt.Sprintf("embed holds %d chars, limit 6000", total))
	}
	return e, errs
}

func checkText(subject, body string) []string {
	var errs []string
	if len(subject) == 0 || len(subject) >= 100 {
		errs = append(errs, fmt.Sprintf("subject of %d chars, want 1..99", len(subject)))
	}
	for _, r := range subject {
		if r < 0x20 || r > 0x7e {
			errs = append(errs, fmt.Sprintf("subject has %U, not printable ASCII", r))
			break
		}
	}
	if strings.HasPrefix(subject, " ") {
		errs = append(errs, "subject starts with a space")
	}
	if len(body) > 256*1024 {
		errs = append(errs, fmt.Sprintf("body of %d bytes, limit 262144", len(body)))
	}
	if !utf8.ValidString(body) {
		errs = append(errs, "body is not valid UTF-8")
	}
	return errs
}

// checkAll renders r every way and returns every broken limit.
func checkAll(r report.Report) []string {
	errs := checkMarkdown(Markdown(r))
	s, err := Slack(r)
	if err != nil {
		errs = append(errs, "Slack: "+err.Error())
	} else {
		_, e := checkSlack(s)
		errs = append(errs, e...)
	}
	d, err := Discord(r)
	if err != nil {
		errs = append(errs, "Discord: "+err.Error())
	} else {
		_, e := checkDiscord(d)
		errs = append(errs, e...)
	}
	return append(errs, checkText(Text(r))...)
}

var hugeReport = reportfixture.Huge

func TestHugeReportStaysWithinLimits(t *testing.T) {
	r := hugeReport()
	actions := r.Result.Actions

	t.Run("markdown", func(t *testing.T) {
		out := Markdown(r)
		for _, e := range checkMarkdown(out) {
			t.Error(e)
		}
		first, _, _ := strings.Cut(out, "\n")
		if !strings.Contains(first, mdEscape(r.Headline)) {
			t.Errorf("first line %q does not hold the whole headline", first)
		}
		for _, a := range actions {
			if !strings.Contains(out, md.action(a, mdActionCap)) {
				t.Errorf("action %s/%s missing", a.Kind, a.Outcome)
			}
		}
		if !strings.Contains(out, "evidence lines trimmed") {
			t.Error("no note that evidence was trimmed")
		}
	})

	t.Run("slack", func(t *testing.T) {
		raw, err := Slack(r)
		if err != nil {
			t.Fatal(err)
		}
		m, errs := checkSlack(raw)
		for _, e := range errs {
			t.Error(e)
		}
		if !strings.HasPrefix(m.Text, "🔴 CRITICAL: "+slackEscape(r.Headline)) {
			t.Errorf("fallback text does not start with the headline: %.200q", m.Text)
		}
		if m.Blocks[0].Text.Text != "🔴 "+r.Headline {
			t.Errorf("header is %q, want the headline", m.Blocks[0].Text.Text)
		}
		var all strings.Builder
		for _, b := range m.Blocks {
			all.WriteString(blockText(b) + "\n")
		}
		for _, a := range actions {
			if !strings.Contains(all.String(), slackStyle.action(a, slackTextCap)) {
				t.Errorf("action %s/%s missing from the blocks", a.Kind, a.Outcome)
			}
		}
		if !strings.Contains(all.String(), "evidence lines trimmed") {
			t.Error("no note that evidence was trimmed")
		}
	})

	t.Run("discord", func(t *testing.T) {
		raw, err := Discord(r)
		if err != nil {
			t.Fatal(err)
		}
		e, errs := checkDiscord(raw)
		for _, msg := range errs {
			t.Error(msg)
		}
		if e.Title != "🔴 "+r.Headline {
			t.Errorf("title is %q, want the headline", e.Title)
		}
		var all strings.Builder
		for _, f := range e.Fields {
			all.WriteString(f.Value + "\n")
		}
		for _, a := range actions {
			if !strings.Contains(all.String(), discordStyle.action(a, discordTextCap)) {
				t.Errorf("action %s/%s missing from the fields", a.Kind, a.Outcome)
			}
		}
		if !strings.Contains(all.String(), "evidence lines trimmed") {
			t.Error("no note that evidence was trimmed")
		}
	})

	t.Run("text", func(t *testing.T) {
		subject, body := Text(r)
		for _, e := range checkText(subject, body) {
			t.Error(e)
		}
		if !strings.HasPrefix(body, r.Headline+"\n") {
			t.Errorf("body does not start with the headline: %.200q", body)
		}
		for _, a := range actions {
			if !strings.Contains(body, plain.action(a, textItemCap)) {
				t.Errorf("action %s/%s missing", a.Kind, a.Outcome)
			}
		}
		if !strings.Contains(body, "evidence lines trimmed") {
			t.Error("no note that evidence was trimmed")
		}
		if len(body) < 200*1024 {
			t.Errorf("body is %d bytes: trimming took far more than the limit needed", len(body))
		}
	})
}

// TestTrimOrder checks that lists give way in the brief's order: with room for only some
// of them, evidence goes first and console links survive longest.
func TestTrimOrder(t *testing.T) {
	r := fixtureOOM()
	r.Result.Finding.Evidence = nil
	for i := range 400 {
		r.Result.Finding.Evidence = append(r.Result.Finding.Evidence, fmt.Sprintf("evidence %d %s", i, strings.Repeat("x", 100)))
	}
	raw, err := Discord(r)
	if err != nil {
		t.Fatal(err)
	}
	e, errs := checkDiscord(raw)
	for _, msg := range errs {
		t.Error(msg)
	}
	names := map[string]bool{}
	for _, f := range e.Fields {
		names[f.Name] = true
	}
	for _, want := range []string{"Actions", "Runbook commands", "Console links", "Failed diagnostics", "Recommendations"} {
		if !names[want] {
			t.Errorf("field %q was dropped although evidence alone could make room", want)
		}
	}
	if !strings.Contains(string(raw), "more evidence lines trimmed") {
		t.Error("evidence was not trimmed")
	}

	// With evidence gone and still no room, diagnostics go next, links last.
	r.Result.Recommendations = nil
	for i := range 40 {
		r.Result.Recommendations = append(r.Result.Recommendations, fmt.Sprintf("recommendation %d %s", i, strings.Repeat("y", 250)))
	}
	raw, _ = Discord(r)
	_, errs = checkDiscord(raw)
	for _, msg := range errs {
		t.Error(msg)
	}
	s := string(raw)
	if !strings.Contains(s, "evidence lines trimmed") || !strings.Contains(s, "recommendations trimmed") {
		t.Errorf("want evidence and recommendations trimmed:\n%s", s)
	}
	if strings.Contains(s, "console link") && strings.Contains(s, "console links trimmed") {
		t.Error("links were trimmed before recommendations were gone")
	}
	if !strings.Contains(s, "[Alarm No Ingestor Tasks Running]") {
		t.Error("the console links did not survive")
	}
}

// TestAbsurdInputsStayWithinLimits covers what trimming lists cannot fix: a headline of
// many kilobytes, hundreds of actions. The renderers then clamp, and stay within limits.
func TestAbsurdInputsStayWithinLimits(t *testing.T) {
	cases := []struct {
		name string
		edit func(*report.Report)
	}{
		{"100k headline", func(r *report.Report) { r.Headline = strings.Repeat("🚀 long headline ", 6000) }},
		{"500 actions", func(r *report.Report) {
			for i := range 500 {
				r.Result.Actions = append(r.Result.Actions, report.Action{Kind: "replay", Target: fmt.Sprintf("q%d", i), Outcome: report.OutcomeDone, Reason: strings.Repeat("r", 900), Detail: strings.Repeat("d", 900)})
			}
		}},
		{"control characters", func(r *report.Report) {
			r.Headline = "a\x00b\r\nc\u2028d\x1b[31m"
			r.Result.Finding.Evidence = []string{"\x00\x01\x02", "\xff\xfe invalid utf-8"}
			r.Result.Environment = "st\nag\x00ing"
		}},
		{"empty report", func(r *report.Report) { *r = report.Report{} }},
		{"non-finite series", func(r *report.Report) {
			r.Series = &report.Series{Values: []float64{math.Inf(1), math.NaN(), -math.MaxFloat64, math.MaxFloat64, math.Inf(-1)}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fixtureOOM()
			tc.edit(&r)
			for _, e := range checkAll(r) {
				t.Error(e)
			}
		})
	}
}

// TestHugeEvidenceOnly: when only the evidence is huge, it alone gives way; some of it is
// still shown, and every other section is whole.
func TestHugeEvidenceOnly(t *testing.T) {
	r := fixtureOOM()
	ev := []string{strings.Repeat("日本語🚀é", 1<<20/16)}
	for i := range 10_000 {
		ev = append(ev, fmt.Sprintf("line %05d: task stopped — OutOfMemoryError 🚀 exit 137", i))
	}
	r.Result.Finding.Evidence = ev

	sraw, err := Slack(r)
	if err != nil {
		t.Fatal(err)
	}
	draw, err := Discord(r)
	if err != nil {
		t.Fatal(err)
	}
	_, body := Text(r)
	m, _ := checkSlack(sraw)
	var slackText strings.Builder
	for _, b := range m.Blocks {
		slackText.WriteString(blockText(b) + "\n")
	}
	e, _ := checkDiscord(draw)
	var discordText strings.Builder
	for _, f := range e.Fields {
		discordText.WriteString(f.Value + "\n")
	}
	renderings := map[string]string{"markdown": Markdown(r), "slack": slackText.String(), "discord": discordText.String(), "text": body}
	for _, e := range checkAll(r) {
		t.Error(e)
	}
	for name, out := range renderings {
		t.Run(name, func(t *testing.T) {
			for _, want := range []string{
				"more evidence lines trimmed", // some evidence shown, the rest counted
				"line 00000",                  // the first lines are the ones kept
				"logs.filter",                 // failed diagnostics whole
				"GPR_ALLOW_RAISE_MEMORY=true", // recommendations whole (escaped in Markdown)
				"--filter-pattern '?fatal ?panic ?crash'",
				"#alarmsV2:alarm/No%20Ingestor%20Tasks%20Running",
			} {
				if (name == "markdown" || name == "discord") && want == "GPR_ALLOW_RAISE_MEMORY=true" {
					want = `GPR\_ALLOW\_RAISE\_MEMORY=true`
				}
				if !strings.Contains(out, want) {
					t.Errorf("missing %q", want)
				}
			}
		})
	}
}

func TestTruncU16(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello!", 5, "hell…"},
		{"日本語", 3, "日本語"},
		{"日本語x", 3, "日本…"},
		{"a🚀", 3, "a🚀"},  // 🚀 is two units: a + 🚀 fill 3 exactly
		{"a🚀b", 3, "a…"}, // cut: no room for 🚀 and the ellipsis
		{"🚀🚀", 3, "🚀…"},
		{"abc", 0, ""},
		{"abc", 1, "…"},
	}
	for _, tc := range cases {
		got := truncU16(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("truncU16(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if u16len(got) > tc.max {
			t.Errorf("truncU16(%q, %d) is %d units", tc.in, tc.max, u16len(got))
		}
	}
}

func TestTruncBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "…"},
		{"ab日本", 7, "ab…"},
		{"ab日本", 8, "ab日本"},
		{"ab日本語", 8, "ab日…"},
		{"日本", 2, ""},
	} {
		got := truncBytes(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("truncBytes(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// Offers stay within every limit, and a message carries at most five of them (Discord's five
// rows of components).
func TestOffersWithinLimits(t *testing.T) {
	r := fixtureOffered()
	for i := range 7 {
		o := r.Offers[0]
		o.ID = fmt.Sprintf("%016x", i+1)
		o.Title = strings.Repeat("scale worker 10 ", 10)
		r.Offers = append(r.Offers, o)
	}
	if errs := checkAll(r); len(errs) > 0 {
		t.Fatal(strings.Join(errs, "\n"))
	}
	raw, err := Discord(r)
	if err != nil {
		t.Fatal(err)
	}
	var m discordMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Components) != maxOffers {
		t.Fatalf("%d rows of buttons, want %d", len(m.Components), maxOffers)
	}
	for _, row := range m.Components {
		for _, b := range row.Components {
			if u16len(b.Label) > 80 || len(b.CustomID) > 100 {
				t.Errorf("button %q / %q past Discord's limits", b.Label, b.CustomID)
			}
		}
	}
}
