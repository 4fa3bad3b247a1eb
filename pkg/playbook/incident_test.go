package playbook

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/incident"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/pkg/trust"
)

// memIncidents is the incident record in memory, with the store's once-only answers.
type memIncidents struct {
	mu   sync.Mutex
	inc  incident.Incident
	open bool
}

func (m *memIncidents) OpenOrJoin(_ context.Context, env, alarm, function string, at time.Time) (incident.Incident, incident.JoinResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	join := incident.Joined
	if !m.open {
		m.inc, m.open, join = incident.Incident{ID: "staging-inc-1", Environment: env, Status: incident.StatusOpen, OpenedAt: at}, true, incident.Opened
	}
	if _, ok := m.inc.Member(alarm); ok {
		return m.inc, incident.AlreadyMember, nil
	}
	m.inc.Members = append(m.inc.Members, incident.Member{Alarm: alarm, Function: function, FirstAlarmAt: at})
	return m.inc, join, nil
}
func (m *memIncidents) Current(context.Context, string) (incident.Incident, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inc, m.inc.ID != "", nil
}
func (m *memIncidents) Append(_ context.Context, _ string, entries ...incident.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inc.Timeline = append(m.inc.Timeline, entries...)
	return nil
}
func (m *memIncidents) SetConversation(_ context.Context, _ string, c incident.Conversation) (incident.Conversation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inc.Conversation.IsZero() {
		m.inc.Conversation = c
	}
	return m.inc.Conversation, nil
}
func (m *memIncidents) TriggerPage(_ context.Context, _, key string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inc.Page.Triggered {
		return false, nil
	}
	m.inc.Page = incident.Page{DedupKey: key, Triggered: true, TriggeredAt: at}
	return true, nil
}
func (m *memIncidents) ResolvePage(_ context.Context, _ string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	first := !m.inc.Page.Resolved
	m.inc.Page.Resolved, m.inc.Page.ResolvedAt = true, at
	return first, nil
}
func (m *memIncidents) Close(_ context.Context, _ string, reason incident.CloseReason, at time.Time) (bool, incident.Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inc.Status != incident.StatusOpen {
		return false, m.inc, nil
	}
	m.inc.Status, m.inc.CloseReason, m.inc.ClosedAt = incident.StatusClosed, reason, at
	m.open = false
	return true, m.inc, nil
}

type allOK struct{}

func (allOK) States(_ context.Context, names []string) (map[string]incident.AlarmState, error) {
	out := map[string]incident.AlarmState{}
	for _, n := range names {
		out[n] = incident.AlarmState{Name: n, State: incident.StateOK}
	}
	return out, nil
}

// TestOneIncidentOnePage: two alarms of one outage join one incident, every Result carries
// its id, the timeline records both, on-call is paged once, a verified fix does not resolve
// the page while the incident is open, and the OK that leaves every member OK closes it with a
// closing report and resolves the page.
func TestOneIncidentOnePage(t *testing.T) {
	store := &memIncidents{}
	r, delivered, _ := newRunner(config.ModeOn, guard.NewMemoryLedger(), nil)
	pager := &fakePager{}
	r.Pager, r.Incidents, r.AlarmStates = pager, store, allOK{}
	// The sample events fired on 2026-11-27 at 03:12: the incident is minutes old, not days.
	r.Now = func() time.Time { return time.Date(2026, 11, 27, 3, 20, 0, 0, time.UTC) }
	pending := &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Pending, Detail: "still starting"}}

	first, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pending), event(t, "ingestor-alarm.json"))
	second, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pending), event(t, "worker-alarm.json"))
	if first.Incident == "" || first.Incident != second.Incident {
		t.Fatalf("incidents %q and %q, want one", first.Incident, second.Incident)
	}
	if len(pager.triggered) != 1 || pager.triggered[0] != "gp-remediation/staging/"+first.Incident {
		t.Fatalf("pages %v, want one with the incident's dedup key", pager.triggered)
	}
	if second.Escalation == nil || second.Escalation.Paged || !strings.Contains(second.Escalation.Reason, "already paged") {
		t.Errorf("second escalation = %+v, want 'already paged'", second.Escalation)
	}
	r.Guard.Budgets = nil // the fake restarts one target: let the third alarm's restart run
	verified := &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Verified, Detail: "1 running"}}
	if _, err := Handle(context.Background(), r, Playbook[fakeEvidence](verified), event(t, "worker-alarm-metric-math.json")); err != nil {
		t.Fatal(err)
	}
	if len(pager.resolved) != 0 {
		t.Fatalf("a verified fix resolved %v while the incident is open", pager.resolved)
	}
	kinds := map[incident.Kind]int{}
	for _, e := range store.inc.Timeline {
		kinds[e.Kind]++
	}
	if kinds[incident.KindObservation] != 3 || kinds[incident.KindAction] != 3 || kinds[incident.KindReport] != 3 || kinds[incident.KindVerification] < 2 {
		t.Errorf("timeline kinds %v", kinds)
	}

	reports := len(*delivered)
	ok, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pending), event(t, "ingestor-ok.json"))
	if len(ok.More) != 1 || ok.More[0].Finding.Code != "incident-closed" || ok.More[0].Incident != first.Incident {
		t.Fatalf("OK result more = %+v, want the closing report", ok.More)
	}
	if store.inc.Status != incident.StatusClosed || len(pager.resolved) != 1 || len(*delivered) != reports+2 {
		t.Errorf("status %s, resolved %v, %d reports; want closed, one resolve, the OK and the closing report",
			store.inc.Status, pager.resolved, len(*delivered)-reports)
	}
}

