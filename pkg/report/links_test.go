package report

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeInsightsURL undoes what the console does to a Logs Insights URL, independently of
// insightsFragment: '$' back to '%', percent-decoding (twice for the older console's
// double-encoded form), then a JSURL parser.
func decodeInsightsURL(u string) (map[string]any, error) {
	_, frag, ok := strings.Cut(u, "#logsV2:logs-insights")
	if !ok {
		return nil, fmt.Errorf("no #logsV2:logs-insights in %q", u)
	}
	s, err := url.PathUnescape(strings.ReplaceAll(frag, "$", "%"))
	if err != nil {
		return nil, fmt.Errorf("unescape fragment: %w", err)
	}
	s, ok = strings.CutPrefix(s, "?queryDetail=")
	if !ok {
		return nil, fmt.Errorf("fragment %q has no ?queryDetail=", s)
	}
	s, _, _ = strings.Cut(s, "&") // the console may add &tab=logs; JSURL never holds '&'
	if strings.Contains(s, "%") {
		if s, err = url.PathUnescape(s); err != nil {
			return nil, fmt.Errorf("unescape query detail: %w", err)
		}
	}
	v, err := parseJSURL(s)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("query detail is %T, want an object", v)
	}
	return m, nil
}

// parseJSURL parses JSURL (github.com/Sage/jsurl) as the console reads it.
func parseJSURL(s string) (any, error) {
	p := &jsurlParser{s: s}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if p.i != len(s) {
		return nil, fmt.Errorf("trailing %q", s[p.i:])
	}
	return v, nil
}

type jsurlParser struct {
	s string
	i int
}

