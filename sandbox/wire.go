package sandbox

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// protocol is the AWS wire protocol of one call.
type protocol int

const (
	protoJSON  protocol = iota // awsJson1.1 (and 1.0 for services we do not serve)
	protoCBOR                  // smithy-rpcv2-cbor
	protoQuery                 // awsQuery: form body, XML answer
)

// minResponseDelay is the least time an AWS call takes. Answering faster than the client's
// HTTP write loop finishes with the request exposes a client-side race: smithy-go closes the
// request body as soon as response headers arrive, net/http's last read of that body then
// fails with io.EOF (from the body's WriteTo), and the transport closes the connection while
// the SDK is still reading the response ("use of closed network connection"). A couple of
// milliseconds, far below AWS's own latency, lets the write loop finish first.
const minResponseDelay = 2 * time.Millisecond

// maxBody bounds what the sandbox reads from a request. SNS's largest legal request (256 KiB
// message plus attributes, form-encoded) fits comfortably.
const maxBody = 4 << 20

// awsJSONPrefixes maps an X-Amz-Target prefix to the short service name used in operation
// keys ("ecs:DescribeServices") and fault matching.
var awsJSONPrefixes = map[string]string{
	"AmazonEC2ContainerServiceV20141113": "ecs",
	"Logs_20140328":                      "logs",
	"secretsmanager":                     "secretsmanager",
	"AmazonSSM":                          "ssm",
	"DynamoDB_20120810":                  "dynamodb",
	"AmazonSQS":                          "sqs",
}

// cborServices maps the rpcv2-cbor path's service segment to its short name.
var cborServices = map[string]string{
	"GraniteServiceVersion20100801": "cloudwatch",
}

// awsCall is one decoded AWS request.
type awsCall struct {
	r       *http.Request
	body    []byte
	proto   protocol
	service string // short name: ecs, logs, cloudwatch, secretsmanager, ssm, sns, ...
	op      string
	form    url.Values // awsQuery only
	reqID   string
}

func (c *awsCall) key() string { return c.service + ":" + c.op }

// apiError is an AWS error answer. Code is the error's wire name (the modeled shape name for
// awsJson and rpcv2-cbor, the query error code for awsQuery). QueryCode is what a
// query-compatible service (CloudWatch) puts in X-Amzn-Query-Error.
type apiError struct {
	Status    int
	Code      string
	Message   string
	QueryCode string
	Receiver  bool   // server fault (awsQuery <Type>Receiver</Type>, X-Amzn-Query-Error ";Receiver")
	MsgKey    string // JSON member name of the message: "message" (default) or "Message"
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errClient(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// opHandler answers one operation. It runs with s.mu held. The answer is encoded for the
// call's protocol: a JSON-marshalable value, a cbor.Value, or XML bytes.
type opHandler func(s *Sandbox, c *awsCall) (any, *apiError)

var awsOps = map[string]opHandler{
	"ecs:DescribeServices":            (*Sandbox).ecsDescribeServices,
	"ecs:UpdateService":               (*Sandbox).ecsUpdateService,
	"ecs:ListTasks":                   (*Sandbox).ecsListTasks,
	"ecs:DescribeTasks":               (*Sandbox).ecsDescribeTasks,
	"ecs:DescribeTaskDefinition":      (*Sandbox).ecsDescribeTaskDefinition,
	"ecs:ListTaskDefinitions":         (*Sandbox).ecsListTaskDefinitions,
	"ecs:RegisterTaskDefinition":      (*Sandbox).ecsRegisterTaskDefinition,
	"cloudwatch:GetMetricData":        (*Sandbox).cwGetMetricData,
	"cloudwatch:DescribeAlarms":       (*Sandbox).cwDescribeAlarms,
	"cloudwatch:GetMetricWidgetImage": (*Sandbox).cwGetMetricWidgetImage,
	"logs:FilterLogEvents":            (*Sandbox).logsFilterLogEvents,
	"secretsmanager:GetSecretValue":   (*Sandbox).smGetSecretValue,
	"ssm:GetParameter":                (*Sandbox).ssmGetParameter,
	"sns:Publish":                     (*Sandbox).snsPublish,
}

// identify decodes which service and operation a request is for. It never fails: what it
// cannot recognise becomes an unknown operation answered in the most likely protocol.
func identify(r *http.Request, body []byte) *awsCall {
	c := &awsCall{r: r, body: body}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		c.proto = protoJSON
		prefix, op, ok := strings.Cut(target, ".")
		if !ok {
			c.service, c.op = "unknown", target
			return c
		}
		c.op = op
		if svc, ok := awsJSONPrefixes[prefix]; ok {
			c.service = svc
		} else {
			c.service = strings.ToLower(prefix)
		}
		return c
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/service/"); ok {
		c.proto = protoCBOR
		svc, op, _ := strings.Cut(rest, "/operation/")
		c.op = op
		if short, ok := cborServices[svc]; ok {
			c.service = short
		} else {
			c.service = strings.ToLower(svc)
		}
		return c
	}
	ct := r.Header.Get("Content-Type")
	if r.Method == http.MethodPost && strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		c.proto = protoQuery
		form, err := url.ParseQuery(string(body))
		if err != nil {
			form = url.Values{}
		}
		c.form = form
		c.op = form.Get("Action")
		c.service = credentialScopeService(r.Header.Get("Authorization"))
		if c.service == "" {
			c.service = "sns"
		}
		return c
	}
	c.proto = protoJSON
	c.service, c.op = "unknown", r.Method+" "+r.URL.Path
	return c
}

