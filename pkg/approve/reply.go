package approve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/interact"
	"github.com/arrakis/gp-remediation/pkg/render"
)

// HTTPReplier answers through Slack's response_url and Discord's interaction webhook. Neither
// needs a bot token: the request carried what authorizes the answer (for 30 and 15 minutes).
type HTTPReplier struct {
	Client *http.Client
	// DiscordAPIURL is Discord's API base (https://discord.com/api/v10).
	DiscordAPIURL string
}

// Reply implements Replier. An edit (Replace) changes the message that was clicked, or the
// command's placeholder; otherwise it posts a new message (ephemeral when asked).
func (h HTTPReplier) Reply(ctx context.Context, to Target, r render.Reply) error {
	switch to.Platform {
	case interact.PlatformSlack:
		if to.SlackResponseURL == "" {
			return errors.New("slack: the request carried no response_url")
		}
		body, err := render.SlackReply(r)
		if err != nil {
			return err
		}
		return h.send(ctx, http.MethodPost, to.SlackResponseURL, body, "slack response_url")
	case interact.PlatformDiscord:
		if to.DiscordApplicationID == "" || to.DiscordToken == "" {
			return errors.New("discord: the interaction carried no application id or token")
		}
		body, err := render.DiscordReply(r)
		if err != nil {
			return err
		}
		base := strings.TrimRight(h.DiscordAPIURL, "/") + "/webhooks/" + url.PathEscape(to.DiscordApplicationID) + "/" + url.PathEscape(to.DiscordToken)
		if r.Replace {
			return h.send(ctx, http.MethodPatch, base+"/messages/@original", body, "discord interaction edit")
		}
		return h.send(ctx, http.MethodPost, base, body, "discord interaction follow-up")
	}
	return fmt.Errorf("no reply for platform %q", to.Platform)
}

// send posts JSON. Its errors name what was called and the status, never the URL: the URL
// holds the response_url or the token.
func (h HTTPReplier) send(ctx context.Context, method, u string, body []byte, what string) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: malformed request", what)
	}
	req.Header.Set("Content-Type", "application/json")
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is secret-like
		}
		return fmt.Errorf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d", what, resp.StatusCode)
	}
	return nil
}
