// Package lambdarun runs a built function `bootstrap` under the Lambda Runtime Interface
// Emulator (aws-lambda-rie) and invokes it, the way `make invoke`, `make demo`, the
// end-to-end tests and the cold-start benchmark do. The function then goes through the same
// runtime API, the same init and the same payload decoding as in Lambda.
package lambdarun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options describe one emulated function.
type Options struct {
	RIE       string            // path to the aws-lambda-rie binary
	Bootstrap string            // path to the function's bootstrap (built for this host)
	Env       map[string]string // the function's environment (added to a minimal base)
	Timeout   time.Duration     // the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT), default 120 s
	Output    io.Writer         // where the emulator's and the function's output goes, besides the capture
}

// Emulator is a running aws-lambda-rie with one function.
type Emulator struct {
	cmd  *exec.Cmd
	addr string
	out  *syncBuffer
	done chan struct{}
	// invoking holds one invocation at a time: aws-lambda-rie runs one, and a second sent
	// while one runs makes it panic ("ReserveFailed: AlreadyReserved", then a nil pointer in
	// rapidcore.(*Server).Invoke) and exit, so an asynchronous invocation the function made of
	// itself and the caller's next one must queue here, as Lambda would queue them.
	invoking sync.Mutex
}

// Start launches the emulator on free ports and waits until it accepts invocations. The ports
// are found free, then handed to the emulator: another process may take one in between (the
// emulator then exits with "address already in use"), so that case is retried on new ports.
func Start(ctx context.Context, o Options) (*Emulator, error) {
	for attempt := 1; ; attempt++ {
		e, err := start(ctx, o)
		if err == nil || attempt == 3 || !errors.Is(err, errPortTaken) {
			return e, err
		}
	}
}

// errPortTaken says the emulator could not listen on a port chosen for it.
var errPortTaken = errors.New("a port chosen for the emulator was taken")

func start(ctx context.Context, o Options) (*Emulator, error) {
	if o.Timeout <= 0 {
		o.Timeout = 120 * time.Second
	}
	bootstrap, err := filepath.Abs(o.Bootstrap)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bootstrap); err != nil {
		return nil, fmt.Errorf("bootstrap %s: %w (run make build-host)", o.Bootstrap, err)
	}
	rieBin, err := filepath.Abs(o.RIE)
	if err != nil {
		return nil, err
	}
	rieAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rieBin, "--runtime-interface-emulator-address", rieAddr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = baseEnv(o)
	out := &syncBuffer{}
	var w io.Writer = out
	if o.Output != nil {
		w = io.MultiWriter(out, o.Output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	// A process group of its own: Stop ends the emulator and the function together, so the
	// function neither outlives it nor complains that its runtime API went away.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.RIE, err)
	}
	e := &Emulator{cmd: cmd, addr: rieAddr, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(e.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", rieAddr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e, nil
		}
		select {
		case <-e.done:
			if strings.Contains(out.String(), "address already in use") {
				return nil, fmt.Errorf("aws-lambda-rie exited at start: %w", errPortTaken)
			}
			return nil, fmt.Errorf("aws-lambda-rie exited at start: %s", tail(out.String(), 2000))
		case <-ctx.Done():
			e.Stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("aws-lambda-rie did not listen on %s within 15s", rieAddr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// baseEnv is a clean environment: PATH and HOME from ours, no AWS settings of the caller's
// unless passed in Env (so a developer's real credentials never reach a sandbox run).
func baseEnv(o Options) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(o.Timeout/time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_LOG_FORMAT=JSON",
	}
	for k, v := range o.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// Invoke sends one event and returns the function's response body (the Result JSON, or the
// runtime's error object). Invocations from several goroutines run one after the other.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	e.invoking.Lock()
	defer e.invoking.Unlock()
	url := e.InvokeURL()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, tail(string(body), 500))
	}
	return body, nil
}

// InvokeURL is where the emulator takes invocations (Lambda's Invoke path, function name
// "function"). Invoke queues concurrent invocations; a caller posting there itself does not.
func (e *Emulator) InvokeURL() string {
	return "http://" + e.addr + "/2015-03-31/functions/function/invocations"
}

// Output is everything the emulator and the function printed so far.
func (e *Emulator) Output() string { return e.out.String() }

var initReport = regexp.MustCompile(`INIT REPORT[^\n]*?durationMs:\s*([0-9.]+)`)

// InitDuration is the function's init time as the emulator measured it ("INIT REPORT").
func (e *Emulator) InitDuration() (time.Duration, error) {
	m := initReport.FindStringSubmatch(e.out.String())
	if m == nil {
		return 0, errors.New("no INIT REPORT line in the emulator output")
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// LogLines returns the function's structured log lines (JSON objects), as Lambda would ship
// them to CloudWatch Logs.
func (e *Emulator) LogLines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(e.out.String()))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "{") {
			out = append(out, l)
		}
	}
	return out
}

// Stop ends the emulator and its function (the whole process group).
func (e *Emulator) Stop() {
	if e.cmd.Process != nil {
		// The emulator starts the function in a session of its own: end the function first,
		// or it notices the emulator gone and says so ("failed to get the next invoke").
		for _, pid := range children(e.cmd.Process.Pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL); err != nil {
			_ = e.cmd.Process.Kill()
		}
	}
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
	}
}

// children lists the child processes of pid, started from any of its threads (Linux /proc;
// none elsewhere).
func children(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(field); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
