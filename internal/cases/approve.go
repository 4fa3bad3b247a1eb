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
	"github.com/arrakis/gp-remediation/internal/sample"
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

// StartApprove runs the approve function under the emulator in the case's world, and makes the
// sandbox's Lambda forward the function's asynchronous invocations of itself (its work) to it.
// The caller stops it.
func (f *Fixture) StartApprove(ctx context.Context) (*lambdarun.Emulator, error) {
	name := approveFunction(f.Sandbox.EnvName())
	env := map[string]string{"AWS_LAMBDA_FUNCTION_NAME": name}
	for k, v := range f.Env {
		env[k] = v
	}
	emu, err := lambdarun.Start(ctx, lambdarun.Options{RIE: f.e.RIE, Bootstrap: filepath.Join(f.e.Bootstraps, "approve", "bootstrap"), Env: env, Timeout: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	f.Sandbox.SetLambdaTarget(name, emu.Invoke)
	return emu, nil
}

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
	emu, err := f.StartApprove(ctx)
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
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
	job, err := WaitForward(ctx, sb, before)
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

// WaitForward waits until the asynchronous invocation after the first `before` has been
// forwarded and answered.
func WaitForward(ctx context.Context, sb *sandbox.Sandbox, before int) (sandbox.Invocation, error) {
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

// SampleRun is one run of an approve sample (events/approve): the function URL's answer, the
// work it handed to an asynchronous invocation of itself (each invocation's answer), and what
// reached the conversation (the stand-ins of Slack's response_url and Discord's interaction
// webhook).
type SampleRun struct {
	Platform sample.Platform   `json:"platform"`
	Response json.RawMessage   `json:"response"`
	Work     []json.RawMessage `json:"work"`
	Replies  []sandbox.Request `json:"replies"`
	// Output is what the emulator and the function printed.
	Output string `json:"-"`
}

// RunSample signs an approve sample now with the sandbox's keys, points its response_url at
// the sandbox, sends it to the approve function under the emulator and waits for the work it
// starts.
func (f *Fixture) RunSample(ctx context.Context, payload []byte) (*SampleRun, error) {
	sb := f.Sandbox
	signed, platform, err := sample.Prepare(payload, sample.Keys{SlackSigningSecret: sandbox.SlackSigningSecret, DiscordKey: sandbox.DiscordSigningKey()},
		time.Now(), sb.SlackResponseURL("sample"))
	if err != nil {
		return nil, err
	}
	emu, err := f.StartApprove(ctx)
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
	run := &SampleRun{Platform: platform}
	before := len(sb.Invocations())
	run.Response, err = emu.Invoke(ctx, signed)
	if err != nil {
		run.Output = emu.Output()
		return run, err
	}
	// The work, if the answer started any, runs after it: wait for each invocation it made.
	for i := before; i < len(sb.Invocations()); i++ {
		job, err := WaitForward(ctx, sb, i)
		if err != nil {
			run.Output = emu.Output()
			return run, err
		}
		run.Work = append(run.Work, job.Response)
	}
	for _, kind := range []string{sandbox.KindSlackResponse, sandbox.KindDiscordAPI} {
		run.Replies = append(run.Replies, sb.Requests(kind)...)
	}
	run.Output = emu.Output()
	return run, nil
}
