package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/arrakis/gp-remediation/sandbox"
)

func post(t *testing.T, url, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	return do(t, http.MethodPost, url, body, header...)
}

func do(t *testing.T, method, url, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestSlackAndDiscordWebhooks(t *testing.T) {
	c := start(t, "healthy")
	hooks, _ := secretJSON(t, c, c.sandbox.WebhooksSecretName())
	slack, discord := hooks["slack_webhook_url"].(string), hooks["discord_webhook_url"].(string)

	tests := []struct {
		name       string
		url, body  string
		wantStatus int
		wantBody   string
	}{
		{"slack ok", slack, `{"text":"hi","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*hi*"}}]}`, 200, "ok"},
		{"slack invalid JSON", slack, `{"text":`, 400, "invalid_payload"},
		{"slack no text", slack, `{"username":"x"}`, 400, "no_text"},
		{"slack too many blocks", slack, `{"text":"x","blocks":[` + strings.Repeat(`{"type":"divider"},`, 50) + `{"type":"divider"}]}`, 400, "invalid_blocks"},
		{"slack section over 3000", slack, `{"text":"x","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("a", 3001) + `"}}]}`, 400, "invalid_blocks"},
		{"slack header over 150", slack, `{"text":"x","blocks":[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("a", 151) + `"}}]}`, 400, "invalid_blocks"},
		{"discord ok", discord, `{"embeds":[{"title":"t","description":"d","fields":[{"name":"n","value":"v"}]}],"allowed_mentions":{"parse":[]}}`, 204, ""},
		{"discord empty", discord, `{"allowed_mentions":{"parse":[]}}`, 400, `"code":50006`},
		{"discord invalid JSON", discord, `{`, 400, `"code":50109`},
		{"discord title over 256", discord, `{"embeds":[{"title":"` + strings.Repeat("é", 257) + `"}]}`, 400, `"code":50035`},
		{"discord field value over 1024", discord, `{"embeds":[{"fields":[{"name":"n","value":"` + strings.Repeat("v", 1025) + `"}]}]}`, 400, `"code":50035`},
		{"discord embed over 6000", discord, `{"embeds":[{"description":"` + strings.Repeat("d", 4000) + `","fields":[{"name":"n","value":"` + strings.Repeat("v", 1000) + `"},{"name":"n","value":"` + strings.Repeat("v", 1000) + `"}]}]}`, 400, `"code":50035`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := post(t, tc.url, tc.body)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Errorf("%d %q, want %d %q", status, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
	slackReqs := c.sandbox.Requests(sandbox.KindSlack)
	if len(slackReqs) != 6 || slackReqs[0].Status != 200 || slackReqs[0].ID != sandbox.SlackHookPath || !strings.Contains(slackReqs[0].Body, `"text":"hi"`) {
		t.Errorf("slack requests %+v", slackReqs)
	}
	if n := len(c.sandbox.Requests(sandbox.KindDiscord)); n != 6 {
		t.Errorf("%d discord requests", n)
	}

	t.Run("switched to fail", func(t *testing.T) {
		c.sandbox.FailHooks(sandbox.KindSlack, true)
		if status, _, _ := post(t, slack, `{"text":"x"}`); status != 500 {
			t.Errorf("failing slack answered %d", status)
		}
		if status, _, _ := post(t, discord, `{"content":"x"}`); status != 204 {
			t.Errorf("discord answered %d while only slack fails", status)
		}
		c.sandbox.FailHooks(sandbox.KindSlack, false)
		if status, _, _ := post(t, slack, `{"text":"x"}`); status != 200 {
			t.Errorf("slack answered %d after the switch was reset", status)
		}
	})
	t.Run("discord wait=true returns the message", func(t *testing.T) {
		status, body, _ := post(t, discord+"?wait=true", `{"content":"hello"}`)
		if status != 200 || !strings.Contains(body, `"content":"hello"`) || !strings.Contains(body, `"id":"`) {
			t.Errorf("%d %s", status, body)
		}
	})
}

func TestPagerDuty(t *testing.T) {
	c := start(t, "healthy")
	url := c.sandbox.Env()["GPR_PAGERDUTY_URL"]
	key := sandbox.PagerDutyRoutingKey
	tests := []struct {
		name       string
		body       string
		wantStatus int
		want       string
	}{
		{"trigger", `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"staging/no-tasks/ingestor","payload":{"summary":"Ingestor OOM","source":"arrakis-staging-ingestor","severity":"critical"}}`,
			202, `"dedup_key":"staging/no-tasks/ingestor"`},
		{"trigger without dedup key gets one", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"warning"}}`,
			202, `"status":"success"`},
		{"resolve", `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"staging/no-tasks/ingestor"}`, 202, `"message":"Event processed"`},
		{"resolve without dedup key", `{"routing_key":"` + key + `","event_action":"resolve"}`, 400, `'dedup_key' is missing or blank`},
		{"missing routing key", `{"event_action":"trigger","payload":{"summary":"s","source":"x","severity":"critical"}}`, 400, `'routing_key' is missing`},
		{"short routing key", `{"routing_key":"abc","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"critical"}}`, 400, `'routing_key' is invalid`},
		{"bad action", `{"routing_key":"` + key + `","event_action":"page"}`, 400, `'event_action' is invalid`},
		{"bad severity", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"high"}}`, 400, `'payload.severity' is invalid`},
		{"summary too long", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"` + strings.Repeat("s", 1025) + `","source":"x","severity":"info"}}`, 400, `'payload.summary' is too long`},
		{"no payload", `{"routing_key":"` + key + `","event_action":"trigger"}`, 400, `'payload' is missing`},
		{"not JSON", `nope`, 400, `Invalid JSON`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := post(t, url, tc.body)
			if status != tc.wantStatus || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want %d with %q", status, body, tc.wantStatus, tc.want)
			}
		})
	}
	reqs := c.sandbox.Requests(sandbox.KindPagerDuty)
	if len(reqs) != len(tests) || reqs[0].Status != 202 {
		t.Errorf("%d recorded requests", len(reqs))
	}
}

func TestDiscordAPI(t *testing.T) {
	type budget struct {
		URL    string `json:"url"`
		Shards int    `json:"shards"`
		Limit  struct {
			Total          int   `json:"total"`
			Remaining      int   `json:"remaining"`
			ResetAfter     int64 `json:"reset_after"`
			MaxConcurrency int   `json:"max_concurrency"`
		} `json:"session_start_limit"`
	}
	call := func(t *testing.T, c *clients, token string) (int, string) {
		t.Helper()
		status, body, _ := do(t, http.MethodGet, c.sandbox.Env()["GPR_DISCORD_API_URL"]+"/gateway/bot", "", "Authorization", "Bot "+token, "User-Agent", "DiscordBot (https://github.com/arrakis/gp-remediation, 1.0)")
		return status, body
	}
	tests := []struct {
		scenario      string
		wantStatus    int
		wantRemaining int
		wantReset     time.Duration
	}{
		{"healthy", 200, 998, 20 * time.Hour},
		{"memory-leak", 200, 900, 14 * time.Hour},
		{"memory-leak-discord-budget-low", 200, 2, 3 * time.Hour},
		{"ingestor-token-invalid", 401, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := start(t, tc.scenario)
			secret, _ := secretJSON(t, c, c.names.DiscordSecret)
			status, body := call(t, c, secret["token"].(string))
			if status != tc.wantStatus {
				t.Fatalf("status %d %s, want %d", status, body, tc.wantStatus)
			}
			if status == 401 {
				if body != `{"code":0,"message":"401: Unauthorized"}` {
					t.Errorf("401 body %s", body)
				}
				// The token the API accepts differs from the stored one.
				if status, _ := call(t, c, sandbox.DiscordValidToken); status != 200 {
					t.Errorf("valid token answered %d", status)
				}
				reqs := c.sandbox.Requests(sandbox.KindDiscordAPI)
				if len(reqs) != 2 || reqs[0].TokenValid == nil || *reqs[0].TokenValid || !*reqs[1].TokenValid || strings.Contains(reqs[0].Body+reqs[0].Path, secret["token"].(string)) {
					t.Errorf("recorded %+v", reqs)
				}
				return
			}
			var b budget
			if err := json.Unmarshal([]byte(body), &b); err != nil {
				t.Fatal(err)
			}
			got := time.Duration(b.Limit.ResetAfter) * time.Millisecond
			if b.URL != "wss://gateway.discord.gg" || b.Shards != 1 || b.Limit.Total != 1000 || b.Limit.Remaining != tc.wantRemaining ||
				b.Limit.MaxConcurrency != 1 || got > tc.wantReset || got < tc.wantReset-time.Minute {
				t.Errorf("budget %+v", b)
			}
		})
	}
	t.Run("SetDiscordBudget and an ingestor restart spend", func(t *testing.T) {
		c := start(t, "healthy")
		c.sandbox.SetDiscordBudget(5, time.Hour)
		if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(c.names.Cluster), Service: aws.String(c.names.IngestorService), ForceNewDeployment: true}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "a session start spent", func() bool {
			n, _ := c.sandbox.DiscordBudget()
			return n == 4
		})
	})
	t.Run("wrong path and method", func(t *testing.T) {
		c := start(t, "healthy")
		if status, _, _ := do(t, http.MethodGet, c.sandbox.URL()+"/_sandbox/discord/api/v10/users/@me", ""); status != 404 {
			t.Errorf("unknown route %d", status)
		}
	})
}

