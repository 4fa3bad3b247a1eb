package offer

import (
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gp-remediation/pkg/operation"
)

var t0 = time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)

func open(required int, approvals ...Approval) Offer {
	return Offer{ID: "0123456789abcdef", Environment: "production", Request: operation.Request{Kind: operation.KindRollback, Role: "worker", Revision: "41"},
		CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute), Required: required, Approvals: approvals, Status: StatusOpen}
}

func TestConsider(t *testing.T) {
	allow, err := ParseApprovers("slack:UALICE, slack:UBOB ,discord:user:111,discord:role:999")
	if err != nil {
		t.Fatal(err)
	}
	alice := Person{Platform: "slack", UserID: "UALICE", Name: "alice"}
	bob := Person{Platform: "slack", UserID: "UBOB"}
	stranger := Person{Platform: "slack", UserID: "UEVE"}
	discordRole := Person{Platform: "discord", UserID: "222", Roles: []string{"5", "999"}}
	discordNoRole := Person{Platform: "discord", UserID: "333", Roles: []string{"5"}}
	slackIDOnDiscord := Person{Platform: "discord", UserID: "UALICE"}
	aliceApproved := Approval{Platform: "slack", UserID: "UALICE", Name: "alice", At: t0.Add(time.Minute)}
	executing := open(1)
	executing.Status, executing.DecidedBy, executing.DecidedAt = StatusExecuting, "bob", t0.Add(2*time.Minute)
	in := func(d time.Duration) time.Time { return t0.Add(d) }

	tests := []struct {
		name     string
		offer    Offer
		click    Click
		want     Outcome
		code     string
		status   Status
		approved int
	}{
		{"one approver runs it", open(1), Click{By: alice, Approve: true, At: in(time.Minute)}, Execute, "", StatusExecuting, 1},
		{"first of two is recorded", open(2), Click{By: alice, Approve: true, At: in(time.Minute)}, Record, "", StatusOpen, 1},
		{"second, different approver runs it", open(2, aliceApproved), Click{By: bob, Approve: true, At: in(2 * time.Minute)}, Execute, "", StatusExecuting, 2},
		{"same approver twice is refused", open(2, aliceApproved), Click{By: alice, Approve: true, At: in(2 * time.Minute)}, Refuse, RefuseSameApprover, StatusOpen, 1},
		{"a stranger is refused", open(1), Click{By: stranger, Approve: true, At: in(time.Minute)}, Refuse, RefuseNotApprover, StatusOpen, 0},
		{"a stranger cannot reject either", open(1), Click{By: stranger, Approve: false, At: in(time.Minute)}, Refuse, RefuseNotApprover, StatusOpen, 0},
		{"a Slack id is no Discord id", open(1), Click{By: slackIDOnDiscord, Approve: true, At: in(time.Minute)}, Refuse, RefuseNotApprover, StatusOpen, 0},
		{"a Discord role on the list approves", open(1), Click{By: discordRole, Approve: true, At: in(time.Minute)}, Execute, "", StatusExecuting, 1},
		{"a Discord member without the role is refused", open(1), Click{By: discordNoRole, Approve: true, At: in(time.Minute)}, Refuse, RefuseNotApprover, StatusOpen, 0},
		{"expired is refused", open(1), Click{By: alice, Approve: true, At: in(30 * time.Minute)}, Refuse, RefuseExpired, StatusOpen, 0},
		{"a second click after it ran is refused", executing, Click{By: alice, Approve: true, At: in(3 * time.Minute)}, Refuse, RefuseNotOpen, StatusExecuting, 0},
		{"reject", open(2, aliceApproved), Click{By: bob, Approve: false, At: in(2 * time.Minute)}, Reject, "", StatusRejected, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.offer.Approvals)
			v := Consider(tt.offer, tt.click, allow)
			if v.Outcome != tt.want || v.Code != tt.code {
				t.Fatalf("outcome %s %q, want %s %q (%s)", v.Outcome, v.Code, tt.want, tt.code, v.Reason)
			}
			if v.Offer.Status != tt.status || len(v.Offer.Approvals) != tt.approved {
				t.Errorf("offer after: status %s with %d approvals, want %s with %d", v.Offer.Status, len(v.Offer.Approvals), tt.status, tt.approved)
			}
			if len(tt.offer.Approvals) != before {
				t.Error("Consider changed its input")
			}
			if v.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestParseApprovers(t *testing.T) {
	for _, bad := range []string{"alice", "slack:", "slack:u123", "discord:123", "discord:user:abc", "discord:group:1", "slack:U1:x"} {
		if _, err := ParseApprovers(bad); err == nil {
			t.Errorf("ParseApprovers(%q) accepted", bad)
		}
	}
	a, err := ParseApprovers("")
	if err != nil || !a.Empty() {
		t.Errorf("empty list: %v %+v", err, a)
	}
}

func TestStateChange(t *testing.T) {
	two, three := 2, 3
	bound := []Binding{{Service: "w", Desired: &two, TaskDefinition: "arn:aws:ecs:us-east-1:1:task-definition/w:42"}}
	tests := []struct {
		name string
		now  []Binding
		want string // substring of the error, "" for none
	}{
		{"same", []Binding{{Service: "w", Desired: &two, TaskDefinition: "arn:aws:ecs:us-east-1:1:task-definition/w:42"}}, ""},
		{"scaled by someone", []Binding{{Service: "w", Desired: &three, TaskDefinition: "arn:aws:ecs:us-east-1:1:task-definition/w:42"}}, "desired count was 2, is 3"},
		{"deployed by someone", []Binding{{Service: "w", Desired: &two, TaskDefinition: "arn:aws:ecs:us-east-1:1:task-definition/w:43"}}, "w:43"},
		{"not read", nil, "could not be read"},
		{"count unknown", []Binding{{Service: "w", TaskDefinition: "arn:aws:ecs:us-east-1:1:task-definition/w:42"}}, "is unknown"},
	}
	for _, tt := range tests {
		err := StateChange(bound, tt.now)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := StateChange([]Binding{{Service: "w"}}, []Binding{{Service: "w", Desired: &three}}); err != nil {
		t.Errorf("nothing bound: %v", err)
	}
}
