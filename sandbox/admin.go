package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The admin API under /_sandbox/ serves processes that cannot call Go (make demo, scripts).
// It is never subject to faults or latency and is not recorded as calls.
//
//	POST   /_sandbox/scenario        {"name": "ingestor-oom"}   load a scenario (resets everything)
//	GET    /_sandbox/scenario                                   the loaded scenario
//	GET    /_sandbox/scenarios                                  [{"name","description"}]
//	GET    /_sandbox/state                                      services, deployments, task definitions, tasks
//	GET    /_sandbox/published                                  SNS publications
//	GET    /_sandbox/requests?kind=slack|slack-api|discord|pagerduty|discord-api
//	GET    /_sandbox/calls                                      every AWS call (service, op, time, status)
//	DELETE /_sandbox/records                                    forget calls, publications and requests
//	GET    /_sandbox/faults                                     injected faults and how often they applied
//	POST   /_sandbox/faults          {"op","kind","times","delay":"250ms"} or a list of them
//	DELETE /_sandbox/faults                                     remove every fault and the global latency
//	POST   /_sandbox/latency         {"delay": "100ms"}         latency added to every call
//	POST   /_sandbox/hook-failures   {"kind": "slack", "fail": true}
//	POST   /_sandbox/secrets         {"name", "value"}          value: a string, or JSON that is stored encoded
//	POST   /_sandbox/parameters      {"name", "value"}
//	POST   /_sandbox/discord         {"remaining": 2, "resetAfter": "3h", "validToken": "…"}
//	GET    /_sandbox/alarms                                     [{"name","state","reason","updatedAt"}]
//	POST   /_sandbox/alarms/{name}/state {"state": "OK", "reason": "…"}  set a CloudWatch alarm's state
//	GET    /_sandbox/env                                        KEY=VALUE lines for a shell
//	GET    /_sandbox/healthz