func TestAdminAPI(t *testing.T) {
	c := start(t, "healthy")
	base := c.sandbox.URL() + "/_sandbox"

	var scenarios []sandbox.ScenarioInfo
	if httpJSON(t, "GET", base+"/scenarios", "", &scenarios) != 200 || len(scenarios) != len(sandbox.Scenarios()) {
		t.Fatalf("scenarios %v", scenarios)
	}
	if httpJSON(t, "POST", base+"/scenario", `{"name":"worker-bad-deployment"}`, nil) != 200 {
		t.Fatal("load scenario")
	}
	var st sandbox.State
	httpJSON(t, "GET", base+"/state", "", &st)
	if st.Scenario != "worker-bad-deployment" || len(st.Services) != 2 || st.Services[1].Deployments[0].RolloutState != "FAILED" || len(st.Tasks) == 0 || len(st.TaskDefinitions) == 0 {
		t.Errorf("state %+v", st)
	}
	var e map[string]string
	if httpJSON(t, "POST", base+"/scenario", `{"name":"nope"}`, &e) != 404 || !strings.Contains(e["error"], "unknown scenario") {
		t.Errorf("unknown scenario: %v", e)
	}

	// An SNS publication and a webhook post show up in the records.
	if _, err := c.sns.Publish(ctx(t), &sns.PublishInput{TopicArn: aws.String(c.sandbox.ReportTopicARN()), Message: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	var pubs []sandbox.Publication
	httpJSON(t, "GET", base+"/published", "", &pubs)
	if len(pubs) != 1 || pubs[0].Message != "hello" {
		t.Errorf("published %+v", pubs)
	}
	post(t, base+"/hooks/slack/T/B/x", `{"text":"x"}`)
	var reqs []sandbox.Request
	httpJSON(t, "GET", base+"/requests?kind=slack", "", &reqs)
	if len(reqs) != 1 || reqs[0].ID != "T/B/x" {
		t.Errorf("requests %+v", reqs)
	}
	if httpJSON(t, "GET", base+"/requests?kind=nope", "", nil) != 400 {
		t.Error("unknown kind accepted")
	}
	var calls []sandbox.Call
	httpJSON(t, "GET", base+"/calls", "", &calls)
	if len(calls) != 1 || calls[0].Service != "sns" || calls[0].Operation != "Publish" || calls[0].Status != 200 {
		t.Errorf("calls %+v", calls)
	}

	// Faults through the admin API are seen by the SDK.
	if httpJSON(t, "POST", base+"/faults", `[{"op":"sns:Publish","kind":"internal","times":1},{"op":"ecs:*","kind":"latency","delay":"50ms"}]`, nil) != 200 {
		t.Fatal("post faults")
	}
	if _, err := c.sns.Publish(ctx(t), &sns.PublishInput{TopicArn: aws.String(c.sandbox.ReportTopicARN()), Message: aws.String("x")}); err == nil {
		t.Error("publish succeeded despite the fault")
	}
	began := time.Now()
	describeOne(t, c, c.names.WorkerService)
	if took := time.Since(began); took < 50*time.Millisecond {
		t.Errorf("ecs call took %s despite 50ms latency", took)
	}
	var faults []sandbox.FaultStatus
	httpJSON(t, "GET", base+"/faults", "", &faults)
	if len(faults) != 2 || faults[0].Applied != 1 || faults[0].Active || faults[1].Applied != 1 || faults[1].DelayMS != 50 {
		t.Errorf("faults %+v", faults)
	}
	if httpJSON(t, "POST", base+"/faults", `{"op":"x","kind":"explode"}`, nil) != 400 {
		t.Error("bad fault accepted")
	}
	httpJSON(t, "DELETE", base+"/faults", "", nil)
	if len(c.sandbox.Faults()) != 0 {
		t.Error("faults not cleared")
	}

	// Settings.
	httpJSON(t, "POST", base+"/hook-failures", `{"kind":"discord","fail":true}`, nil)
	if status, _, _ := post(t, base+"/hooks/discord/1/x", `{"content":"x"}`); status != 500 {
		t.Errorf("discord after hook-failures: %d", status)
	}
	httpJSON(t, "POST", base+"/secrets", `{"name":"s1","value":{"a":"{{sandbox}}"}}`, nil)
	if v, _ := c.sandbox.SecretValue("s1"); v != `{"a":"`+c.sandbox.URL()+`"}` {
		t.Errorf("secret %q", v)
	}
	httpJSON(t, "POST", base+"/parameters", `{"name":"/p","value":"on"}`, nil)
	out, err := c.ssm.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/p")})
	if err != nil || aws.ToString(out.Parameter.Value) != "on" {
		t.Errorf("parameter: %v", err)
	}
	var budget map[string]int64
	httpJSON(t, "POST", base+"/discord", `{"remaining":3,"resetAfter":"1h"}`, &budget)
	if budget["remaining"] != 3 || budget["resetAfterMs"] > 3600000 || budget["resetAfterMs"] < 3500000 {
		t.Errorf("budget %v", budget)
	}
	httpJSON(t, "POST", base+"/latency", `{"delay":"30ms"}`, nil)
	began = time.Now()
	describeOne(t, c, c.names.WorkerService)
	if took := time.Since(began); took < 30*time.Millisecond {
		t.Errorf("ecs call took %s despite 30ms global latency", took)
	}
	httpJSON(t, "DELETE", base+"/records", "", nil)
	if len(c.sandbox.Calls()) != 0 || len(c.sandbox.Published()) != 0 || len(c.sandbox.Requests("")) != 0 {
		t.Error("records not cleared")
	}
	status, envText, _ := do(t, http.MethodGet, base+"/env", "")
	if status != 200 || !strings.Contains(envText, "AWS_ENDPOINT_URL="+c.sandbox.URL()+"\n") || !strings.Contains(envText, "GPR_ENV=staging\n") {
		t.Errorf("env %d %s", status, envText)
	}
	if httpJSON(t, "GET", base+"/nope", "", nil) != 404 {
		t.Error("unknown admin route")
	}
}

func TestSlackWebAPI(t *testing.T) {
	c := start(t, "healthy")
	api := c.sandbox.SlackAPIURL()
	bearer := []string{"Authorization", "Bearer " + sandbox.SlackBotToken}
	var opened struct {
		OK      bool   `json:"ok"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
		Error   string `json:"error"`
	}
	status, body, _ := post(t, api+"/chat.postMessage", `{"channel":"`+sandbox.SlackChannel+`","text":"opened"}`, bearer...)
	if err := json.Unmarshal([]byte(body), &opened); err != nil || status != 200 || !opened.OK || opened.Channel != sandbox.SlackChannel || opened.TS == "" {
		t.Fatalf("postMessage: %d %s", status, body)
	}
	ch := `"channel":"` + sandbox.SlackChannel + `"`
	tests := []struct {
		name, method, body string
		header             []string
		want               string
	}{
		{"reply in the thread", "chat.postMessage", `{` + ch + `,"thread_ts":"` + opened.TS + `","text":"follow-up"}`, bearer, `"thread_ts":"` + opened.TS + `"`},
		{"update the parent", "chat.update", `{` + ch + `,"ts":"` + opened.TS + `","text":"latest"}`, bearer, `"ok":true,"text":"latest","ts":"` + opened.TS + `"`},
		{"no token", "chat.postMessage", `{` + ch + `,"text":"x"}`, nil, `{"error":"not_authed","ok":false}`},
		{"wrong token", "chat.postMessage", `{` + ch + `,"text":"x"}`, []string{"Authorization", "Bearer xoxb-wrong"}, `{"error":"invalid_auth","ok":false}`},
		{"unknown channel", "chat.postMessage", `{"channel":"C0NOPE","text":"x"}`, bearer, `{"error":"channel_not_found","ok":false}`},
		{"unknown thread", "chat.postMessage", `{` + ch + `,"thread_ts":"1.000009","text":"x"}`, bearer, `{"error":"thread_not_found","ok":false}`},
		{"update of an unknown message", "chat.update", `{` + ch + `,"ts":"1.000009","text":"x"}`, bearer, `{"error":"message_not_found","ok":false}`},
		{"no text", "chat.postMessage", `{` + ch + `}`, bearer, `{"error":"no_text","ok":false}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := post(t, api+"/"+tc.method, tc.body, tc.header...)
			if status != 200 || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want %s", status, body, tc.want)
			}
		})
	}
	reqs := c.sandbox.Requests(sandbox.KindSlackAPI)
	if len(reqs) != len(tests)+1 || reqs[1].Path != "/_sandbox/slack/api/chat.postMessage" || !strings.Contains(reqs[1].Body, opened.TS) {
		t.Errorf("recorded %+v", reqs)
	}
}

