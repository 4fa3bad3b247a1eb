package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The HTTP services around the AWS account: Slack and Discord incoming webhooks, PagerDuty
// Events API v2, and Discord's REST API (GET /gateway/bot). Each request is recorded.

// Request kinds (Request.Kind, the kind parameter of Requests, and fault ops).
const (
	KindSlack       = "slack"
	KindSlackAPI    = "slack-api" // the Web API a bot token calls: chat.postMessage, chat.update
	KindDiscord     = "discord"
	KindPagerDuty   = "pagerduty"
	KindDiscordAPI  = "discord-api"
	KindSlackUpload = "slack-upload" // the upload URL files.getUploadURLExternal hands out
	// KindSlackResponse is a response_url (the approve function's answers to clicks and commands).
	KindSlackResponse = "slack-response"
)

// Request is one request to an HTTP stand-in and the status it got.
type Request struct {
	Kind        string `json:"kind"`
	Method      string `json:"method"`
	Path        string `json:"path"`
	ID          string `json:"id,omitempty"` // the webhook's id/token path
	Status      int    `json:"status"`
	Body        string `json:"body,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	UserAgent   string `json:"userAgent,omitempty"`
	TokenValid  *bool  `json:"tokenValid,omitempty"` // discord-api: did the Authorization carry the valid token
	// Files are the files the request carried: multipart file parts (Discord's files[n]), or
	// the bytes POSTed to a Slack upload URL. Body then holds the JSON part (payload_json).
	Files []RequestFile `json:"files,omitempty"`
	Time  time.Time     `json:"time"`
}

// RequestFile is one file a stand-in received.
type RequestFile struct {
	Field       string `json:"field"` // the form field, e.g. files[0]
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int    `json:"size"`
	Data        []byte `json:"-"`
}

type discordState struct {
	validToken     string
	total          int
	remaining      int
	maxConcurrency int
	resetAt        time.Time
}

// refresh restores the budget once its reset time has passed, as Discord does.
func (d *discordState) refresh(at time.Time) {
	if !d.resetAt.IsZero() && !at.Before(d.resetAt) {
		d.remaining = d.total
		d.resetAt = at.Add(24 * time.Hour)
	}
}

// consume spends one session start (an ingestor task identifying to the gateway).
func (d *discordState) consume(at time.Time) {
	d.refresh(at)
	if d.remaining > 0 {
		d.remaining--
	}
}

// SetDiscordBudget sets session_start_limit.remaining and the time until it resets.
func (s *Sandbox) SetDiscordBudget(remaining int, resetAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discord.remaining = remaining
	s.discord.resetAt = s.now().Add(resetAfter)
}

// DiscordBudget returns the current remaining session starts and the time until reset.
func (s *Sandbox) DiscordBudget() (remaining int, resetAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.discord.refresh(now)
	return s.discord.remaining, max(s.discord.resetAt.Sub(now), 0)
}

// SetDiscordValidToken sets the bot token the Discord API stand-in accepts.
func (s *Sandbox) SetDiscordValidToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discord.validToken = token
}

// FailHooks makes the stand-in of kind (slack, discord, pagerduty, discord-api) answer 500
// until called again with fail=false.
func (s *Sandbox) FailHooks(kind string, fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookFail[kind] = fail
}

// Requests returns the recorded requests of one kind ("" for all), oldest first.
func (s *Sandbox) Requests(kind string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if kind == "" || r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// standInAnswer is what a stand-in handler decides.
type standInAnswer struct {
	status int
	ctype  string
	body   []byte
	header map[string]string
}

func jsonAnswer(status int, v any) standInAnswer {
	b, _ := json.Marshal(v)
	return standInAnswer{status: status, ctype: "application/json", body: b}
}

func textAnswer(status int, body string) standInAnswer {
	return standInAnswer{status: status, ctype: "text/html", body: []byte(body)}
}

// serveStandIn runs the shared part of every stand-in: read, apply faults and the failure
// switch, answer, record.
func (s *Sandbox) serveStandIn(w http.ResponseWriter, r *http.Request, kind, id string,
	handle func(r *http.Request, body []byte) standInAnswer) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read request body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	rec := Request{Kind: kind, Method: r.Method, Path: r.URL.Path, ID: id, Body: string(body),
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"), Time: s.now()}
	s.mu.Unlock()
	if files, payload, isForm, err := multipartFiles(r.Header.Get("Content-Type"), body); isForm {
		if err != nil {
			rec.Status = http.StatusBadRequest
			http.Error(w, "malformed multipart body: "+err.Error(), http.StatusBadRequest)
			s.mu.Lock()
			s.requests = append(s.requests, rec)
			s.mu.Unlock()
			return
		}
		rec.Files, rec.Body, body = files, string(payload), payload
		r = r.WithContext(context.WithValue(r.Context(), requestFilesKey{}, files))
	} else if kind == KindSlackUpload {
		rec.Files, rec.Body = []RequestFile{{Name: id, ContentType: r.Header.Get("Content-Type"), Size: len(body), Data: body}}, ""
	}
	record := func(status int) {
		rec.Status = status
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}

	fault, wait := s.matchFault(kind, false)
	if !s.hold(r, wait) {
		record(0)
		return
	}
	var ans standInAnswer
	switch {
	case fault != nil && fault.Kind == FaultThrottle:
		ans = throttleAnswer(kind)
	case fault != nil && fault.Kind == FaultUnavailable:
		ans = textAnswer(http.StatusServiceUnavailable, "service unavailable")
	case fault != nil && fault.Kind == FaultInternal:
		ans = textAnswer(http.StatusInternalServerError, "internal error")
	default:
		if fault != nil && fault.Kind == FaultTimeout {
			hold := fault.Delay
			if hold <= 0 {
				hold = 5 * time.Minute
			}
			if !s.hold(r, hold) {
				record(0)
				return
			}
		}
		s.mu.Lock()
		failing := s.hookFail[kind]
		s.mu.Unlock()
		if failing {
			ans = textAnswer(http.StatusInternalServerError, "sandbox: "+kind+" is switched to fail")
		} else {
			ans = handle(r, body)
		}
		if fault != nil && fault.Kind == FaultMalformed {
			ans.body = ans.body[:len(ans.body)/2]
		}
	}
	if kind == KindDiscordAPI && strings.HasSuffix(r.URL.Path, "/gateway/bot") {
		s.mu.Lock()
		ok := r.Header.Get("Authorization") == "Bot "+s.discord.validToken && s.discord.validToken != ""
		s.mu.Unlock()
		rec.TokenValid = &ok
	}
	for k, v := range ans.header {
		w.Header().Set(k, v)
	}
	if len(ans.body) > 0 || ans.ctype != "" {
		w.Header().Set("Content-Type", ans.ctype)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(ans.body)))
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
	record(ans.status)
}

func throttleAnswer(kind string) standInAnswer {
	var a standInAnswer
	switch kind {
	case KindSlack:
		a = textAnswer(http.StatusTooManyRequests, "rate_limited")
	case KindDiscord, KindDiscordAPI:
		a = jsonAnswer(http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": 1.0, "global": false})
	default:
		a = jsonAnswer(http.StatusTooManyRequests, map[string]any{"status": "throttle exceeded", "message": "Requests for this service are arriving too quickly. Please retry later."})
	}
	a.header = map[string]string{"Retry-After": "1"}
	return a
}

// --- Slack -----------------------------------------------------------------------------

func (s *Sandbox) slackHook(r *http.Request, body []byte) standInAnswer {
	if r.Method != http.MethodPost {
		return textAnswer(http.StatusMethodNotAllowed, "invalid_method")
	}
	var msg struct {
		Text        *string          `json:"text"`
		Blocks      []map[string]any `json:"blocks"`
		Attachments []any            `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return textAnswer(http.StatusBadRequest, "invalid_payload")
	}
	if (msg.Text == nil || *msg.Text == "") && len(msg.Blocks) == 0 && len(msg.Attachments) == 0 {
		return textAnswer(http.StatusBadRequest, "no_text")
	}
	if len(msg.Blocks) > 50 {
		return textAnswer(http.StatusBadRequest, "invalid_blocks")
	}
	for _, b := range msg.Blocks {
		typ, _ := b["type"].(string)
		limit := 0
		switch typ {
		case "header":
			limit = 150
		case "section":
			limit = 3000
		}
		if limit == 0 {
			continue
		}
		if t, ok := b["text"].(map[string]any); ok {
			if txt, _ := t["text"].(string); utf8.RuneCountInString(txt) > limit {
				return textAnswer(http.StatusBadRequest, "invalid_blocks")
			}
		}
	}
	return textAnswer(http.StatusOK, "ok")
}

