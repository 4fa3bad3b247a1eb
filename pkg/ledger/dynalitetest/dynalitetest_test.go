package dynalitetest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/arrakis/gp-remediation/pkg/ledger"
)

func TestNewTableHasTheLedgerSchema(t *testing.T) {
	ep := Start(t)
	name := NewTable(t, ep)
	out, err := NewClient(ep).DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	tb := out.Table
	if tb.TableStatus != types.TableStatusActive {
		t.Fatalf("status %s, want ACTIVE", tb.TableStatus)
	}
	keys := map[string]types.KeyType{}
	for _, k := range tb.KeySchema {
		keys[aws.ToString(k.AttributeName)] = k.KeyType
	}
	if len(keys) != 2 || keys[ledger.AttrPartitionKey] != types.KeyTypeHash || keys[ledger.AttrSortKey] != types.KeyTypeRange {
		t.Fatalf("key schema %v, want %s HASH and %s RANGE", keys, ledger.AttrPartitionKey, ledger.AttrSortKey)
	}
	for _, a := range tb.AttributeDefinitions {
		if a.AttributeType != types.ScalarAttributeTypeS {
			t.Fatalf("attribute %s is %s, want S", aws.ToString(a.AttributeName), a.AttributeType)
		}
	}
	if tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Fatalf("billing %+v, want PAY_PER_REQUEST", tb.BillingModeSummary)
	}
}

func TestTablesAreUnique(t *testing.T) {
	ep := Start(t)
	if a, b := NewTable(t, ep), NewTable(t, ep); a == b {
		t.Fatalf("two tables named %s", a)
	}
}

// A private process starts, answers the real client, and exits by itself when its stdin
// closes (the path a dying test binary takes), leaving the port free.
func TestProcessLifecycle(t *testing.T) {
	p, err := StartProcess()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dynalite started in %s at %s", p.Started.Round(time.Millisecond), p.Endpoint)
	if _, err := NewClient(p.Endpoint).ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d (%s), want 0: it did not exit on stdin EOF by itself", code, p.cmd.ProcessState)
	}
	host := strings.TrimPrefix(p.Endpoint, "http://")
	if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", host)
	}
}

func TestMissingInstallSaysHowToInstall(t *testing.T) {
	t.Setenv(EnvDir, t.TempDir())
	_, err := StartProcess()
	if err == nil || !strings.Contains(err.Error(), InstallCommand) {
		t.Fatalf("err = %v, want one naming %q", err, InstallCommand)
	}
}

func TestEndpointOverride(t *testing.T) {
	t.Setenv(EnvEndpoint, "http://127.0.0.1:4567/")
	if got := Start(t); got != "http://127.0.0.1:4567" {
		t.Fatalf("Start = %q, want the endpoint from %s", got, EnvEndpoint)
	}
}

func BenchmarkStartProcess(b *testing.B) {
	for b.Loop() {
		p, err := StartProcess()
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}
