package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

func TestSplitShell(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{"plain words", " -tags lambda.norpc  -trimpath ", []string{"-tags", "lambda.norpc", "-trimpath"}, false},
		{"double quotes group", `-ldflags "-s -w" "-gcflags=github.com/aws/...=-l"`, []string{"-ldflags", "-s -w", "-gcflags=github.com/aws/...=-l"}, false},
		{"single quotes and joined parts", `-ldflags='-s -w'x`, []string{"-ldflags=-s -wx"}, false},
		{"escapes", `a\ b "c\"d"`, []string{"a b", `c"d`}, false},
		{"empty", "  ", nil, false},
		{"unterminated double quote", `-ldflags "-s`, nil, true},
		{"unterminated single quote", `-ldflags '-s`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SplitShell(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("SplitShell(%q) error %v", tc.in, err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("SplitShell(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMakefileBuildFlags(t *testing.T) {
	tests := []struct {
		name     string
		makefile string
		want     []string
		wantErr  string
	}{
		{"simple", "GO ?= go\nBUILD_FLAGS := -tags lambda.norpc -trimpath -ldflags \"-s -w\"\nall:\n\tgo build $(BUILD_FLAGS)\n",
			[]string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}, ""},
		{"continued, commented and appended", "# BUILD_FLAGS := no\nBUILD_FLAGS = -tags x \\\n  -trimpath # why\nBUILD_FLAGS += -v\n",
			[]string{"-tags", "x", "-trimpath", "-v"}, ""},
		{"a recipe line is not an assignment", "x:\n\tBUILD_FLAGS=1 go build\nBUILD_FLAGS := -a\n", []string{"-a"}, ""},
		{"variables cannot be resolved", "BUILD_FLAGS := $(TAGS) -trimpath\n", nil, "cannot read it without make"},
		{"absent", "GO := go\n", nil, "has no BUILD_FLAGS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte(tc.makefile), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := MakefileBuildFlags(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("flags %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// The module's own Makefile: whatever it says, it builds with lambda.norpc and strips.
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	flags, err := MakefileBuildFlags(root)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(flags, " ")
	for _, want := range []string{"lambda.norpc", "-trimpath", "-s -w"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the Makefile's BUILD_FLAGS %q lack %q", flags, want)
		}
	}
}
