package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/arrakis/gp-remediation/pkg/incident"
)

// Incidents keep one item per environment for its latest incident and one archive item per
// closed incident that a newer one replaced, in the ledger's table:
//
//	current  pk "incident#<env>"  sk "current"     the environment's latest incident, open or closed
//	archive  pk "incident#<env>"  sk "id#<id>"     a closed incident, copied before it is replaced
//
// Every change is a read-modify-write of the whole incident, conditional on the version it
// read (optimistic concurrency): two functions opening at the same moment both try to create
// "current" with attribute_not_exists, one wins and the other re-reads and joins; Close, the
// page trigger and the conversation are decided by whichever write lands first. The incident
// is stored as JSON in attribute "body" (the timeline is a list of typed entries, and the
// cap of incident.MaxTimeline keeps it far below the 400 KB item limit); id, status, version
// and times sit beside it as attributes for people reading the table.
const (
	prefixIncident  = "incident#"
	skCurrent       = "current"
	prefixArchiveSK = "id#"

	attrID      = "id"
	attrStatus  = "status"
	attrVersion = "version"
	attrBody    = "body"
	attrOpened  = "openedAt"
)

// IncidentAPI is the part of the DynamoDB client the incident store uses.
type IncidentAPI interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// DefaultIncidentRetention is how long an incident item is kept after its last change.
const DefaultIncidentRetention = 90 * 24 * time.Hour

// maxAttempts bounds the optimistic retries of one change. Each conflict means another writer
// made progress, so with the few functions of one environment this is never reached in
// practice; reaching it is an error rather than a silent give-up.
const maxAttempts = 25

// Incidents is the DynamoDB incident.Store. It is safe for concurrent use.
type Incidents struct {
	api       IncidentAPI
	name      string
	now       Clock
	retention time.Duration
	newID     func(env string, at time.Time) string
}

var _ incident.Store = (*Incidents)(nil)

// NewIncidents returns the incident store kept in the named table (the ledger's table).
// WithClock and WithRetention apply (retention counts from each write; default
// DefaultIncidentRetention).
func NewIncidents(api IncidentAPI, table string, opts ...Option) (*Incidents, error) {
	if err := checkStore("incidents", api, table); err != nil {
		return nil, err
	}
	// Reuse the ledger's options so callers configure both the same way.
	t := &Table{now: time.Now, retention: DefaultIncidentRetention}
	for _, o := range opts {
		o(t)
	}
	if t.now == nil {
		return nil, errors.New("incidents: nil clock")
	}
	if t.retention <= 0 {
		return nil, fmt.Errorf("incidents: retention must be positive, got %s", t.retention)
	}
	return &Incidents{api: api, name: table, now: t.now, retention: t.retention, newID: newIncidentID}, nil
}

// newIncidentID makes "<env>.<UTC opening time>.<random>". The environment is part of the id
// so Get finds the incident's partition from the id alone.
func newIncidentID(env string, at time.Time) string {
	return fmt.Sprintf("%s.%s.%08x", env, at.UTC().Format("20060102T150405Z"), rand.Uint32())
}

// envOfID returns the environment part of an id made by newIncidentID.
func envOfID(id string) (string, error) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return "", fmt.Errorf("incident id %q: %w", id, incident.ErrNotFound)
	}
	j := strings.LastIndexByte(id[:i], '.')
	if j <= 0 {
		return "", fmt.Errorf("incident id %q: %w", id, incident.ErrNotFound)
	}
	return id[:j], nil
}

type stored struct {
	inc     incident.Incident
	version int64
}

func incidentPK(env string) string { return prefixIncident + env }

func (is *Incidents) read(ctx context.Context, env, sk string) (stored, bool, error) {
	out, err := is.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(is.name),
		Key: map[string]types.AttributeValue{
			AttrPartitionKey: &types.AttributeValueMemberS{Value: incidentPK(env)},
			AttrSortKey:      &types.AttributeValueMemberS{Value: sk},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return stored{}, false, fmt.Errorf("read incident %s/%s in table %s: %w", env, sk, is.name, err)
	}
	if len(out.Item) == 0 {
		return stored{}, false, nil
	}
	var st stored
	if err := json.Unmarshal([]byte(getS(out.Item, attrBody)), &st.inc); err != nil {
		return stored{}, false, fmt.Errorf("read incident %s/%s: attribute %s: %w", env, sk, attrBody, err)
	}
	if st.version, err = getN(out.Item, attrVersion); err != nil {
		return stored{}, false, fmt.Errorf("read incident %s/%s: %w", env, sk, err)
	}
	return st, true, nil
}

