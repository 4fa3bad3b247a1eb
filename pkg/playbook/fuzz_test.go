package playbook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/arrakis/gp-remediation/pkg/alarm"
	"github.com/arrakis/gp-remediation/pkg/playbook"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/service"
)

// maxFuzzSeed keeps the seeds small enough for the mutator to work on (the 250 KB reason is
// covered by TestCorpusThroughThePipeline).
const maxFuzzSeed = 32 << 10

// FuzzHandle pushes any payload through the whole Handle path (decode, scope, guard, the fake
// diagnosis and action, report, Result): it never panics and never returns an error; every
// Result keeps the contract; input that is not an alarm says so in Result.error; nothing acts
// on an alarm that is not in ALARM, or on a service outside the environment.
func FuzzHandle(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	more, _ := filepath.Glob("../../events/*/*.json")
	for _, p := range append(files, more...) {
		if filepath.Base(p) == "cases.json" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil && len(b) <= maxFuzzSeed {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"Records":[{"Sns":{"Message":"{\"AlarmName\":\"arrakis-staging No Ingestor Tasks Running\",\"NewStateValue\":\"ALARM\",\"StateChangeTime\":\"2026-11-27T03:12:41Z\"}"}}]}`))
	f.Add([]byte(`{"source":"aws.cloudwatch","alarmData":{"alarmName":"arrakis-staging-gp-worker","state":{"value":"ALARM","timestamp":"2026-11-27T03:12:41Z"}}}`))
	c := stagingConfig(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		var logs bytes.Buffer
		r, _ := corpusRunner(t, "no-tasks", &logs)
		pb := &scopedPlaybook{scope: func(a alarm.Alarm) (playbook.Target, error) {
			return service.Scope(c, a, report.SeverityCritical)
		}}
		res, err := playbook.Handle(context.Background(), r, playbook.Playbook[string](pb), payload)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		all := append([]report.Result{res}, res.More...)
		checkResults(t, all)
		recs, derr := alarm.Decode(payload)
		switch {
		case derr != nil && (res.Error == "" || len(res.More) > 0):
			t.Fatalf("unusable input (%v), Result error %q, %d more", derr, res.Error, len(res.More))
		case derr == nil && len(recs) > 0 && len(all) != len(recs):
			t.Fatalf("%d records, %d Results", len(recs), len(all))
		}
		done := 0
		for i, x := range all {
			if x.Error != "" && x.Finding.Code != "not-actionable" {
				t.Fatalf("result %d: error %q with finding %q", i, x.Error, x.Finding.Code)
			}
			for _, a := range x.Actions {
				if a.Outcome == report.OutcomeDone {
					done++
					if x.Alarm.State != string(alarm.StateAlarm) {
						t.Fatalf("result %d: acted on an alarm in state %q", i, x.Alarm.State)
					}
				}
			}
			if _, err := json.Marshal(x); err != nil {
				t.Fatalf("result %d does not marshal: %v", i, err)
			}
		}
		if done != len(pb.acted) {
			t.Fatalf("Results say %d actions done, the playbook acted %d times", done, len(pb.acted))
		}
		for _, target := range pb.acted {
			if target != c.IngestorService && target != c.WorkerService {
				t.Fatalf("acted on %q", target)
			}
		}
		checkLogLines(t, logs.Bytes())
	})
}
