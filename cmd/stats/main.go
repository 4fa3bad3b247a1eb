// Command stats prints an environment's effectiveness and coverage digest (pkg/trust), the
// same the digest function posts weekly, without posting it.
//
//	stats -env staging [-days 7]           reads the environment's ledger table (AWS credentials
//	                                       and region as the AWS CLI finds them)
//	stats -env sandbox [-file F]           reads the incidents `make demo` left in build/demo
//
// It also prints the EMF metric lines the function would write, with -metrics.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/trust"
)

// Sandbox is the environment name that reads the demo's incidents.
const Sandbox = "sandbox"

// DemoIncidents is where cmd/demo leaves the incidents of its run.
const DemoIncidents = "build/demo/incidents.json"

func main() {
	env := flag.String("env", "", "environment (staging, production, …) or sandbox")
	table := flag.String("table", "", "ledger table (default: the stack's, arrakis-<env>-gp-remediation-ledger)")
	days := flag.Int("days", 7, "the period: this many days up to now")
	file := flag.String("file", DemoIncidents, "with -env sandbox: the demo's incidents")
	metrics := flag.Bool("metrics", false, "also print the EMF metric lines")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *env, *table, *file, *days, *metrics); err != nil {
		fmt.Fprintln(os.Stderr, "stats:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, env, table, file string, days int, metrics bool) error {
	if env == "" {
		return errors.New("-env is required (an environment, or sandbox after `make demo`)")
	}
	if days < 1 {
		return fmt.Errorf("-days %d: want at least 1", days)
	}
	to := time.Now().UTC()
	from := to.Add(-time.Duration(days) * 24 * time.Hour)
	var lister trust.Lister
	if env == Sandbox {
		incs, err := ReadDemo(file)
		if err != nil {
			return err
		}
		lister = fixed(incs)
	} else {
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("AWS configuration: %w", err)
		}
		if table == "" {
			table = "arrakis-" + env + "-gp-remediation-ledger"
		}
		h, err := ledger.NewIncidentHistory(dynamodb.NewFromConfig(cfg), table)
		if err != nil {
			return err
		}
		lister = h
	}
	g := trust.Digester{Environment: env, Incidents: lister}
	if metrics {
		g.Metrics = w
	}
	rep, err := g.Run(ctx, from, to)
	if err != nil {
		return err
	}
	subject, body := render.Text(rep)
	_, err = fmt.Fprintf(w, "%s\n\n%s\n", subject, body)
	return err
}

// fixed lists incidents read from a file: every one of them, whatever the period asked, as
// the demo's incidents are the sandbox's whole history.
type fixed []incident.Incident

func (f fixed) List(context.Context, string, time.Time, time.Time) ([]incident.Incident, error) {
	return f, nil
}

// ReadDemo reads the incidents cmd/demo wrote.
func ReadDemo(path string) ([]incident.Incident, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no demo incidents; run `make demo` first", path)
	}
	if err != nil {
		return nil, err
	}
	var incs []incident.Incident
	if err := json.Unmarshal(b, &incs); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return incs, nil
}
