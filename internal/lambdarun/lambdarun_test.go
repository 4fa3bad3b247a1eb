package lambdarun

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// aws-lambda-rie panics when a second invocation arrives while one runs, so Invoke must send
// them one at a time however many goroutines call it.
func TestInvokeSendsOneInvocationAtATime(t *testing.T) {
	var running, overlaps, served atomic.Int32
	rie := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		served.Add(1)
		_, _ = w.Write([]byte(`{}`))
	}))
	defer rie.Close()
	e := &Emulator{addr: strings.TrimPrefix(rie.URL, "http://")}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := e.Invoke(context.Background(), []byte(`{}`)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if served.Load() != 5 || overlaps.Load() != 0 {
		t.Fatalf("served %d, %d overlapping", served.Load(), overlaps.Load())
	}
}