// write puts inc at sk with version prev+1, on condition that the item is absent (prev == 0)
// or still at version prev. It reports false when the condition failed.
func (is *Incidents) write(ctx context.Context, sk string, inc incident.Incident, prev int64) (bool, error) {
	body, err := json.Marshal(inc)
	if err != nil {
		return false, fmt.Errorf("encode incident %s: %w", inc.ID, err)
	}
	now := is.now()
	item := map[string]types.AttributeValue{
		AttrPartitionKey: s(incidentPK(inc.Environment)),
		AttrSortKey:      s(sk),
		AttrExpiresAt:    n(expiresAt(now.Add(is.retention))),
		attrID:           s(inc.ID),
		attrStatus:       s(string(inc.Status)),
		attrVersion:      n(prev + 1),
		attrOpened:       s(inc.OpenedAt.UTC().Format(time.RFC3339Nano)),
		attrBody:         s(string(body)),
	}
	ok, err := putVersioned(ctx, is.api, is.name, item, prev)
	if err != nil {
		return false, fmt.Errorf("write incident %s in table %s: %w", inc.ID, is.name, err)
	}
	return ok, nil
}

// putVersioned puts item (which carries version prev+1) on condition that no item has its key
// yet (prev 0) or the stored one is still at version prev: optimistic concurrency for records
// read, changed and written whole (incidents, offers). false means another writer came first.
func putVersioned(ctx context.Context, api IncidentAPI, table string, item map[string]types.AttributeValue, prev int64) (bool, error) {
	in := &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}
	if prev == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": AttrPartitionKey}
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": n(prev)}
	}
	_, err := api.PutItem(ctx, in)
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// backoff waits a little before retrying a lost race, jittered so racers spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(5*(attempt+1))) * time.Millisecond
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// OpenOrJoin implements incident.Store.
func (is *Incidents) OpenOrJoin(ctx context.Context, env, alarm, function string, at time.Time) (incident.Incident, incident.JoinResult, error) {
	if env == "" || alarm == "" {
		return incident.Incident{}, "", errors.New("open incident: empty environment or alarm")
	}
	if at.IsZero() {
		at = is.now()
	}
	for attempt := range maxAttempts {
		cur, ok, err := is.read(ctx, env, skCurrent)
		if err != nil {
			return incident.Incident{}, "", err
		}
		var inc incident.Incident
		var result incident.JoinResult
		switch {
		case ok && cur.inc.Status == incident.StatusOpen:
			inc = cur.inc
			result = incident.Joined
			if m, member := inc.Member(alarm); member {
				result = incident.AlreadyMember
				if at.After(m.LastSeenAt) {
					m.LastSeenAt = at
				}
				m.State = incident.StateAlarm
				incident.SetMember(&inc, m)
			} else {
				incident.SetMember(&inc, newMember(alarm, function, at))
			}
			inc.UpdatedAt = at
		default:
			if ok {
				// Keep the closed incident reachable by id before replacing it.
				if err := is.archive(ctx, cur); err != nil {
					return incident.Incident{}, "", err
				}
			}
			inc = incident.Incident{
				ID: is.newID(env, at), Environment: env, Status: incident.StatusOpen,
				OpenedAt: at, UpdatedAt: at,
				Members:  []incident.Member{newMember(alarm, function, at)},
				Timeline: []incident.Entry{},
			}
			result = incident.Opened
		}
		won, err := is.write(ctx, skCurrent, inc, cur.version)
		if err != nil {
			return incident.Incident{}, "", err
		}
		if won {
			return inc, result, nil
		}
		if err := backoff(ctx, attempt); err != nil {
			return incident.Incident{}, "", err
		}
	}
	return incident.Incident{}, "", fmt.Errorf("open incident for %s: still contended after %d attempts", env, maxAttempts)
}

func newMember(alarm, function string, at time.Time) incident.Member {
	return incident.Member{Alarm: alarm, Function: function, FirstAlarmAt: at, LastSeenAt: at,
		State: incident.StateAlarm, FollowUp: incident.FollowUpActive}
}

// archive copies a closed current incident to its archive item, keeping its version. The put
// is conditional on the archive holding an older version (or none): a racer that read the
// incident earlier must not overwrite a copy that has since been updated by id.
func (is *Incidents) archive(ctx context.Context, st stored) error {
	inc := st.inc
	body, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("encode incident %s: %w", inc.ID, err)
	}
	_, err = is.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(is.name),
		Item: map[string]types.AttributeValue{
			AttrPartitionKey: s(incidentPK(inc.Environment)),
			AttrSortKey:      s(prefixArchiveSK + inc.ID),
			AttrExpiresAt:    n(expiresAt(is.now().Add(is.retention))),
			attrID:           s(inc.ID),
			attrStatus:       s(string(inc.Status)),
			attrVersion:      n(st.version),
			attrOpened:       s(inc.OpenedAt.UTC().Format(time.RFC3339Nano)),
			attrBody:         s(string(body)),
		},
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #v < :v"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPartitionKey, "#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": n(st.version)},
	})
	if isConditionFailed(err) {
		return nil // archived already, at this version or a later one
	}
	if err != nil {
		return fmt.Errorf("archive incident %s in table %s: %w", inc.ID, is.name, err)
	}
	return nil
}

