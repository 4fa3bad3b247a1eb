package render

import "github.com/arrakis/gp-remediation/pkg/report"

// pictureRef is what a rendering says about the report's picture: the attachment a sink
// carries alongside (Discord files, a Slack upload), or the link the others show.
type pictureRef struct {
	attached bool   // the PNG travels with the message
	name     string // its file name
	title    string
	url      string // presigned link ("" when not stored)
}

// maxPictureURL is Slack's image_url limit; a presigned URL signed with a session token is
// about 1,500 characters, but a longer one is left out rather than cut.
const maxPictureURL = 3000

func newPictureRef(p *report.Picture) *pictureRef {
	if p == nil || (len(p.PNG) == 0 && p.URL == "") {
		return nil
	}
	ref := &pictureRef{attached: len(p.PNG) > 0, name: oneLine(p.Name), title: oneLine(p.Title), url: oneLine(p.URL)}
	if ref.name == "" {
		ref.name = "graph.png"
	}
	if ref.title == "" {
		ref.title = "graph of the alarm's metric"
	}
	if len(ref.url) > maxPictureURL {
		ref.url = ""
	}
	if !ref.attached && ref.url == "" {
		return nil
	}
	return ref
}

// HasAttachment says whether the report's Discord rendering refers to an attached file
// (embed image "attachment://<name>"), which the sender must then upload with the message.
func HasAttachment(r report.Report) bool {
	ref := newPictureRef(r.Picture)
	return ref != nil && ref.attached
}