func (m *memIncidents) SetMember(_ context.Context, _ string, mem incident.Member) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.inc.Members {
		if m.inc.Members[i].Alarm == mem.Alarm {
			m.inc.Members[i] = mem
			return nil
		}
	}
	m.inc.Members = append(m.inc.Members, mem)
	return nil
}

// unreadableHistories judges with every target's history unreadable.
type unreadableHistories struct{ calls int }

func (u *unreadableHistories) Agreements(_ context.Context, inc incident.Incident) []incident.Agreement {
	u.calls++
	out := map[string]trust.History{}
	for _, target := range trust.Targets(inc) {
		out[target] = trust.History{Target: target, Unreadable: "describe service " + target + ": throttled"}
	}
	return trust.Judge(inc, out)
}

// TestCloseRecordsAgreement: the close judges each action of the incident, records one
// agreement entry per action and shows one line per action in the closing report; an
// unreadable history gives unknown with its reason, never agreed.
func TestCloseRecordsAgreement(t *testing.T) {
	store := &memIncidents{}
	r, _, _ := newRunner(config.ModeOn, guard.NewMemoryLedger(), nil)
	hist := &unreadableHistories{}
	r.Incidents, r.AlarmStates, r.Agreements = store, allOK{}, hist
	r.Now = func() time.Time { return time.Date(2026, 11, 27, 3, 20, 0, 0, time.UTC) }
	pb := &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Verified, Detail: "1 running"}}
	if _, err := Handle(context.Background(), r, Playbook[fakeEvidence](pb), event(t, "ingestor-alarm.json")); err != nil {
		t.Fatal(err)
	}
	ok, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pb), event(t, "ingestor-ok.json"))
	if len(ok.More) != 1 || ok.More[0].Finding.Code != "incident-closed" {
		t.Fatalf("no closing report: %+v", ok.More)
	}
	var lines []string
	for _, l := range ok.More[0].Finding.Evidence {
		if strings.HasPrefix(l, "Agreement: ") {
			lines = append(lines, l)
		}
	}
	var ags []incident.Agreement
	for _, e := range store.inc.Timeline {
		if e.Kind == incident.KindAgreement && e.Agreement != nil {
			ags = append(ags, *e.Agreement)
		}
	}
	if hist.calls != 1 || len(ags) != 1 || len(lines) != 1 {
		t.Fatalf("histories read %d times, %d agreement entries, report lines %q; want 1, 1, 1", hist.calls, len(ags), lines)
	}
	if ags[0].Verdict != incident.VerdictUnknown || !strings.Contains(ags[0].Why, "throttled") || !strings.Contains(lines[0], "unknown: describe service svc: throttled") {
		t.Errorf("agreement %+v, line %q; want unknown with the read's error", ags[0], lines[0])
	}
}

// TestCloseWithoutJudge: a function with no judge still records one verdict per action at the
// close, unknown, saying it did not read the targets.
func TestCloseWithoutJudge(t *testing.T) {
	store := &memIncidents{}
	r, _, _ := newRunner(config.ModeOn, guard.NewMemoryLedger(), nil)
	r.Incidents, r.AlarmStates = store, allOK{}
	r.Now = func() time.Time { return time.Date(2026, 11, 27, 3, 20, 0, 0, time.UTC) }
	pb := &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Verified, Detail: "1 running"}}
	if _, err := Handle(context.Background(), r, Playbook[fakeEvidence](pb), event(t, "ingestor-alarm.json")); err != nil {
		t.Fatal(err)
	}
	ok, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pb), event(t, "ingestor-ok.json"))
	if len(ok.More) != 1 {
		t.Fatalf("no closing report: %+v", ok.More)
	}
	var ags []incident.Agreement
	for _, e := range store.inc.Timeline {
		if e.Agreement != nil {
			ags = append(ags, *e.Agreement)
		}
	}
	if len(ags) != 1 || ags[0].Verdict != incident.VerdictUnknown || !strings.Contains(ags[0].Why, "does not read") {
		t.Errorf("agreements %+v, want one unknown saying the targets were not read", ags)
	}
	if !strings.Contains(strings.Join(ok.More[0].Finding.Evidence, "\n"), "Agreement: ") {
		t.Errorf("closing report without its agreement line: %q", ok.More[0].Finding.Evidence)
	}
}
