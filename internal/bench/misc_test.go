package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/sandbox"
)

func TestMachineParsing(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := CPUModel(cpuinfo); got != "AMD EPYC 7B13" {
		t.Errorf("CPUModel = %q", got)
	}
	if got := CPUModel("processor: 0\n"); got != "" {
		t.Errorf("CPUModel without a model = %q", got)
	}
	if got := MemTotal("MemTotal:       24576000 kB\nMemFree: 1 kB\n"); got != 24576000*1024 {
		t.Errorf("MemTotal = %d", got)
	}
	tests := []struct {
		name    string
		loadavg string
		cpus    int
		loaded  bool
		wantErr bool
	}{
		{"quiet", "0.10 0.20 0.30 1/200 1234\n", 2, false, false},
		{"busy now", "4.53 2.60 3.06 3/300 999", 2, true, false},
		{"busy over five minutes", "1.00 2.50 1.00", 2, true, false},
		{"garbage", "n/a", 2, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := LoadAverage(tc.loadavg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("LoadAverage(%q) error %v", tc.loadavg, err)
			}
			if err == nil && Loaded(l, tc.cpus) != tc.loaded {
				t.Errorf("Loaded(%v, %d) = %v", l, tc.cpus, !tc.loaded)
			}
		})
	}
}

func TestEmulatorOutputParsing(t *testing.T) {
	out := `27 Nov 2026 03:22:30,897 [INFO] (rapid) INIT START(type: on-demand, phase: init)
27 Nov 2026 03:22:30,951 [INFO] (rapid) INIT REPORT(durationMs: 53.548000)
27 Nov 2026 03:22:30,961 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 10.431000ms)
REPORT RequestId: 2db0	Init Duration: 0.05 ms	Duration: 67.70 ms`
	d, err := InitDuration(out)
	if err != nil || d != 53548*time.Microsecond {
		t.Errorf("InitDuration = %v, %v", d, err)
	}
	tests := []struct {
		name    string
		elapsed time.Duration
		output  string
		want    time.Duration
		wantErr string
	}{
		{"elapsed less init", 600 * time.Millisecond, out, 600*time.Millisecond - 53548*time.Microsecond, ""},
		{"no init line", time.Second, "START RequestId", 0, "no INIT REPORT"},
		{"init longer than the call", 50 * time.Millisecond, out, 0, "not shorter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := InvocationWall(tc.elapsed, tc.output)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("InvocationWall = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestSandboxCalls(t *testing.T) {
	calls := []sandbox.Call{{Service: "ecs", Operation: "DescribeServices", Time: t0, DurationMS: 103}}
	reqs := []sandbox.Request{{Kind: "slack", Method: "POST", Time: t0.Add(time.Second)}}
	got := SandboxCalls(calls, reqs, 100*time.Millisecond)
	want := []Call{
		{Op: "ecs:DescribeServices", Start: t0, End: t0.Add(103 * time.Millisecond)},
		{Op: "slack:POST", Start: t0.Add(time.Second), End: t0.Add(1100 * time.Millisecond), Estimated: true},
	}
	if len(got) != len(want) {
		t.Fatalf("%d calls, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDelayProxy(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-Target", r.Header.Get("X-Amz-Target"))
		_, _ = w.Write(append([]byte("echo:"), body...))
	}))
	defer target.Close()
	const delay = 30 * time.Millisecond
	p, err := StartDelayProxy(target.URL, delay)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	post := func(op string) string {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+"/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", op)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("X-Seen-Target") != op {
			t.Errorf("target saw X-Amz-Target %q, want %q", resp.Header.Get("X-Seen-Target"), op)
		}
		return string(body)
	}
	if got := post("DynamoDB_20120810.PutItem"); got != "echo:{}" {
		t.Errorf("response %q, want the target's", got)
	}
	post("DynamoDB_20120810.Query")
	calls := p.Calls()
	if len(calls) != 2 || calls[0].Op != "dynamodb:PutItem" || calls[1].Op != "dynamodb:Query" {
		t.Fatalf("calls %+v", calls)
	}
	// The delay is a lower bound by construction (a timer before forwarding): a correctness
	// property of the proxy, not a speed target.
	for _, c := range calls {
		if c.Duration() < delay {
			t.Errorf("%s took %v, less than the delay %v", c.Op, c.Duration(), delay)
		}
	}
	p.Reset()
	if n := len(p.Calls()); n != 0 {
		t.Errorf("%d calls after Reset", n)
	}
	if _, err := StartDelayProxy("not a url", delay); err == nil {
		t.Error("a bad target was accepted")
	}
}

func TestModuleRootAndFunctions(t *testing.T) {
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	fns, err := Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"no-tasks": true, "queue-depth": true, "dlq": true, "memory-high": true}
	for _, fn := range fns {
		delete(want, fn)
	}
	if len(want) > 0 {
		t.Errorf("functions %v lack %v", fns, want)
	}
	if _, err := Functions(t.TempDir()); err == nil {
		t.Error("a folder without functions gave no error")
	}
}
