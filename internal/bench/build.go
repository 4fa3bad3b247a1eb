package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildFlags are the Makefile's BUILD_FLAGS. The functions and the hello-world baseline are
// built with exactly these, so that sizes and init times compare like with like.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

// HelloPackage is the hello-world baseline function.
const HelloPackage = "./internal/bench/hello"

// RIEPackage is the Lambda Runtime Interface Emulator, a Go tool of the module.
const RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// ModuleRoot walks up from dir to the folder holding go.mod.
func ModuleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		d = parent
	}
}

// Functions lists the functions of the module (functions/<name>/main.go), sorted.
func Functions(root string) ([]string, error) {
	mains, err := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	if len(mains) == 0 {
		return nil, fmt.Errorf("no functions/*/main.go under %s", root)
	}
	out := make([]string, len(mains))
	for i, m := range mains {
		out[i] = filepath.Base(filepath.Dir(m))
	}
	return out, nil
}

// Build compiles the main package pkg (relative to root, e.g. "./functions/dlq") for
// linux/goarch with BuildFlags into out.
func Build(ctx context.Context, root, pkg, goarch, out string) error {
	args := append(append([]string{"build"}, BuildFlags...), "-o", out, pkg)
	return goCmd(ctx, root, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + goarch}, args...)
}

// BuildTool compiles a tool of the module for this machine (the emulator).
func BuildTool(ctx context.Context, root, pkg, out string) error {
	return goCmd(ctx, root, nil, "build", "-o", out, pkg)
}

func goCmd(ctx context.Context, root string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
