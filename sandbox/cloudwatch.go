package sandbox

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// CloudWatch GetMetricData over smithy-rpcv2-cbor.
//
// Data model: every series has at most one raw datapoint per minute (see Shape). A query's
// period buckets are aligned to multiples of the period since the epoch; a bucket is returned
// when it holds at least one raw datapoint, stamped with its start. Statistics are computed
// over the raw datapoints of the bucket (SampleCount = their number). Metric math
// (Expression queries) is not evaluated: such a query answers with StatusCode InternalError
// and a message saying so, so a caller that relies on it fails visibly instead of reading
// made-up numbers.

var metricIDRe = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

func cwInvalid(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidParameterValueException", QueryCode: "InvalidParameterValue", Message: msg}
}

func cwMissing(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "MissingRequiredParameterException", QueryCode: "MissingParameter", Message: msg}
}

func cborStr(m cbor.Map, k string) (string, bool) {
	v, ok := m[k].(cbor.String)
	return string(v), ok
}

func cborInt(m cbor.Map, k string) (int64, bool) {
	v, ok := m[k]
	if !ok {
		return 0, false
	}
	n, err := cbor.AsInt64(v)
	if err != nil {
		f, ferr := cbor.AsFloat64(v)
		if ferr != nil {
			return 0, false
		}
		return int64(f), true
	}
	return n, true
}

type cwQuery struct {
	id, label  string
	returnData bool
	expression string
	ref        MetricRef
	period     int64
	stat       string
}

func parseQueries(list cbor.List) ([]cwQuery, *apiError) {
	if len(list) == 0 {
		return nil, cwMissing("The parameter MetricDataQueries is required.")
	}
	if len(list) > 500 {
		return nil, cwInvalid("The collection MetricDataQueries must not have a size greater than 500.")
	}
	seen := map[string]bool{}
	out := make([]cwQuery, 0, len(list))
	for i, raw := range list {
		member := fmt.Sprintf("MetricDataQueries.member.%d", i+1)
		m, ok := raw.(cbor.Map)
		if !ok {
			return nil, cwInvalid("The parameter " + member + " must be a structure.")
		}
		q := cwQuery{returnData: true}
		q.id, _ = cborStr(m, "Id")
		if !metricIDRe.MatchString(q.id) {
			return nil, cwInvalid(fmt.Sprintf("The value %s for parameter %s.Id is not valid: it must start with a lower-case letter and contain only letters, numbers and underscores.", q.id, member))
		}
		if seen[q.id] {
			return nil, cwInvalid("The values for parameter id in MetricDataQueries are not unique.")
		}
		seen[q.id] = true
		q.label, _ = cborStr(m, "Label")
		if rd, ok := m["ReturnData"].(cbor.Bool); ok {
			q.returnData = bool(rd)
		}
		q.expression, _ = cborStr(m, "Expression")
		ms, hasStat := m["MetricStat"].(cbor.Map)
		if (q.expression != "") == hasStat {
			return nil, cwInvalid("Exactly one element of the " + member + " structure must be specified: MetricStat or Expression.")
		}
		if !hasStat {
			out = append(out, q)
			continue
		}
		metric, ok := ms["Metric"].(cbor.Map)
		if !ok {
			return nil, cwMissing("The parameter " + member + ".MetricStat.Metric is required.")
		}
		q.ref.Namespace, _ = cborStr(metric, "Namespace")
		q.ref.Name, _ = cborStr(metric, "MetricName")
		if q.ref.Name == "" {
			return nil, cwMissing("The parameter " + member + ".MetricStat.Metric.MetricName is required.")
		}
		q.ref.Dimensions = map[string]string{}
		if dims, ok := metric["Dimensions"].(cbor.List); ok {
			for _, d := range dims {
				dm, ok := d.(cbor.Map)
				if !ok {
					continue
				}
				name, _ := cborStr(dm, "Name")
				value, _ := cborStr(dm, "Value")
				q.ref.Dimensions[name] = value
			}
		}
		period, ok := cborInt(ms, "Period")
		if !ok {
			return nil, cwMissing("The parameter " + member + ".MetricStat.Period is required.")
		}
		if period <= 0 || (period >= 60 && period%60 != 0) || (period < 60 && !slices.Contains([]int64{1, 5, 10, 30}, period)) {
			return nil, cwInvalid(fmt.Sprintf("The parameter %s.MetricStat.Period must be 1, 5, 10, 30 or a multiple of 60.", member))
		}
		q.period = period
		q.stat, _ = cborStr(ms, "Stat")
		if _, ok := statFunc(q.stat); !ok {
			return nil, cwInvalid(fmt.Sprintf("The value %s for parameter %s.MetricStat.Stat is not valid (the sandbox serves Average, Maximum, Minimum, Sum, SampleCount and pNN).", q.stat, member))
		}
		out = append(out, q)
	}
	return out, nil
}

// statFunc returns the aggregation for a statistic name.
func statFunc(stat string) (func([]float64) float64, bool) {
	switch stat {
	case "Average":
		return func(v []float64) float64 {
			sum := 0.0
			for _, x := range v {
				sum += x
			}
			return sum / float64(len(v))
		}, true
	case "Maximum":
		return func(v []float64) float64 { return slices.Max(v) }, true
	case "Minimum":
		return func(v []float64) float64 { return slices.Min(v) }, true
	case "Sum":
		return func(v []float64) float64 {
			sum := 0.0
			for _, x := range v {
				sum += x
			}
			return sum
		}, true
	case "SampleCount":
		return func(v []float64) float64 { return float64(len(v)) }, true
	}
	if p, ok := strings.CutPrefix(stat, "p"); ok {
		pct, err := strconv.ParseFloat(p, 64)
		if err != nil || pct < 0 || pct > 100 {
			return nil, false
		}
		return func(v []float64) float64 {
			sorted := slices.Sorted(slices.Values(v))
			// Nearest rank.
			rank := int(math.Ceil(pct / 100 * float64(len(sorted))))
			return sorted[min(max(rank-1, 0), len(sorted)-1)]
		}, true
	}
	return nil, false
}

