package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/arrakis/gp-remediation/sandbox"
)

// calls of every protocol, as the functions make them.
func opCalls(c *clients) map[string]func(context.Context) error {
	now := time.Now()
	return map[string]func(context.Context) error{
		"ecs:DescribeServices": func(ctx context.Context) error {
			_, err := c.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(c.names.Cluster), Services: []string{c.names.WorkerService}})
			return err
		},
		"cloudwatch:GetMetricData": func(ctx context.Context) error {
			_, err := c.cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
				MetricDataQueries: []cwtypes.MetricDataQuery{statQuery("m", "AWS/ECS", "CPUUtilization", 60, "Average", c.memory(c.names.WorkerService))}})
			return err
		},
		"logs:FilterLogEvents": func(ctx context.Context) error {
			_, err := c.logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(c.names.WorkerLogGroup)})
			return err
		},
		"secretsmanager:GetSecretValue": func(ctx context.Context) error {
			_, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.names.RabbitSecret)})
			return err
		},
		"ssm:GetParameter": func(ctx context.Context) error {
			_, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(c.names.KillSwitchParam)})
			return err
		},
		"sns:Publish": func(ctx context.Context) error {
			_, err := c.sns.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(c.sandbox.ReportTopicARN()), Message: aws.String("m")})
			return err
		},
	}
}

func TestFaultsAsTheSDKSeesThem(t *testing.T) {
	c := start(t, "healthy")
	ops := opCalls(c)
	throttleCode := map[string]string{"cloudwatch:GetMetricData": "Throttling", "sns:Publish": "Throttling"}
	isThrottle := retry.IsErrorThrottles(retry.DefaultThrottles)
	isRetryable := retry.IsErrorRetryables(retry.DefaultRetryables)

	for op, call := range ops {
		t.Run(op, func(t *testing.T) {
			if err := call(ctx(t)); err != nil {
				t.Fatalf("without a fault: %v", err)
			}
			t.Run("throttle", func(t *testing.T) {
				if _, err := c.sandbox.InjectFault(sandbox.Fault{Op: op, Kind: sandbox.FaultThrottle, Times: 1}); err != nil {
					t.Fatal(err)
				}
				err := call(ctx(t))
				var api smithy.APIError
				want := throttleCode[op]
				if want == "" {
					want = "ThrottlingException"
				}
				if !errors.As(err, &api) || api.ErrorCode() != want {
					t.Fatalf("got %T %v, want API error %s", err, err, want)
				}
				if isThrottle.IsErrorThrottle(err) != aws.TrueTernary {
					t.Errorf("the retryer does not see %v as a throttle", err)
				}
				if err := call(ctx(t)); err != nil {
					t.Errorf("after the one throttle: %v", err)
				}
			})
			for _, k := range []struct {
				kind   sandbox.FaultKind
				status int
				code   string
			}{{sandbox.FaultUnavailable, 503, "ServiceUnavailable"}, {sandbox.FaultInternal, 500, "InternalFailure"}} {
				t.Run(string(k.kind), func(t *testing.T) {
					if _, err := c.sandbox.InjectFault(sandbox.Fault{Op: op, Kind: k.kind, Times: 1}); err != nil {
						t.Fatal(err)
					}
					err := call(ctx(t))
					var re *smithyhttp.ResponseError
					var api smithy.APIError
					if !errors.As(err, &re) || re.HTTPStatusCode() != k.status || !errors.As(err, &api) || api.ErrorCode() != k.code {
						t.Fatalf("got %T %v, want HTTP %d %s", err, err, k.status, k.code)
					}
					if isRetryable.IsErrorRetryable(err) != aws.TrueTernary {
						t.Errorf("the retryer would not retry %v", err)
					}
				})
			}
			t.Run("malformed", func(t *testing.T) {
				if _, err := c.sandbox.InjectFault(sandbox.Fault{Op: op, Kind: sandbox.FaultMalformed, Times: 1}); err != nil {
					t.Fatal(err)
				}
				err := call(ctx(t))
				var de *smithy.DeserializationError
				var api smithy.APIError
				// The awsQuery client (SNS) returns the XML decoder's error unwrapped, and the
				// CBOR client (CloudWatch) its decoder's: a failure that is not an API error.
				unwrapped := err != nil && !errors.As(err, &api) &&
					(op == "sns:Publish" && strings.Contains(err.Error(), "XML syntax error") ||
						op == "cloudwatch:GetMetricData" && strings.Contains(err.Error(), "decode"))
				if !errors.As(err, &de) && !unwrapped {
					t.Fatalf("got %T %v, want a deserialization error", err, err)
				}
			})
		})
	}
	calls := c.sandbox.Calls()
	faulted := 0
	for _, call := range calls {
		if call.Fault != "" {
			faulted++
		}
	}
	if faulted != 4*len(ops) {
		t.Errorf("%d calls with a fault recorded, want %d", faulted, 4*len(ops))
	}
}

