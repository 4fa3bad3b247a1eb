package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/pg"
	"github.com/arrakis/gp-remediation/pkg/queuedepth"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
)

// Connections opens the broker, its management API and the database with the credentials in
// Secrets Manager (runbook: `arrakis-{env}/rabbitmq` holds username, password and
// management_url). A fresh connection per call: see queuedepth.Connections.
func (a *App) Connections() queuedepth.Connections { return connections{app: a} }

type connections struct{ app *App }

var _ queuedepth.Connections = connections{}

// Broker dials AMQP (AMQPS on Amazon MQ). The secret's amqp_url wins; without it the URL is
// derived from management_url, as Amazon MQ serves both on the same host (AMQPS on 5671).
func (c connections) Broker(ctx context.Context) (*rabbit.Client, error) {
	f, err := c.app.Secrets.Fields(ctx, c.app.Config.RabbitSecret)
	if err != nil {
		return nil, err
	}
	target, err := AMQPURL(f["amqp_url"], f["management_url"], c.app.Config.VirtualHost)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", c.app.Config.RabbitSecret, err)
	}
	return rabbit.Dial(ctx, rabbit.Endpoint{URL: target, Username: f["username"], Password: f["password"],
		ConnectionName: "gp-remediation/" + c.app.Function})
}

// Management is the RabbitMQ management API client.
func (c connections) Management(ctx context.Context) (*rabbit.Management, error) {
	f, err := c.app.Secrets.Fields(ctx, c.app.Config.RabbitSecret)
	if err != nil {
		return nil, err
	}
	if f["management_url"] == "" {
		return nil, fmt.Errorf("secret %s has no management_url", c.app.Config.RabbitSecret)
	}
	return rabbit.NewManagement(f["management_url"], f["username"], f["password"], c.app.HTTP)
}

// Database connects to PostgreSQL with the database secret's fields.
func (c connections) Database(ctx context.Context) (*pg.Client, error) {
	f, err := c.app.Secrets.Fields(ctx, c.app.Config.DatabaseSecret)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(f)
	s, err := pg.ParseSecret(string(raw))
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", c.app.Config.DatabaseSecret, err)
	}
	return pg.Connect(ctx, s, pg.Options{})
}

// AMQPURL picks the broker URL: amqpURL if set; else amqps on management URL's host, port
// 5671. A URL without a virtual host gets vhost.
func AMQPURL(amqpURL, managementURL, vhost string) (string, error) {
	raw := amqpURL
	if raw == "" {
		m, err := url.Parse(managementURL)
		if err != nil || m.Hostname() == "" {
			return "", fmt.Errorf("neither amqp_url nor a usable management_url")
		}
		raw = "amqps://" + m.Hostname() + ":5671/"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") {
		return "", fmt.Errorf("amqp_url is not an amqp:// or amqps:// URL")
	}
	if strings.Trim(u.Path, "/") == "" && vhost != "" && vhost != "/" {
		u.Path = "/" + vhost
		u.RawPath = "/" + url.PathEscape(vhost)
	}
	return u.String(), nil
}
