package operation

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/deadletter"
)

func testConfig() config.Config {
	return config.Config{Environment: "staging", MaxWorkers: 3, MaxTaskMemoryMiB: 4096, MaxReplaysPerRun: 500,
		IngestorService: "arrakis-staging-ingestor", WorkerService: "arrakis-staging-gp-worker"}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Request
		wantErr string
	}{
		{"health", Request{Kind: KindHealth}, ""},
		{"HEALTH", Request{Kind: KindHealth}, ""},
		{"scale worker 3", Request{Kind: KindScale, Role: RoleWorker, Count: 3}, ""},
		{"scale Ingestor 0", Request{Kind: KindScale, Role: RoleIngestor}, ""},
		{"restart worker", Request{Kind: KindRestart, Role: RoleWorker}, ""},
		{"rollback worker 41", Request{Kind: KindRollback, Role: RoleWorker, Revision: "41"}, ""},
		{"rollback worker arrakis-staging-gp-worker:41", Request{Kind: KindRollback, Role: RoleWorker, Revision: "arrakis-staging-gp-worker:41"}, ""},
		{"rollback ingestor arn:aws:ecs:us-east-1:123456789012:task-definition/arrakis-staging-ingestor:16",
			Request{Kind: KindRollback, Role: RoleIngestor, Revision: "arn:aws:ecs:us-east-1:123456789012:task-definition/arrakis-staging-ingestor:16"}, ""},
		{"raise-memory ingestor 2048", Request{Kind: KindRaiseMemory, Role: RoleIngestor, MemoryMiB: 2048}, ""},
		{"complete-restart", Request{Kind: KindCompleteRestart}, ""},
		{"disable", Request{Kind: KindDisable}, ""},
		{"replay-dlq bug 50", Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Messages: 50}, ""},
		{"REPLAY-DLQ Unknown 1000", Request{Kind: KindReplayDLQ, Class: deadletter.Unknown, Messages: 1000}, ""},
		{"replay-dlq transient 1", Request{Kind: KindReplayDLQ, Class: deadletter.Transient, Messages: 1}, ""},
		{"replay-dlq bug", Request{Kind: KindReplayDLQ, Class: deadletter.Bug}, ""},

		{"", Request{}, "no operation given"},
		{"reboot", Request{}, `unknown operation "reboot"`},
		{"health now", Request{}, "health takes 0 argument(s), got 1"},
		{"scale worker", Request{}, "scale takes 2 argument(s), got 1: usage: scale <ingestor|worker> <count>"},
		{"scale db 3", Request{}, `service "db": want ingestor or worker`},
		{"scale worker three", Request{}, `count "three": want a whole number`},
		{"scale worker -1", Request{}, `count "-1": want a whole number`},
		{"restart", Request{}, "restart takes 1 argument(s), got 0"},
		{"rollback worker latest", Request{}, `revision "latest": want a revision number`},
		{"rollback worker 0", Request{}, `revision "0": want a revision number`},
		{"rollback worker 041", Request{}, `revision "041"`},
		{"rollback worker fam:ily:4", Request{}, `revision "fam:ily:4"`},
		{"rollback worker arn:aws:ecs:us-east-1:1:task-definition/x:4", Request{}, "want a revision number (41), family:41 or a task definition ARN"},
		{"raise-memory worker lots", Request{}, `memory (MiB) "lots": want a whole number`},
		{"complete-restart worker", Request{}, "complete-restart takes 0 argument(s), got 1"},
		{"replay-dlq", Request{}, "replay-dlq takes 1 or 2 argument(s), got 0: usage: replay-dlq <bug|unknown|transient> [count]"},
		{"replay-dlq bug 5 now", Request{}, "replay-dlq takes 1 or 2 argument(s), got 3"},
		{"replay-dlq bad-data 5", Request{}, `class "bad-data": want bug, unknown or transient (bad data is parked, never replayed)`},
		{"replay-dlq bugs 5", Request{}, `class "bugs": want bug, unknown or transient`},
		{"replay-dlq 5 bug", Request{}, `class "5"`},
		{"replay-dlq bug many", Request{}, `count "many": want a whole number`},
		{"replay-dlq bug -3", Request{}, `count "-3": want a whole number`},
		{"replay-dlq bug 0", Request{}, "count 0: want 1 to 1000, or leave it out for GPR_MAX_REPLAYS_PER_RUN"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(strings.Fields(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) = %+v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if err := got.Validate(testConfig()); err != nil {
				t.Errorf("Validate(%+v) = %v", got, err)
			}
			again, err := Parse(strings.Fields(got.String()))
			if err != nil || again != got {
				t.Errorf("Parse(String()) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		r       Request
		wantErr string
	}{
		{"scale to the manual cap", Request{Kind: KindScale, Role: RoleWorker, Count: 10}, ""},
		{"scale past the manual cap", Request{Kind: KindScale, Role: RoleWorker, Count: 11}, "the count must be from 0 to 10"},
		{"negative count", Request{Kind: KindScale, Role: RoleWorker, Count: -1}, "the count must be from 0 to 10"},
		{"memory at the cap", Request{Kind: KindRaiseMemory, Role: RoleIngestor, MemoryMiB: 4096}, ""},
		{"memory past the cap", Request{Kind: KindRaiseMemory, Role: RoleIngestor, MemoryMiB: 4097}, "from 128 to 4096 MiB (GPR_MAX_TASK_MEMORY_MIB)"},
		{"memory too small", Request{Kind: KindRaiseMemory, Role: RoleIngestor, MemoryMiB: 64}, "from 128 to 4096 MiB"},
		{"unknown kind", Request{Kind: "purge"}, `unknown operation "purge"`},
		{"no role", Request{Kind: KindRestart}, `restart: service "": want ingestor or worker`},
		{"role on a both-services op", Request{Kind: KindDisable, Role: RoleWorker}, "disable acts on both services"},
		{"count on restart", Request{Kind: KindRestart, Role: RoleWorker, Count: 2}, "restart takes no count"},
		{"revision on scale", Request{Kind: KindScale, Role: RoleWorker, Count: 1, Revision: "4"}, "scale takes no revision"},
		{"memory on health", Request{Kind: KindHealth, MemoryMiB: 4}, "health takes no memory size"},
		{"bad revision", Request{Kind: KindRollback, Role: RoleWorker, Revision: "../41"}, "want a revision number"},
		{"replay at the cap", Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Messages: 1000}, ""},
		{"replay past the cap", Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Messages: 1001}, "replay-dlq bug 1001: the count must be from 1 to 1000"},
		{"replay a negative count", Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Messages: -1}, "the count must be from 1 to 1000"},
		{"replay bad data", Request{Kind: KindReplayDLQ, Class: deadletter.BadData, Messages: 5}, `replay-dlq: class "bad-data"`},
		{"replay no class", Request{Kind: KindReplayDLQ, Messages: 5}, `replay-dlq: class ""`},
		{"replay with a service", Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Role: RoleWorker}, "replay-dlq acts on the DLQ; it takes no service"},
		{"replay with a task count", Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Count: 3}, "replay-dlq takes no count"},
		{"class on scale", Request{Kind: KindScale, Role: RoleWorker, Count: 1, Class: deadletter.Bug}, "scale takes no message class or count"},
		{"messages on restart", Request{Kind: KindRestart, Role: RoleWorker, Messages: 5}, "restart takes no message class or count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate(testConfig())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v", tc.r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate(%+v) = %v; want %q", tc.r, err, tc.wantErr)
			}
		})
	}
	// A higher automatic cap raises the manual one.
	c := testConfig()
	c.MaxWorkers = 20
	if err := (Request{Kind: KindScale, Role: RoleWorker, Count: 20}).Validate(c); err != nil {
		t.Errorf("count 20 with GPR_MAX_WORKERS=20: %v", err)
	}
}

