package sandbox

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// S3 (REST-XML), path-style, for the picture bucket: PutObject, and GetObject with a SigV4
// header or a presigned URL (X-Amz-Date + X-Amz-Expires, refused once expired by the
// sandbox's clock, as S3 does). The SDK uses path-style addressing on its own when the
// endpoint is an IP address, which the sandbox's is. One bucket exists: PictureBucket.
// Signatures are not checked (as everywhere in the sandbox), their presence is.

// PictureBucketFor is the picture bucket's name in environment env (the stack's naming).
func PictureBucketFor(env string) string { return "arrakis-" + env + "-gp-remediation-pictures" }

// Object is one stored S3 object.
type Object struct {
	Bucket      string    `json:"bucket"`
	Key         string    `json:"key"`
	ContentType string    `json:"contentType"`
	Data        []byte    `json:"-"`
	Size        int       `json:"size"`
	Time        time.Time `json:"time"`
}

// isS3 recognises an S3 request by its SigV4 credential scope, in the Authorization header
// or a presigned URL's query.
func isS3(r *http.Request) bool {
	if strings.Contains(r.Header.Get("Authorization"), "/s3/aws4_request") {
		return true
	}
	return strings.Contains(r.URL.Query().Get("X-Amz-Credential"), "/s3/aws4_request")
}

type s3Error struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
	RequestID  string   `xml:"RequestId"`
}

func (s *Sandbox) serveS3(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	s.mu.Lock()
	reqID, at := s.uuid(), s.now()
	s.mu.Unlock()
	op := map[string]string{http.MethodPut: "PutObject", http.MethodGet: "GetObject"}[r.Method]
	if op == "" {
		op = r.Method
	}
	call := Call{Service: "s3", Operation: op, Time: at, Attempt: attemptOf(r)}
	fail := func(status int, code, msg, bucket, key string) {
		body, _ := xml.Marshal(s3Error{Code: code, Message: msg, BucketName: bucket, Key: key, RequestID: reqID})
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Request-Id", reqID)
		w.WriteHeader(status)
		_, _ = w.Write(append([]byte(xml.Header), body...))
		call.Status, call.ErrorCode = status, code
	}
	defer func() {
		call.DurationMS = time.Since(began).Milliseconds()
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
	}()

	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if key == "" {
		fail(http.StatusNotImplemented, "NotImplemented", "sandbox: only object operations on "+PictureBucketFor(s.opts.Env)+" are served", bucket, "")
		return
	}
	fault, wait := s.matchFault("s3:"+op, true)
	if fault != nil {
		call.Fault = string(fault.Kind)
	}
	if !s.hold(r, max(wait, minResponseDelay)) {
		call.ErrorCode = "ClientGaveUp"
		return
	}
	if fault != nil {
		switch fault.Kind {
		case FaultThrottle:
			fail(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", bucket, key)
			return
		case FaultUnavailable, FaultInternal:
			fail(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.", bucket, key)
			return
		case FaultTimeout:
			hold := fault.Delay
			if hold <= 0 {
				hold = 5 * time.Minute
			}
			if !s.hold(r, hold) {
				call.ErrorCode = "ClientGaveUp"
				return
			}
		}
	}
	if bucket != PictureBucketFor(s.opts.Env) {
		fail(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist", bucket, "")
		return
	}
	switch r.Method {
	case http.MethodPut:
		data, err := readS3Body(r)
		if err != nil {
			fail(http.StatusBadRequest, "InvalidRequest", err.Error(), bucket, key)
			return
		}
		if n := r.Header.Get("X-Amz-Decoded-Content-Length"); n != "" && n != strconv.Itoa(len(data)) {
			fail(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.", bucket, key)
			return
		}
		sum := md5.Sum(data)
		obj := &Object{Bucket: bucket, Key: key, ContentType: r.Header.Get("Content-Type"), Data: data, Size: len(data), Time: at}
		s.mu.Lock()
		if s.objects == nil {
			s.objects = map[string]*Object{}
		}
		s.objects[bucket+"/"+key] = obj
		s.mu.Unlock()
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("X-Amz-Request-Id", reqID)
		w.WriteHeader(http.StatusOK)
		call.Status = http.StatusOK
	case http.MethodGet:
		if msg := presignExpired(r.URL.Query(), at); msg != "" {
			fail(http.StatusForbidden, "AccessDenied", msg, "", "")
			return
		}
		s.mu.Lock()
		obj, ok := s.objects[bucket+"/"+key]
		s.mu.Unlock()
		if !ok {
			fail(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", "", key)
			return
		}
		w.Header().Set("Content-Type", obj.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(obj.Data)))
		w.Header().Set("X-Amz-Request-Id", reqID)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(obj.Data)
		call.Status = http.StatusOK
	default:
		fail(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.", bucket, key)
	}
}

// presignExpired says why a presigned URL no longer works ("" while it does, or when the
// request is not presigned).
func presignExpired(q url.Values, now time.Time) string {
	if q.Get("X-Amz-Signature") == "" {
		return ""
	}
	signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	secs, err2 := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || err2 != nil {
		return "Query-string authentication requires X-Amz-Date and X-Amz-Expires"
	}
	if secs > 7*24*3600 {
		return "X-Amz-Expires must be less than a week (in seconds)"
	}
	if now.After(signed.Add(time.Duration(secs) * time.Second)) {
		return "Request has expired"
	}
	return ""
}

// readS3Body reads a PutObject body, decoding aws-chunked framing ("<hex size>[;chunk-
// signature=…]\r\n<data>\r\n", ending with a zero-size chunk and optional trailers), which
// the SDK uses to send a checksum trailer.
func readS3Body(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(raw) > maxBody {
		return nil, fmt.Errorf("sandbox: object larger than %d bytes", maxBody)
	}
	if !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		return raw, nil
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	var out []byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: chunk header: %w", err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil || n < 0 || n > maxBody {
			return nil, fmt.Errorf("aws-chunked: bad chunk size %q", sizeHex)
		}
		if n == 0 {
			return out, nil // trailers (the checksum) follow; not checked
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, fmt.Errorf("aws-chunked: chunk data: %w", err)
		}
		out = append(out, chunk...)
		if _, err := br.ReadString('\n'); err != nil {
			return nil, fmt.Errorf("aws-chunked: chunk end: %w", err)
		}
	}
}

// Objects returns the stored objects (the picture bucket's), oldest first.
func (s *Sandbox) Objects() []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Object, 0, len(s.objects))
	for _, o := range s.objects {
		out = append(out, *o)
	}
	slices.SortFunc(out, func(a, b Object) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}
