// Package brokerdb opens the broker, its management API and the database with the
// credentials in Secrets Manager (runbook: `arrakis-{env}/rabbitmq` holds username, password
// and management_url). Only queue-depth and dlq link it, so the other functions carry no AMQP
// or PostgreSQL driver.
package brokerdb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/pg"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
	"github.com/arrakis/gp-remediation/pkg/secrets"
)

// Connections opens a fresh connection per call. It satisfies queuedepth.Connections and
// dlq.Connections (asserted in their wiring tests).
type Connections struct {
	Secrets  *secrets.Store
	Config   config.Config
	Function string // names the AMQP connection: gp-remediation/<function>
	HTTP     *http.Client
}

// Broker dials AMQP (AMQPS on Amazon MQ). The secret's amqp_url wins; without it the URL is
// derived from management_url, as Amazon MQ serves both on the same host (AMQPS on 5671).
func (c Connections) Broker(ctx context.Context) (*rabbit.Client, error) {
	f, err := c.Secrets.Fields(ctx, c.Config.RabbitSecret)
	if err != nil {
		return nil, err
	}
	target, err := AMQPURL(f["amqp_url"], f["management_url"], c.Config.VirtualHost)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", c.Config.RabbitSecret, err)
	}
	return rabbit.Dial(ctx, rabbit.Endpoint{URL: target, Username: f["username"], Password: f["password"],
		ConnectionName: "gp-remediation/" + c.Function})
}

// VirtualHost is the virtual host the AMQP connection uses: the path of the URL Broker dials
// (the secret's amqp_url when it names one), else the configured GPR_VHOST. The management
// API must be asked about the same virtual host the AMQP probes read.
func (c Connections) VirtualHost(ctx context.Context) (string, error) {
	f, err := c.Secrets.Fields(ctx, c.Config.RabbitSecret)
	if err != nil {
		return "", err
	}
	target, err := AMQPURL(f["amqp_url"], f["management_url"], c.Config.VirtualHost)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", c.Config.RabbitSecret, err)
	}
	return VirtualHostOf(target), nil
}

// VirtualHostOf is the virtual host an AMQP URL names ("/" when its path is empty), as the
// AMQP URI spec reads it: the path without its leading slash, percent-decoded.
func VirtualHostOf(amqpURL string) string {
	u, err := url.Parse(amqpURL)
	if err != nil || strings.TrimPrefix(u.Path, "/") == "" {
		return "/"
	}
	return strings.TrimPrefix(u.Path, "/")
}

// Management is the RabbitMQ management API client.
func (c Connections) Management(ctx context.Context) (*rabbit.Management, error) {
	f, err := c.Secrets.Fields(ctx, c.Config.RabbitSecret)
	if err != nil {
		return nil, err
	}
	if f["management_url"] == "" {
		return nil, fmt.Errorf("secret %s has no management_url", c.Config.RabbitSecret)
	}
	return rabbit.NewManagement(f["management_url"], f["username"], f["password"], c.HTTP)
}

// Database connects to PostgreSQL with the database secret's fields.
func (c Connections) Database(ctx context.Context) (*pg.Client, error) {
	f, err := c.Secrets.Fields(ctx, c.Config.DatabaseSecret)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(f)
	s, err := pg.ParseSecret(string(raw))
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", c.Config.DatabaseSecret, err)
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
