package sandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/sandbox"
)

// testDelay is the simulated task start delay in tests.
const testDelay = 150 * time.Millisecond

// clients are the real SDK clients aimed at one sandbox.
type clients struct {
	ecs     *ecs.Client
	cw      *cloudwatch.Client
	logs    *cloudwatchlogs.Client
	sm      *secretsmanager.Client
	ssm     *ssm.Client
	sns     *sns.Client
	cfg     aws.Config
	names   config.Names
	sandbox *sandbox.Sandbox
}

// start serves a sandbox with scenario loaded and returns SDK clients without retries (so a
// test sees each answer as it is).
func start(t *testing.T, scenario string, opts ...func(*sandbox.Options)) *clients {
	t.Helper()
	o := sandbox.Options{TaskStartDelay: testDelay}
	for _, fn := range opts {
		fn(&o)
	}
	s := sandbox.StartTest(t, o)
	if scenario != "" {
		if err := s.LoadScenario(scenario); err != nil {
			t.Fatalf("load scenario %s: %v", scenario, err)
		}
	}
	cfg, err := s.AWSConfig(context.Background(), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	return newClients(s, cfg)
}

func newClients(s *sandbox.Sandbox, cfg aws.Config) *clients {
	return &clients{
		ecs: ecs.NewFromConfig(cfg), cw: cloudwatch.NewFromConfig(cfg), logs: cloudwatchlogs.NewFromConfig(cfg),
		sm: secretsmanager.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg), sns: sns.NewFromConfig(cfg),
		cfg: cfg, names: s.Names(), sandbox: s,
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// httpJSON does one request against the sandbox and decodes a JSON answer into out (if not nil).
func httpJSON(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

// fakeClock is a controllable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