// Datapoint is one aggregated value of a metric.
type Datapoint struct {
	Time  time.Time
	Value float64
}

// aggregate returns the datapoints of sr between start (inclusive) and end (exclusive), never
// after now, aggregated to period seconds with stat, oldest first.
func (sr *series) aggregate(start, end, now, loadedAt time.Time, period int64, stat string) []Datapoint {
	fn, ok := statFunc(stat)
	if !ok {
		return nil
	}
	if end.After(now) {
		end = now.Add(time.Nanosecond) // the current minute counts
	}
	first := start.Truncate(time.Minute)
	if first.Before(start) {
		first = first.Add(time.Minute)
	}
	var out []Datapoint
	var bucket int64 = math.MinInt64
	var vals []float64
	flush := func() {
		if len(vals) > 0 {
			out = append(out, Datapoint{Time: time.Unix(bucket, 0).UTC(), Value: fn(vals)})
		}
		vals = vals[:0]
	}
	for t := first; t.Before(end); t = t.Add(time.Minute) {
		v, ok := sr.value(t, loadedAt)
		if !ok {
			continue
		}
		b := t.Unix() - floorMod(t.Unix(), period)
		if b != bucket {
			flush()
			bucket = b
		}
		vals = append(vals, v)
	}
	flush()
	return out
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// maxMinutes bounds one query's scan (about 15 days of 1-minute data).
const maxMinutes = 15 * 24 * 60

func (s *Sandbox) cwGetMetricData(c *awsCall) (any, *apiError) {
	in, aerr := cborRequest(c)
	if aerr != nil {
		return nil, aerr
	}
	startV, okStart := in["StartTime"]
	endV, okEnd := in["EndTime"]
	if !okStart || !okEnd {
		return nil, cwMissing("The parameters StartTime and EndTime are required.")
	}
	start, err1 := cbor.AsTime(startV)
	end, err2 := cbor.AsTime(endV)
	if err1 != nil || err2 != nil {
		return nil, errClient(http.StatusBadRequest, "SerializationException", "StartTime and EndTime must be epoch timestamps (tag 1)")
	}
	if !end.After(start) {
		return nil, cwInvalid("The parameter StartTime must be less than the parameter EndTime.")
	}
	if end.Sub(start) > maxMinutes*time.Minute {
		start = end.Add(-maxMinutes * time.Minute)
	}
	scanBy := "TimestampDescending"
	if sb, ok := cborStr(in, "ScanBy"); ok && sb != "" {
		if sb != "TimestampDescending" && sb != "TimestampAscending" {
			return nil, cwInvalid("The value " + sb + " for parameter ScanBy is not valid.")
		}
		scanBy = sb
	}
	list, _ := in["MetricDataQueries"].(cbor.List)
	queries, aerr := parseQueries(list)
	if aerr != nil {
		return nil, aerr
	}
	now := s.now()
	results := cbor.List{}
	for _, q := range queries {
		if !q.returnData {
			continue
		}
		res := cbor.Map{"Id": cbor.String(q.id)}
		if q.expression != "" {
			res["Label"] = cbor.String(orDefault(q.label, q.id))
			res["Timestamps"] = cbor.List{}
			res["Values"] = cbor.List{}
			res["StatusCode"] = cbor.String("InternalError")
			res["Messages"] = cbor.List{cbor.Map{
				"Code":  cbor.String("Unsupported"),
				"Value": cbor.String("sandbox: metric math expressions are not evaluated"),
			}}
			results = append(results, res)
			continue
		}
		res["Label"] = cbor.String(orDefault(q.label, q.ref.Name))
		var points []Datapoint
		if sr, ok := s.series[q.ref.key()]; ok {
			points = sr.aggregate(start, end, now, s.loadedAt, q.period, q.stat)
		}
		if scanBy == "TimestampDescending" {
			slices.Reverse(points)
		}
		ts := make(cbor.List, len(points))
		vals := make(cbor.List, len(points))
		for i, p := range points {
			ts[i] = &cbor.Tag{ID: 1, Value: cbor.Uint(p.Time.Unix())}
			vals[i] = cbor.Float64(p.Value)
		}
		res["Timestamps"] = ts
		res["Values"] = vals
		res["StatusCode"] = cbor.String("Complete")
		results = append(results, res)
	}
	return cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}, nil
}

// cborRequest decodes an rpcv2-cbor request body into its input map.
func cborRequest(c *awsCall) (cbor.Map, *apiError) {
	if c.r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		return nil, errClient(http.StatusBadRequest, "SerializationException", "missing Smithy-Protocol: rpc-v2-cbor header")
	}
	v, err := cbor.Decode(c.body)
	if err != nil {
		return nil, errClient(http.StatusBadRequest, "SerializationException", "could not decode the CBOR request: "+err.Error())
	}
	in, ok := v.(cbor.Map)
	if !ok {
		return nil, errClient(http.StatusBadRequest, "SerializationException", "the request is not a CBOR map")
	}
	return in, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Datapoints is what GetMetricData would answer for one metric (oldest first); tests and
// tools use it to compare with what the functions read.
func (s *Sandbox) Datapoints(ref MetricRef, start, end time.Time, period time.Duration, stat string) []Datapoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr, ok := s.series[ref.key()]
	if !ok {
		return nil
	}
	return sr.aggregate(start, end, s.now(), s.loadedAt, int64(period/time.Second), stat)
}
