package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestListAndPrintEnv(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-list"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "worker-bad-deployment") {
		t.Errorf("-list: %d %q %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"-print-env", "-addr", "127.0.0.1:4599", "-env", "production"}, &out, &errOut); code != 0 {
		t.Fatalf("-print-env: %d %s", code, errOut.String())
	}
	for _, want := range []string{"AWS_ENDPOINT_URL=http://127.0.0.1:4599\n", "GPR_ENV=production\n", "GPR_PAGERDUTY_URL=http://127.0.0.1:4599/_sandbox/pagerduty/v2/enqueue\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-print-env lacks %q:\n%s", want, out.String())
		}
	}
	if code := run(context.Background(), []string{"-scenario", "nope", "-addr", "127.0.0.1:0"}, io.Discard, &errOut); code != 2 {
		t.Errorf("unknown scenario: exit %d", code)
	}
	if code := run(context.Background(), []string{"-bogus"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
}

func TestServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-scenario", "ingestor-oom", "-task-start-delay", "100ms"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("read the URL line: %v", err)
	}
	url := strings.TrimSpace(line)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first stdout line %q", line)
	}
	resp, err := http.Get(url + "/_sandbox/scenario")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Name string }
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Name != "ingestor-oom" {
		t.Errorf("scenario %q", got.Name)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	go io.Copy(io.Discard, pr)
}
