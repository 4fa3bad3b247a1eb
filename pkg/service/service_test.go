package service

import (
	"strings"
	"testing"
	"time"
)

func TestDiscordBlock(t *testing.T) {
	tests := []struct {
		name string
		d    DiscordEvidence
		err  string
		want string
	}{
		{"ok", DiscordEvidence{Checked: true, Remaining: 900, Total: 1000}, "", ""},
		{"probe failed", DiscordEvidence{}, "timeout", "discord-budget-unknown"},
		{"not checked", DiscordEvidence{}, "", "discord-budget-unknown"},
		{"unauthorized", DiscordEvidence{Checked: true, Unauthorized: true}, "", "discord-token-invalid"},
		{"low", DiscordEvidence{Checked: true, Remaining: 4, ResetAfter: 90 * time.Minute}, "", "discord-budget: only 4"},
		{"at minimum", DiscordEvidence{Checked: true, Remaining: 5}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DiscordBlock(tc.d, tc.err, 5).String()
			if (tc.want == "") != (got == "") || !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want prefix %q", got, tc.want)
			}
		})
	}
}
