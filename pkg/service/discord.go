package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/arrakis/gp-remediation/pkg/discord"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/secrets"
)

// DiscordBudget reads the ingestor's gateway session budget.
type DiscordBudget interface {
	SessionBudget(ctx context.Context) (DiscordEvidence, error)
}

// DiscordEvidence is the ingestor's gateway session budget, read before any restart: each
// restart opens new gateway sessions, and Discord allows only so many per day.
type DiscordEvidence struct {
	Checked      bool
	Unauthorized bool // Discord answered 401: the stored bot token is invalid
	Remaining    int
	Total        int
	ResetAfter   time.Duration
}

// DiscordBlock returns the rule that forbids an ingestor rollout, or the zero Rule.
func DiscordBlock(d DiscordEvidence, probeErr string, min int) guard.Rule {
	switch {
	case probeErr != "":
		return guard.Rule{Code: guard.RuleDiscordBudgetUnknown, Detail: "could not read the gateway session budget (" + probeErr + "); not restarting blind"}
	case !d.Checked:
		return guard.Rule{Code: guard.RuleDiscordBudgetUnknown, Detail: "the gateway session budget was not checked"}
	case d.Unauthorized:
		return guard.Rule{Code: guard.RuleDiscordTokenInvalid, Detail: "Discord rejects the bot token; a restart cannot log in"}
	case d.Remaining < min:
		return guard.Rule{Code: guard.RuleDiscordBudget, Detail: fmt.Sprintf("only %d gateway session starts left (minimum %d); the budget resets in %s",
			d.Remaining, min, playbook.Ago(d.ResetAfter))}
	}
	return guard.Rule{}
}

// DiscordLine is the evidence line for the budget ("" when it was not read).
func DiscordLine(d DiscordEvidence) string {
	switch {
	case !d.Checked:
		return ""
	case d.Unauthorized:
		return "Discord: GET /gateway/bot answered 401 Unauthorized for the stored bot token"
	default:
		return fmt.Sprintf("Discord: %d of %d gateway session starts left, resets in %s", d.Remaining, d.Total, playbook.Ago(d.ResetAfter))
	}
}

// SecretDiscord reads the budget with the bot token from Secrets Manager (the secret's
// "token" field).
type SecretDiscord struct {
	Secrets *secrets.Store
	Secret  string // e.g. arrakis-staging/discord
	APIURL  string // e.g. https://discord.com/api/v10
	HTTP    *http.Client
}

var _ DiscordBudget = SecretDiscord{}

// SessionBudget implements DiscordBudget. A 401 is evidence (the token is invalid), not a
// failed probe.
func (d SecretDiscord) SessionBudget(ctx context.Context) (DiscordEvidence, error) {
	token, err := d.Secrets.Field(ctx, d.Secret, "token")
	if err != nil {
		return DiscordEvidence{}, err
	}
	c := discord.Client{BaseURL: d.APIURL, HTTP: d.HTTP}
	b, err := c.GatewayBot(ctx, token)
	switch {
	case errors.Is(err, discord.ErrUnauthorized):
		return DiscordEvidence{Checked: true, Unauthorized: true}, nil
	case err != nil:
		return DiscordEvidence{}, err
	}
	return DiscordEvidence{Checked: true, Remaining: b.Remaining, Total: b.Total, ResetAfter: b.ResetAfter}, nil
}