// credentialScopeService reads the service from a SigV4 Authorization header
// ("Credential=AKID/20261127/us-east-1/sns/aws4_request"): awsQuery has no other marker.
func credentialScopeService(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}

// attemptOf reads the SDK's attempt number from amz-sdk-request ("attempt=2; max=3").
func attemptOf(r *http.Request) int {
	for part := range strings.SplitSeq(r.Header.Get("Amz-Sdk-Request"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func (s *Sandbox) serveAWS(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		http.Error(w, "read request body", http.StatusBadRequest)
		return
	}
	c := identify(r, body)
	s.mu.Lock()
	c.reqID = s.uuid()
	at := s.now()
	s.mu.Unlock()

	call := Call{Service: c.service, Operation: c.op, Time: at, Attempt: attemptOf(r)}
	finish := func(status int, code string) {
		call.Status = status
		call.ErrorCode = code
		call.DurationMS = time.Since(began).Milliseconds()
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		s.log.Debug("aws call", "op", c.key(), "status", status, "code", code, "fault", call.Fault)
	}

	if len(body) > maxBody {
		e := errClient(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "request body too large")
		s.writeError(w, c, e)
		finish(e.Status, e.Code)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		e := errClient(http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token")
		if c.proto == protoQuery {
			e.Code = "MissingAuthenticationToken"
		}
		s.writeError(w, c, e)
		finish(e.Status, e.Code)
		return
	}

	fault, wait := s.matchFault(c.key(), true)
	wait = max(wait, minResponseDelay)
	if fault != nil {
		call.Fault = string(fault.Kind)
	}
	if !s.hold(r, wait) {
		finish(0, "ClientGaveUp")
		return
	}
	if fault != nil {
		switch fault.Kind {
		case FaultThrottle, FaultUnavailable, FaultInternal:
			e := faultError(c, fault.Kind)
			s.writeError(w, c, e)
			finish(e.Status, e.Code)
			return
		case FaultTimeout:
			hold := fault.Delay
			if hold <= 0 {
				hold = 5 * time.Minute
			}
			if !s.hold(r, hold) {
				finish(0, "ClientGaveUp")
				return
			}
		}
	}

	h, ok := awsOps[c.key()]
	if !ok {
		e := unknownOperation(c)
		s.writeError(w, c, e)
		finish(e.Status, e.Code)
		return
	}
	s.mu.Lock()
	out, aerr := h(s, c)
	s.mu.Unlock()
	if aerr != nil {
		s.writeError(w, c, aerr)
		finish(aerr.Status, aerr.Code)
		return
	}
	payload, ctype, err := encodeOutput(c, out)
	if err != nil {
		e := &apiError{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "sandbox: encode response: " + err.Error(), Receiver: true}
		s.writeError(w, c, e)
		finish(e.Status, e.Code)
		return
	}
	if fault != nil && fault.Kind == FaultMalformed {
		// A truncated document with a consistent Content-Length: the client reads all of it
		// and fails to decode, which is what a proxy cutting a response looks like.
		payload = payload[:len(payload)/2]
	}
	setCommonHeaders(w, c, ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(payload)
	finish(http.StatusOK, "")
}

// hold waits d unless the client goes away or the sandbox closes; false means the client left.
func (s *Sandbox) hold(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		return r.Context().Err() == nil
	case <-r.Context().Done():
		return false
	}
}

func unknownOperation(c *awsCall) *apiError {
	switch c.proto {
	case protoCBOR:
		return errClient(http.StatusNotFound, "UnknownOperationException",
			fmt.Sprintf("sandbox: operation %s of service %s is not served", c.op, c.service))
	case protoQuery:
		if c.op == "" {
			return errClient(http.StatusBadRequest, "MissingAction", "Missing Action")
		}
		return errClient(http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("The action %s is not valid for this web service.", c.op))
	default:
		return errClient(http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("sandbox: operation %s of service %s is not served", c.op, c.service))
	}
}

// faultError is the injected error in the protocol's own words, chosen so the SDK retryer
// classifies it as AWS would: throttles as throttles, 5xx as retryable server errors.
func faultError(c *awsCall, kind FaultKind) *apiError {
	switch kind {
	case FaultThrottle:
		e := &apiError{Status: http.StatusBadRequest, Code: "ThrottlingException", Message: "Rate exceeded"}
		switch c.proto {
		case protoCBOR:
			// CloudWatch is query-compatible: its throttling code is "Throttling".
			e.Code, e.QueryCode = "Throttling", "Throttling"
		case protoQuery:
			e.Code = "Throttling"
		}
		return e
	case FaultUnavailable:
		return &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable",
			Message: "Service is unavailable. Please try again later.", QueryCode: "ServiceUnavailable", Receiver: true}
	default:
		return &apiError{Status: http.StatusInternalServerError, Code: "InternalFailure",
			Message:   "The request processing has failed because of an unknown error, exception or failure.",
			QueryCode: "InternalFailure", Receiver: true}
	}
}

func setCommonHeaders(w http.ResponseWriter, c *awsCall, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Amzn-Requestid", c.reqID)
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if c.proto == protoCBOR {
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
	}
}

func encodeOutput(c *awsCall, out any) ([]byte, string, error) {
	switch c.proto {
	case protoCBOR:
		v, ok := out.(cbor.Value)
		if !ok {
			return nil, "", fmt.Errorf("handler returned %T, want a cbor.Value", out)
		}
		return cbor.Encode(v), "application/cbor", nil
	case protoQuery:
		b, ok := out.([]byte)
		if !ok {
			return nil, "", fmt.Errorf("handler returned %T, want XML bytes", out)
		}
		return b, "text/xml", nil
	default:
		b, err := json.Marshal(out)
		if err != nil {
			return nil, "", err
		}
		return b, "application/x-amz-json-1.1", nil
	}
}

func (s *Sandbox) writeError(w http.ResponseWriter, c *awsCall, e *apiError) {
	var payload []byte
	var ctype string
	switch c.proto {
	case protoCBOR:
		ctype = "application/cbor"
		payload = cbor.Encode(cbor.Map{
			"__type":  cbor.String("com.amazonaws.cloudwatch#" + e.Code),
			"message": cbor.String(e.Message),
		})
		// CloudWatch is awsQuery-compatible: every error carries its query code in this
		// header, and clients of every generation read the code from it.
		code := e.QueryCode
		if code == "" {
			code = e.Code
		}
		fault := "Sender"
		if e.Receiver {
			fault = "Receiver"
		}
		w.Header().Set("X-Amzn-Query-Error", code+";"+fault)
	case protoQuery:
		ctype = "text/xml"
		payload = queryErrorXML(e, c.reqID)
	default:
		ctype = "application/x-amz-json-1.1"
		key := e.MsgKey
		if key == "" {
			key = "message"
		}
		payload, _ = json.Marshal(map[string]string{"__type": e.Code, key: e.Message})
		w.Header().Set("X-Amzn-Errortype", e.Code)
	}
	setCommonHeaders(w, c, ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(payload)
}

func queryErrorXML(e *apiError, reqID string) []byte {
	typ := "Sender"
	if e.Receiver {
		typ = "Receiver"
	}
	var b bytes.Buffer
	b.WriteString(`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>`)
	b.WriteString(typ)
	b.WriteString(`</Type><Code>`)
	_ = xml.EscapeText(&b, []byte(e.Code))
	b.WriteString(`</Code><Message>`)
	_ = xml.EscapeText(&b, []byte(e.Message))
	b.WriteString(`</Message></Error><RequestId>`)
	b.WriteString(reqID)
	b.WriteString(`</RequestId></ErrorResponse>`)
	return b.Bytes()
}

// decodeJSON decodes an awsJson request body into v; an empty body is an empty object.
func decodeJSON(c *awsCall, v any) *apiError {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return errClient(http.StatusBadRequest, "SerializationException", "Could not parse the request body: "+err.Error())
	}
	return nil
}

// uuid returns a random version-4 UUID from the sandbox's generator. Callers hold s.mu.
func (s *Sandbox) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// hexID returns n random lower-case hex characters. Callers hold s.mu.
func (s *Sandbox) hexID(n int) string {
	const digits = "0123456789abcdef"
	out := make([]byte, n)
	for i := range out {
		out[i] = digits[s.rng.IntN(16)]
	}
	return string(out)
}

// epoch is an ECS/Secrets Manager/SSM timestamp: epoch seconds with milliseconds.
func epoch(t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	v := float64(t.UnixMilli()) / 1e3
	return &v
}
