// Package alarmstate reads CloudWatch alarms' current states with DescribeAlarms: an incident
// closes only when its member alarms read back OK, and a follow-up re-runs a playbook on an
// alarm rebuilt from what CloudWatch says now rather than from an old notification.
package alarmstate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/incident"
)

// maxNames is DescribeAlarms' limit on AlarmNames per call.
const maxNames = 100

// API is the part of the CloudWatch client this package uses; *cloudwatch.Client satisfies it.
type API interface {
	DescribeAlarms(ctx context.Context, params *cloudwatch.DescribeAlarmsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
}

// Reader reads alarm states.
type Reader struct {
	api API
}

// New returns a Reader over api.
func New(api API) (*Reader, error) {
	if api == nil {
		return nil, errors.New("alarmstate: no CloudWatch client")
	}
	return &Reader{api: api}, nil
}

// Describe returns the metric alarms with the given names, following every page, 100 names
// per call. Names that CloudWatch does not know are simply absent from the result.
func (r *Reader) Describe(ctx context.Context, names []string) ([]types.MetricAlarm, error) {
	var out []types.MetricAlarm
	for chunk := range slices.Chunk(names, maxNames) {
		in := &cloudwatch.DescribeAlarmsInput{
			AlarmNames: chunk,
			AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm},
			MaxRecords: aws.Int32(100),
		}
		for page := 1; ; page++ {
			res, err := r.api.DescribeAlarms(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("describe %d alarms (page %d): %w", len(chunk), page, err)
			}
			out = append(out, res.MetricAlarms...)
			if aws.ToString(res.NextToken) == "" {
				break
			}
			in.NextToken = res.NextToken
		}
	}
	return out, nil
}

// States returns the current state of each named alarm that exists, by name. An alarm missing
// from the map does not exist (incident.ShouldClose decides what that means).
func (r *Reader) States(ctx context.Context, names []string) (map[string]incident.AlarmState, error) {
	alarms, err := r.Describe(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]incident.AlarmState, len(alarms))
	for _, a := range alarms {
		name := aws.ToString(a.AlarmName)
		out[name] = incident.AlarmState{
			Name:      name,
			State:     string(a.StateValue),
			Reason:    aws.ToString(a.StateReason),
			UpdatedAt: aws.ToTime(a.StateUpdatedTimestamp),
		}
	}
	return out, nil
}

// ToAlarm builds the alarm.Alarm a follow-up runs a playbook on, from a DescribeAlarms answer:
// the current state and its time, the metric, dimensions and threshold. PreviousState is not
// known from DescribeAlarms and stays empty; Source is alarm.SourceDirect.
func ToAlarm(m types.MetricAlarm) alarm.Alarm {
	a := alarm.Alarm{
		Name:        aws.ToString(m.AlarmName),
		Description: aws.ToString(m.AlarmDescription),
		ARN:         aws.ToString(m.AlarmArn),
		State:       alarm.State(m.StateValue),
		Reason:      aws.ToString(m.StateReason),
		ChangedAt:   aws.ToTime(m.StateUpdatedTimestamp),
		Namespace:   aws.ToString(m.Namespace),
		MetricName:  aws.ToString(m.MetricName),
		Dimensions:  map[string]string{},
		Threshold:   aws.ToFloat64(m.Threshold),
		Period:      int64(aws.ToInt32(m.Period)),
		Source:      alarm.SourceDirect,
	}
	for _, d := range m.Dimensions {
		a.Dimensions[aws.ToString(d.Name)] = aws.ToString(d.Value)
	}
	if arn := a.ARN; arn != "" {
		// arn:aws:cloudwatch:<region>:<account>:alarm:<name>
		parts := strings.SplitN(arn, ":", 6)
		if len(parts) == 6 {
			a.RegionCode, a.AccountID = parts[3], parts[4]
			a.Region = a.RegionCode
		}
	}
	var stat string
	if m.Statistic != "" {
		stat = string(m.Statistic)
	} else {
		stat = aws.ToString(m.ExtendedStatistic)
	}
	a.Metrics = []alarm.Metric{{ID: "m1", Namespace: a.Namespace, MetricName: a.MetricName, Dimensions: a.Dimensions, Stat: stat, Period: a.Period}}
	return a
}

// Alarms reads the named metric alarms as alarm.Alarm values (see ToAlarm); unknown names are
// left out.
func (r *Reader) Alarms(ctx context.Context, names []string) ([]alarm.Alarm, error) {
	ms, err := r.Describe(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]alarm.Alarm, 0, len(ms))
	for _, m := range ms {
		out = append(out, ToAlarm(m))
	}
	return out, nil
}