func TestDiscordWebhookEdit(t *testing.T) {
	c := start(t, "healthy")
	hooks, _ := secretJSON(t, c, c.sandbox.WebhooksSecretName())
	discord := hooks["discord_webhook_url"].(string)
	status, body, _ := post(t, discord+"?wait=true", `{"content":"opened"}`)
	var msg struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &msg); err != nil || status != 200 || msg.ID == "" {
		t.Fatalf("execute: %d %s", status, body)
	}
	if status, body, _ := do(t, http.MethodPatch, discord+"/messages/"+msg.ID, `{"content":"latest"}`); status != 200 || !strings.Contains(body, `"id":"`+msg.ID+`"`) || !strings.Contains(body, `"content":"latest"`) {
		t.Errorf("edit: %d %s", status, body)
	}
	if status, body, _ := do(t, http.MethodPatch, discord+"/messages/1000000000000000001", `{"content":"x"}`); status != 404 || !strings.Contains(body, `"code":10008`) {
		t.Errorf("edit of an unknown message: %d %s", status, body)
	}
	if status, _, _ := post(t, discord+"/messages/"+msg.ID, `{"content":"x"}`); status != 405 {
		t.Errorf("POST to a message answered %d", status)
	}
	reqs := c.sandbox.Requests(sandbox.KindDiscord)
	if len(reqs) != 4 || reqs[1].Method != http.MethodPatch || !strings.HasSuffix(reqs[1].Path, "/messages/"+msg.ID) {
		t.Errorf("recorded %+v", reqs)
	}
}
