// Package scrub keeps secret values out of error text. Clients put secrets into their errors
// in several spellings (net/http quotes the request URL, so a webhook's path; AMQP and
// PostgreSQL URLs carry the password as userinfo), so each secret is searched for as it is and
// in its URL-escaped forms.
package scrub

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Marker replaces a secret in scrubbed text.
const Marker = "[redacted]"

// MinLen is the shortest value searched for: shorter ones would match unrelated text and
// garble the message (an empty one would match everywhere).
const MinLen = 3

// Error returns err with every secret taken out of its text. An error without a secret is
// returned as it is. A scrubbed error answers errors.Is and errors.As as the original does, but
// does not unwrap to it: wrapping it again, or printing the chain, cannot bring the secret back.
// (A typed error reached through errors.As is the original; use its fields, not its text.)
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := Text(msg, secrets...)
	if clean == msg {
		return err
	}
	return &scrubbed{text: clean, err: err}
}

// Text returns s with every secret, in each of its spellings, replaced by Marker.
func Text(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) < MinLen {
			continue
		}
		for _, form := range forms(secret) {
			s = strings.ReplaceAll(s, form, Marker)
		}
	}
	return s
}

// forms are the spellings of a secret: as it is, escaped as a query value, a path segment and
// a URL's userinfo, and as JavaScript's encodeURIComponent writes it (console links).
func forms(secret string) []string {
	out := []string{secret}
	for _, f := range []string{url.QueryEscape(secret), url.PathEscape(secret), url.UserPassword("", secret).String()[1:], URIComponent(secret)} {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// URIComponent is JavaScript's encodeURIComponent: everything but letters, digits and
// -_.!~*'() is escaped. The AWS console encodes names in its URLs this way, so a secret can
// appear in this spelling too.
func URIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.IndexByte("-_.!~*'()", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

type scrubbed struct {
	text string
	err  error
}

func (s *scrubbed) Error() string        { return s.text }
func (s *scrubbed) Is(target error) bool { return errors.Is(s.err, target) }
func (s *scrubbed) As(target any) bool   { return errors.As(s.err, target) }

// JSONError describes a JSON decode error by position and type only: the decoder's own
// message can quote the input, which may be a secret's value.
func JSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("field %q is a JSON %s, want %s", te.Field, te.Value, te.Type)
	default:
		return errors.New("invalid JSON")
	}
}
