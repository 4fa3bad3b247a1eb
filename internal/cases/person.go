package cases

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/arrakis/gp-remediation/pkg/alarm"
)

// Person is what the on-call engineer does by hand before a step's event, through the ECS API
// as the console or the CLI would. The incident's closing report judges the functions' actions
// (a dry run's above all) against it (pkg/trust).
type Person struct {
	// Restart forces a new deployment of a role's service: "ingestor" or "worker".
	Restart string `json:"restart,omitempty"`
	// Scale sets a role's desired count to To.
	Scale string `json:"scale,omitempty"`
	To    int    `json:"to,omitempty"`
}

// act does what the person does and waits until the service has converged (one deployment,
// its tasks running), so the change is complete before the alarm returns to OK. It returns
// what it did, in words.
func (f *Fixture) act(ctx context.Context, p Person) (string, error) {
	names := f.Sandbox.Names()
	service := map[string]string{"ingestor": names.IngestorService, "worker": names.WorkerService}
	in := &awsecs.UpdateServiceInput{Cluster: aws.String(names.Cluster)}
	var did string
	switch {
	case p.Restart != "" && p.Scale == "":
		in.Service, in.ForceNewDeployment = aws.String(service[p.Restart]), true
		did = "restarted " + service[p.Restart]
	case p.Scale != "" && p.Restart == "" && p.To >= 0:
		in.Service, in.DesiredCount = aws.String(service[p.Scale]), aws.Int32(int32(p.To))
		did = fmt.Sprintf("scaled %s to %d", service[p.Scale], p.To)
	default:
		return "", fmt.Errorf("a person restarts a role or scales one: %+v", p)
	}
	if aws.ToString(in.Service) == "" {
		return "", fmt.Errorf("no role %q: ingestor or worker", p.Restart+p.Scale)
	}
	cfg, err := f.Sandbox.AWSConfig(ctx)
	if err != nil {
		return "", err
	}
	client := awsecs.NewFromConfig(cfg)
	if _, err := client.UpdateService(ctx, in); err != nil {
		return "", fmt.Errorf("a person's UpdateService: %w", err)
	}
	for {
		out, err := client.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: in.Cluster, Services: []string{*in.Service}})
		if err != nil {
			return "", err
		}
		if s := out.Services[0]; len(s.Deployments) == 1 && s.RunningCount == s.DesiredCount && s.PendingCount == 0 {
			return "a person " + did + " by hand", nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s did not converge after a person %s: %w", *in.Service, did, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// alarmsReturn puts the alarms an OK notification in event reports back to OK in the sandbox's
// CloudWatch first: the notification is of that transition, and a function reading the alarms
// (DescribeAlarms, to close the incident) must see what it announces.
func (f *Fixture) alarmsReturn(event string) error {
	payload, err := os.ReadFile(event)
	if err != nil {
		return err
	}
	recs, err := alarm.Decode(payload)
	if err != nil {
		return nil // not an alarm (a follow-up, a malformed sample): nothing changes state
	}
	for _, r := range recs {
		if r.Err == nil && r.Alarm.State == alarm.StateOK {
			if err := f.Sandbox.SetAlarmState(r.Alarm.Name, string(alarm.StateOK), "Threshold Crossed: the case's datapoints are back under the threshold."); err != nil {
				return err
			}
		}
	}
	return nil
}
