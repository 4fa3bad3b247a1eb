// Package dynalitetest gives tests a real DynamoDB wire endpoint: dynalite, a DynamoDB
// implementation on Node.js, started once per test binary, and a fresh ledger table per test.
// Tests talk to it through the real aws-sdk-go-v2 client, so requests are signed, serialized
// (awsJson1.0) and checked (CRC32) exactly as in production.
//
// dynalite is installed by `scripts/dynalite.sh install` (CI runs it). When it is missing,
// Start fails the test with that command: it never skips, because a skipped ledger test looks
// like a passing one.
package dynalitetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/arrakis/gp-remediation/pkg/ledger"
)

// EnvEndpoint, when set, names a running DynamoDB-compatible endpoint to use instead of starting
// dynalite (e.g. one started by `scripts/dynalite.sh start`, or DynamoDB Local).
const EnvEndpoint = "GPR_TEST_DYNAMODB_ENDPOINT"

// EnvDir overrides where dynalite is installed (default <module root>/.tools/dynalite, the
// same variable scripts/dynalite.sh reads).
const EnvDir = "GPR_DYNALITE_DIR"

// InstallCommand is what to run (from the repository root) when dynalite is missing.
const InstallCommand = "scripts/dynalite.sh install"

// Region and the static credentials every client built here uses. dynalite checks that
// requests are signed, not by whom.
const (
	Region          = "us-east-1"
	AccessKeyID     = "AKIDLOCALTEST"
	SecretAccessKey = "local-test-secret"
)

// noTTLNote says once per test binary, not once per table, that TTL is not enforced.
var noTTLNote sync.Once

var shared struct {
	once     sync.Once
	endpoint string
	err      error
	// proc stays referenced for the life of the binary: if it were collected, the finalizer
	// of its stdin pipe would close it and dynalite would exit under the running tests.
	proc *Process
}

// Start returns the endpoint of a DynamoDB for this test binary: GPR_TEST_DYNAMODB_ENDPOINT if
// set, else a dynalite process started on the first call and shared by every later one. The
// process exits when the test binary does (it watches its stdin pipe), however the binary ends.
func Start(t testing.TB) string {
	t.Helper()
	if ep := strings.TrimSpace(os.Getenv(EnvEndpoint)); ep != "" {
		return strings.TrimRight(ep, "/")
	}
	shared.once.Do(func() {
		shared.proc, shared.err = StartProcess()
		if shared.err == nil {
			shared.endpoint = shared.proc.Endpoint
			t.Logf("dynalitetest: dynalite started in %s at %s", shared.proc.Started.Round(time.Millisecond), shared.endpoint)
		}
	})
	if shared.err != nil {
		t.Fatalf("dynalitetest: %v", shared.err)
	}
	return shared.endpoint
}

// NewClient builds a real DynamoDB client for endpoint with static credentials. It sets the
// client's BaseEndpoint, which is what AWS_ENDPOINT_URL_DYNAMODB sets when the configuration is
// loaded from the environment.
func NewClient(endpoint string) *dynamodb.Client {
	cfg := aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}

// NewTable creates a uniquely named ledger table at endpoint for one test and deletes it when
// the test ends. It returns the table's name.
func NewTable(t testing.TB, endpoint string) string {
	t.Helper()
	client := NewClient(endpoint)
	name := "ledger-test-" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ttl, err := CreateTable(ctx, client, name)
	if err != nil {
		t.Fatalf("dynalitetest: %v", err)
	}
	if !ttl {
		noTTLNote.Do(func() {
			t.Logf("dynalitetest: %s does not implement UpdateTimeToLive (dynalite does not): expired items stay until deleted, the worst case of DynamoDB's lazy TTL", endpoint)
		})
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("dynalitetest: delete table %s: %v", name, err)
		}
	})
	return name
}

