package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/arrakis/gp-remediation/internal/lambdarun"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/sandbox"
)

// Approval is a step where a person approves the offer the previous invocation made: a
// Slack click on its Approve button, sent signed to the approve function's URL.
type Approval struct {
	// By is the Slack user id that clicks (sandbox.SlackApprover1 is on the list).
	By string `json:"by"`
}

// approveFunction is the approve function's name in the sandbox's Lambda.
func approveFunction(env string) string { return "arrakis-" + env + "-remediate-approve" }

// Approve clicks Approve on the first offer of prev's Result as a.By and waits for the work:
// the approve function answers the click under the emulator, the sandbox's Lambda forwards the
// asynchronous invocation to it, and the Outcome holds the operation's Result as that
// invocation returned it, the answer posted to the response_url, and what changed.
func (f *Fixture) Approve(ctx context.Context, prev *Outcome, a Approval) (*Outcome, error) {
	id := ""
	for _, act := range prev.Result.Actions {
		if act.Offer != nil && act.Offer.ID != "" {
			id = act.Offer.ID
			break
		}
	}
	if id == "" {
		return nil, errors.New("approve: the previous invocation made no offer")
	}
	sb := f.Sandbox
	name := approveFunction(sb.EnvName())
	env := map[string]string{"AWS_LAMBDA_FUNCTION_NAME": name}
	for k, v := range f.Env {
		env[k] = v
	}
	emu, err := lambdarun.Start(ctx, lambdarun.Options{RIE: f.e.RIE, Bootstrap: filepath.Join(f.e.Bootstraps, "approve", "bootstrap"), Env: env, Timeout: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
	sb.SetLambdaTarget(name, emu.Invoke)
	out := &Outcome{Sandbox: sb, Before: services(sb), Started: time.Now(), Label: "approved in Slack by " + a.By}
	body := sb.SlackButtonBody(a.By, "gpr-approve", id, "1733368440.000100")
	before := len(sb.Invocations())
	raw, err := emu.Invoke(ctx, sandbox.FunctionURLEvent(sandbox.SignSlack(body, time.Now()), body))
	if err != nil {
		return nil, err
	}
	var resp events.LambdaFunctionURLResponse
	if err := json.Unmarshal(raw, &resp); err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("approve: the click was answered %d %s", resp.StatusCode, raw)
	}
	job, err := waitForward(ctx, sb, before)
	if err != nil {
		return nil, err
	}
	out.Elapsed = time.Since(out.Started)
	out.Raw, out.Output, out.Logs = job.Response, emu.Output(), emu.LogLines()
	var done struct {
		Status string         `json:"status"`
		Detail string         `json:"detail"`
		Result *report.Result `json:"result"`
	}
	if err := json.Unmarshal(job.Response, &done); err != nil {
		return out, fmt.Errorf("approve: the work returned %s", job.Response)
	}
	if done.Result == nil {
		return out, fmt.Errorf("approve: nothing ran (%s: %s)", done.Status, done.Detail)
	}
	out.Result = *done.Result
	out.After, out.Published = services(sb), sb.Published()
	out.Broker, out.Queues = f.Case.Broker, f.Case.Broker.depths()
	out.Requests = map[string][]sandbox.Request{}
	for _, k := range []string{"slack", "discord", "pagerduty", "discord-api", sandbox.KindSlackResponse} {
		out.Requests[k] = sb.Requests(k)
	}
	for _, r := range out.Requests[sandbox.KindSlackResponse] {
		if strings.Contains(r.ID, a.By) {
			out.Reply = replyText(r.Body)
		}
	}
	return out, nil
}

// waitForward waits until the asynchronous invocation after the first `before` has been
// forwarded and answered.
func waitForward(ctx context.Context, sb *sandbox.Sandbox, before int) (sandbox.Invocation, error) {
	for {
		if inv := sb.Invocations(); len(inv) > before && (inv[before].Forwarded || inv[before].Error != "") {
			if inv[before].Error != "" {
				return inv[before], errors.New("approve: the work did not run: " + inv[before].Error)
			}
			return inv[before], nil
		}
		select {
		case <-ctx.Done():
			return sandbox.Invocation{}, fmt.Errorf("approve: no answer from the work: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// replyText is the text of a Slack response_url message.
func replyText(body string) string {
	var m struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal([]byte(body), &m)
	return m.Text
}
