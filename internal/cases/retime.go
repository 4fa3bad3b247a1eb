package cases

import (
	"regexp"
	"time"
)

// SampleTime is when the sample events' alarms changed state (their StateChangeTime). Runs
// move every time in an event by the same amount, so the alarm fires "now", beside evidence
// the sandbox makes for now, and the events of one case keep their order and spacing.
var SampleTime = time.Date(2026, 11, 27, 3, 12, 41, 471_000_000, time.UTC)

// The time spellings CloudWatch uses in alarm notifications: StateChangeTime
// ("2026-11-27T03:12:41.471+0000"), SNS and EventBridge timestamps ("…41.512Z") and the
// datapoints in NewStateReason ("27/11/26 03:11:00").
var (
	isoTime    = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{4})`)
	reasonTime = regexp.MustCompile(`\b\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\b`)
)

// Retime moves every time written in payload by delta, keeping each one's spelling.
func Retime(payload []byte, delta time.Duration) []byte {
	if delta == 0 {
		return payload
	}
	out := isoTime.ReplaceAllFunc(payload, func(b []byte) []byte {
		for _, layout := range []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05-0700"} {
			if t, err := time.Parse(layout, string(b)); err == nil {
				return []byte(t.Add(delta).In(t.Location()).Format(layout))
			}
		}
		return b
	})
	return reasonTime.ReplaceAllFunc(out, func(b []byte) []byte {
		const layout = "02/01/06 15:04:05"
		if t, err := time.Parse(layout, string(b)); err == nil {
			return []byte(t.Add(delta).Format(layout))
		}
		return b
	})
}
