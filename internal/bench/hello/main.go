// Command hello is the baseline of the cold-start benchmark: the smallest aws-lambda-go
// function, built exactly as the real functions are (linux, -tags lambda.norpc -trimpath
// -ldflags "-s -w"), so that "init ≤ 2× hello-world" compares our start-up work with the
// runtime's own and nothing else.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "hello", nil })
}
