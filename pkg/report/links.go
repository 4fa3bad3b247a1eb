package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	scrubpkg "github.com/arrakis/gp-remediation/pkg/scrub"
)

// DefaultInsightsQuery is the Logs Insights query of a console link when the caller gives
// none: the newest lines first, as the runbook's "view recent logs" does.
const DefaultInsightsQuery = "fields @timestamp, @logStream, @message\n| sort @timestamp desc\n| limit 200"

// DefaultInsightsWindow is how far back a Logs Insights link looks by default.
const DefaultInsightsWindow = time.Hour

// LinkParams names what a report links to in the AWS console. Empty fields produce no link.
type LinkParams struct {
	Region    string // e.g. us-east-1; empty means us-east-1, as config.Load defaults it
	Cluster   string
	Service   string
	LogGroups []string
	AlarmName string
	Dashboard string
	// Query is the Logs Insights query; empty means DefaultInsightsQuery.
	Query string
	// Window is how far back the query looks; zero means DefaultInsightsWindow.
	Window time.Duration
	// End, when set, fixes the window to [End-Window, End] (say, the alarm's time, so the
	// link still shows the incident tomorrow); zero means the last Window before the link
	// is opened.
	End time.Time
}

// Links returns the console links for p, in the order an on-call engineer uses them: the
// ECS service, a pre-filled Logs Insights query, the alarm, the dashboard.
func Links(p LinkParams) []Link {
	region := strings.TrimSpace(p.Region)
	if region == "" {
		region = "us-east-1"
	}
	cw := "https://" + region + ".console.aws.amazon.com/cloudwatch/home?region=" + region
	var links []Link
	if p.Cluster != "" && p.Service != "" {
		links = append(links, Link{
			Title: "ECS service " + p.Service,
			URL: "https://" + region + ".console.aws.amazon.com/ecs/v2/clusters/" + scrubpkg.URIComponent(p.Cluster) +
				"/services/" + scrubpkg.URIComponent(p.Service) + "/health?region=" + region,
		})
	}
	if len(p.LogGroups) > 0 {
		query := p.Query
		if strings.TrimSpace(query) == "" {
			query = DefaultInsightsQuery
		}
		window := p.Window
		if window <= 0 {
			window = DefaultInsightsWindow
		}
		when := "last " + shortDuration(window)
		if !p.End.IsZero() {
			when = p.End.Add(-window).UTC().Format("2006-01-02 15:04") + "–" + p.End.UTC().Format("15:04") + " UTC"
		}
		links = append(links, Link{
			Title: "Logs Insights: " + strings.Join(p.LogGroups, ", ") + " (" + when + ")",
			URL:   cw + "#logsV2:logs-insights" + insightsFragment(query, p.LogGroups, window, p.End),
		})
	}
	if p.AlarmName != "" {
		links = append(links, Link{Title: "Alarm " + p.AlarmName, URL: cw + "#alarmsV2:alarm/" + scrubpkg.URIComponent(p.AlarmName)})
	}
	if p.Dashboard != "" {
		links = append(links, Link{Title: "Dashboard " + p.Dashboard, URL: cw + "#dashboards/dashboard/" + scrubpkg.URIComponent(p.Dashboard)})
	}
	return links
}

// insightsFragment is the part of a Logs Insights console URL after "#logsV2:logs-insights":
// "$3FqueryDetail$3D" (that is "?queryDetail=" percent-encoded with '$' for '%', because the
// console keeps its own state in the fragment) followed by the query detail in JSURL
// notation: ~( ) for objects and arrays, ~ between members, ' before strings, and every
// character outside [A-Za-z0-9_.-] of a string written *hh (or **hhhh beyond U+00FF), e.g.
//
//	$3FqueryDetail$3D~(end~0~start~-3600~timeType~'RELATIVE~unit~'seconds~editorString~'fields*20*40message~source~(~'*2fecs*2fapp))
//
// The console itself writes this form (older consoles double-encoded the ~ ( ' with $25,
// which decodeInsightsFragment accepts too).
func insightsFragment(query string, logGroups []string, window time.Duration, end time.Time) string {
	var b strings.Builder
	b.WriteString("$3FqueryDetail$3D~(")
	if end.IsZero() {
		b.WriteString("end~0~start~" + strconv.FormatInt(-int64(window/time.Second), 10) +
			"~timeType~'RELATIVE~unit~'seconds")
	} else {
		const iso = "2006-01-02T15:04:05.000Z"
		b.WriteString("end~'" + jsurlEscape(end.UTC().Format(iso)) +
			"~start~'" + jsurlEscape(end.Add(-window).UTC().Format(iso)) +
			"~timeType~'ABSOLUTE~tz~'UTC")
	}
	b.WriteString("~editorString~'" + jsurlEscape(query) + "~source~(")
	for _, g := range logGroups {
		b.WriteString("~'" + jsurlEscape(g))
	}
	if len(logGroups) == 0 {
		b.WriteString("~")
	}
	b.WriteString("))")
	return b.String()
}

// jsurlEscape writes a JSURL string body: [A-Za-z0-9_.-] as they are, other characters up
// to U+00FF as *hh, the rest as **hhhh per UTF-16 unit. JSURL spells '$' as '!', but '!'
// reads as a bang to people and *24 decodes the same, so '$' is *24 here.
func jsurlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, "*%02x", r)
		default:
			for _, u := range utf16.Encode([]rune{r}) {
				fmt.Fprintf(&b, "**%04x", u)
			}
		}
	}
	return b.String()
}

// shortDuration prints 1h, 90m, 45s rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return d.Round(time.Second).String()
	}
}