func (p *jsurlParser) at(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *jsurlParser) value() (any, error) {
	if !p.at('~') {
		return nil, fmt.Errorf("want ~ at %d of %q", p.i, p.s)
	}
	p.i++
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("value missing at the end")
	}
	switch c := p.s[p.i]; {
	case c == '(':
		p.i++
		if p.at('~') { // an array
			arr := []any{}
			if p.i+1 < len(p.s) && p.s[p.i+1] == ')' {
				p.i++ // ~(~) is the empty array
			} else {
				for p.at('~') {
					v, err := p.value()
					if err != nil {
						return nil, err
					}
					arr = append(arr, v)
				}
			}
			if !p.at(')') {
				return nil, fmt.Errorf("array not closed at %d", p.i)
			}
			p.i++
			return arr, nil
		}
		obj := map[string]any{}
		for !p.at(')') {
			key, err := p.str()
			if err != nil {
				return nil, err
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			obj[key] = v
			if !p.at('~') {
				break
			}
			p.i++
		}
		if !p.at(')') {
			return nil, fmt.Errorf("object not closed at %d", p.i)
		}
		p.i++
		return obj, nil
	case c == '\'':
		p.i++
		return p.str()
	default:
		beg := p.i
		for p.i < len(p.s) && p.s[p.i] != '~' && p.s[p.i] != ')' {
			p.i++
		}
		tok := p.s[beg:p.i]
		switch tok {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		return strconv.ParseFloat(tok, 64)
	}
}

// str reads a string body up to ~ or ): *hh is a code unit up to U+00FF, **hhhh any UTF-16
// unit, ! is '$'.
func (p *jsurlParser) str() (string, error) {
	var units []uint16
	for p.i < len(p.s) && p.s[p.i] != '~' && p.s[p.i] != ')' {
		switch c := p.s[p.i]; c {
		case '*':
			n := 2
			if p.i+1 < len(p.s) && p.s[p.i+1] == '*' {
				n, p.i = 4, p.i+1
			}
			if p.i+1+n > len(p.s) {
				return "", fmt.Errorf("short escape at %d", p.i)
			}
			u, err := strconv.ParseUint(p.s[p.i+1:p.i+1+n], 16, 16)
			if err != nil {
				return "", fmt.Errorf("bad escape at %d: %w", p.i, err)
			}
			units = append(units, uint16(u))
			p.i += 1 + n
		case '!':
			units = append(units, '$')
			p.i++
		default:
			r, w := utf8.DecodeRuneInString(p.s[p.i:])
			units = append(units, utf16.Encode([]rune{r})...)
			p.i += w
		}
	}
	return string(utf16.Decode(units)), nil
}

// TestDecodeConsoleURLs proves the decoder against links the console itself made: the
// older double-encoded form and the current one.
func TestDecodeConsoleURLs(t *testing.T) {
	cases := []struct {
		name   string
		url    string
		query  string
		source []any
		extra  map[string]any
	}{
		{
			name:   "2021 console, double-encoded",
			url:    "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights$3FqueryDetail$3D$257E$2528end$257E$25272021-07-18T20*3a59*3a59.000Z$257Estart$257E$25272021-07-15T21*3a00*3a00.000Z$257EtimeType$257E$2527ABSOLUTE$257Etz$257E$2527Local$257EeditorString$257E$2527fields*20*40timestamp*2c*20*40message*0a*7c*20sort*20*40timestamp*20desc*0a*7c*20filter*20*40message*20*3d*7e*20*22Exception*22*0a*7c*20limit*20200$257EisLiveTail$257Efalse$257EqueryId$257E$2527abc$257Esource$257E$2528$257E$2527*2faws*2flambda*2fmy-fn$2529$2529$26tab$3Dlogs",
			query:  "fields @timestamp, @message\n| sort @timestamp desc\n| filter @message =~ \"Exception\"\n| limit 200",
			source: []any{"/aws/lambda/my-fn"},
			extra:  map[string]any{"end": "2021-07-18T20:59:59.000Z", "timeType": "ABSOLUTE", "isLiveTail": false},
		},
		{
			name:   "2025 console",
			url:    "https://console.aws.amazon.com/cloudwatch/home?region=us-west-2#logsV2:logs-insights$3FqueryDetail$3D~(end~'2025-05-30T05*3a00*3a00.000Z~start~'2025-05-30T04*3a00*3a00.000Z~timeType~'ABSOLUTE~tz~'LOCAL~editorString~'fields*20*40timestamp*2c*20*40message*2c*20*40logStream*2c*20*40log*0a*7c*20sort*20*40timestamp*20desc*0a*7c*20limit*2010000~queryId~'66cfc23a-37bd-44b6-b0fd-dd12d4a40cdc~source~(~'arn*3aaws*3alogs*3aus-west-2*3a123456789012*3alog-group*3aprover)~lang~'CWLI)",
			query:  "fields @timestamp, @message, @logStream, @log\n| sort @timestamp desc\n| limit 10000",
			source: []any{"arn:aws:logs:us-west-2:123456789012:log-group:prover"},
			extra:  map[string]any{"start": "2025-05-30T04:00:00.000Z", "lang": "CWLI"},
		},
		{
			name:   "relative window, as widely generated",
			url:    "https://us-west-2.console.aws.amazon.com/cloudwatch/home?region=us-west-2#logsV2:logs-insights$3FqueryDetail$3D~(end~0~start~-3600~timeType~'RELATIVE~unit~'seconds~editorString~'fields*20*40timestamp~source~(~'*2faws*2flambda*2ffn))",
			query:  "fields @timestamp",
			source: []any{"/aws/lambda/fn"},
			extra:  map[string]any{"end": 0.0, "start": -3600.0, "unit": "seconds"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := decodeInsightsURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if d["editorString"] != tc.query {
				t.Errorf("editorString = %q, want %q", d["editorString"], tc.query)
			}
			if !reflect.DeepEqual(d["source"], tc.source) {
				t.Errorf("source = %#v, want %#v", d["source"], tc.source)
			}
			for k, want := range tc.extra {
				if d[k] != want {
					t.Errorf("%s = %#v, want %#v", k, d[k], want)
				}
			}
		})
	}
}

// TestInsightsRoundTrip encodes queries full of what the console's encoding must survive
// and decodes them back to the original.
func TestInsightsRoundTrip(t *testing.T) {
	end := time.Date(2026, 11, 27, 3, 12, 0, 0, time.UTC)
	cases := []struct {
		name   string
		query  string
		groups []string
		window time.Duration
		end    time.Time
	}{
		{"runbook crash lines", "fields @timestamp, @message\n| filter @message like /(?i)(fatal|panic|crash)/\n| sort @timestamp desc", []string{"/ecs/arrakis-staging/ingestor"}, time.Hour, time.Time{}},
		{"JSURL's own syntax in the query", "filter @message like '~(x)~' and msg != \"*!$%&#?=+\"", []string{"/a", "/b"}, 15 * time.Minute, time.Time{}},
		{"multi-byte", "filter @message like /ünïcødé 日本語 🚀/", []string{"/ecs/ß"}, 5 * time.Minute, end},
		{"tabs and CRLF", "fields @message\r\n|\tlimit 5", []string{"g"}, time.Hour, end},
		{"empty log group name", "fields @message", []string{""}, time.Hour, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			links := Links(LinkParams{Region: "eu-west-1", LogGroups: tc.groups, Query: tc.query, Window: tc.window, End: tc.end})
			if len(links) != 1 {
				t.Fatalf("got %d links, want 1", len(links))
			}
			u := links[0].URL
			if _, err := url.Parse(u); err != nil {
				t.Fatalf("not a URL: %v", err)
			}
			if !strings.HasPrefix(u, "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights$3FqueryDetail$3D~(") {
				t.Errorf("unexpected prefix: %s", u)
			}
			// Only characters that survive chat clients and URL parsers unaltered.
			if i := strings.IndexFunc(u, func(r rune) bool {
				return !(r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.~()'*$:/?=#%&", r)))
			}); i >= 0 {
				t.Errorf("URL has %q at %d", u[i], i)
			}
			d, err := decodeInsightsURL(u)
			if err != nil {
				t.Fatal(err)
			}
			if d["editorString"] != tc.query {
				t.Errorf("editorString = %q, want %q", d["editorString"], tc.query)
			}
			var want []any
			for _, g := range tc.groups {
				want = append(want, g)
			}
			if !reflect.DeepEqual(d["source"], want) {
				t.Errorf("source = %#v, want %#v", d["source"], want)
			}
			if tc.end.IsZero() {
				if d["timeType"] != "RELATIVE" || d["start"] != -tc.window.Seconds() || d["end"] != 0.0 || d["unit"] != "seconds" {
					t.Errorf("relative window decoded as %v", d)
				}
			} else {
				const iso = "2006-01-02T15:04:05.000Z"
				if d["timeType"] != "ABSOLUTE" || d["end"] != tc.end.Format(iso) || d["start"] != tc.end.Add(-tc.window).Format(iso) || d["tz"] != "UTC" {
					t.Errorf("absolute window decoded as %v", d)
				}
			}
		})
	}
}

func TestLinks(t *testing.T) {
	const cw = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
	t.Run("all", func(t *testing.T) {
		links := Links(LinkParams{
			Region: "us-east-1", Cluster: "arrakis-staging-cluster", Service: "arrakis-staging-ingestor",
			LogGroups: []string{"/ecs/arrakis-staging/ingestor"}, AlarmName: "No Ingestor Tasks Running/x?",
			Dashboard: "arrakis-staging-gateway-proxy",
		})
		if len(links) != 4 {
			t.Fatalf("got %d links, want 4: %v", len(links), links)
		}
		want := []Link{
			{"ECS service arrakis-staging-ingestor", "https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/arrakis-staging-cluster/services/arrakis-staging-ingestor/health?region=us-east-1"},
			{"Logs Insights: /ecs/arrakis-staging/ingestor (last 1h)", links[1].URL},
			{"Alarm No Ingestor Tasks Running/x?", cw + "#alarmsV2:alarm/No%20Ingestor%20Tasks%20Running%2Fx%3F"},
			{"Dashboard arrakis-staging-gateway-proxy", cw + "#dashboards/dashboard/arrakis-staging-gateway-proxy"},
		}
		if !reflect.DeepEqual(links, want) {
			t.Errorf("got  %v\nwant %v", links, want)
		}
		d, err := decodeInsightsURL(links[1].URL)
		if err != nil {
			t.Fatal(err)
		}
		if d["editorString"] != DefaultInsightsQuery || d["start"] != -3600.0 {
			t.Errorf("default query or window not used: %v", d)
		}
	})
	t.Run("only what is given", func(t *testing.T) {
		links := Links(LinkParams{Cluster: "c", AlarmName: "A"}) // no service: no ECS link
		if len(links) != 1 || links[0].URL != cw+"#alarmsV2:alarm/A" {
			t.Errorf("got %v", links)
		}
		if got := Links(LinkParams{}); len(got) != 0 {
			t.Errorf("empty params gave %v", got)
		}
	})
}

func TestJSURLEscape(t *testing.T) {
	cases := []struct{ in, want string }{
		{"abc-XYZ_0.9", "abc-XYZ_0.9"},
		{"a b", "a*20b"},
		{"/ecs/x", "*2fecs*2fx"},
		{"~()'!*$", "*7e*28*29*27*21*2a*24"},
		{"é", "*e9"},
		{"日", "**65e5"},
		{"🚀", "**d83d**de80"},
	}
	for _, tc := range cases {
		if got := jsurlEscape(tc.in); got != tc.want {
			t.Errorf("jsurlEscape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
