package service

import (
	"github.com/arrakis/gp-remediation/pkg/ecs"
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

func TestDeploymentOfNamesTheTaskDefinitionWhenNoDeploymentIsReturned(t *testing.T) {
	td := "arn:aws:ecs:eu-west-1:1:task-definition/arrakis-staging-ingestor:7"
	tests := []struct {
		name string
		svc  ecs.Service
		want string
	}{
		{"primary deployment", ecs.Service{TaskDefinition: td, Deployments: []ecs.Deployment{{ID: "ecs-svc/1", Status: "PRIMARY", TaskDefinition: td}}},
			"deployment ecs-svc/1 of arrakis-staging-ingestor:7"},
		{"no deployments returned", ecs.Service{TaskDefinition: td}, "deployment of arrakis-staging-ingestor:7 (deployment id not returned)"},
		{"nothing returned", ecs.Service{}, "deployment (neither deployment nor task definition returned)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := deploymentOf(tc.svc)
			if got != tc.want || strings.Contains(got, "  ") {
				t.Errorf("deploymentOf = %q, want %q", got, tc.want)
			}
		})
	}
}
