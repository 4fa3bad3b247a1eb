package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"strings"
	"testing"

	"github.com/arrakis/gp-remediation/internal/reportfixture"
	"github.com/arrakis/gp-remediation/pkg/report"
	"github.com/arrakis/gp-remediation/sandbox"
)

// aPNG is a small real PNG.
func aPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 4))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func withPicture(t *testing.T, r report.Report, url string) report.Report {
	r.Picture = &report.Picture{PNG: aPNG(t), Name: "graph.png", Title: "queue depth, threshold 1000, 1 action marked", URL: url}
	return r
}

// Discord: the report with a picture goes as multipart/form-data, payload_json plus
// files[0], the embed showing attachment://graph.png; the opener's edit carries it too. The
// stand-in refuses an attachment reference without its file, as Discord does.
func TestDiscordSendsThePictureAsAnAttachment(t *testing.T) {
	sb, hook := standIns(t)
	d := NewDiscordSink(hook, nil)
	ctx := context.Background()
	r := withPicture(t, reportfixture.Paged(), "")
	conv, err := d.SendIn(ctx, r, Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SendIn(ctx, r, conv); err != nil {
		t.Fatal(err)
	}
	reqs := sb.Requests(sandbox.KindDiscord)
	if len(reqs) != 3 { // post, post, PATCH of the opener
		t.Fatalf("%d requests", len(reqs))
	}
	for i, req := range reqs {
		if !strings.HasPrefix(req.ContentType, "multipart/form-data; boundary=") || req.Status/100 != 2 {
			t.Errorf("request %d: %s %q status %d", i, req.Method, req.ContentType, req.Status)
		}
		if len(req.Files) != 1 || req.Files[0].Field != "files[0]" || req.Files[0].Name != "graph.png" ||
			req.Files[0].ContentType != "image/png" || !bytes.Equal(req.Files[0].Data, r.Picture.PNG) {
			t.Errorf("request %d files: %+v", i, req.Files)
		}
		var payload struct {
			Embeds []struct {
				Image struct{ URL string } `json:"image"`
			} `json:"embeds"`
			Attachments []struct {
				ID       int    `json:"id"`
				Filename string `json:"filename"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal([]byte(req.Body), &payload); err != nil {
			t.Fatalf("payload_json: %v", err)
		}
		if payload.Embeds[0].Image.URL != "attachment://graph.png" || len(payload.Attachments) != 1 || payload.Attachments[0].Filename != "graph.png" {
			t.Errorf("request %d payload: %+v", i, payload)
		}
	}

	// Without a picture: plain JSON, as before.
	if err := d.Send(ctx, reportfixture.Paged()); err != nil {
		t.Fatal(err)
	}
	if last := sb.Requests(sandbox.KindDiscord)[3]; last.ContentType != "application/json" || len(last.Files) != 0 {
		t.Errorf("no picture: %q, %d files", last.ContentType, len(last.Files))
	}
}

// Slack with a bot token: the picture is uploaded into the incident's thread through
// files.getUploadURLExternal (form-encoded), the upload URL (no token), and
// files.completeUploadExternal with the channel and the thread's parent ts.
func TestSlackBotUploadsThePictureIntoTheThread(t *testing.T) {
	sb, _ := standIns(t)
	bot := NewSlackBot(sandbox.SlackBotToken, sandbox.SlackChannel, sb.SlackAPIURL(), nil)
	ctx := context.Background()
	r := withPicture(t, reportfixture.Paged(), "")
	conv, err := bot.SendIn(ctx, r, Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bot.SendIn(ctx, r, conv); err != nil {
		t.Fatal(err)
	}
	files := sb.SlackFiles()
	if len(files) != 2 {
		t.Fatalf("%d files shared", len(files))
	}
	for _, f := range files {
		if f.Channel != sandbox.SlackChannel || f.ThreadTS != conv.SlackTS || !bytes.Equal(f.Data, r.Picture.PNG) || f.Name != "graph.png" {
			t.Errorf("file %+v (thread %s)", f, conv.SlackTS)
		}
	}
	var methods []string
	for _, req := range sb.Requests(sandbox.KindSlackAPI) {
		m := strings.TrimPrefix(req.Path, "/_sandbox/slack/api/")
		methods = append(methods, m)
		if m == "files.getUploadURLExternal" {
			form, err := url.ParseQuery(req.Body)
			if err != nil || req.ContentType != "application/x-www-form-urlencoded" || form.Get("filename") != "graph.png" || form.Get("length") == "" {
				t.Errorf("getUploadURLExternal: %q %q", req.ContentType, req.Body)
			}
		}
	}
	want := "chat.postMessage files.getUploadURLExternal files.completeUploadExternal chat.postMessage chat.update files.getUploadURLExternal files.completeUploadExternal"
	if got := strings.Join(methods, " "); got != want {
		t.Errorf("calls:\n got %s\nwant %s", got, want)
	}
	if ups := sb.Requests(sandbox.KindSlackUpload); len(ups) != 2 || ups[0].Status != 200 {
		t.Errorf("uploads: %+v", ups)
	}
}

// A Slack incoming webhook cannot upload: the picture is an image block by its URL, and
// without a stored picture there is none.
func TestSlackWebhookLinksThePicture(t *testing.T) {
	sb := sandbox.StartTest(t, sandbox.Options{})
	hook := sb.URL() + "/_sandbox/hooks/slack/" + sandbox.SlackHookPath
	s := NewSlackSink(hook, nil)
	if err := s.Send(context.Background(), withPicture(t, reportfixture.Paged(), "https://bucket.s3.amazonaws.com/p.png?X-Amz-Signature=abc")); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), withPicture(t, reportfixture.Paged(), "")); err != nil {
		t.Fatal(err)
	}
	reqs := sb.Requests(sandbox.KindSlack)
	if !strings.Contains(reqs[0].Body, `"type":"image","image_url":"https://bucket.s3.amazonaws.com/p.png?X-Amz-Signature=abc"`) {
		t.Errorf("no image block: %s", reqs[0].Body)
	}
	if strings.Contains(reqs[1].Body, `"type":"image"`) {
		t.Errorf("image block without a URL: %s", reqs[1].Body)
	}
}
