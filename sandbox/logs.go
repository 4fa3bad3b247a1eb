package sandbox

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// CloudWatch Logs FilterLogEvents, with the filter-pattern subset the functions use.

type logEvent struct {
	stream    string
	at        time.Time
	ingested  time.Time
	message   string
	seq       uint64
	eventID   string
	groupName string
}

type logGroup struct {
	name      string
	createdAt time.Time
	events    []logEvent // kept sorted by (at, seq)
}

// LogEvent is one log line as the sandbox stores it.
type LogEvent struct {
	Stream  string    `json:"stream"`
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

// appendLog stores one event, creating the group when needed. Callers hold s.mu.
func (s *Sandbox) appendLog(group, stream string, at time.Time, msg string) {
	g := s.logGroups[group]
	if g == nil {
		g = &logGroup{name: group, createdAt: at}
		s.logGroups[group] = g
	}
	s.logSeq++
	e := logEvent{stream: stream, at: at, ingested: at.Add(350 * time.Millisecond), message: msg, seq: s.logSeq, groupName: group}
	// The event id is a 56-digit decimal string, as CloudWatch Logs returns them.
	e.eventID = fmt.Sprintf("%020d%018d%018d", at.UnixMilli(), s.logSeq, fnv64(msg)%1e18)
	i, _ := slices.BinarySearchFunc(g.events, e, func(a, b logEvent) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	g.events = slices.Insert(g.events, i, e)
}

// AppendLog adds a log line to a group (created if missing) at time at.
func (s *Sandbox) AppendLog(group, stream string, at time.Time, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLog(group, stream, at, message)
}

// CreateLogGroup creates an empty log group (a no-op if it exists).
func (s *Sandbox) CreateLogGroup(group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logGroups[group] == nil {
		s.logGroups[group] = &logGroup{name: group, createdAt: s.now()}
	}
}

// Logs returns every event of a group, oldest first.
func (s *Sandbox) Logs(group string) []LogEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.logGroups[group]
	if g == nil {
		return nil
	}
	out := make([]LogEvent, len(g.events))
	for i, e := range g.events {
		out[i] = LogEvent{Stream: e.stream, Time: e.at, Message: e.message}
	}
	return out
}

// FilterPattern is a parsed CloudWatch Logs filter pattern for unstructured log events.
// Supported: the empty pattern (everything), terms (`ERROR`; several terms must all
// appear), optional terms (`?ERROR ?WARN`: at least one must appear), quoted phrases
// (`"out of memory"`, also `?"a b"`), and exclusions (`-DEBUG`). Matching is case-sensitive
// substring matching, as CloudWatch does for unstructured events. JSON (`{ $.x = … }`),
// space-delimited (`[a, b]`) and regular-expression (`%…%`) patterns are rejected.
type FilterPattern struct {
	required, optional, excluded []string
}

// ParseFilterPattern parses a filter pattern.
func ParseFilterPattern(p string) (FilterPattern, error) {
	var fp FilterPattern
	p = strings.TrimSpace(p)
	if p == "" {
		return fp, nil
	}
	switch p[0] {
	case '{':
		return fp, fmt.Errorf("JSON filter patterns are not supported by the sandbox")
	case '[':
		return fp, fmt.Errorf("space-delimited filter patterns are not supported by the sandbox")
	}
	i := 0
	for i < len(p) {
		for i < len(p) && (p[i] == ' ' || p[i] == '\t') {
			i++
		}
		if i >= len(p) {
			break
		}
		kind := byte(0)
		if p[i] == '?' || p[i] == '-' {
			kind = p[i]
			i++
		}
		var term string
		if i < len(p) && p[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(p) {
				ch := p[i]
				if ch == '\\' && i+1 < len(p) {
					b.WriteByte(p[i+1])
					i += 2
					continue
				}
				if ch == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(ch)
				i++
			}
			if !closed {
				return fp, fmt.Errorf("unterminated quoted phrase in filter pattern")
			}
			term = b.String()
		} else {
			j := i
			for j < len(p) && p[j] != ' ' && p[j] != '\t' {
				j++
			}
			term = p[i:j]
			i = j
			if len(term) >= 2 && term[0] == '%' && term[len(term)-1] == '%' {
				return fp, fmt.Errorf("regular-expression filter patterns are not supported by the sandbox")
			}
			if strings.ContainsAny(term, `"`) {
				return fp, fmt.Errorf("invalid character '\"' inside term %q", term)
			}
		}
		if term == "" {
			if kind != 0 {
				return fp, fmt.Errorf("operator %q without a term", string(kind))
			}
			continue
		}
		switch kind {
		case '?':
			fp.optional = append(fp.optional, term)
		case '-':
			fp.excluded = append(fp.excluded, term)
		default:
			fp.required = append(fp.required, term)
		}
	}
	return fp, nil
}

// Match reports whether a log message matches the pattern.
func (fp FilterPattern) Match(msg string) bool {
	for _, t := range fp.excluded {
		if strings.Contains(msg, t) {
			return false
		}
	}
	for _, t := range fp.required {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	if len(fp.optional) == 0 {
		return true
	}
	for _, t := range fp.optional {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}

type filteredEventJSON struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

type searchedStreamJSON struct {
	LogStreamName      string `json:"logStreamName"`
	SearchedCompletely bool   `json:"searchedCompletely"`
}

func (s *Sandbox) logsFilterLogEvents(c *awsCall) (any, *apiError) {
	var in struct {
		LogGroupName        string   `json:"logGroupName"`
		LogGroupIdentifier  string   `json:"logGroupIdentifier"`
		LogStreamNames      []string `json:"logStreamNames"`
		LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		FilterPattern       string   `json:"filterPattern"`
		NextToken           string   `json:"nextToken"`
		Limit               *int     `json:"limit"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	name := in.LogGroupName
	if in.LogGroupIdentifier != "" {
		if name != "" {
			return nil, errInvalidParam("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
		}
		name = in.LogGroupIdentifier
		if strings.HasPrefix(name, "arn:") {
			_, rest, _ := strings.Cut(name, ":log-group:")
			name = strings.TrimSuffix(rest, ":*")
		}
	}
	if name == "" {
		return nil, errInvalidParam("Either LogGroupName or LogGroupIdentifier must be specified.")
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, errInvalidParam("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	limit := 10000
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10000 {
			return nil, errInvalidParam("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000")
		}
		limit = *in.Limit
	}
	fp, err := ParseFilterPattern(in.FilterPattern)
	if err != nil {
		return nil, errInvalidParam("Invalid filter pattern: " + err.Error())
	}
	g := s.logGroups[name]
	if g == nil {
		return nil, errClient(http.StatusBadRequest, "ResourceNotFoundException", "The specified log group does not exist.")
	}
	query := fmt.Sprintf("FilterLogEvents|%s|%v|%s|%v|%v|%s", name, in.LogStreamNames, in.LogStreamNamePrefix, deref(in.StartTime), deref(in.EndTime), in.FilterPattern)
	start := 0
	if in.NextToken != "" {
		n, ok := parsePageToken(in.NextToken, query)
		if !ok {
			return nil, errInvalidParam("The specified nextToken is invalid.")
		}
		start = n
	}
	streams := map[string]bool{}
	var matched []filteredEventJSON
	for _, e := range g.events {
		if len(in.LogStreamNames) > 0 && !slices.Contains(in.LogStreamNames, e.stream) {
			continue
		}
		if in.LogStreamNamePrefix != "" && !strings.HasPrefix(e.stream, in.LogStreamNamePrefix) {
			continue
		}
		ms := e.at.UnixMilli()
		if in.StartTime != nil && ms < *in.StartTime {
			continue
		}
		if in.EndTime != nil && ms > *in.EndTime {
			continue
		}
		streams[e.stream] = true
		if !fp.Match(e.message) {
			continue
		}
		matched = append(matched, filteredEventJSON{
			LogStreamName: e.stream, Timestamp: ms, Message: e.message,
			IngestionTime: e.ingested.UnixMilli(), EventID: e.eventID,
		})
	}
	start = min(start, len(matched))
	end := min(start+limit, len(matched))
	out := struct {
		Events             []filteredEventJSON  `json:"events"`
		SearchedLogStreams []searchedStreamJSON `json:"searchedLogStreams"`
		NextToken          string               `json:"nextToken,omitempty"`
	}{Events: append([]filteredEventJSON{}, matched[start:end]...), SearchedLogStreams: []searchedStreamJSON{}}
	for _, st := range sortedKeys(streams) {
		out.SearchedLogStreams = append(out.SearchedLogStreams, searchedStreamJSON{LogStreamName: st, SearchedCompletely: true})
	}
	if end < len(matched) {
		out.NextToken = pageToken(query, end)
	}
	return out, nil
}

func deref(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
