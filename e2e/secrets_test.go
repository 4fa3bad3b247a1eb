package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/brokerdb"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/sandbox"
)

// TestSecretsNeverLeak runs every case of events/*/cases.json again with secrets no other run
// has ever used, planted everywhere a secret lives: the sandbox's secrets (a RabbitMQ user
// created for the run, so the functions really authenticate with its password; the Discord
// bot token the sandbox's Discord API accepts; the Slack and Discord webhook tokens; the
// PagerDuty routing key; the database password), the function's environment
// (AWS_SECRET_ACCESS_KEY), and the dead letters' bodies and error headers (a Discord token,
// a Bearer token, an e-mail address, an AMQP URL with a password). Then it searches everything
// the run left behind, the emulator's whole output (every log line), the Result JSON, every
// SNS publication, every body posted to Slack, Discord and PagerDuty, for each planted value
// and for any 10-byte prefix of it (a cut that keeps the start of a secret is a leak too).
// The PagerDuty routing key must be in PagerDuty's request bodies, and nowhere else.
//
// The cases also keep their own expectations: planted credentials that the functions did not
// really use would show there (a broker they could not log in to, a page that did not go out).
func TestSecretsNeverLeak(t *testing.T) {
	all, err := cases.Load("../events")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no cases found in events/*/cases.json")
	}
	for _, c := range all {
		t.Run(c.Function+"/"+c.Name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(env.Bootstraps, c.Function, "bootstrap")); err != nil {
				t.Fatalf("function %s was not built: %v", c.Function, err)
			}
			p := newPlanted(t)
			c := p.inMessages(c)
			e := env
			e.Customize = p.customize
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, runErr := cases.Run(ctx, e, c)
			if out != nil {
				for _, l := range p.scanOutcome("", out) {
					t.Error(l)
				}
			}
			if runErr != nil {
				t.Fatal(runErr)
			}
			if bad := cases.Check(c, out); len(bad) > 0 {
				t.Logf("result: %s", out.Raw)
				for _, b := range bad {
					t.Errorf("with planted secrets (RabbitMQ user %q): %s", p.rabbitUser, b)
				}
			}
		})
	}
}

// TestLeakScannerFindsPlantedValues shows that the scan of TestSecretsNeverLeak can fail: a
// planted value, or a prefix of it, in any of the places searched is found and named.
func TestLeakScannerFindsPlantedValues(t *testing.T) {
	p := newPlanted(t)
	clean := func() *cases.Outcome {
		return &cases.Outcome{
			Output: `{"level":"INFO","msg":"result"}`, Raw: []byte(`{"function":"dlq"}`),
			Published: []sandbox.Publication{{Subject: "s", Message: "m"}},
			Requests: map[string][]sandbox.Request{
				sandbox.KindPagerDuty: {{Body: `{"routing_key":"` + p.values[labelPagerDuty] + `"}`}},
				sandbox.KindSlack:     {{Path: "/_sandbox/hooks/slack/" + p.slackPath(), Body: `{"text":"ok"}`}},
			},
		}
	}
	if leaks := p.scanOutcome("", clean()); len(leaks) != 0 {
		t.Fatalf("clean outcome reported as leaking: %v", leaks)
	}
	for label, v := range p.values {
		for _, place := range []struct {
			name  string
			plant func(o *cases.Outcome, s string)
		}{
			{"emulator output", func(o *cases.Outcome, s string) { o.Output += "\nerror: dial " + s }},
			{"Result JSON", func(o *cases.Outcome, s string) { o.Raw = []byte(`{"error":"` + s + `"}`) }},
			{"SNS publication 1 message", func(o *cases.Outcome, s string) { o.Published[0].Message += s }},
			{"slack request 1 body", func(o *cases.Outcome, s string) { o.Requests[sandbox.KindSlack][0].Body += s }},
			{"then step 1: Result JSON", func(o *cases.Outcome, s string) {
				o.Steps = append(o.Steps, &cases.Outcome{Raw: []byte(s)})
			}},
		} {
			for _, s := range []string{v, v[:leakPrefix] + "…"} {
				o := clean()
				place.plant(o, s)
				leaks := p.scanOutcome("", o)
				if len(leaks) != 1 || !strings.Contains(leaks[0], label) || !strings.Contains(leaks[0], place.name) {
					t.Errorf("%s planted in %s: scan says %v", label, place.name, leaks)
				}
			}
		}
	}
	// The routing key is allowed in PagerDuty's bodies only.
	o := clean()
	o.Requests[sandbox.KindSlack][0].Body += p.values[labelPagerDuty]
	if leaks := p.scanOutcome("", o); len(leaks) != 1 {
		t.Errorf("routing key in a Slack body: scan says %v", leaks)
	}
}

// Labels of the planted values, as a leak report names them.
const (
	labelRabbitPassword = "RabbitMQ password"
	labelDBPassword     = "database password"
	labelBotToken       = "Discord bot token"
	labelRotatedToken   = "Discord bot token (rotated, invalid)"
	labelSlackHook      = "Slack webhook token"
	labelDiscordHook    = "Discord webhook token"
	labelPagerDuty      = "PagerDuty routing key"
	labelAWSSecret      = "AWS_SECRET_ACCESS_KEY"
	labelMsgToken       = "dead letter's Discord token"
	labelMsgBearer      = "dead letter's Bearer token"
	labelMsgEmail       = "dead letter's e-mail address"
	labelMsgAMQP        = "dead letter's AMQP URL password"
)

// leakPrefix is the shortest piece of a planted value that counts as a leak. Every value
// starts with random letters, so no other text can hold 10 of them by chance.
const leakPrefix = 10

// planted is one case run's secrets.
type planted struct {
	t      *testing.T
	values map[string]string // label -> value

	rabbitUser string // the RabbitMQ user created for the run ("" if none)
}

func newPlanted(t *testing.T) *planted {
	p := &planted{t: t, values: map[string]string{
		labelRabbitPassword: letters(28),
		labelDBPassword:     letters(28),
		labelBotToken:       discordToken(),
		labelRotatedToken:   discordToken(),
		labelSlackHook:      letters(24),
		labelDiscordHook:    letters(40),
		labelPagerDuty:      letters(32), // PagerDuty wants exactly 32 characters
		labelAWSSecret:      letters(40),
		labelMsgToken:       discordToken(),
		labelMsgBearer:      letters(40),
		labelMsgEmail:       strings.ToLower(letters(12)) + ".oncall@arrakis-example.io",
		labelMsgAMQP:        letters(24),
	}}
	return p
}

func (p *planted) slackPath() string   { return "T0PLANTED/B0PLANTED/" + p.values[labelSlackHook] }
func (p *planted) discordPath() string { return "1300000000000000042/" + p.values[labelDiscordHook] }

// inMessages returns the case with the secrets in its dead letters: appended to the error
// header (after the application's text, so the error still classifies as it did: a group's
// class is read from the first 120 bytes of its signature) and at the start of the body
// (inside any preview). Letters-only secrets cannot spell a status code or a number.
func (p *planted) inMessages(c cases.Case) cases.Case {
	if c.Broker == nil || len(c.Broker.DeadLetters) == 0 {
		return c
	}
	v := p.values
	amqpURL := "amqps://arrakis:" + v[labelMsgAMQP] + "@b-1234.mq.us-east-1.amazonaws.com:5671/"
	b := *c.Broker
	b.DeadLetters = append([]cases.DeadLetters(nil), c.Broker.DeadLetters...)
	for i := range b.DeadLetters {
		d := &b.DeadLetters[i]
		d.Error += fmt.Sprintf(" (request from %s with Bearer %s; broker %s; bot %s)", v[labelMsgEmail], v[labelMsgBearer], amqpURL, v[labelMsgToken])
		body := d.Body
		if body == "" {
			body = fmt.Sprintf(`{"type":2,"id":"1180000000000000%02d","guild_id":"118000000000000000","data":{"name":"balance"}}`, i)
		}
		head := fmt.Sprintf(`{"member":{"user":{"email":%q}},"authorization":"Bearer %s","bot_token":%q,"broker_url":%q,`,
			v[labelMsgEmail], v[labelMsgBearer], v[labelMsgToken], amqpURL)
		d.Body = head + strings.TrimPrefix(body, "{")
	}
	c.Broker = &b
	return c
}

// customize is the cases.Env hook: it plants the values in the sandbox's secrets, the
// sandbox's Discord API, the broker (a user of the run's own) and the environment.
func (p *planted) customize(c cases.Case, sb *sandbox.Sandbox, fnEnv map[string]string) error {
	v := p.values
	n := sb.Names()
	fnEnv["AWS_SECRET_ACCESS_KEY"] = v[labelAWSSecret]

	// RabbitMQ: when the secret holds the working local credentials, a user of the run's own
	// replaces them, with the planted password; a secret that is meant not to work (wrong
	// password, unreachable broker) keeps failing, with a planted password.
	if err := editSecret(sb, n.RabbitSecret, func(f map[string]any) error {
		if f["username"] == "guest" && f["password"] == "guest" {
			// The run's virtual host is the one the secret's amqp_url names.
			vhost := "/"
			if u, _ := f["amqp_url"].(string); u != "" {
				vhost = brokerdb.VirtualHostOf(u)
			}
			user, err := p.createRabbitUser(vhost, v[labelRabbitPassword])
			if err != nil {
				return err
			}
			f["username"] = user
		}
		f["password"] = v[labelRabbitPassword]
		return nil
	}); err != nil {
		return err
	}
	if err := editSecret(sb, n.DatabaseSecret, func(f map[string]any) error {
		f["password"] = v[labelDBPassword] // trust authentication: any password logs in
		return nil
	}); err != nil {
		return err
	}
	// Discord: the sandbox accepts the planted token; a scenario whose secret held a rotated
	// token gets another planted one, which the sandbox refuses as before.
	sb.SetDiscordValidToken(v[labelBotToken])
	if err := editSecret(sb, n.DiscordSecret, func(f map[string]any) error {
		if f["token"] == sandbox.DiscordValidToken {
			f["token"] = v[labelBotToken]
		} else {
			f["token"] = v[labelRotatedToken]
		}
		return nil
	}); err != nil {
		return err
	}
	if err := editSecret(sb, sb.WebhooksSecretName(), func(f map[string]any) error {
		for key, hook := range map[string]string{"slack_webhook_url": "/_sandbox/hooks/slack/", "discord_webhook_url": "/_sandbox/hooks/discord/"} {
			path := p.slackPath()
			if key == "discord_webhook_url" {
				path = p.discordPath()
			}
			if u, ok := f[key].(string); ok {
				if i := strings.Index(u, hook); i >= 0 {
					f[key] = u[:i] + hook + path
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return editSecret(sb, sb.PagerDutySecretName(), func(f map[string]any) error {
		if f["routing_key"] == sandbox.PagerDutyRoutingKey {
			f["routing_key"] = v[labelPagerDuty]
		}
		return nil
	})
}

// editSecret rewrites a JSON secret of the sandbox (as it is served: the sandbox is already
// running, so its URL is in place of the {{sandbox}} templates); an absent secret stays absent.
func editSecret(sb *sandbox.Sandbox, name string, edit func(map[string]any) error) error {
	raw, ok := sb.SecretValue(name)
	if !ok {
		return nil
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return fmt.Errorf("secret %s is not a JSON object", name)
	}
	if err := edit(f); err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	sb.SetSecret(name, string(b))
	return nil
}

// createRabbitUser creates a broker user with password on vhost (through the management
// API, as guest) and removes it when the test ends. It has the monitoring tag, as the
// functions read every connection and consumer of the vhost.
func (p *planted) createRabbitUser(vhost, password string) (string, error) {
	user := "gpr-planted-" + strings.ToLower(letters(8))
	if err := mgmtCall(http.MethodPut, "/api/users/"+url.PathEscape(user), map[string]string{"password": password, "tags": "monitoring"}); err != nil {
		return "", fmt.Errorf("create RabbitMQ user: %w", err)
	}
	p.t.Cleanup(func() { _ = mgmtCall(http.MethodDelete, "/api/users/"+url.PathEscape(user), nil) })
	if err := mgmtCall(http.MethodPut, "/api/permissions/"+url.PathEscape(vhost)+"/"+url.PathEscape(user),
		map[string]string{"configure": ".*", "write": ".*", "read": ".*"}); err != nil {
		return "", fmt.Errorf("grant RabbitMQ user on %s: %w", vhost, err)
	}
	p.rabbitUser = user
	return user, nil
}

func mgmtCall(method, path string, body any) error {
	var rd *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://127.0.0.1:15672"+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return nil
}

// scanOutcome searches everything a run (and its Then steps) left for planted values and
// returns one line per leak, naming the value and the place.
func (p *planted) scanOutcome(prefix string, o *cases.Outcome) []string {
	var leaks []string
	check := func(where, text string, allowed ...string) {
		for _, label := range sortedKeys(p.values) {
			if contains(allowed, label) {
				continue
			}
			v := p.values[label]
			switch {
			case strings.Contains(text, v):
				leaks = append(leaks, fmt.Sprintf("%s%s leaks the %s: %s", prefix, where, label, excerpt(text, v)))
			case strings.Contains(text, v[:leakPrefix]):
				leaks = append(leaks, fmt.Sprintf("%s%s leaks the start of the %s: %s", prefix, where, label, excerpt(text, v[:leakPrefix])))
			}
		}
	}
	check("emulator output", o.Output)
	check("Result JSON", string(o.Raw))
	for i, pub := range o.Published {
		check(fmt.Sprintf("SNS publication %d subject", i+1), pub.Subject)
		check(fmt.Sprintf("SNS publication %d message", i+1), pub.Message)
		for name, a := range pub.MessageAttributes {
			check(fmt.Sprintf("SNS publication %d attribute %s", i+1, name), a.StringValue)
		}
	}
	for _, kind := range sortedKeys(o.Requests) {
		for i, r := range o.Requests[kind] {
			var allowed []string
			if kind == sandbox.KindPagerDuty {
				allowed = []string{labelPagerDuty}
			}
			check(fmt.Sprintf("%s request %d body", kind, i+1), r.Body, allowed...)
		}
	}
	// The routing key must be what paged: else the planted key was not really used.
	for i, r := range o.Requests[sandbox.KindPagerDuty] {
		if r.Body != "" && !strings.Contains(r.Body, p.values[labelPagerDuty]) {
			leaks = append(leaks, fmt.Sprintf("%spagerduty request %d did not use the planted routing key", prefix, i+1))
		}
	}
	for i, st := range o.Steps {
		leaks = append(leaks, p.scanOutcome(fmt.Sprintf("%sthen step %d: ", prefix, i+1), st)...)
	}
	return leaks
}

// excerpt shows where a value was found, with the value itself masked.
func excerpt(text, v string) string {
	i := strings.Index(text, v)
	from, to := max(i-80, 0), min(i+len(v)+40, len(text))
	return strings.ReplaceAll(text[from:to], v, "<"+fmt.Sprint(len(v))+" planted bytes>")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// letters returns n random ASCII letters (crypto/rand: no two runs share a value).
func letters(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

// discordToken is shaped like a Discord bot token: 24, 6 and 38 characters, dot-separated.
func discordToken() string { return letters(24) + "." + letters(6) + "." + letters(38) }
