package report

import "time"

// Severity of the alarm a report answers, as the runbook grades it.
type Severity string

const (
	SeverityCritical Severity = "CRITICAL"
	SeverityWarning  Severity = "WARNING"
	SeverityInfo     Severity = "INFO" // OK transitions, not-actionable input
)

// Report is a Result plus what a person needs to act on it. Every rendering (Markdown,
// Slack, Discord, text) is a pure function of a Report.
type Report struct {
	Result   Result
	Severity Severity
	Presentation
}

// Presentation is what a report shows beyond the Result; each playbook builds it.
type Presentation struct {
	// Headline is the one line an on-call engineer can act on; renderers never trim it.
	Headline string
	// Commands are the runbook commands still worth running, with the environment filled in.
	Commands []Command
	// Links are console links: ECS service, Logs Insights query, alarm, dashboard.
	Links []Link
	// Series is the key metric, drawn as a sparkline where a renderer can.
	Series *Series
	// Picture is the alarm's metric drawn by CloudWatch over the incident's window, with the
	// threshold and the actions marked; nil when none could be drawn in time (the sparkline
	// stands in).
	Picture *Picture
	// Offers are actions a person may approve from the message (buttons in Slack and Discord).
	Offers []Offer
}

// Offer is one action waiting for approval, as a message shows it.
type Offer struct {
	ID string
	// Title is what approving does, as the /gpr command reads ("rollback worker 41").
	Title string
	// Reason is why the functions did not do it themselves.
	Reason    string
	ExpiresAt time.Time
	Required  int
}

// Picture is a PNG graph of the alarm's metric. Sinks that take files attach PNG; the others
// link URL, a short-lived presigned address (empty when the picture was not stored).
type Picture struct {
	PNG []byte
	// Name is the attachment's file name, e.g. "graph.png".
	Name string
	// Title says what the graph shows ("queue depth with threshold 1000, 2 actions marked").
	Title string
	URL   string
}

// Command is one runbook command with what it is for.
type Command struct {
	Title string
	Cmd   string
}

// Link is one console link.
type Link struct {
	Title string
	URL   string
}

// Series is a metric over time, oldest first. NaN marks a missing datapoint.
type Series struct {
	Label  string
	Unit   string
	Values []float64
}
