package playbook

import (
	"testing"
	"time"
)

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{25 * time.Minute: "25m", 185 * time.Minute: "3h05m", 144 * time.Hour: "6d0h", 50 * time.Hour: "2d2h"} {
		if got := Ago(d); got != want {
			t.Errorf("Ago(%s) = %q, want %q", d, got, want)
		}
	}
}
