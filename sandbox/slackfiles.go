package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Slack's external upload, as its documentation describes it:
// files.getUploadURLExternal takes form arguments (filename, length; it does not read JSON)
// and answers an upload_url and a file_id; the file's bytes are POSTed to upload_url;
// files.completeUploadExternal (JSON or form) shares the uploaded files into channel_id,
// as a reply in thread_ts when given (a thread's parent, never a reply).

// slackGetUploadURL answers files.getUploadURLExternal. Callers hold s.mu.
func (s *Sandbox) slackGetUploadURL(r *http.Request, body []byte) standInAnswer {
	fail := func(code string) standInAnswer {
		return jsonAnswer(http.StatusOK, map[string]any{"ok": false, "error": code})
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return fail("invalid_arguments") // what Slack answers a JSON body here
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return fail("invalid_form_data")
	}
	name := form.Get("filename")
	length, err := strconv.Atoi(form.Get("length"))
	switch {
	case name == "" || form.Get("length") == "":
		return fail("invalid_arguments")
	case err != nil || length <= 0:
		return fail("invalid_arguments")
	}
	s.slackAPI.seq++
	id := fmt.Sprintf("F%010d", s.slackAPI.seq)
	if s.slackAPI.files == nil {
		s.slackAPI.files = map[string]*slackFile{}
	}
	s.slackAPI.files[id] = &slackFile{Name: name, Length: length}
	base := s.baseFor(r)
	return jsonAnswer(http.StatusOK, map[string]any{"ok": true, "upload_url": base + "/_sandbox/slack/upload/" + id, "file_id": id})
}

// slackUpload receives a file's bytes at its upload URL. Slack answers 200 "OK - <bytes>".
func (s *Sandbox) slackUpload(r *http.Request, body []byte) standInAnswer {
	id := strings.TrimPrefix(r.URL.Path, "/_sandbox/slack/upload/")
	if r.Method != http.MethodPost {
		return textAnswer(http.StatusMethodNotAllowed, "method not allowed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.slackAPI.files[id]
	switch {
	case !ok:
		return textAnswer(http.StatusNotFound, "unknown upload")
	case len(body) != f.Length:
		return textAnswer(http.StatusBadRequest, fmt.Sprintf("length %d announced, %d sent", f.Length, len(body)))
	}
	f.Data, f.Uploaded = append([]byte(nil), body...), true
	return standInAnswer{status: http.StatusOK, ctype: "text/plain", body: []byte("OK - " + strconv.Itoa(len(body)))}
}

// slackCompleteUpload answers files.completeUploadExternal. Callers hold s.mu.
func (s *Sandbox) slackCompleteUpload(body []byte) standInAnswer {
	fail := func(code string) standInAnswer {
		return jsonAnswer(http.StatusOK, map[string]any{"ok": false, "error": code})
	}
	var in struct {
		Files []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"files"`
		ChannelID string `json:"channel_id"`
		ThreadTS  string `json:"thread_ts"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fail("invalid_json")
	}
	if len(in.Files) == 0 {
		return fail("invalid_arguments")
	}
	if in.ChannelID != "" && !s.slackAPI.channels[in.ChannelID] {
		return fail("channel_not_found")
	}
	if in.ThreadTS != "" {
		parent, ok := s.slackAPI.messages[in.ChannelID+"/"+in.ThreadTS]
		if !ok || parent.ThreadTS != "" {
			return fail("invalid_thread_ts")
		}
	}
	out := []map[string]any{}
	for _, f := range in.Files {
		file, ok := s.slackAPI.files[f.ID]
		switch {
		case !ok:
			return fail("file_not_found")
		case !file.Uploaded:
			return fail("file_not_found") // announced but never uploaded: Slack has no such file
		}
	}
	for _, f := range in.Files {
		file := s.slackAPI.files[f.ID]
		file.Shared = true
		if in.ChannelID != "" {
			s.slackAPI.seq++
			ts := fmt.Sprintf("%d.%06d", s.now().Unix(), s.slackAPI.seq)
			s.slackAPI.messages[in.ChannelID+"/"+ts] = slackMessage{ThreadTS: in.ThreadTS, Text: f.Title, FileID: f.ID}
			s.slackAPI.shared = append(s.slackAPI.shared, SlackFile{ID: f.ID, Name: file.Name, Title: f.Title, Channel: in.ChannelID, ThreadTS: in.ThreadTS, Data: file.Data})
		}
		out = append(out, map[string]any{"id": f.ID, "title": f.Title})
	}
	return jsonAnswer(http.StatusOK, map[string]any{"ok": true, "files": out})
}

// SlackFiles returns the files shared through the Slack stand-in, in order.
func (s *Sandbox) SlackFiles() []SlackFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.slackAPI.shared)
}
