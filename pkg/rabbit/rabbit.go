// Package rabbit is the RabbitMQ side of the remediation functions: queue inspection over AMQP
// (ready count, consumers), the management HTTP API (queue type and arguments, rates, consumer
// and connection details), a bounded non-destructive peek at dead-lettered messages with
// x-death parsing and secret redaction, grouping and classification of what was seen, and a
// no-loss replay (or parking) of dead letters with publisher confirms and mandatory routing.
//
// The invariants the package keeps, whatever fails and wherever the connection drops:
//   - a message is removed from the dead-letter queue only after the broker confirmed its copy
//     was routed (positive confirm and no basic.return), so nothing is ever lost;
//   - duplicates are bounded by the in-flight window of one run;
//   - nothing is purged, and a peek leaves depth and order as they were;
//   - no password, token or webhook URL appears in an error, a log line or a report.
package rabbit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/arrakis/gp-remediation/pkg/scrub"
)

// Defaults for Dial.
const (
	// DefaultHeartbeat keeps a dead (blackholed) connection noticed within ~2 heartbeats, well
	// inside a Lambda timeout; amqp091's own default (10 s) takes ~15-20 s to notice.
	DefaultHeartbeat = 5 * time.Second
	// DefaultDialTimeout bounds TCP connect + TLS + AMQP handshake when ctx has no deadline.
	DefaultDialTimeout = 10 * time.Second
	// DefaultConnectionName is advertised when Endpoint.ConnectionName is empty.
	DefaultConnectionName = "gp-remediation"
)

// Endpoint says how to reach the broker. Username and Password come from the secret; when set
// they win over credentials embedded in URL. The password never leaves this package in an
// error or a log line.
type Endpoint struct {
	// URL is amqp://host:5672/vhost or amqps://host:5671/vhost (Amazon MQ). Credentials in it
	// are accepted but Username/Password are preferred.
	URL      string
	Username string
	Password string
	// TLS is used for amqps; nil means the system roots with TLS 1.2 at least.
	TLS *tls.Config
	// ConnectionName is shown in the management UI and API (client-provided name), e.g.
	// "gp-remediation/dlq", so a human sees who holds the connection.
	ConnectionName string
	// Heartbeat defaults to DefaultHeartbeat.
	Heartbeat time.Duration
}

// Client is one AMQP connection. Its methods open their own channels, so a channel error in
// one call (a missing queue, a refused declare) never affects another; they may be called
// concurrently.
type Client struct {
	conn *amqp.Connection
	// wire is the connection's socket, whose writes a replay batches (nil: not batched).
	wire  *coalescingConn
	scrub func(error) error
	vhost string

	closeOnce sync.Once
	closeErr  error
}

// Dial connects to the broker. ctx bounds the whole handshake (TCP, TLS, AMQP); without a
// deadline DefaultDialTimeout applies.
func Dial(ctx context.Context, ep Endpoint) (*Client, error) {
	target, user, pass, err := splitCredentials(ep)
	if err != nil {
		return nil, err
	}
	scrub := scrubber(pass, ep.Password)

	hb := ep.Heartbeat
	if hb <= 0 {
		hb = DefaultHeartbeat
	}
	name := ep.ConnectionName
	if name == "" {
		name = DefaultConnectionName
	}
	props := amqp.NewConnectionProperties()
	props["connection_name"] = name

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultDialTimeout)
	}
	var tlsCfg *tls.Config
	if strings.HasPrefix(target, "amqps://") {
		if ep.TLS != nil {
			tlsCfg = ep.TLS.Clone() // amqp091 writes ServerName into it
		} else {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}

	var dialed *coalescingConn // the socket, once connected
	var dialedMu sync.Mutex
	cfg := amqp.Config{
		SASL:            saslFor(user, pass),
		Heartbeat:       hb,
		TLSClientConfig: tlsCfg,
		Properties:      props,
		Locale:          "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Deadline: deadline}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The deadline covers the TLS and AMQP handshakes; amqp091 clears it once open.
			if err := c.SetDeadline(deadline); err != nil {
				c.Close()
				return nil, err
			}
			cc := newCoalescingConn(c)
			dialedMu.Lock()
			dialed = cc
			dialedMu.Unlock()
			return cc, nil
		},
	}
	// A cancelled ctx must also interrupt a handshake stuck on a silent peer.
	stop := context.AfterFunc(ctx, func() {
		dialedMu.Lock()
		defer dialedMu.Unlock()
		if dialed != nil {
			_ = dialed.SetDeadline(time.Unix(1, 0))
		}
	})
	conn, err := amqp.DialConfig(target, cfg)
	if !stop() && err == nil {
		// ctx ended right after the handshake; the connection may have been poisoned.
		conn.Close()
		return nil, fmt.Errorf("dial rabbitmq %s: %w", redactURL(target), ctx.Err())
	}
	if err != nil {
		dialedMu.Lock()
		if dialed != nil {
			dialed.Close() // amqp091 normally has; make sure the socket and its writer go
		}
		dialedMu.Unlock()
		// The handshake deadline is ctx's: say so rather than leave a bare i/o timeout.
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%v)", cerr, err)
		} else if !time.Now().Before(deadline) {
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return nil, scrub(fmt.Errorf("dial rabbitmq %s: %w", redactURL(target), err))
	}
	return &Client{conn: conn, wire: dialed, scrub: scrub, vhost: conn.Config.Vhost}, nil
}

// Close closes the connection; unacknowledged deliveries of any interrupted call go back to
// their queues. Safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		if err := c.conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			c.closeErr = c.scrub(fmt.Errorf("close rabbitmq connection: %w", err))
		}
	})
	return c.closeErr
}

// IsClosed reports whether the connection is gone (closed by us, the broker or the network).
func (c *Client) IsClosed() bool { return c.conn.IsClosed() }

// Vhost is the virtual host the connection is open on (for the management API).
func (c *Client) Vhost() string { return c.vhost }

// splitCredentials returns the URL without userinfo and the credentials to use. Parsing
// errors never echo the URL: url.Parse would put the password in its message.
func splitCredentials(ep Endpoint) (target, user, pass string, err error) {
	raw := strings.TrimSpace(ep.URL)
	if raw == "" {
		return "", "", "", errors.New("rabbitmq endpoint: empty URL")
	}
	u, perr := url.Parse(raw)
	if perr != nil {
		return "", "", "", errors.New("rabbitmq endpoint: URL does not parse (percent-encode reserved characters in credentials)")
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return "", "", "", fmt.Errorf("rabbitmq endpoint: scheme %q: want amqp or amqps", u.Scheme)
	}
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		u.User = nil
	}
	if ep.Username != "" {
		user = ep.Username
	}
	if ep.Password != "" {
		pass = ep.Password
	}
	return u.String(), user, pass, nil
}

func saslFor(user, pass string) []amqp.Authentication {
	if user == "" && pass == "" {
		return nil // amqp091 falls back to guest/guest, as RabbitMQ's own defaults
	}
	return []amqp.Authentication{&amqp.PlainAuth{Username: user, Password: pass}}
}

// scrubber returns a function that takes the secrets out of an error's text (pkg/scrub).
func scrubber(secrets ...string) func(error) error {
	return func(err error) error { return scrub.Error(err, secrets...) }
}

// redactURL is a URL fit for an error message: scheme, host and path only.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// amqpCode returns the AMQP reply code of err (404 NOT_FOUND, 406 PRECONDITION_FAILED, ...).
func amqpCode(err error) int {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}