// Current implements incident.Store.
func (is *Incidents) Current(ctx context.Context, env string) (incident.Incident, bool, error) {
	st, ok, err := is.read(ctx, env, skCurrent)
	return st.inc, ok, err
}

// locate reads the incident by id: the environment's current item if it is this incident,
// else its archive item. sk says which one, for the conditional write back.
func (is *Incidents) locate(ctx context.Context, id string) (st stored, sk string, err error) {
	env, err := envOfID(id)
	if err != nil {
		return stored{}, "", err
	}
	cur, ok, err := is.read(ctx, env, skCurrent)
	if err != nil {
		return stored{}, "", err
	}
	if ok && cur.inc.ID == id {
		return cur, skCurrent, nil
	}
	arch, ok, err := is.read(ctx, env, prefixArchiveSK+id)
	if err != nil {
		return stored{}, "", err
	}
	if !ok {
		return stored{}, "", fmt.Errorf("incident %s: %w", id, incident.ErrNotFound)
	}
	return arch, prefixArchiveSK + id, nil
}

// Get implements incident.Store.
func (is *Incidents) Get(ctx context.Context, id string) (incident.Incident, error) {
	st, _, err := is.locate(ctx, id)
	return st.inc, err
}

// update applies change to incident id and writes it back conditionally, retrying lost races.
// change returns false to write nothing.
func (is *Incidents) update(ctx context.Context, id, what string, change func(*incident.Incident) bool) (incident.Incident, bool, error) {
	for attempt := range maxAttempts {
		st, sk, err := is.locate(ctx, id)
		if err != nil {
			return incident.Incident{}, false, fmt.Errorf("%s: %w", what, err)
		}
		inc := st.inc
		if !change(&inc) {
			return inc, false, nil
		}
		won, err := is.write(ctx, sk, inc, st.version)
		if err != nil {
			return incident.Incident{}, false, fmt.Errorf("%s: %w", what, err)
		}
		if won {
			return inc, true, nil
		}
		if err := backoff(ctx, attempt); err != nil {
			return incident.Incident{}, false, err
		}
	}
	return incident.Incident{}, false, fmt.Errorf("%s %s: still contended after %d attempts", what, id, maxAttempts)
}

// Append implements incident.Store.
func (is *Incidents) Append(ctx context.Context, id string, entries ...incident.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	now := is.now()
	_, _, err := is.update(ctx, id, "append to incident", func(inc *incident.Incident) bool {
		incident.AppendCapped(inc, entries...)
		inc.UpdatedAt = now
		return true
	})
	return err
}

// SetMember implements incident.Store.
func (is *Incidents) SetMember(ctx context.Context, id string, m incident.Member) error {
	if m.Alarm == "" {
		return errors.New("set incident member: empty alarm")
	}
	now := is.now()
	_, _, err := is.update(ctx, id, "set incident member", func(inc *incident.Incident) bool {
		incident.SetMember(inc, m)
		inc.UpdatedAt = now
		return true
	})
	return err
}

// SetConversation implements incident.Store.
func (is *Incidents) SetConversation(ctx context.Context, id string, conv incident.Conversation) (incident.Conversation, error) {
	inc, _, err := is.update(ctx, id, "set incident conversation", func(inc *incident.Incident) bool {
		if !inc.Conversation.IsZero() {
			return false
		}
		inc.Conversation = conv
		return true
	})
	return inc.Conversation, err
}

// TriggerPage implements incident.Store.
func (is *Incidents) TriggerPage(ctx context.Context, id, key string, at time.Time) (bool, error) {
	if key == "" {
		return false, errors.New("trigger page: empty dedup key")
	}
	_, first, err := is.update(ctx, id, "trigger incident page", func(inc *incident.Incident) bool {
		if inc.Page.Triggered {
			return false
		}
		inc.Page.DedupKey, inc.Page.Triggered, inc.Page.TriggeredAt = key, true, at
		return true
	})
	return first, err
}

// ResolvePage implements incident.Store.
func (is *Incidents) ResolvePage(ctx context.Context, id string, at time.Time) (bool, error) {
	_, first, err := is.update(ctx, id, "resolve incident page", func(inc *incident.Incident) bool {
		if !inc.Page.Triggered || inc.Page.Resolved {
			return false
		}
		inc.Page.Resolved, inc.Page.ResolvedAt = true, at
		return true
	})
	return first, err
}

// Close implements incident.Store.
func (is *Incidents) Close(ctx context.Context, id string, reason incident.CloseReason, at time.Time) (bool, incident.Incident, error) {
	if reason == "" {
		return false, incident.Incident{}, errors.New("close incident: empty reason")
	}
	inc, closed, err := is.update(ctx, id, "close incident", func(inc *incident.Incident) bool {
		if inc.Status != incident.StatusOpen {
			return false
		}
		inc.Status, inc.ClosedAt, inc.CloseReason, inc.UpdatedAt = incident.StatusClosed, at, reason, at
		return true
	})
	return closed, inc, err
}
