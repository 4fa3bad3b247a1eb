package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Secrets Manager GetSecretValue and SSM GetParameter.

// SandboxURLTemplate in a secret's value is replaced by the sandbox's base URL when the
// secret is served, so secrets can point at the sandbox's own stand-ins.
const SandboxURLTemplate = "{{sandbox}}"

type secret struct {
	name      string
	arn       string
	value     string
	versionID string
	createdAt time.Time
}

type parameter struct {
	name     string
	value    string
	typ      string
	version  int
	modified time.Time
}

// secretARN derives a stable ARN with Secrets Manager's 6-character random suffix.
func secretARN(name string) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	h := fnv64("secret/" + name)
	var suffix [6]byte
	for i := range suffix {
		suffix[i] = letters[h%uint64(len(letters))]
		h /= uint64(len(letters))
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, AccountID, name, suffix[:])
}

// putSecret stores a secret. Callers hold s.mu.
func (s *Sandbox) putSecret(name, value string, at time.Time) {
	s.secrets[name] = &secret{name: name, arn: secretARN(name), value: value, versionID: s.uuid(), createdAt: at}
}

// putSecretJSON stores a secret whose value is the JSON encoding of v. Callers hold s.mu.
func (s *Sandbox) putSecretJSON(name string, v any, at time.Time) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sandbox: secret %s: %v", name, err)) // only built-in literal values are passed
	}
	s.putSecret(name, string(b), at)
}

// SetSecret creates or replaces a secret's SecretString ({{sandbox}} expands to the base URL).
func (s *Sandbox) SetSecret(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putSecret(name, value, s.now())
}

// DeleteSecret removes a secret (GetSecretValue then answers ResourceNotFoundException).
func (s *Sandbox) DeleteSecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, name)
}

// SecretValue is a secret's SecretString as it would be served (templates expanded), and
// whether it exists.
func (s *Sandbox) SecretValue(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return "", false
	}
	return strings.ReplaceAll(sec.value, SandboxURLTemplate, s.baseURL), true
}

func (s *Sandbox) lookupSecret(id string) *secret {
	if sec, ok := s.secrets[id]; ok {
		return sec
	}
	if strings.HasPrefix(id, "arn:") {
		for _, sec := range s.secrets {
			// A full ARN, or a partial one without the random suffix.
			if sec.arn == id || strings.HasPrefix(sec.arn, id+"-") && len(sec.arn) == len(id)+7 {
				return sec
			}
		}
	}
	return nil
}

func (s *Sandbox) smGetSecretValue(c *awsCall) (any, *apiError) {
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	notFound := &apiError{Status: http.StatusBadRequest, Code: "ResourceNotFoundException",
		Message: "Secrets Manager can't find the specified secret.", MsgKey: "Message"}
	if in.SecretID == "" {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "InvalidParameterException",
			Message: "You must provide a value for SecretId.", MsgKey: "Message"}
	}
	sec := s.lookupSecret(in.SecretID)
	if sec == nil {
		return nil, notFound
	}
	if in.VersionID != "" && in.VersionID != sec.versionID {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "ResourceNotFoundException",
			Message: "Secrets Manager can't find the specified secret value for VersionId: " + in.VersionID, MsgKey: "Message"}
	}
	if in.VersionStage != "" && in.VersionStage != "AWSCURRENT" {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "ResourceNotFoundException",
			Message: "Secrets Manager can't find the specified secret value for staging label: " + in.VersionStage, MsgKey: "Message"}
	}
	return struct {
		ARN           string   `json:"ARN"`
		Name          string   `json:"Name"`
		VersionID     string   `json:"VersionId"`
		SecretString  string   `json:"SecretString"`
		VersionStages []string `json:"VersionStages"`
		CreatedDate   *float64 `json:"CreatedDate"`
	}{sec.arn, sec.name, sec.versionID, strings.ReplaceAll(sec.value, SandboxURLTemplate, s.baseFor(c.r)),
		[]string{"AWSCURRENT"}, epoch(sec.createdAt)}, nil
}

// putParameter stores an SSM String parameter. Callers hold s.mu.
func (s *Sandbox) putParameter(name, value string, at time.Time) {
	version := 1
	if p, ok := s.params[name]; ok {
		version = p.version + 1
	}
	s.params[name] = &parameter{name: name, value: value, typ: "String", version: version, modified: at}
}

// SetParameter creates or overwrites an SSM parameter (a new version).
func (s *Sandbox) SetParameter(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putParameter(name, value, s.now())
}

// DeleteParameter removes an SSM parameter (GetParameter then answers ParameterNotFound).
func (s *Sandbox) DeleteParameter(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.params, name)
}

func parameterARN(name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", Region, AccountID, strings.TrimPrefix(name, "/"))
}

func (s *Sandbox) ssmGetParameter(c *awsCall) (any, *apiError) {
	var in struct {
		Name           string `json:"Name"`
		WithDecryption bool   `json:"WithDecryption"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	name := in.Name
	if strings.HasPrefix(name, "arn:") {
		_, rest, _ := strings.Cut(name, ":parameter")
		name = rest
		if !strings.HasPrefix(name, "/") {
			name = "/" + name
		}
		if _, ok := s.params[name]; !ok {
			name = strings.TrimPrefix(name, "/")
		}
	}
	selector := ""
	if i := strings.LastIndex(name, ":"); i > 0 {
		name, selector = name[:i], name[i:]
	}
	p, ok := s.params[name]
	if !ok || (selector != "" && selector != fmt.Sprintf(":%d", p.version)) {
		return nil, errClient(http.StatusBadRequest, "ParameterNotFound", "")
	}
	type param struct {
		Name             string   `json:"Name"`
		Type             string   `json:"Type"`
		Value            string   `json:"Value"`
		Version          int      `json:"Version"`
		Selector         string   `json:"Selector,omitempty"`
		LastModifiedDate *float64 `json:"LastModifiedDate"`
		ARN              string   `json:"ARN"`
		DataType         string   `json:"DataType"`
	}
	return struct {
		Parameter param `json:"Parameter"`
	}{param{Name: p.name, Type: p.typ, Value: p.value, Version: p.version, Selector: selector,
		LastModifiedDate: epoch(p.modified), ARN: parameterARN(p.name), DataType: "text"}}, nil
}
