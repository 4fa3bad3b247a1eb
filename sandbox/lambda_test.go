package sandbox_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Invoke through the SDK: an Event invocation is answered 202 before the function runs and is
// forwarded afterwards, with what the function returned kept; a RequestResponse invocation
// returns the function's answer; a function without a target is not found.
func TestInvokeForwardsToTheTarget(t *testing.T) {
	c := start(t, "healthy")
	client := lambda.NewFromConfig(c.cfg)
	release := make(chan struct{})
	c.sandbox.SetLambdaTarget("fn", func(_ context.Context, payload []byte) ([]byte, error) {
		if string(payload) == `{"wait":true}` {
			<-release
		}
		return append([]byte(`{"echo":`), append(payload, '}')...), nil
	})

	out, err := client.Invoke(ctx(t), &lambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"wait":true}`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("event invocation: %v %+v", err, out)
	}
	if inv := c.sandbox.Invocations(); len(inv) != 1 || inv[0].Forwarded || inv[0].Type != "Event" {
		t.Fatalf("before the function returned: %+v", inv)
	}
	close(release)
	waitFor(t, testDelay*20, "the forward", func() bool {
		inv := c.sandbox.Invocations()
		return len(inv) == 1 && inv[0].Forwarded
	})
	if got := string(c.sandbox.Invocations()[0].Response); got != `{"echo":{"wait":true}}` {
		t.Errorf("response kept %s", got)
	}

	out, err = client.Invoke(ctx(t), &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"n":1}`)})
	if err != nil || out.StatusCode != 200 || string(out.Payload) != `{"echo":{"n":1}}` {
		t.Fatalf("request-response: %v %+v", err, out)
	}

	_, err = client.Invoke(ctx(t), &lambda.InvokeInput{FunctionName: aws.String("other"), Payload: []byte(`{}`)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("unknown function: %v", err)
	}
}