// --- Slack Web API ---------------------------------------------------------------------

// The bot token and channel the Slack Web API stand-in accepts unless SetSlackBot says
// otherwise.
const (
	SlackBotToken = "xoxb-0000000000-0000000000000-sandboxbottoken0000000"
	SlackChannel  = "C0SANDBOX01"
)

type slackState struct {
	token    string
	channels map[string]bool
	messages map[string]slackMessage // channel + "/" + ts
	files    map[string]*slackFile   // by file id
	shared   []SlackFile             // files shared into a channel, in order
	seq      int
}

type slackMessage struct {
	ThreadTS string
	Text     string
	FileID   string // a file shared into the channel or thread (files.completeUploadExternal)
}

// slackFile is an external upload: announced (getUploadURLExternal), uploaded, shared.
type slackFile struct {
	Name     string
	Length   int
	Data     []byte
	Uploaded bool
	Shared   bool
}

// SlackFile is a file the Slack stand-in received and shared.
type SlackFile struct {
	ID, Name, Title, Channel, ThreadTS string
	Data                               []byte
}

// SetSlackBot sets the bot token and the one channel the Slack Web API stand-in accepts,
// and forgets the messages posted so far.
func (s *Sandbox) SetSlackBot(token, channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slackAPI = slackState{token: token, channels: map[string]bool{channel: true}, messages: map[string]slackMessage{}, files: map[string]*slackFile{}}
}