func TestFaultTimesWithTheStandardRetryer(t *testing.T) {
	s := sandbox.StartTest(t, sandbox.Options{TaskStartDelay: testDelay})
	// The standard retryer with no backoff wait, so the test is quick but the attempts real.
	cfg, err := s.AWSConfig(context.Background(), awsconfig.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := newClients(s, cfg)
	if _, err := s.InjectFault(sandbox.Fault{Op: "ecs:DescribeServices", Kind: sandbox.FaultThrottle, Times: 2}); err != nil {
		t.Fatal(err)
	}
	describeOne(t, c, c.names.IngestorService)
	calls := s.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3 attempts: %+v", len(calls), calls)
	}
	for i, want := range []int{400, 400, 200} {
		if calls[i].Status != want || calls[i].Attempt != i+1 {
			t.Errorf("attempt %d: %+v, want status %d", i+1, calls[i], want)
		}
	}
	if f := s.Faults()[0]; f.Applied != 2 || f.Active {
		t.Errorf("fault status %+v", f)
	}

	// An always-on fault exhausts the retries.
	s.ClearFaults()
	if _, err := s.InjectFault(sandbox.Fault{Op: "*", Kind: sandbox.FaultUnavailable}); err != nil {
		t.Fatal(err)
	}
	_, err = c.sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.names.RabbitSecret)})
	var me *retry.MaxAttemptsError
	if !errors.As(err, &me) {
		t.Errorf("got %T %v, want max attempts", err, err)
	}
	// "*" is for AWS calls: the stand-ins are untouched.
	if status, _, _ := post(t, s.URL()+"/_sandbox/hooks/slack/x", `{"text":"x"}`); status != 200 {
		t.Errorf("slack answered %d under a \"*\" fault", status)
	}
}

