package trust

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runbookSections reads the "###" titles of the runbook: the team's copy next to the repo
// (../shared/runbook.md from the repo root) when it is there, else the copy in docs/.
func runbookSections(t *testing.T) []string {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "runbook.md")
	if _, err := os.Stat(path); err != nil {
		path = filepath.Join("..", "..", "docs", "runbook.md")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var titles []string
	sc := bufio.NewScanner(f)
	fence := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(line, "### ") {
			titles = append(titles, strings.TrimSpace(strings.TrimPrefix(line, "### ")))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return titles
}

func TestCoverageHasEveryRunbookSection(t *testing.T) {
	titles := runbookSections(t)
	if len(titles) == 0 {
		t.Fatal("no ### section in the runbook")
	}
	table := map[string]Section{}
	for _, s := range RunbookCoverage {
		table[s.Title] = s
	}
	for _, title := range titles {
		s, ok := table[title]
		if !ok {
			t.Errorf("runbook section %q is not in RunbookCoverage", title)
			continue
		}
		if len(s.Steps) == 0 {
			t.Errorf("section %q has no step", title)
		}
		delete(table, title)
	}
	for title := range table {
		t.Errorf("RunbookCoverage has %q, which is not a runbook section", title)
	}
}

func TestCoverageSteps(t *testing.T) {
	for _, s := range RunbookCoverage {
		for _, st := range s.Steps {
			switch st.Coverage {
			case Automated, Offered:
				if st.By == "" {
					t.Errorf("%s / %s is %s by nobody", s.Title, st.Step, st.Coverage)
				}
			case Person:
			default:
				t.Errorf("%s / %s: coverage %q", s.Title, st.Step, st.Coverage)
			}
		}
	}
	// The operations issue 12 adds are offered, never automated.
	for _, op := range []string{"/gpr health", "/gpr scale", "/gpr restart", "/gpr rollback", "/gpr complete-restart", "/gpr disable", "/gpr replay-dlq"} {
		found := false
		for _, s := range RunbookCoverage {
			for _, st := range s.Steps {
				if strings.Contains(st.By, op) {
					found = true
					if st.Coverage != Offered {
						t.Errorf("%s is %s, want offered", op, st.Coverage)
					}
				}
			}
		}
		if !found {
			t.Errorf("%s is in no step", op)
		}
	}
}
