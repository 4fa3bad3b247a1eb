// Command demo shows the functions remediating simulated incidents: every case marked "demo"
// in events/*/cases.json runs the function's real bootstrap under the Lambda Runtime
// Interface Emulator against a fresh sandbox, and the report the function published is
// printed as an on-call engineer would receive it. Each case is also checked against its
// expectations, so the demo says plainly when something does not behave.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/arrakis/gp-remediation/internal/cases"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/ledger"
	"github.com/arrakis/gp-remediation/pkg/ledger/dynalitetest"
	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/trust"
	"github.com/arrakis/gp-remediation/sandbox"
)

func main() {
	all := flag.Bool("all", false, "run every case, not only the demo ones")
	only := flag.String("fn", "", "only this function's cases")
	match := flag.String("match", "", "only cases whose name contains this")
	flag.Parse()
	cs, err := cases.Load("events")
	if err != nil {
		fail(err)
	}
	// The ledger lives in dynalite (a real DynamoDB implementation), one table per incident.
	ddb, err := dynalitetest.StartProcess()
	if err != nil {
		fail(err)
	}
	defer ddb.Stop()
	env := cases.Env{RIE: "build/tools/aws-lambda-rie", Bootstraps: "build/host", TaskStartDelay: time.Second, DynamoDB: ddb.Endpoint}
	ran, failed := 0, 0
	var incidents []incident.Incident
	for _, c := range cs {
		if (!c.Demo && !*all) || (*only != "" && c.Function != *only) || !strings.Contains(c.Name, *match) {
			continue
		}
		ran++
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		out, err := cases.Run(ctx, env, c)
		cancel()
		banner(c)
		if err != nil {
			failed++
			fmt.Printf("!! the case could not run: %v\n\n", err)
			continue
		}
		show(out)
		incidents = append(incidents, caseIncidents(ddb.Endpoint, out)...)
		for _, st := range out.Steps {
			if st.Label != "" {
				fmt.Printf("\n— then %s —\n", st.Label)
			} else {
				fmt.Printf("\n— then %s —\n", st.Result.Alarm.State)
			}
			if st.Reply != "" {
				fmt.Printf("Slack, the clicked message now reads: %s\n\n", st.Reply)
			}
			show(st)
		}
		savePictures(c, out)
		if bad := cases.Check(c, out); len(bad) > 0 {
			failed++
			fmt.Printf("!! NOT AS EXPECTED:\n   - %s\n\n", strings.Join(bad, "\n   - "))
		} else {
			fmt.Printf("✓ as expected (%s)\n\n", out.Elapsed.Round(10*time.Millisecond))
		}
	}
	digest(incidents)
	fmt.Printf("%d incidents simulated, %d not as expected\n", ran, failed)
	if failed > 0 {
		ddb.Stop()
		os.Exit(1)
	}
}

// pictureDir is where the demo writes every report's picture, for a person to look at.
const pictureDir = "build/demo"

// savePictures writes the pictures the case's reports carried (each one the function stored
// in the sandbox's picture bucket) under build/demo/ and prints their paths.
func savePictures(c cases.Case, o *cases.Outcome) {
	objs := o.Sandbox.Objects()
	if len(objs) == 0 {
		fmt.Println("pictures: none drawn (see the Result's picture note)")
		return
	}
	if err := os.MkdirAll(pictureDir, 0o755); err != nil {
		fmt.Printf("pictures: %v\n", err)
		return
	}
	for i, obj := range objs {
		path := filepath.Join(pictureDir, fmt.Sprintf("%s-%s-%d.png", c.Function, slug(c.Name), i+1))
		if err := os.WriteFile(path, obj.Data, 0o644); err != nil {
			fmt.Printf("pictures: %v\n", err)
			return
		}
		fmt.Printf("picture: %s (%d KB)\n", path, (len(obj.Data)+512)/1024)
	}
}

// slug keeps a case name's letters and digits, the rest one dash, at most 60 characters.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(cutAt(b.String(), 60), "-")
}

func cutAt(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func banner(c cases.Case) {
	line := strings.Repeat("═", 100)
	fmt.Printf("%s\n%s — %s\n  scenario %q, event %s, mode %s\n%s\n", line, c.Function, c.Name, c.Scenario, c.Event, c.Mode, line)
}

// show prints the report as published to the report topic (what the on-call engineer gets
// by e-mail), then what changed in the simulated account.
func show(o *cases.Outcome) {
	switch {
	case len(o.Published) > 0:
		p := o.Published[len(o.Published)-1]
		fmt.Printf("Subject: %s\n\n%s\n", p.Subject, strings.TrimRight(p.Message, "\n"))
	default:
		fmt.Printf("(no report published) finding %s: %s\n", o.Result.Finding.Code, o.Result.Finding.Summary)
	}
	fmt.Println()
	var names []string
	for n := range o.After {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("sandbox: %s\n", describe(o.Before[n], o.After[n]))
	}
	var sent []string
	for _, k := range []string{"slack", "discord", "pagerduty"} {
		if n := len(o.Requests[k]); n > 0 {
			sent = append(sent, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	if len(sent) > 0 {
		fmt.Printf("also delivered to: %s\n", strings.Join(sent, ", "))
	}
}

func describe(before, after sandbox.ServiceSnapshot) string {
	s := fmt.Sprintf("%-28s desired %d→%d, running %d→%d", after.Name, before.Desired, after.Desired, before.Running, after.Running)
	if before.TaskDefinition != after.TaskDefinition {
		s += fmt.Sprintf(", task definition %s→%s", short(before.TaskDefinition), short(after.TaskDefinition))
	}
	if n := len(after.Deployments) - len(before.Deployments); n > 0 || (len(after.Deployments) > 0 && len(before.Deployments) > 0 && after.Deployments[0].ID != before.Deployments[0].ID) {
		s += ", new deployment " + after.Deployments[0].ID
	}
	return s
}

func short(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "demo:", err)
	os.Exit(1)
}

// caseIncidents reads the incidents a case left in its ledger table.
func caseIncidents(endpoint string, o *cases.Outcome) []incident.Incident {
	if o.Table == "" {
		return nil
	}
	h, err := ledger.NewIncidentHistory(dynalitetest.NewClient(endpoint), o.Table)
	if err == nil {
		var incs []incident.Incident
		if incs, err = h.List(context.Background(), o.Environment, time.Unix(0, 0), time.Now().Add(24*time.Hour)); err == nil {
			return incs
		}
	}
	fmt.Printf("incidents: %v\n", err)
	return nil
}

// digest prints the digest of the demo's incidents and keeps them in build/demo for
// `make stats ENV=sandbox`.
func digest(incs []incident.Incident) {
	b, err := json.Marshal(incs)
	if err == nil {
		if err = os.MkdirAll(pictureDir, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(pictureDir, "incidents.json"), b, 0o644)
		}
	}
	if err != nil {
		fmt.Printf("incidents: %v\n", err)
	}
	from, to := time.Now().Add(-trust.DefaultPeriod), time.Now()
	if len(incs) > 0 {
		from = incs[0].OpenedAt
		for _, inc := range incs {
			if inc.OpenedAt.Before(from) {
				from = inc.OpenedAt
			}
		}
	}
	subject, body := render.Text(trust.Compute("sandbox", from, to, incs).Report())
	line := strings.Repeat("═", 100)
	fmt.Printf("%s\n%s\n%s\n%s\n(kept in %s: make stats ENV=sandbox)\n\n", line, subject, line, body, filepath.Join(pictureDir, "incidents.json"))
}
