// Package metrics reads CloudWatch metric series with GetMetricData (the current Go client
// speaks smithy-rpcv2-cbor) and returns them oldest first, with missing periods as gaps, so
// trend classification sees the real shape of the data.
package metrics

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// API is the one CloudWatch operation used here.
type API interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

var _ API = (*cloudwatch.Client)(nil)

// Client reads metrics.
type Client struct{ API API }

// Query names one metric series to fetch.
type Query struct {
	ID         string // lower-case letter first, as CloudWatch requires
	Namespace  string
	Metric     string
	Dimensions map[string]string
	Stat       string // Average, Maximum, ...
	Period     time.Duration
}

// Point is one datapoint.
type Point struct {
	T time.Time
	V float64
}

// Series is a metric over a window, oldest first, one point per period; periods without data
// are present with V = NaN so gaps stay visible.
type Series struct {
	ID     string
	Label  string
	Period time.Duration
	Points []Point
}

// Values returns the values (NaN for gaps).
func (s Series) Values() []float64 {
	out := make([]float64, len(s.Points))
	for i, p := range s.Points {
		out[i] = p.V
	}
	return out
}

// Last returns the newest datapoint that is not a gap.
func (s Series) Last() (Point, bool) {
	for i := len(s.Points) - 1; i >= 0; i-- {
		if !math.IsNaN(s.Points[i].V) {
			return s.Points[i], true
		}
	}
	return Point{}, false
}

// Present counts the points that are not gaps.
func (s Series) Present() int {
	n := 0
	for _, p := range s.Points {
		if !math.IsNaN(p.V) {
			n++
		}
	}
	return n
}

// Fetch reads the queries over [start, end) in one GetMetricData call (paginated).
func (c Client) Fetch(ctx context.Context, start, end time.Time, qs ...Query) (map[string]Series, error) {
	in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end), ScanBy: types.ScanByTimestampAscending}
	for _, q := range qs {
		var dims []types.Dimension
		names := make([]string, 0, len(q.Dimensions))
		for k := range q.Dimensions {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			dims = append(dims, types.Dimension{Name: aws.String(k), Value: aws.String(q.Dimensions[k])})
		}
		in.MetricDataQueries = append(in.MetricDataQueries, types.MetricDataQuery{
			Id: aws.String(q.ID), ReturnData: aws.Bool(true),
			MetricStat: &types.MetricStat{
				Metric: &types.Metric{Namespace: aws.String(q.Namespace), MetricName: aws.String(q.Metric), Dimensions: dims},
				Period: aws.Int32(int32(q.Period / time.Second)), Stat: aws.String(q.Stat),
			},
		})
	}
	raw := map[string]map[int64]float64{}
	labels := map[string]string{}
	for pages := 0; pages < 20; pages++ {
		out, err := c.API.GetMetricData(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("get metric data (%s): %w", describe(qs), err)
		}
		for _, r := range out.MetricDataResults {
			id := aws.ToString(r.Id)
			if r.StatusCode == types.StatusCodeForbidden || r.StatusCode == types.StatusCodeInternalError {
				return nil, fmt.Errorf("get metric data %s: status %s", id, r.StatusCode)
			}
			if raw[id] == nil {
				raw[id] = map[int64]float64{}
			}
			labels[id] = aws.ToString(r.Label)
			for i := range min(len(r.Timestamps), len(r.Values)) {
				raw[id][r.Timestamps[i].Unix()] = r.Values[i]
			}
		}
		if in.NextToken = out.NextToken; in.NextToken == nil {
			break
		}
	}
	res := make(map[string]Series, len(qs))
	for _, q := range qs {
		res[q.ID] = grid(q, labels[q.ID], raw[q.ID], start, end)
	}
	return res, nil
}

// grid lays the datapoints on a regular grid of the query's period, NaN where missing.
func grid(q Query, label string, pts map[int64]float64, start, end time.Time) Series {
	s := Series{ID: q.ID, Label: label, Period: q.Period}
	step := int64(q.Period / time.Second)
	if step <= 0 {
		step = 60
	}
	first := start.Unix() - start.Unix()%step
	if first < start.Unix() {
		first += step
	}
	for t := first; t < end.Unix(); t += step {
		v, ok := pts[t]
		if !ok {
			v = math.NaN()
		}
		s.Points = append(s.Points, Point{T: time.Unix(t, 0).UTC(), V: v})
	}
	// Datapoints off the grid (CloudWatch aligns to the period, but be tolerant): add and sort.
	for t, v := range pts {
		if (t-first)%step != 0 || t < first || t >= end.Unix() {
			s.Points = append(s.Points, Point{T: time.Unix(t, 0).UTC(), V: v})
		}
	}
	sort.Slice(s.Points, func(i, j int) bool { return s.Points[i].T.Before(s.Points[j].T) })
	return s
}

func describe(qs []Query) string {
	out := ""
	for i, q := range qs {
		if i > 0 {
			out += ", "
		}
		out += q.Namespace + " " + q.Metric
	}
	return out
}

// QueueDepth is the AWS/AmazonMQ MessageCount of a queue at one-minute resolution, under the
// query id "depth".
func QueueDepth(broker, vhost, queue string) Query {
	return Query{ID: "depth", Namespace: "AWS/AmazonMQ", Metric: "MessageCount", Stat: "Average", Period: time.Minute,
		Dimensions: map[string]string{"Broker": broker, "VirtualHost": vhost, "Queue": queue}}
}
