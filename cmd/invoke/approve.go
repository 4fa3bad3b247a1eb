package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/ledger/dynalitetest"
)

// invokeApprove runs one sample of events/approve against the sandbox: the function under the
// emulator with a ledger in a dynalite of its own (offers, replay ids and locks live there),
// the sample signed now with the sandbox's keys and its response_url pointed at the sandbox.
// It prints the function URL's answer, the work it started and what reached the conversation.
func invokeApprove(ctx context.Context, rie, bootstrapDir, scenario, mode string, payload []byte) error {
	ddb, err := dynalitetest.StartProcess()
	if err != nil {
		return fmt.Errorf("the approve function keeps its offers and replay ids in a ledger: %w", err)
	}
	defer func() { _ = ddb.Stop() }()
	f, err := cases.Setup(ctx, cases.Env{RIE: rie, Bootstraps: bootstrapDir, TaskStartDelay: 2 * time.Second, DynamoDB: ddb.Endpoint},
		cases.Case{Name: "invoke", Function: "approve", Scenario: scenario, Mode: mode})
	if err != nil {
		return err
	}
	defer f.Close()
	run, err := f.RunSample(ctx, payload)
	if run != nil {
		fmt.Fprint(os.Stderr, run.Output)
		fmt.Fprintf(os.Stderr, "invoke: approve with a %s request against the sandbox (scenario %s, mode %s)\n", run.Platform, scenario, mode)
	}
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	if bytes.Contains(run.Response, []byte(`"errorMessage"`)) {
		return errors.New("the function returned an error")
	}
	return nil
}
