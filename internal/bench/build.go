package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MakefileBuildFlags reads BUILD_FLAGS from the Makefile at root, split into arguments as the
// shell splits the recipe line that uses it. The benchmarks build the functions and the
// hello-world baseline with exactly these, so that they measure what `make build` ships and
// compare like with like; reading them (rather than keeping a copy) keeps the two in step.
func MakefileBuildFlags(root string) ([]string, error) {
	path := filepath.Join(root, "Makefile")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the build flags: %w", err)
	}
	var value string
	found := false
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) { // a continued line
			i++
			line = strings.TrimSuffix(line, "\\") + " " + lines[i]
		}
		name, op, v, ok := assignment(line)
		if !ok || name != "BUILD_FLAGS" {
			continue
		}
		if strings.Contains(v, "\\#") || strings.Contains(v, "$") {
			return nil, fmt.Errorf("%s: BUILD_FLAGS %q uses escapes or variables: cannot read it without make", path, strings.TrimSpace(v))
		}
		if i := strings.IndexByte(v, '#'); i >= 0 { // make drops a trailing comment
			v = v[:i]
		}
		switch op {
		case "+=":
			value += " " + v
		case "?=":
			if !found {
				value = v
			}
		default:
			value = v
		}
		found = true
	}
	if !found {
		return nil, fmt.Errorf("%s has no BUILD_FLAGS", path)
	}
	return SplitShell(value)
}

// assignment splits a Makefile variable assignment ("NAME := value", also =, ?= and +=).
func assignment(line string) (name, op, value string, ok bool) {
	if strings.HasPrefix(line, "\t") || strings.HasPrefix(strings.TrimSpace(line), "#") {
		return "", "", "", false // a recipe line or a comment
	}
	i := strings.IndexByte(line, '=')
	if i <= 0 {
		return "", "", "", false
	}
	op = "="
	if c := line[i-1]; c == ':' || c == '?' || c == '+' {
		op = string(c) + "="
		i--
	}
	name = strings.TrimSpace(line[:i])
	if name == "" || strings.ContainsAny(name, " \t:") {
		return "", "", "", false
	}
	return name, op, line[i+len(op):], true
}

// SplitShell splits s into words as a POSIX shell does for plain words, single and double
// quotes and backslash escapes (no expansions).
func SplitShell(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// HelloPackage is the hello-world baseline function.
const HelloPackage = "./internal/bench/hello"

// RIEPackage is the Lambda Runtime Interface Emulator, a Go tool of the module.
const RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// HelloZip builds the hello-world baseline for linux/arm64 with flags and zips it with
// cmd/zipfn into out, exactly as `make build` builds and zips a function.
func HelloZip(ctx context.Context, root string, flags []string, out string) error {
	bootstrap := filepath.Join(filepath.Dir(out), "hello", "bootstrap")
	if err := Build(ctx, root, flags, HelloPackage, "arm64", bootstrap); err != nil {
		return err
	}
	return goCmd(ctx, root, nil, "run", "./cmd/zipfn", "-o", out, bootstrap)
}

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
// linux/goarch with flags (MakefileBuildFlags) into out.
func Build(ctx context.Context, root string, flags []string, pkg, goarch, out string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
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
