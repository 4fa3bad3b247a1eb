package playbook

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/arrakis/gp-remediation/pkg/report"
)

// Probe is one diagnostic step. Run writes its findings into the evidence through a closure;
// probes of one batch run concurrently, so each must write only its own fields.
type Probe struct {
	Name    string
	Timeout time.Duration // 0: the batch default
	Run     func(ctx context.Context) error
}

// RunProbes runs the probes concurrently, each under its own timeout, and returns their
// diagnostics in the order given. A probe that panics is reported as failed, not fatal: one
// broken adapter must not cost the whole diagnosis.
func RunProbes(ctx context.Context, def time.Duration, probes ...Probe) []report.Diagnostic {
	out := make([]report.Diagnostic, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := p.Timeout
			if timeout <= 0 {
				timeout = def
			}
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := runProbe(pctx, p)
			d := report.Diagnostic{Name: p.Name, OK: err == nil, MS: time.Since(start).Milliseconds()}
			if err != nil {
				d.Error = err.Error()
				if pctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
					d.Error = fmt.Sprintf("timed out after %s: %v", timeout, err)
				}
			}
			out[i] = d
		}()
	}
	wg.Wait()
	return out
}

func runProbe(ctx context.Context, p Probe) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("probe panicked: %v", r)
		}
	}()
	return p.Run(ctx)
}

// Failed returns the names of the failed diagnostics, for Decide's "missing evidence" checks.
func Failed(ds []report.Diagnostic) map[string]string {
	m := map[string]string{}
	for _, d := range ds {
		if !d.OK {
			m[d.Name] = d.Error
		}
	}
	return m
}