// A replay without a count moves up to the per-run cap, bounded by MaxReplayMessages; with
// the cap at 0 there is no default and a count must be given.
func TestReplayLimit(t *testing.T) {
	bug := Request{Kind: KindReplayDLQ, Class: deadletter.Bug}
	tests := []struct {
		name    string
		r       Request
		perRun  int
		want    int
		wantErr string
	}{
		{"the count given", Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Messages: 50}, 500, 50, ""},
		{"the count given, past the per-run cap", Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Messages: 800}, 500, 800, ""},
		{"no count: the per-run cap", bug, 500, 500, ""},
		{"no count: the per-run cap, at most 1000", bug, 5000, 1000, ""},
		{"no count and replays off: refused", bug, 0, 0, "replay-dlq bug: give a count (1 to 1000): GPR_MAX_REPLAYS_PER_RUN is 0 in staging"},
		{"a count with replays off", Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Messages: 7}, 0, 7, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			c.MaxReplaysPerRun = tc.perRun
			if got := tc.r.ReplayLimit(c); got != tc.want {
				t.Errorf("ReplayLimit = %d, want %d", got, tc.want)
			}
			err := tc.r.Validate(c)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// A replay-dlq, as an offer stores it: the class keeps its type.
func TestReplayRequestJSON(t *testing.T) {
	r := Request{Kind: KindReplayDLQ, Class: deadletter.Bug, Messages: 3}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"kind":"replay-dlq","class":"bug","messages":3}` {
		t.Errorf("JSON %s", raw)
	}
	var back Request
	if err := json.Unmarshal(raw, &back); err != nil || back != r {
		t.Fatalf("round trip %s = %+v, %v", raw, back, err)
	}
}

// Usage, which /gpr and gpr show, lists every operation.
func TestUsageListsEveryKind(t *testing.T) {
	listed := map[string]bool{}
	for _, line := range strings.Split(Usage, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			listed[f[0]] = true
		}
	}
	for _, k := range []Kind{KindHealth, KindScale, KindRestart, KindRollback, KindRaiseMemory, KindCompleteRestart, KindDisable, KindReplayDLQ} {
		if !listed[string(k)] {
			t.Errorf("Usage does not list %s", k)
		}
	}
}

// Whatever Parse accepts and Validate passes prints back to itself.
func FuzzParseString(f *testing.F) {
	for _, s := range []string{"health", "scale worker 3", "rollback ingestor arrakis-staging-ingestor:16", "raise-memory worker 1024", "disable", "scale WORKER 03", "replay-dlq bug 50", "replay-dlq Transient"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(strings.Fields(s))
		if err != nil {
			return
		}
		if r.Validate(testConfig()) != nil {
			return
		}
		again, err := Parse(strings.Fields(r.String()))
		if err != nil || again != r {
			t.Fatalf("Parse(%q) = %+v; Parse(String()=%q) = %+v, %v", s, r, r.String(), again, err)
		}
	})
}

// A family is 1 to 255 letters, digits, hyphens and underscores, typed or in an ARN.
func TestFamilyLength(t *testing.T) {
	long := strings.Repeat("a", 255)
	arn := func(f string) string { return "arn:aws:ecs:us-east-1:123456789012:task-definition/" + f + ":41" }
	for _, ok := range []string{long + ":41", arn(long), "gp-worker_2:41"} {
		if _, _, err := SplitRevision(ok); err != nil {
			t.Errorf("%.40s…: %v", ok, err)
		}
	}
	for _, bad := range []string{long + "a:41", arn(long + "a"), "gp.worker:41", ":41", arn("gp.worker")} {
		if _, _, err := SplitRevision(bad); err == nil {
			t.Errorf("%.40s… accepted", bad)
		}
	}
}