func (s *Sandbox) serveSandbox(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/_sandbox")
	switch {
	case strings.HasPrefix(path, "/hooks/slack/"):
		s.serveStandIn(w, r, KindSlack, strings.TrimPrefix(path, "/hooks/slack/"), s.slackHook)
	case strings.HasPrefix(path, "/slack/upload/"):
		s.serveStandIn(w, r, KindSlackUpload, strings.TrimPrefix(path, "/slack/upload/"), s.slackUpload)
	case strings.HasPrefix(path, "/slack/response/"):
		s.serveStandIn(w, r, KindSlackResponse, strings.TrimPrefix(path, "/slack/response/"), s.slackResponse)
	case strings.HasPrefix(path, "/slack/api/"):
		s.serveStandIn(w, r, KindSlackAPI, "", s.slackWebAPI)
	case strings.HasPrefix(path, "/hooks/discord/"):
		s.serveStandIn(w, r, KindDiscord, strings.TrimPrefix(path, "/hooks/discord/"), s.discordHook)
	case path == "/pagerduty/v2/enqueue":
		s.serveStandIn(w, r, KindPagerDuty, "", s.pagerDutyEnqueue)
	case strings.HasPrefix(path, "/discord/api/"):
		s.serveStandIn(w, r, KindDiscordAPI, "", s.discordAPI)
	default:
		s.serveAdmin(w, r, path)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func adminError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// adminFault is the JSON form of a Fault (delay as a Go duration string).
type adminFault struct {
	Op    string `json:"op"`
	Kind  string `json:"kind"`
	Times int    `json:"times"`
	Delay string `json:"delay"`
}

func (f adminFault) fault() (Fault, error) {
	out := Fault{Op: f.Op, Kind: FaultKind(f.Kind), Times: f.Times}
	if f.Delay != "" {
		d, err := time.ParseDuration(f.Delay)
		if err != nil {
			return Fault{}, fmt.Errorf("delay %q: %w", f.Delay, err)
		}
		out.Delay = d
	}
	return out, nil
}

func decodeAdmin(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

func (s *Sandbox) serveAdmin(w http.ResponseWriter, r *http.Request, path string) {
	route := r.Method + " " + path
	switch route {
	case "GET /healthz":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case "GET /scenarios":
		writeJSON(w, http.StatusOK, Scenarios())
	case "GET /scenario":
		name, at := s.Scenario()
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "loadedAt": at})
	case "POST /scenario":
		var in struct {
			Name string `json:"name"`
		}
		if err := decodeAdmin(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if err := s.LoadScenario(in.Name); err != nil {
			adminError(w, http.StatusNotFound, "%v", err)
			return
		}
		name, at := s.Scenario()
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "loadedAt": at})
	case "GET /state":
		writeJSON(w, http.StatusOK, s.State())
	case "GET /published":
		writeJSON(w, http.StatusOK, nonNil(s.Published()))
	case "GET /requests":
		kind := r.URL.Query().Get("kind")
		if kind != "" && !slices.Contains([]string{KindSlack, KindSlackAPI, KindSlackUpload, KindDiscord, KindPagerDuty, KindDiscordAPI}, kind) {
			adminError(w, http.StatusBadRequest, "unknown kind %q: want slack, slack-api, discord, pagerduty or discord-api", kind)
			return
		}
		writeJSON(w, http.StatusOK, nonNil(s.Requests(kind)))
	case "GET /calls":
		writeJSON(w, http.StatusOK, nonNil(s.Calls()))
	case "DELETE /records":
		s.ClearRecords()
		writeJSON(w, http.StatusOK, map[string]string{"status": "cleared"})
	case "GET /faults":
		writeJSON(w, http.StatusOK, nonNil(s.Faults()))
	case "POST /faults":
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			adminError(w, http.StatusBadRequest, "read body: %v", err)
			return
		}
		var list []adminFault
		if strings.HasPrefix(strings.TrimSpace(string(body)), "[") {
			err = json.Unmarshal(body, &list)
		} else {
			var one adminFault
			err = json.Unmarshal(body, &one)
			list = []adminFault{one}
		}
		if err != nil {
			adminError(w, http.StatusBadRequest, "decode body: %v", err)
			return
		}
		var ids []int
		for _, af := range list {
			f, err := af.fault()
			if err == nil {
				var id int
				id, err = s.InjectFault(f)
				ids = append(ids, id)
			}
			if err != nil {
				adminError(w, http.StatusBadRequest, "%v", err)
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"ids": ids})
	case "DELETE /faults":
		s.ClearFaults()
		writeJSON(w, http.StatusOK, map[string]string{"status": "cleared"})
	case "POST /latency":
		var in struct {
			Delay string `json:"delay"`
		}
		if err := decodeAdmin(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		d, err := time.ParseDuration(in.Delay)
		if err != nil || d < 0 {
			adminError(w, http.StatusBadRequest, "delay %q: want a duration such as 100ms", in.Delay)
			return
		}
		s.SetLatency(d)
		writeJSON(w, http.StatusOK, map[string]string{"latency": d.String()})
	case "POST /hook-failures":
		var in struct {
			Kind string `json:"kind"`
			Fail bool   `json:"fail"`
		}
		if err := decodeAdmin(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if !slices.Contains([]string{KindSlack, KindSlackAPI, KindSlackUpload, KindDiscord, KindPagerDuty, KindDiscordAPI}, in.Kind) {
			adminError(w, http.StatusBadRequest, "unknown kind %q: want slack, slack-api, discord, pagerduty or discord-api", in.Kind)
			return
		}
		s.FailHooks(in.Kind, in.Fail)
		writeJSON(w, http.StatusOK, map[string]any{"kind": in.Kind, "fail": in.Fail})
	case "POST /secrets":
		var in struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		}
		if err := decodeAdmin(r, &in); err != nil || in.Name == "" || len(in.Value) == 0 {
			adminError(w, http.StatusBadRequest, "want {\"name\": …, \"value\": a string or a JSON object}")
			return
		}
		var str string
		if err := json.Unmarshal(in.Value, &str); err != nil {
			str = string(in.Value) // a JSON object: store its encoding, as a secret's SecretString
		}
		s.SetSecret(in.Name, str)
		writeJSON(w, http.StatusOK, map[string]string{"name": in.Name})
	case "POST /parameters":
		var in struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		}
		if err := decodeAdmin(r, &in); err != nil || in.Name == "" {
			adminError(w, http.StatusBadRequest, "want {\"name\": …, \"value\": …}")
			return
		}
		s.SetParameter(in.Name, in.Value)
		writeJSON(w, http.StatusOK, map[string]string{"name": in.Name})
	case "POST /discord":
		var in struct {
			Remaining  *int   `json:"remaining"`
			ResetAfter string `json:"resetAfter"`
			ValidToken string `json:"validToken"`
		}
		if err := decodeAdmin(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if in.Remaining != nil {
			d, err := time.ParseDuration(orDefault(in.ResetAfter, "24h"))
			if err != nil || d < 0 {
				adminError(w, http.StatusBadRequest, "resetAfter %q: want a duration such as 3h", in.ResetAfter)
				return
			}
			s.SetDiscordBudget(*in.Remaining, d)
		}
		if in.ValidToken != "" {
			s.SetDiscordValidToken(in.ValidToken)
		}
		remaining, reset := s.DiscordBudget()
		writeJSON(w, http.StatusOK, map[string]any{"remaining": remaining, "resetAfterMs": reset.Milliseconds()})
	case "GET /env":
		env := s.Env()
		if r.Host != "" && s.URL() == "" {
			env = EnvFor("http://"+r.Host, s.opts.Env)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, EnvLines(env))
	case "GET /alarms":
		writeJSON(w, http.StatusOK, s.alarmStates())
	default:
		// POST /alarms/{name}/state: the name (URL-escaped; it has spaces) is the path between.
		if name, ok := strings.CutPrefix(path, "/alarms/"); ok && r.Method == http.MethodPost && strings.HasSuffix(name, "/state") {
			var in struct {
				State  string `json:"state"`
				Reason string `json:"reason"`
			}
			if err := decodeAdmin(r, &in); err != nil {
				adminError(w, http.StatusBadRequest, "%v", err)
				return
			}
			name = strings.TrimSuffix(name, "/state")
			if err := s.SetAlarmState(name, in.State, in.Reason); err != nil {
				adminError(w, http.StatusBadRequest, "%v", err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"name": name, "state": in.State})
			return
		}
		adminError(w, http.StatusNotFound, "no admin route %s /_sandbox%s", r.Method, path)
	}
}

// EnvLines renders env as sorted KEY=VALUE lines.
func EnvLines(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + env[k] + "\n")
	}
	return b.String()
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