// slackWebAPI answers chat.postMessage and chat.update as Slack does: HTTP 200 with
// {"ok": false, "error": …} for every API error, a message ts "seconds.micros" unique in
// the channel, thread_ts naming an existing parent.
func (s *Sandbox) slackWebAPI(r *http.Request, body []byte) standInAnswer {
	method := strings.TrimPrefix(r.URL.Path, "/_sandbox/slack/api/")
	fail := func(code string) standInAnswer {
		return jsonAnswer(http.StatusOK, map[string]any{"ok": false, "error": code})
	}
	switch method {
	case "chat.postMessage", "chat.update", "files.getUploadURLExternal", "files.completeUploadExternal":
	default:
		return jsonAnswer(http.StatusNotFound, map[string]any{"ok": false, "error": "unknown_method"})
	}
	if r.Method != http.MethodPost {
		return fail("invalid_request")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	auth := r.Header.Get("Authorization")
	switch {
	case auth == "":
		return fail("not_authed")
	case auth != "Bearer "+s.slackAPI.token || s.slackAPI.token == "":
		return fail("invalid_auth")
	}
	switch method {
	case "files.getUploadURLExternal":
		return s.slackGetUploadURL(r, body)
	case "files.completeUploadExternal":
		return s.slackCompleteUpload(body)
	}
	var msg struct {
		Channel  string           `json:"channel"`
		Text     string           `json:"text"`
		Blocks   []map[string]any `json:"blocks"`
		ThreadTS string           `json:"thread_ts"`
		TS       string           `json:"ts"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return fail("invalid_json")
	}
	if !s.slackAPI.channels[msg.Channel] {
		return fail("channel_not_found")
	}
	if msg.Text == "" && len(msg.Blocks) == 0 {
		return fail("no_text")
	}
	if len(msg.Blocks) > 50 {
		return fail("invalid_blocks")
	}
	if method == "chat.update" {
		old, ok := s.slackAPI.messages[msg.Channel+"/"+msg.TS]
		if !ok {
			return fail("message_not_found")
		}
		old.Text = msg.Text
		s.slackAPI.messages[msg.Channel+"/"+msg.TS] = old
		return jsonAnswer(http.StatusOK, map[string]any{"ok": true, "channel": msg.Channel, "ts": msg.TS, "text": msg.Text})
	}
	if msg.ThreadTS != "" {
		if _, ok := s.slackAPI.messages[msg.Channel+"/"+msg.ThreadTS]; !ok {
			return fail("thread_not_found")
		}
	}
	s.slackAPI.seq++
	ts := fmt.Sprintf("%d.%06d", s.now().Unix(), s.slackAPI.seq)
	if s.slackAPI.messages == nil {
		s.slackAPI.messages = map[string]slackMessage{}
	}
	s.slackAPI.messages[msg.Channel+"/"+ts] = slackMessage{ThreadTS: msg.ThreadTS, Text: msg.Text}
	out := map[string]any{"type": "message", "text": msg.Text, "ts": ts}
	if msg.ThreadTS != "" {
		out["thread_ts"] = msg.ThreadTS
	}
	return jsonAnswer(http.StatusOK, map[string]any{"ok": true, "channel": msg.Channel, "ts": ts, "message": out})
}

// --- Discord webhook --------------------------------------------------------------------

func discordFormError(field, msg string) standInAnswer {
	return jsonAnswer(http.StatusBadRequest, map[string]any{
		"message": "Invalid Form Body", "code": 50035,
		"errors": map[string]any{field: map[string]any{"_errors": []map[string]string{{"code": "BASE_TYPE_MAX_LENGTH", "message": msg}}}},
	})
}

func (s *Sandbox) discordHook(r *http.Request, body []byte) standInAnswer {
	// Execute is POST /webhooks/{id}/{token}; Edit Webhook Message is
	// PATCH /webhooks/{id}/{token}/messages/{message_id}, for messages this webhook sent.
	hook, msgID, isEdit := strings.Cut(strings.TrimPrefix(r.URL.Path, "/_sandbox/hooks/discord/"), "/messages/")
	switch {
	case isEdit && r.Method == http.MethodPatch:
		s.mu.Lock()
		owner, ok := s.discordMsg[msgID]
		s.mu.Unlock()
		if !ok || owner != hook {
			return jsonAnswer(http.StatusNotFound, map[string]any{"message": "Unknown Message", "code": 10008})
		}
	case isEdit || r.Method != http.MethodPost:
		return jsonAnswer(http.StatusMethodNotAllowed, map[string]any{"message": "405: Method Not Allowed", "code": 0})
	}
	type field struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type embed struct {
		Title       string  `json:"title"`
		Description string  `json:"description"`
		Fields      []field `json:"fields"`
		Footer      *struct {
			Text string `json:"text"`
		} `json:"footer"`
		Author *struct {
			Name string `json:"name"`
		} `json:"author"`
		Image *struct {
			URL string `json:"url"`
		} `json:"image"`
	}
	var msg struct {
		Content     string  `json:"content"`
		Embeds      []embed `json:"embeds"`
		Attachments []struct {
			ID       int    `json:"id"`
			Filename string `json:"filename"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"message": "The request body contains invalid JSON.", "code": 50109})
	}
	if msg.Content == "" && len(msg.Embeds) == 0 {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"message": "Cannot send an empty message", "code": 50006})
	}
	n := utf8.RuneCountInString
	if n(msg.Content) > 2000 {
		return discordFormError("content", "Must be 2000 or fewer in length.")
	}
	if len(msg.Embeds) > 10 {
		return discordFormError("embeds", "Must be 10 or fewer in length.")
	}
	total := 0
	for i, e := range msg.Embeds {
		p := fmt.Sprintf("embeds.%d.", i)
		switch {
		case n(e.Title) > 256:
			return discordFormError(p+"title", "Must be 256 or fewer in length.")
		case n(e.Description) > 4096:
			return discordFormError(p+"description", "Must be 4096 or fewer in length.")
		case len(e.Fields) > 25:
			return discordFormError(p+"fields", "Must be 25 or fewer in length.")
		}
		total += n(e.Title) + n(e.Description)
		for j, f := range e.Fields {
			if n(f.Name) > 256 {
				return discordFormError(fmt.Sprintf("%sfields.%d.name", p, j), "Must be 256 or fewer in length.")
			}
			if n(f.Value) > 1024 {
				return discordFormError(fmt.Sprintf("%sfields.%d.value", p, j), "Must be 1024 or fewer in length.")
			}
			total += n(f.Name) + n(f.Value)
		}
		if e.Footer != nil {
			if n(e.Footer.Text) > 2048 {
				return discordFormError(p+"footer.text", "Must be 2048 or fewer in length.")
			}
			total += n(e.Footer.Text)
		}
		if e.Author != nil {
			total += n(e.Author.Name)
		}
	}
	if total > 6000 {
		return discordFormError("embeds", "Embed size exceeds maximum size of 6000")
	}
	// Files: each attachments[i] names the multipart part files[id]; an embed shows one by
	// "attachment://<filename>". A reference to a file not sent is refused, as Discord does.
	files, _ := r.Context().Value(requestFilesKey{}).([]RequestFile)
	sent := map[string]bool{}
	for _, a := range msg.Attachments {
		found := false
		for _, f := range files {
			if f.Field == fmt.Sprintf("files[%d]", a.ID) {
				found = true
				sent[a.Filename] = true
			}
		}
		if !found {
			return discordFormError("attachments", fmt.Sprintf("Attachment %d was not uploaded.", a.ID))
		}
	}
	for i, e := range msg.Embeds {
		if e.Image == nil {
			continue
		}
		if name, ok := strings.CutPrefix(e.Image.URL, "attachment://"); ok && !sent[name] {
			return discordFormError(fmt.Sprintf("embeds.%d.image.url", i), "Attachment "+name+" is not part of this message.")
		}
	}
	if isEdit {
		// An edit answers with the edited message, whatever wait says.
		return jsonAnswer(http.StatusOK, map[string]any{"id": msgID, "type": 0, "content": msg.Content, "embeds": msg.Embeds})
	}
	if r.URL.Query().Get("wait") == "true" {
		s.mu.Lock()
		id := strconv.FormatUint(fnv64(s.uuid())%1e18+1e18, 10)
		s.discordMsg[id] = hook
		s.mu.Unlock()
		return jsonAnswer(http.StatusOK, map[string]any{"id": id, "type": 0, "content": msg.Content, "embeds": msg.Embeds})
	}
	return standInAnswer{status: http.StatusNoContent}
}

