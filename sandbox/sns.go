package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SNS Publish over awsQuery, with SNS's limits enforced and every publication recorded.

// SNS limits (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
const (
	snsMaxSubject    = 100
	snsMaxMessage    = 256 * 1024 // bytes, message plus attributes
	snsMaxAttributes = 10
)

// Publication is one accepted SNS Publish.
type Publication struct {
	TopicARN          string                      `json:"topicArn"`
	Subject           string                      `json:"subject,omitempty"`
	Message           string                      `json:"message"`
	MessageAttributes map[string]MessageAttribute `json:"messageAttributes,omitempty"`
	MessageID         string                      `json:"messageId"`
	Time              time.Time                   `json:"time"`
}

// MessageAttribute is one SNS message attribute.
type MessageAttribute struct {
	DataType    string `json:"dataType"`
	StringValue string `json:"stringValue,omitempty"`
	BinaryValue []byte `json:"binaryValue,omitempty"`
}

// AddTopic makes a topic ARN publishable (the report topic exists in every scenario).
func (s *Sandbox) AddTopic(arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.topics[arn] = true
}

// RemoveTopic deletes a topic: Publish to it answers NotFound.
func (s *Sandbox) RemoveTopic(arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.topics, arn)
}

var attrNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

func snsInvalid(msg string) *apiError {
	return errClient(http.StatusBadRequest, "InvalidParameter", "Invalid parameter: "+msg)
}

func snsInvalidValue(msg string) *apiError {
	return errClient(http.StatusBadRequest, "ParameterValueInvalid", msg)
}

// parseAttributes reads MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue,
// Value.BinaryValue} from the form, as the awsQuery serializer writes a map.
func parseAttributes(form map[string][]string) (map[string]MessageAttribute, int, *apiError) {
	type entry struct {
		name string
		attr MessageAttribute
	}
	entries := map[int]*entry{}
	for k, vs := range form {
		rest, ok := strings.CutPrefix(k, "MessageAttributes.entry.")
		if !ok || len(vs) == 0 {
			continue
		}
		idx, field, ok := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil {
			return nil, 0, snsInvalidValue("Malformed message attribute key " + k)
		}
		e := entries[n]
		if e == nil {
			e = &entry{}
			entries[n] = e
		}
		switch field {
		case "Name":
			e.name = vs[0]
		case "Value.DataType":
			e.attr.DataType = vs[0]
		case "Value.StringValue":
			e.attr.StringValue = vs[0]
		case "Value.BinaryValue":
			b, err := base64.StdEncoding.DecodeString(vs[0])
			if err != nil {
				return nil, 0, snsInvalidValue("The message attribute has an invalid binary value.")
			}
			e.attr.BinaryValue = b
		}
	}
	if len(entries) == 0 {
		return nil, 0, nil
	}
	if len(entries) > snsMaxAttributes {
		return nil, 0, snsInvalidValue(fmt.Sprintf("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(entries), snsMaxAttributes))
	}
	out := map[string]MessageAttribute{}
	size := 0
	for _, e := range entries {
		switch {
		case !attrNameRe.MatchString(e.name) || strings.HasPrefix(e.name, "AWS.") || strings.HasPrefix(e.name, "Amazon."):
			return nil, 0, snsInvalidValue(fmt.Sprintf("The message attribute name '%s' is invalid.", e.name))
		case e.attr.DataType == "":
			return nil, 0, snsInvalidValue(fmt.Sprintf("The message attribute '%s' must contain non-empty message attribute type.", e.name))
		}
		base, _, _ := strings.Cut(e.attr.DataType, ".")
		switch base {
		case "String", "Number":
			if e.attr.StringValue == "" {
				return nil, 0, snsInvalidValue(fmt.Sprintf("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", e.name, e.attr.DataType))
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(e.attr.StringValue, 64); err != nil {
					return nil, 0, snsInvalidValue(fmt.Sprintf("Could not cast message attribute '%s' value to number.", e.name))
				}
			}
		case "Binary":
			if len(e.attr.BinaryValue) == 0 {
				return nil, 0, snsInvalidValue(fmt.Sprintf("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", e.name, e.attr.DataType))
			}
		default:
			return nil, 0, snsInvalidValue(fmt.Sprintf("The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", e.name))
		}
		if _, dup := out[e.name]; dup {
			return nil, 0, snsInvalidValue(fmt.Sprintf("The message attribute '%s' is duplicated.", e.name))
		}
		out[e.name] = e.attr
		size += len(e.name) + len(e.attr.DataType) + len(e.attr.StringValue) + len(e.attr.BinaryValue)
	}
	return out, size, nil
}

// validSubject applies SNS's rule: printable ASCII, no line breaks or control characters,
// starting with a letter, number or punctuation mark, at most 100 characters.
func validSubject(sub string) bool {
	if sub == "" || len(sub) > snsMaxSubject || sub[0] == ' ' {
		return false
	}
	for i := 0; i < len(sub); i++ {
		if sub[i] < 0x20 || sub[i] > 0x7e {
			return false
		}
	}
	return true
}

func (s *Sandbox) snsPublish(c *awsCall) (any, *apiError) {
	f := c.form
	topic := f.Get("TopicArn")
	if topic == "" {
		topic = f.Get("TargetArn")
	}
	if topic == "" {
		if f.Get("PhoneNumber") != "" {
			return nil, snsInvalid("PhoneNumber Reason: the sandbox does not send SMS")
		}
		return nil, snsInvalid("TopicArn or TargetArn Reason: no value for required parameter")
	}
	if !strings.HasPrefix(topic, "arn:aws:sns:") {
		return nil, snsInvalid("TopicArn Reason: An ARN must have at least 6 elements, not " + strconv.Itoa(len(strings.Split(topic, ":"))))
	}
	msg, hasMsg := f["Message"]
	if !hasMsg || len(msg) == 0 || msg[0] == "" {
		return nil, snsInvalid("Empty message")
	}
	if !utf8.ValidString(msg[0]) {
		return nil, snsInvalid("Message Reason: Message must be valid UTF-8")
	}
	subject := ""
	if v, ok := f["Subject"]; ok && len(v) > 0 {
		subject = v[0]
		if !validSubject(subject) {
			return nil, snsInvalid("Subject")
		}
	}
	attrs, attrSize, aerr := parseAttributes(f)
	if aerr != nil {
		return nil, aerr
	}
	if len(msg[0])+attrSize > snsMaxMessage {
		return nil, snsInvalid("Message too long")
	}
	if structure := f.Get("MessageStructure"); structure != "" && structure != "json" {
		return nil, snsInvalid("MessageStructure Reason: only json is supported")
	}
	if !s.topics[topic] {
		return nil, errClient(http.StatusNotFound, "NotFound", "Topic does not exist")
	}
	id := s.uuid()
	s.published = append(s.published, Publication{
		TopicARN: topic, Subject: subject, Message: msg[0], MessageAttributes: attrs,
		MessageID: id, Time: s.now(),
	})
	var b bytes.Buffer
	b.WriteString(`<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>`)
	_ = xml.EscapeText(&b, []byte(id))
	b.WriteString(`</MessageId></PublishResult><ResponseMetadata><RequestId>`)
	b.WriteString(c.reqID)
	b.WriteString(`</RequestId></ResponseMetadata></PublishResponse>`)
	return b.Bytes(), nil
}

// Published returns every accepted SNS publication, oldest first.
func (s *Sandbox) Published() []Publication {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Publication(nil), s.published...)
}
