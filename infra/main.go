// Command infra is the CDK app of gp-remediation: `cdk synth|diff|deploy -c env=NAME` defines
// one environment's stack (arrakis-NAME-gp-remediation) from cdk.json's
// context.environments.NAME, and runs cdk-nag's AwsSolutions checks on every synth.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	app := awscdk.NewApp(nil)
	root, err := repoRoot()
	if err == nil {
		_, err = defineApp(app, filepath.Join(root, "build"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		jsii.Close()
		os.Exit(1)
	}
	app.Synth(nil)
	jsii.Close()
}

// defineApp reads the "env" and "environments" context values and defines that environment's
// stack, with cdk-nag's AwsSolutions checks as an aspect. Only here is context read; the stack
// gets typed settings.
func defineApp(app awscdk.App, buildDir string) (awscdk.Stack, error) {
	env, _ := app.Node().TryGetContext(jsii.String("env")).(string)
	s, err := loadSettings(app.Node().TryGetContext(jsii.String("environments")), env)
	if err != nil {
		return nil, err
	}
	stack, err := NewRemediationStack(app, &RemediationStackProps{Settings: s, BuildDir: buildDir})
	if err != nil {
		return nil, err
	}
	// Findings become error annotations: `cdk synth` then fails, and tests assert none.
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return stack, nil
}

// repoRoot is the directory holding cdk.json: the CLI runs the app there, `go run ./infra`
// may run from anywhere below it.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find cdk.json: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cdk.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no cdk.json in this directory or above: run from the repository")
		}
		dir = parent
	}
}