// --- PagerDuty Events API v2 ------------------------------------------------------------

func (s *Sandbox) pagerDutyEnqueue(r *http.Request, body []byte) standInAnswer {
	if r.Method != http.MethodPost {
		return jsonAnswer(http.StatusMethodNotAllowed, map[string]any{"status": "invalid request", "message": "method not allowed"})
	}
	invalid := func(errs ...string) standInAnswer {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
	}
	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     *struct {
			Summary  string `json:"summary"`
			Source   string `json:"source"`
			Severity string `json:"severity"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"status": "invalid request", "message": "Invalid JSON", "errors": []string{err.Error()}})
	}
	var errs []string
	switch {
	case strings.TrimSpace(ev.RoutingKey) == "":
		errs = append(errs, "'routing_key' is missing or blank")
	case len(ev.RoutingKey) != 32:
		errs = append(errs, "'routing_key' is invalid (must be 32 characters)")
	}
	switch ev.EventAction {
	case "trigger":
		switch {
		case ev.Payload == nil:
			errs = append(errs, "'payload' is missing or blank")
		default:
			if strings.TrimSpace(ev.Payload.Summary) == "" {
				errs = append(errs, "'payload.summary' is missing or blank")
			} else if utf8.RuneCountInString(ev.Payload.Summary) > 1024 {
				errs = append(errs, "'payload.summary' is too long (maximum is 1024 characters)")
			}
			if strings.TrimSpace(ev.Payload.Source) == "" {
				errs = append(errs, "'payload.source' is missing or blank")
			}
			switch ev.Payload.Severity {
			case "critical", "error", "warning", "info":
			default:
				errs = append(errs, "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
			}
		}
	case "acknowledge", "resolve":
		if strings.TrimSpace(ev.DedupKey) == "" {
			errs = append(errs, "'dedup_key' is missing or blank")
		}
	default:
		errs = append(errs, "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
	}
	if len(ev.DedupKey) > 255 {
		errs = append(errs, "'dedup_key' is too long (maximum is 255 characters)")
	}
	if len(errs) > 0 {
		return invalid(errs...)
	}
	key := ev.DedupKey
	if key == "" {
		s.mu.Lock()
		key = s.hexID(32)
		s.mu.Unlock()
	}
	return jsonAnswer(http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": key})
}

// --- Discord REST API --------------------------------------------------------------------

func (s *Sandbox) discordAPI(r *http.Request, body []byte) standInAnswer {
	if _, rest, ok := strings.Cut(r.URL.Path, "/api/v10/webhooks/"); ok {
		return discordInteractionWebhook(r, body, rest)
	}
	if !strings.HasSuffix(r.URL.Path, "/api/v10/gateway/bot") {
		return jsonAnswer(http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
	}
	if r.Method != http.MethodGet {
		return jsonAnswer(http.StatusMethodNotAllowed, map[string]any{"message": "405: Method Not Allowed", "code": 0})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discord.validToken == "" || r.Header.Get("Authorization") != "Bot "+s.discord.validToken {
		return jsonAnswer(http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
	}
	now := s.now()
	s.discord.refresh(now)
	return jsonAnswer(http.StatusOK, map[string]any{
		"url":    "wss://gateway.discord.gg",
		"shards": 1,
		"session_start_limit": map[string]int64{
			"total":           int64(s.discord.total),
			"remaining":       int64(s.discord.remaining),
			"reset_after":     max(s.discord.resetAt.Sub(now), 0).Milliseconds(),
			"max_concurrency": int64(s.discord.maxConcurrency),
		},
	})
}

// SlackAPIURL is the base of the Slack Web API stand-in: POST {SlackAPIURL}/chat.postMessage.
func (s *Sandbox) SlackAPIURL() string { return s.URL() + "/_sandbox/slack/api" }

// multipartFiles splits a multipart/form-data body into its files and its payload_json part
// (the JSON a Discord webhook takes beside files). isForm is false for any other body.
func multipartFiles(contentType string, body []byte) (files []RequestFile, payload []byte, isForm bool, err error) {
	mt, params, perr := mime.ParseMediaType(contentType)
	if perr != nil || mt != "multipart/form-data" {
		return nil, nil, false, nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return files, payload, true, nil
		}
		if err != nil {
			return nil, nil, true, err
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, true, err
		}
		switch {
		case p.FormName() == "payload_json":
			payload = data
		case p.FileName() != "":
			files = append(files, RequestFile{Field: p.FormName(), Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Size: len(data), Data: data})
		}
	}
}

// requestFilesKey carries a multipart request's files to its stand-in handler.
type requestFilesKey struct{}
