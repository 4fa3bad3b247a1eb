package playbook

import (
	"context"
	"testing"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/guard"
	"github.com/arrakis/gp-remediation/pkg/picture"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// recordingPainter answers what it is told and remembers what it was asked to draw.
type recordingPainter struct {
	pic      *report.Picture
	note     report.PictureNote
	subjects []picture.Subject
}

func (p *recordingPainter) Paint(ctx context.Context, s picture.Subject) (*report.Picture, report.PictureNote) {
	p.subjects = append(p.subjects, s)
	return p.pic, p.note
}

// The picture is drawn after the actions (so they are marked) and travels in the report; the
// Result says it was drawn. A picture that could not be drawn leaves the report as it was,
// with the reason in the Result.
func TestReportsCarryThePicture(t *testing.T) {
	for _, drawn := range []bool{true, false} {
		painter := &recordingPainter{note: report.PictureNote{Error: "GetMetricWidgetImage: no answer within 3s"}}
		if drawn {
			painter.pic = &report.Picture{PNG: []byte("\x89PNG"), Name: "graph.png", Title: "t"}
			painter.note = report.PictureNote{Drawn: true, Bytes: 4, Marks: 1}
		}
		pb := &fakePlaybook{decision: restartDecision(), verify: report.Verification{Status: report.Verified}}
		r, delivered, _ := newRunner(config.ModeOn, guard.NewMemoryLedger(), nil)
		r.Pictures = painter
		res, _ := Handle(context.Background(), r, Playbook[fakeEvidence](pb), event(t, "ingestor-alarm.json"))
		if len(painter.subjects) != 1 {
			t.Fatalf("drawn %d times", len(painter.subjects))
		}
		s := painter.subjects[0]
		if s.Alarm.Name == "" || len(s.Actions) != 1 || s.Actions[0].Outcome != report.OutcomeDone || s.Environment != "staging" {
			t.Errorf("subject %+v", s)
		}
		if res.Picture == nil || res.Picture.Drawn != drawn || (!drawn && res.Picture.Error == "") {
			t.Errorf("drawn=%v: result picture %+v", drawn, res.Picture)
		}
		if len(*delivered) != 1 || ((*delivered)[0].Picture != nil) != drawn {
			t.Errorf("drawn=%v: delivered %d reports, picture %v", drawn, len(*delivered), (*delivered)[0].Picture != nil)
		}
	}
}
