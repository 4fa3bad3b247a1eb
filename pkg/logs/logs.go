// Package logs pulls bounded excerpts from CloudWatch Logs (FilterLogEvents), the way the
// runbook's `aws logs filter-log-events` commands do, but with a cap on what is kept: a
// crash-looping service can write megabytes in an hour.
package logs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// API is the one CloudWatch Logs operation used here.
type API interface {
	FilterLogEvents(ctx context.Context, in *cwl.FilterLogEventsInput, optFns ...func(*cwl.Options)) (*cwl.FilterLogEventsOutput, error)
}

var _ API = (*cwl.Client)(nil)

// Client reads log groups.
type Client struct{ API API }

// Line is one matching log event.
type Line struct {
	At      time.Time
	Stream  string
	Message string
}

// Excerpt is a bounded set of matching lines.
type Excerpt struct {
	Group     string
	Pattern   string
	Lines     []Line // newest last, as CloudWatch returns them
	Truncated bool   // more lines matched than were kept
}

// Limits bound an excerpt.
type Limits struct {
	MaxLines     int // lines kept (default 50)
	MaxLineBytes int // bytes kept per line (default 300)
	MaxPages     int // FilterLogEvents pages read (default 5)
}

func (l Limits) withDefaults() Limits {
	if l.MaxLines <= 0 {
		l.MaxLines = 50
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = 300
	}
	if l.MaxPages <= 0 {
		l.MaxPages = 5
	}
	return l
}

// Filter returns the lines of group matching pattern (CloudWatch filter syntax, e.g.
// `?fatal ?panic ?crash`) between start and end. When more lines match than MaxLines, the
// most recent ones are kept: they say most about the current state.
func (c Client) Filter(ctx context.Context, group, pattern string, start, end time.Time, lim Limits) (Excerpt, error) {
	lim = lim.withDefaults()
	ex := Excerpt{Group: group, Pattern: pattern}
	in := &cwl.FilterLogEventsInput{
		LogGroupName: &group, StartTime: aws.Int64(start.UnixMilli()), EndTime: aws.Int64(end.UnixMilli()),
		Limit: aws.Int32(int32(min(10000, lim.MaxLines*4))),
	}
	if pattern != "" {
		in.FilterPattern = &pattern
	}
	for page := 0; page < lim.MaxPages; page++ {
		out, err := c.API.FilterLogEvents(ctx, in)
		if err != nil {
			return ex, fmt.Errorf("filter log group %s for %q: %w", group, pattern, err)
		}
		for _, e := range out.Events {
			ex.Lines = append(ex.Lines, Line{
				At:      time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC(),
				Stream:  aws.ToString(e.LogStreamName),
				Message: clip(strings.TrimRight(aws.ToString(e.Message), "\r\n"), lim.MaxLineBytes),
			})
		}
		if len(ex.Lines) > lim.MaxLines {
			ex.Lines = ex.Lines[len(ex.Lines)-lim.MaxLines:]
			ex.Truncated = true
		}
		if out.NextToken == nil || aws.ToString(out.NextToken) == "" {
			return ex, nil
		}
		in.NextToken = out.NextToken
	}
	ex.Truncated = true // stopped paging: there may be more
	return ex, nil
}

// Contains reports whether any line contains one of the substrings (case-insensitive).
func (e Excerpt) Contains(subs ...string) (Line, bool) {
	for i := len(e.Lines) - 1; i >= 0; i-- {
		msg := strings.ToLower(e.Lines[i].Message)
		for _, s := range subs {
			if strings.Contains(msg, strings.ToLower(s)) {
				return e.Lines[i], true
			}
		}
	}
	return Line{}, false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // do not cut a UTF-8 sequence in half
		n--
	}
	return s[:n] + "…"
}
