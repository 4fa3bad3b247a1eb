package cases

import (
	"strings"
	"testing"
	"time"
)

func TestRetimeKeepsEverySpelling(t *testing.T) {
	in := `{"StateChangeTime":"2026-11-27T03:12:41.471+0000","Timestamp":"2026-11-27T03:12:41.512Z","reason":"[37.0 (27/11/26 03:11:00)]","time":"2026-11-27T03:12:41Z"}`
	got := string(Retime([]byte(in), 36*time.Hour+30*time.Minute))
	for _, want := range []string{`"2026-11-28T15:42:41.471+0000"`, `"2026-11-28T15:42:41.512Z"`, `(28/11/26 15:41:00)`, `"2026-11-28T15:42:41Z"`} {
		if !strings.Contains(got, want) {
			t.Errorf("retimed %s\nlacks %s", got, want)
		}
	}
	if string(Retime([]byte(in), 0)) != in {
		t.Error("a zero delta changed the payload")
	}
}
