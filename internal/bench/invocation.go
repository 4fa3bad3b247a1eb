package bench

import "time"

// Invocation is one invocation timed under added latency: what BenchmarkDiagnoseLatency
// measured and what docs/benchmarks.md shows of it (GPR_BENCH_DETAILS).
type Invocation struct {
	Case     string        `json:"case"`
	Scenario string        `json:"scenario"`
	Mode     string        `json:"mode"`
	Finding  string        `json:"finding"`
	Latency  time.Duration `json:"latencyNs"`
	Wall     time.Duration `json:"wallNs"`
	Calls    []Call        `json:"calls"` // attributed (see Attribute)
}

// Chain is the invocation's longest chain of dependent calls.
func (iv Invocation) Chain() []Call { return Chain(iv.Calls) }

// PerCall is the median recorded call duration (the added latency and the sandbox's answer).
func (iv Invocation) PerCall() time.Duration { return MedianDuration(iv.Calls) }

// Ratio is wall ÷ (chain length × per-call time): 1 when the wall time is the chain's and
// nothing else; each probe that waits for another adds about 1/len(chain).
func (iv Invocation) Ratio() float64 {
	n, per := len(iv.Chain()), iv.PerCall()
	if n == 0 || per <= 0 {
		return 0
	}
	return float64(iv.Wall) / (float64(n) * float64(per))
}
