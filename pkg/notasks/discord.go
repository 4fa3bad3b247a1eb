package notasks

import (
	"context"
	"errors"
	"net/http"

	"github.com/arrakis/gp-remediation/pkg/discord"
	"github.com/arrakis/gp-remediation/pkg/secrets"
)

// SecretDiscord reads the ingestor's gateway session budget with the bot token from Secrets
// Manager (the secret's "token" field).
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
