package guard

// RuleCode names the rule that kept an action from running. The code is what reports group
// and count by; the detail says what the rule saw this time.
type RuleCode string

// The rules the guard, the runner and the decisions apply.
const (
	RuleMissingEvidence      RuleCode = "missing-evidence"       // decisive evidence could not be read
	RulePolicy               RuleCode = "policy"                 // a policy switch of the environment is off
	RuleCap                  RuleCode = "cap"                    // a cap (workers, memory, replays) is reached
	RuleState                RuleCode = "state"                  // the state says another function's job
	RuleStateChanged         RuleCode = "state-changed"          // the re-read before acting found another state
	RulePreviousActionFailed RuleCode = "previous-action-failed" // an earlier action of the same plan failed
	RuleDeadline             RuleCode = "deadline"               // too little time left to act and verify
	RuleBudget               RuleCode = "budget"                 // the action budget of the window is spent
	RuleCooldown             RuleCode = "cooldown"               // the last such action is too recent
	RuleLock                 RuleCode = "lock"                   // another invocation acts on the target
	RuleLedgerUnavailable    RuleCode = "ledger-unavailable"     // budgets and locks cannot be read
	RuleKillSwitch           RuleCode = "kill-switch"            // the kill switch is engaged
	RuleKillSwitchUnreadable RuleCode = "kill-switch-unreadable" // the kill switch cannot be read
	RuleDiscordBudget        RuleCode = "discord-budget"         // too few Discord session starts left
	RuleDiscordBudgetUnknown RuleCode = "discord-budget-unknown" // the Discord budget cannot be read
	RuleDiscordTokenInvalid  RuleCode = "discord-token-invalid"  // Discord rejects the bot token
	RuleIncident             RuleCode = "incident"               // another alarm of the incident comes first
)

// Rule is why an action did not run: a code and what was seen.
type Rule struct {
	Code   RuleCode
	Detail string
}

// Set says whether a rule applies (the zero Rule means none).
func (r Rule) Set() bool { return r.Code != "" }

// String renders the rule for a report: "cooldown: last … was 3m ago (minimum 15m)".
func (r Rule) String() string {
	if r.Detail == "" {
		return string(r.Code)
	}
	return string(r.Code) + ": " + r.Detail
}
