// Package sample prepares a sample event of the approve function (events/approve) for an
// invocation. The samples are function URL events as Slack and Discord send them, signed at
// the moment they were written; the function refuses a signature more than five minutes old,
// so each invocation signs the sample again, now, with the keys it is given: the sandbox's
// for `make invoke`, an environment's Slack signing secret for `make invoke-remote`. A sample
// without signature headers is sent as it is: it shows the refusal of an unsigned request.
package sample

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/arrakis/gp-remediation/pkg/interact"
)

// Platform says whose signature a sample carries.
type Platform string

const (
	Slack    Platform = "slack"
	Discord  Platform = "discord"
	Unsigned Platform = "unsigned"
)

// Keys sign samples. A Discord interaction can only be signed with the application's private
// key, which only Discord holds for a real application: DiscordKey is the sandbox's.
type Keys struct {
	SlackSigningSecret string
	DiscordKey         ed25519.PrivateKey
}

// ErrNoKey says the sample's platform has no key here.
var ErrNoKey = errors.New("no key to sign the sample with")

// Prepare returns the sample event signed at time at. With slackResponseURL set, a Slack
// sample's response_url (a form field, or a field of the interaction payload) is replaced by
// it first, so the function's answer reaches a stand-in rather than a sample address.
func Prepare(raw []byte, keys Keys, at time.Time, slackResponseURL string) ([]byte, Platform, error) {
	ev, platform, err := decode(raw)
	if err != nil {
		return nil, "", err
	}
	body := []byte(ev.Body)
	var headers map[string]string
	switch platform {
	case Slack:
		if keys.SlackSigningSecret == "" {
			return nil, platform, fmt.Errorf("%w: a Slack sample needs the signing secret", ErrNoKey)
		}
		if slackResponseURL != "" {
			if body, err = withResponseURL(body, slackResponseURL); err != nil {
				return nil, platform, err
			}
		}
		headers = interact.SignSlack(keys.SlackSigningSecret, body, at)
	case Discord:
		if len(keys.DiscordKey) != ed25519.PrivateKeySize {
			return nil, platform, fmt.Errorf("%w: a Discord interaction is signed with the application's private key, which only Discord holds (the sandbox signs its own)", ErrNoKey)
		}
		headers = interact.SignDiscord(keys.DiscordKey, body, at)
	default:
		return raw, platform, nil
	}
	ev.Headers, ev.Body = headers, string(body)
	out, err := json.Marshal(ev)
	return out, platform, err
}

// Detect says whose signature a sample carries, to know which key it needs.
func Detect(raw []byte) (Platform, error) {
	_, p, err := decode(raw)
	return p, err
}

// decode reads a sample and the platform its signature headers name.
func decode(raw []byte) (events.LambdaFunctionURLRequest, Platform, error) {
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, "", fmt.Errorf("not a function URL event: %w", err)
	}
	if ev.IsBase64Encoded {
		return ev, "", errors.New("a base64 body cannot be re-signed here; write the sample's body as text")
	}
	req := interact.Request{Headers: ev.Headers}
	switch {
	case req.Header(interact.HeaderSlackSignature) != "":
		return ev, Slack, nil
	case req.Header(interact.HeaderDiscordSignature) != "":
		return ev, Discord, nil
	}
	return ev, Unsigned, nil
}

// withResponseURL sets response_url in a Slack form body: a slash command carries it as a form
// field, an interaction as a field of the JSON in the payload field.
func withResponseURL(body []byte, responseURL string) ([]byte, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("a Slack sample's body is not a form: %w", err)
	}
	if p := form.Get("payload"); p != "" {
		var payload map[string]any
		if err := json.Unmarshal([]byte(p), &payload); err != nil {
			return nil, fmt.Errorf("a Slack sample's payload is not JSON: %w", err)
		}
		payload["response_url"] = responseURL
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		form.Set("payload", string(b))
	} else {
		form.Set("response_url", responseURL)
	}
	return []byte(form.Encode()), nil
}
