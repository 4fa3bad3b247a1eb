package sandbox_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// Each accepted UpdateService is kept with what it asked for, in order; a refused one is not.
func TestServiceUpdatesRecordsWhatWasAsked(t *testing.T) {
	c := start(t, "healthy")
	n := c.names
	calls := []*ecs.UpdateServiceInput{
		{Cluster: aws.String(n.Cluster), Service: aws.String(n.IngestorService), DesiredCount: aws.Int32(0)},
		{Cluster: aws.String(n.Cluster), Service: aws.String(n.WorkerService), ForceNewDeployment: true},
		{Cluster: aws.String(n.Cluster), Service: aws.String(n.WorkerService), TaskDefinition: aws.String(n.WorkerService + ":40")},
	}
	for _, in := range calls {
		if _, err := c.ecs.UpdateService(ctx(t), in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ecs.UpdateService(ctx(t), &ecs.UpdateServiceInput{Cluster: aws.String(n.Cluster), Service: aws.String(n.WorkerService), DesiredCount: aws.Int32(-1)}); err == nil {
		t.Fatal("a negative count was accepted")
	}
	got := c.sandbox.ServiceUpdates()
	if len(got) != 3 {
		t.Fatalf("%d updates: %+v", len(got), got)
	}
	if got[0].Service != n.IngestorService || got[0].DesiredCount == nil || *got[0].DesiredCount != 0 || got[0].ForceNewDeployment {
		t.Errorf("first %+v", got[0])
	}
	if got[1].Service != n.WorkerService || !got[1].ForceNewDeployment || got[1].DesiredCount != nil {
		t.Errorf("second %+v", got[1])
	}
	if got[2].TaskDefinition != "arn:aws:ecs:us-east-1:123456789012:task-definition/"+n.WorkerService+":40" {
		t.Errorf("third %+v", got[2])
	}
	if got[0].Time.After(got[1].Time) || got[1].Time.After(got[2].Time) {
		t.Errorf("out of order: %+v", got)
	}
	c.sandbox.ClearRecords()
	if u := c.sandbox.ServiceUpdates(); len(u) != 0 {
		t.Errorf("after ClearRecords: %+v", u)
	}
}
