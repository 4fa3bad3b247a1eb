package sandbox

import (
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Key is one keyframe of a Shape: value V at offset At from the time the scenario loaded
// (negative = in the past).
type Key struct {
	At time.Duration
	V  float64
}

// Window is a span [From, To) relative to the load time.
type Window struct {
	From, To time.Duration
}

// Shape is a metric's values as a function of time, sampled at 1-minute resolution: linear
// between keyframes, with deterministic noise (the same minute always reads the same value),
// clamped, with gaps. It is data so scenarios stay easy to read and tune.
type Shape struct {
	Keys     []Key   // sorted by At; there is no data before the first key
	Noise    float64 // uniform noise in [-Noise, +Noise]
	Continue bool    // after the last key keep the last segment's slope; otherwise hold the last value
	Min      float64 // values are clamped to [Min, Max]
	Max      float64 // 0 means no upper bound
	Gaps     []Window
	Integer  bool // round to whole numbers (counts)
}

// MetricRef names one CloudWatch metric: namespace, name and the exact dimension set.
type MetricRef struct {
	Namespace  string
	Name       string
	Dimensions map[string]string
}

func (m MetricRef) key() string { return seriesKey(m.Namespace, m.Name, m.Dimensions) }

func seriesKey(ns, name string, dims map[string]string) string {
	parts := make([]string, 0, len(dims))
	for _, k := range slices.Sorted(maps.Keys(dims)) {
		parts = append(parts, k+"="+dims[k])
	}
	return ns + "|" + name + "|" + strings.Join(parts, ",")
}

// Trigger is a simulated event that can change metrics.
type Trigger string

const (
	// TriggerRestart fires when a new deployment of a service (forced restart, rollback, new
	// task definition) completes with its tasks running.
	TriggerRestart Trigger = "restart"
	// TriggerScaleUp fires when a raised desired count is met by running tasks.
	TriggerScaleUp Trigger = "scale-up"
)

// Reaction is one explicit rule of the simulation: when On happens to Service ("ingestor"
// or "worker"), Metric moves from its current value toward Level by PerMinute (0: at once)
// and stays there.
type Reaction struct {
	On        Trigger
	Service   string
	Metric    MetricRef
	Level     float64
	PerMinute float64
	Noise     float64
}

type override struct {
	from      time.Time
	start     float64
	level     float64
	perMinute float64
	noise     float64
}

type series struct {
	ref       MetricRef
	shape     Shape
	overrides []override // ascending by from
	seed      uint64
	// derived, when set, computes the value from the simulation's state instead of the
	// shape (Container Insights' RunningTaskCount from the tasks). Callers hold s.mu.
	derived func(t time.Time) (float64, bool)
}

func fnv64(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// unitNoise maps (seed, minute) to a deterministic value in [-1, 1] (splitmix64).
func unitNoise(seed uint64, minute int64) float64 {
	z := seed + uint64(minute)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11)/float64(1<<53)*2 - 1
}

// eval returns the shape's value at offset off (from the load time) for the absolute minute
// index minute (used only to seed the noise).
func (sh *Shape) eval(off time.Duration, seed uint64, minute int64) (float64, bool) {
	if len(sh.Keys) == 0 || off < sh.Keys[0].At {
		return 0, false
	}
	for _, g := range sh.Gaps {
		if off >= g.From && off < g.To {
			return 0, false
		}
	}
	var v float64
	last := sh.Keys[len(sh.Keys)-1]
	switch {
	case off >= last.At:
		v = last.V
		if sh.Continue && len(sh.Keys) > 1 {
			prev := sh.Keys[len(sh.Keys)-2]
			if span := last.At - prev.At; span > 0 {
				v += (last.V - prev.V) * float64(off-last.At) / float64(span)
			}
		}
	default:
		i := segment(sh.Keys, off)
		a, b := sh.Keys[i], sh.Keys[i+1]
		if span := b.At - a.At; span > 0 {
			v = a.V + (b.V-a.V)*float64(off-a.At)/float64(span)
		} else {
			v = b.V
		}
	}
	v += sh.Noise * unitNoise(seed, minute)
	return sh.clamp(v), true
}

// segment returns i such that keys[i].At <= off < keys[i+1].At (keys has ≥ 2 entries and
// off is inside them).
func segment(keys []Key, off time.Duration) int {
	for i := 0; i+1 < len(keys); i++ {
		if off < keys[i+1].At {
			return i
		}
	}
	return len(keys) - 2
}

func (sh *Shape) clamp(v float64) float64 {
	if v < sh.Min {
		v = sh.Min
	}
	if sh.Max != 0 && v > sh.Max {
		v = sh.Max
	}
	if sh.Integer {
		v = math.Round(v)
	}
	return v
}

// value is the series at minute t (t on a minute boundary), loadedAt being the scenario's
// load time. Overrides (reactions) replace the shape from their start on.
func (sr *series) value(t, loadedAt time.Time) (float64, bool) {
	if sr.derived != nil {
		return sr.derived(t)
	}
	minute := t.Unix() / 60
	for i := len(sr.overrides) - 1; i >= 0; i-- {
		o := sr.overrides[i]
		if t.Before(o.from) {
			continue
		}
		v := o.level
		if o.perMinute > 0 {
			step := o.perMinute * t.Sub(o.from).Minutes()
			if o.start > o.level {
				v = math.Max(o.level, o.start-step)
			} else {
				v = math.Min(o.level, o.start+step)
			}
		}
		v += o.noise * unitNoise(sr.seed^0x5bd1e995, minute)
		return sr.shape.clamp(v), true
	}
	return sr.shape.eval(t.Sub(loadedAt), sr.seed, minute)
}

// current is the latest value at or before t (looking back up to 15 minutes).
func (sr *series) current(t, loadedAt time.Time) (float64, bool) {
	m := t.Truncate(time.Minute)
	for i := 0; i <= 15; i++ {
		if v, ok := sr.value(m.Add(-time.Duration(i)*time.Minute), loadedAt); ok {
			return v, true
		}
	}
	return 0, false
}

// addSeries registers a series under its reference and any alias dimension sets (e.g. the
// Amazon MQ queue metrics with and without VirtualHost). Callers hold s.mu.
func (s *Sandbox) addSeries(ref MetricRef, shape Shape, aliases ...map[string]string) {
	sr := &series{ref: ref, shape: shape, seed: fnv64(ref.key())}
	s.series[ref.key()] = sr
	for _, dims := range aliases {
		s.series[seriesKey(ref.Namespace, ref.Name, dims)] = sr
	}
}

// ECSMetric names an AWS/ECS metric (CPUUtilization, MemoryUtilization) of one of the
// environment's services, with the dimensions the runbook uses (ClusterName, ServiceName).
func (s *Sandbox) ECSMetric(service, name string) MetricRef {
	return MetricRef{Namespace: "AWS/ECS", Name: name, Dimensions: map[string]string{"ClusterName": s.names.Cluster, "ServiceName": service}}
}

// QueueMetric names AWS/AmazonMQ MessageCount of a queue on the environment's broker with the
// runbook's dimensions (Broker, Queue). The same series also answers to Amazon MQ's
// (Broker, VirtualHost "/", Queue).
func (s *Sandbox) QueueMetric(queue string) MetricRef {
	return MetricRef{Namespace: "AWS/AmazonMQ", Name: "MessageCount", Dimensions: map[string]string{"Broker": s.names.Broker, "Queue": queue}}
}

// SetMetric replaces the shape of a metric (creating it if needed) and drops the reactions'
// effects on it. Offsets in shape are relative to the current scenario's load time.
func (s *Sandbox) SetMetric(ref MetricRef, shape Shape) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sr, ok := s.series[ref.key()]; ok {
		sr.shape = shape
		sr.overrides = nil
		return
	}
	s.addSeries(ref, shape)
}

