package approve

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// LambdaInvoker is the part of the Lambda client the queue uses.
type LambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// LambdaQueue hands a job to an asynchronous invocation of the function itself (invocation
// type Event: Lambda queues it and answers 202 at once), so Front answers within 3 seconds
// whatever the work takes.
type LambdaQueue struct {
	Client   LambdaInvoker
	Function string // this function's name (AWS_LAMBDA_FUNCTION_NAME)
}

// Enqueue implements Queue.
func (q LambdaQueue) Enqueue(ctx context.Context, j Job) error {
	payload, err := json.Marshal(j)
	if err != nil {
		return err
	}
	out, err := q.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(q.Function), InvocationType: types.InvocationTypeEvent, Payload: payload})
	if err != nil {
		return fmt.Errorf("invoke %s asynchronously: %w", q.Function, err)
	}
	if out.StatusCode != 202 {
		return fmt.Errorf("invoke %s asynchronously: status %d, want 202", q.Function, out.StatusCode)
	}
	return nil
}