func TestTimeoutAndLatency(t *testing.T) {
	c := start(t, "healthy")
	t.Run("timeout holds until the client gives up", func(t *testing.T) {
		if _, err := c.sandbox.InjectFault(sandbox.Fault{Op: "logs:FilterLogEvents", Kind: sandbox.FaultTimeout, Times: 1}); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := c.logs.FilterLogEvents(cctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(c.names.WorkerLogGroup)})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %T %v, want the deadline", err, err)
		}
		if took := time.Since(began); took < 190*time.Millisecond {
			t.Errorf("answered after %s, before the client gave up", took)
		}
		waitFor(t, 2*time.Second, "the call to be recorded", func() bool {
			for _, call := range c.sandbox.Calls() {
				if call.Operation == "FilterLogEvents" && call.Status == 0 && call.ErrorCode == "ClientGaveUp" {
					return true
				}
			}
			return false
		})
	})
	t.Run("a timeout with a delay answers late", func(t *testing.T) {
		if _, err := c.sandbox.InjectFault(sandbox.Fault{Op: "ssm:GetParameter", Kind: sandbox.FaultTimeout, Times: 1, Delay: 120 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if _, err := c.ssm.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String(c.names.KillSwitchParam)}); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took < 120*time.Millisecond {
			t.Errorf("answered after %s", took)
		}
	})
	t.Run("latency per op", func(t *testing.T) {
		if _, err := c.sandbox.InjectFault(sandbox.Fault{Op: "ecs:*", Kind: sandbox.FaultLatency, Delay: 80 * time.Millisecond, Times: 1}); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		describeOne(t, c, c.names.WorkerService)
		if took := time.Since(began); took < 80*time.Millisecond {
			t.Errorf("took %s", took)
		}
	})
	t.Run("global latency", func(t *testing.T) {
		c.sandbox.SetLatency(60 * time.Millisecond)
		defer c.sandbox.SetLatency(0)
		for name, call := range opCalls(c) {
			began := time.Now()
			if err := call(ctx(t)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if took := time.Since(began); took < 60*time.Millisecond {
				t.Errorf("%s took %s", name, took)
			}
		}
		began := time.Now()
		post(t, c.sandbox.URL()+"/_sandbox/hooks/slack/x", `{"text":"x"}`)
		if took := time.Since(began); took < 60*time.Millisecond {
			t.Errorf("slack took %s", took)
		}
	})
	t.Run("stand-in throttle", func(t *testing.T) {
		if _, err := c.sandbox.InjectFault(sandbox.Fault{Op: sandbox.KindSlack, Kind: sandbox.FaultThrottle, Times: 1}); err != nil {
			t.Fatal(err)
		}
		status, body, h := post(t, c.sandbox.URL()+"/_sandbox/hooks/slack/x", `{"text":"x"}`)
		if status != http.StatusTooManyRequests || h.Get("Retry-After") != "1" || body != "rate_limited" {
			t.Errorf("%d %q %v", status, body, h)
		}
	})
	t.Run("invalid faults", func(t *testing.T) {
		for _, f := range []sandbox.Fault{{Kind: sandbox.FaultThrottle}, {Op: "ecs:*", Kind: "nope"}, {Op: "ecs:*", Kind: sandbox.FaultLatency}, {Op: "*", Kind: sandbox.FaultThrottle, Times: -1}} {
			if _, err := c.sandbox.InjectFault(f); err == nil {
				t.Errorf("%+v accepted", f)
			}
		}
	})
}

func TestUnknownOperationsAndProtocolErrors(t *testing.T) {
	c := start(t, "healthy")
	t.Run("unserved ECS operation", func(t *testing.T) {
		_, err := c.ecs.ListClusters(ctx(t), &ecs.ListClustersInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" {
			t.Fatalf("got %T %v", err, err)
		}
	})
	t.Run("unserved CloudWatch operation", func(t *testing.T) {
		_, err := c.cw.ListMetrics(ctx(t), &cloudwatch.ListMetricsInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" {
			t.Fatalf("got %T %v", err, err)
		}
	})
	t.Run("unserved SNS operation", func(t *testing.T) {
		_, err := c.sns.ListTopics(ctx(t), &sns.ListTopicsInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "InvalidAction" {
			t.Fatalf("got %T %v", err, err)
		}
	})
	t.Run("unsigned request", func(t *testing.T) {
		status, body, h := do(t, http.MethodPost, c.sandbox.URL()+"/", `{}`, "X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeServices", "Content-Type", "application/x-amz-json-1.1")
		if status != 403 || h.Get("X-Amzn-Errortype") != "MissingAuthenticationTokenException" || !strings.Contains(body, `"__type":"MissingAuthenticationTokenException"`) {
			t.Errorf("%d %v %s", status, h, body)
		}
	})
	calls := c.sandbox.Calls()
	if len(calls) != 4 || calls[0].Service != "ecs" || calls[0].Operation != "ListClusters" || calls[0].Status != 400 || calls[1].Status != 404 {
		t.Errorf("calls %+v", calls)
	}
}
