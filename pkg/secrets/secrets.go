// Package secrets reads JSON secrets from Secrets Manager (the runbook keeps the broker's
// credentials and management URL in one, `arrakis-{env}/rabbitmq`). Values are cached for a
// short time so a warm function does not call Secrets Manager on every invocation, yet a
// rotated secret is picked up within minutes. Errors never contain secret values.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// API is the one Secrets Manager operation used.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ API = (*secretsmanager.Client)(nil)

// ErrNotFound says the secret does not exist.
var ErrNotFound = errors.New("secret not found")

// Store reads and caches secrets.
type Store struct {
	API API
	TTL time.Duration // default 5 minutes
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	fields  map[string]string
	expires time.Time
}

// Fields returns the secret's JSON object as strings (numbers and booleans are formatted; a
// secret that is a plain string comes back as {"value": …}).
func (s *Store) Fields(ctx context.Context, name string) (map[string]string, error) {
	now := s.now()
	s.mu.Lock()
	if e, ok := s.cache[name]; ok && now.Before(e.expires) {
		s.mu.Unlock()
		return e.fields, nil
	}
	s.mu.Unlock()

	out, err := s.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &name})
	var nf *smtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, fmt.Errorf("read secret %s: %w", name, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	case out.SecretString == nil:
		return nil, fmt.Errorf("read secret %s: it has no string value", name)
	}
	fields, err := Parse(*out.SecretString)
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]entry{}
	}
	s.cache[name] = entry{fields: fields, expires: now.Add(ttl)}
	s.mu.Unlock()
	return fields, nil
}

// Field returns one field of a secret; a missing field is an error naming the field only.
func (s *Store) Field(ctx context.Context, name, field string) (string, error) {
	f, err := s.Fields(ctx, name)
	if err != nil {
		return "", err
	}
	v, ok := f[field]
	if !ok || v == "" {
		return "", fmt.Errorf("secret %s has no %q field", name, field)
	}
	return v, nil
}

// Parse reads a secret string: a JSON object, or a plain value (anything that is not an
// object, JSON null included, comes back as {"value": s}). A broken object is an error even
// after leading whitespace: taken for a plain value, it only failed later as "no such field".
func Parse(s string) (map[string]string, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(s), &raw); err != nil || raw == nil {
		if err != nil && strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), "{") {
			return nil, errors.New("the value looks like JSON but does not parse") // never echo it
		}
		return map[string]string{"value": s}, nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			out[k] = x
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(x)
		case nil:
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	return out, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