// MetricValue is the metric's value at minute t as GetMetricData's raw 1-minute data has it.
func (s *Sandbox) MetricValue(ref MetricRef, t time.Time) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr, ok := s.series[ref.key()]
	if !ok || t.After(s.now()) {
		return 0, false
	}
	return sr.value(t.Truncate(time.Minute), s.loadedAt)
}

// AddReaction adds a simulation rule for the loaded scenario (LoadScenario resets them).
// Service is "ingestor" or "worker". Later rules win over earlier ones for the same metric.
func (s *Sandbox) AddReaction(r Reaction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reactions = append(s.reactions, r)
}

// react applies the reactions for trigger on svc at time at. Callers hold s.mu.
func (s *Sandbox) react(trigger Trigger, svc *service, at time.Time) {
	for _, r := range s.reactions {
		if r.On != trigger || r.Service != svc.role {
			continue
		}
		sr, ok := s.series[r.Metric.key()]
		if !ok {
			continue
		}
		cur, ok := sr.current(at, s.loadedAt)
		if !ok {
			cur = r.Level
		}
		// The change shows from the current minute on: CloudWatch's latest minute is still
		// being aggregated, and a test with a frozen clock sees the effect at once. A gradual
		// change has already made its first minute's step there, so the newest datapoint
		// turns the moment the cause is met (a verification polling for "falling" sees it).
		from := at.Truncate(time.Minute)
		start := cur
		if r.PerMinute > 0 && cur > r.Level {
			start = math.Max(r.Level, cur-r.PerMinute)
		} else if r.PerMinute > 0 && cur < r.Level {
			start = math.Min(r.Level, cur+r.PerMinute)
		}
		sr.overrides = append(sr.overrides, override{from: from, start: start, level: r.Level, perMinute: r.PerMinute, noise: r.Noise})
	}
}

// deriveRunningTasks serves Container Insights' RunningTaskCount (ECS/ContainerInsights,
// ClusterName, ServiceName: what the no-tasks alarms watch) for every service from its tasks:
// at minute t, the tasks started by then and not yet stopped. Before the service's first
// task there is no datapoint, as for a service Container Insights did not see. Callers hold
// s.mu.
func (s *Sandbox) deriveRunningTasks() {
	for name := range s.services {
		ref := MetricRef{Namespace: "ECS/ContainerInsights", Name: "RunningTaskCount",
			Dimensions: map[string]string{"ClusterName": s.names.Cluster, "ServiceName": name}}
		if _, ok := s.series[ref.key()]; ok {
			continue
		}
		s.series[ref.key()] = &series{ref: ref, derived: func(t time.Time) (float64, bool) {
			n, seen := 0, false
			for _, tk := range s.tasks {
				if tk.service == nil || tk.service.name != name {
					continue
				}
				if !tk.createdAt.After(t) {
					seen = true
				}
				if !tk.startedAt.IsZero() && !tk.startedAt.After(t) && (tk.stoppedAt.IsZero() || tk.stoppedAt.After(t)) {
					n++
				}
			}
			return float64(n), seen
		}}
	}
}