// TableAPI is what CreateTable needs from the DynamoDB client.
type TableAPI interface {
	CreateTable(ctx context.Context, params *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, params *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, params *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTable creates a table with the ledger's schema (the same one the CDK stack declares),
// waits until it is ACTIVE, and enables TTL on ledger.AttrExpiresAt. ttl is false when the
// endpoint does not implement UpdateTimeToLive (dynalite 4.0.0 answers UnknownOperationException);
// any other failure is an error. Usable outside tests too (a local demo's table).
func CreateTable(ctx context.Context, api TableAPI, name string) (ttl bool, err error) {
	_, err = api.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(ledger.AttrPartitionKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(ledger.AttrSortKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(ledger.AttrPartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(ledger.AttrSortKey), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		return false, fmt.Errorf("create table %s: %w", name, err)
	}
	for {
		out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return false, fmt.Errorf("describe table %s: %w", name, err)
		}
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			break
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("wait for table %s to be active: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	_, err = api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(ledger.AttrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "UnknownOperationException" {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enable TTL on %s.%s: %w", name, ledger.AttrExpiresAt, err)
	}
	return true, nil
}

// Process is one running dynalite.
type Process struct {
	Endpoint string
	// Started is how long it took from exec to a listening port.
	Started time.Duration

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{}
	stdout *lineWatch
	stderr syncBuffer
}

// StartProcess starts a dynalite of its own on a port the OS picks, and waits until it listens.
// Most tests want Start; this is for a test that needs a private server (or measures the start).
func StartProcess() (*Process, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not on PATH (Debian: apt-get install -y nodejs npm), then run `%s`", InstallCommand)
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir := os.Getenv(EnvDir)
	if dir == "" {
		dir = filepath.Join(root, ".tools", "dynalite")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dynalite", "package.json")); err != nil {
		return nil, fmt.Errorf("dynalite is not installed in %s: run `%s` from %s", dir, InstallCommand, root)
	}
	serve := filepath.Join(root, "scripts", "dynalite", "serve.js")
	if _, err := os.Stat(serve); err != nil {
		return nil, fmt.Errorf("dynalite launcher missing: %w", err)
	}

	ready := make(chan string, 1)
	p := &Process{done: make(chan struct{}), stdout: &lineWatch{prefix: "dynalite listening at ", found: ready}}
	p.cmd = exec.Command(node, serve, "--dir", dir, "--host", "127.0.0.1", "--port", "0", "--table-ms", "0", "--exit-on-stdin-eof")
	// The pipe is the process's lifeline: when this binary exits, its end closes and
	// dynalite exits too (serve.js --exit-on-stdin-eof).
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	// Writers, not pipes: exec copies into them and Wait returns only once the copying is
	// done, so nothing dynalite printed before dying is lost.
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = &p.stderr
	began := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()

	select {
	case ep := <-ready:
		p.Endpoint = ep
		p.Started = time.Since(began)
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("dynalite exited before listening (%s): %s", p.cmd.ProcessState, p.output())
	case <-time.After(30 * time.Second):
		_ = p.Stop()
		return nil, fmt.Errorf("dynalite did not listen within 30s: %s", p.output())
	}
}

// Stop ends the process and waits for it.
func (p *Process) Stop() error {
	_ = p.stdin.Close() // serve.js exits on EOF
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill dynalite: %w", err)
	}
	<-p.done
	return nil
}

// output is what dynalite printed, for error messages.
func (p *Process) output() string {
	out := strings.TrimSpace(p.stdout.String() + "\n" + p.stderr.String())
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	if out == "" {
		return "no output"
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for exec's copying goroutine and a concurrent reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWatch keeps what it is written and sends the rest of the first line that starts with
// prefix to found, once.
type lineWatch struct {
	syncBuffer
	prefix string
	found  chan<- string
	line   []byte
	sent   bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	if _, err := w.syncBuffer.Write(p); err != nil {
		return 0, err
	}
	if w.sent {
		return len(p), nil
	}
	// exec calls Write from one goroutine, so line and sent need no lock of their own.
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		l := strings.TrimRight(string(w.line[:i]), "\r")
		w.line = w.line[i+1:]
		if rest, ok := strings.CutPrefix(l, w.prefix); ok {
			w.sent = true
			w.found <- rest
			w.line = nil
			return len(p), nil
		}
	}
}

// moduleRoot finds the directory holding go.mod, from the working directory up (go test runs
// each package in its own directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux; a test helper may panic here
	}
	return hex.EncodeToString(b)
}
