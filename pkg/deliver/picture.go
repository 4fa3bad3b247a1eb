package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/render"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// encodedMessage is a request body with its content type.
type encodedMessage struct {
	ctype string
	body  []byte
}

// discordMessage is the Discord rendering of r: JSON, or, when the report carries a picture,
// multipart/form-data with the JSON in payload_json and the PNG in files[0], the form
// Discord's "Uploading Files" documents (the embed shows it as attachment://graph.png).
func discordMessage(r report.Report) (encodedMessage, error) {
	payload, err := render.Discord(r)
	if err != nil {
		return encodedMessage{}, fmt.Errorf("render discord message: %w", err)
	}
	if !render.HasAttachment(r) {
		return encodedMessage{ctype: "application/json", body: payload}, nil
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="payload_json"`)
	h.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(h)
	if err == nil {
		_, err = pw.Write(payload)
	}
	if err == nil {
		h = textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="files[0]"; filename=%q`, fileName(r.Picture)))
		h.Set("Content-Type", "image/png")
		var fw interface{ Write([]byte) (int, error) }
		if fw, err = mw.CreatePart(h); err == nil {
			_, err = fw.Write(r.Picture.PNG)
		}
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return encodedMessage{}, fmt.Errorf("discord multipart: %w", err)
	}
	return encodedMessage{ctype: mw.FormDataContentType(), body: b.Bytes()}, nil
}

func fileName(p *report.Picture) string {
	if p.Name == "" {
		return "graph.png"
	}
	return p.Name
}

// uploadPicture shares the report's picture in the thread of threadTS through Slack's
// external upload: files.getUploadURLExternal (form-encoded: it takes no JSON), the bytes
// POSTed to the upload URL it answers, then files.completeUploadExternal with the channel
// and thread. (files.upload, the one-call way, was retired by Slack in 2025.) No picture,
// no calls.
func (s *SlackBot) uploadPicture(ctx context.Context, r report.Report, channel, threadTS string) error {
	p := r.Picture
	if p == nil || len(p.PNG) == 0 {
		return nil
	}
	form := url.Values{"filename": {fileName(p)}, "length": {strconv.Itoa(len(p.PNG))}, "alt_txt": {clipRunes(p.Title, 1000)}}
	raw, err := s.hook.sendAs(ctx, http.MethodPost, s.hook.url+"/files.getUploadURLExternal", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if err != nil {
		return err
	}
	var got struct {
		slackAnswer
		UploadURL string `json:"upload_url"`
		FileID    string `json:"file_id"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		return errors.New("slack files.getUploadURLExternal: unreadable answer")
	}
	if !got.OK {
		return slackError{method: "files.getUploadURLExternal", code: got.Error}
	}
	if got.UploadURL == "" || got.FileID == "" {
		return errors.New("slack files.getUploadURLExternal: answer without upload_url and file_id")
	}
	// The upload URL is pre-authorised (and so a secret of its own): no token goes with it.
	upload := webhook{what: "slack upload", url: got.UploadURL, client: s.hook.client, secrets: append([]string{got.UploadURL}, s.hook.secrets...)}
	if _, err := upload.sendAs(ctx, http.MethodPost, got.UploadURL, "image/png", p.PNG); err != nil {
		return err
	}
	complete, err := json.Marshal(map[string]any{
		"files":      []map[string]string{{"id": got.FileID, "title": clipRunes(p.Title, 250)}},
		"channel_id": channel,
		"thread_ts":  threadTS,
	})
	if err != nil {
		return err
	}
	raw, err = s.hook.send(ctx, http.MethodPost, s.hook.url+"/files.completeUploadExternal", complete)
	if err != nil {
		return err
	}
	var done slackAnswer
	if err := json.Unmarshal(raw, &done); err != nil {
		return errors.New("slack files.completeUploadExternal: unreadable answer")
	}
	if !done.OK {
		return slackError{method: "files.completeUploadExternal", code: done.Error}
	}
	return nil
}

// clipRunes cuts s to n runes.
func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return strings.TrimSpace(string(r[:n]))
	}
	return s
}
