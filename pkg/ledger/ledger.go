// Package ledger is the guard's durable memory in DynamoDB: one table per environment, shared by
// the four remediation functions. It implements guard.Ledger with conditional writes, so claims
// and locks stay atomic across concurrent invocations, and it keeps the history of actions that
// budgets, cooldowns and queue-depth's scale-back read.
//
// One table holds three kinds of item, told apart by the partition key's prefix:
//
//	claim   pk "claim#transition#<key>"      sk "claim"                      idempotency per alarm transition
//	lock    pk "lock#<target>"               sk "lock"                       a short lock per target
//	action  pk "action#<kind>#<target>"      sk "<fixed-width UTC time>#<random>"  one per action taken
//
// Every item carries expiresAt (epoch seconds), the table's TTL attribute. DynamoDB deletes
// expired items lazily, up to days later, so every read and every condition here treats an
// item whose expiresAt has passed as absent instead of trusting it to be gone.
package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/arrakis/gp-remediation/pkg/guard"
)

// The table's schema. The CDK stack and the test helper create the table from these; keep them
// exactly so: a string partition key, a string sort key, on-demand billing, TTL on expiresAt.
const (
	AttrPartitionKey = "pk"        // S, HASH
	AttrSortKey      = "sk"        // S, RANGE
	AttrExpiresAt    = "expiresAt" // N, epoch seconds; the table's TTL attribute
)

// Item attributes besides the keys, as they appear in the table (operators read them in the
// console, so they are spelled out).
const (
	attrOwner     = "owner"
	attrClaimed   = "claimedAt"
	attrLocked    = "lockedAt"
	attrTarget    = "target"
	attrKind      = "kind"
	attrFromCount = "fromCount"
	attrToCount   = "toCount"
	attrMoved     = "moved"
	// attrFrom and attrTo are the text the first releases stored for a scale's desired
	// counts; items written then are still read (see decodeEntry) until their TTL ends.
	attrFrom     = "from"
	attrTo       = "to"
	attrOutcome  = "outcome"
	attrAlarmKey = "alarmKey"
	attrFunction = "function"
	attrAt       = "at"
)

const (
	// The claim prefix keeps the keys the first releases wrote (the guard then added
	// "transition#" itself), so a transition claimed before an upgrade is still a duplicate after
	// it. Locks live minutes; their key is "lock#<target>" now (it was "lock#lock#<target>").
	prefixClaim  = "claim#transition#"
	prefixLock   = "lock#"
	prefixAction = "action#"
	skClaim      = "claim"
	skLock       = "lock"

	// skTimeLayout is RFC 3339 with exactly nine fractional digits, always UTC. RFC3339Nano
	// trims trailing zeros, which breaks string order ("…:05Z" sorts after "…:05.1Z");
	// a fixed width makes the sort key's byte order the time order, which the Query's
	// ScanIndexForward=false and the since condition rely on.
	skTimeLayout = "2006-01-02T15:04:05.000000000Z"
)

// DefaultRetention is how long action entries are kept (their expiresAt). Budgets look back a
// day at most and scale-back a few hours; a month leaves room for humans reading the table.
const DefaultRetention = 30 * 24 * time.Hour

// API is the part of the DynamoDB client the ledger uses, with the client's own signatures,
// so *dynamodb.Client satisfies it and tests can put anything in between.
type API interface {
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, params *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Clock tells the time; tests of expiry inject one.
type Clock func() time.Time

// Table is the DynamoDB ledger. It is safe for concurrent use.
type Table struct {
	api       API
	name      string
	now       Clock
	retention time.Duration
	pageSize  int32
	suffix    func() (string, error) // makes two entries of the same instant distinct
}

var _ guard.Ledger = (*Table)(nil)

// Option adjusts a Table.
type Option func(*Table)

// WithClock sets the clock that decides expiry and stamps items (default time.Now).
func WithClock(c Clock) Option { return func(t *Table) { t.now = c } }

// WithRetention sets how long action entries are kept, counted from when they are written
// (default DefaultRetention).
func WithRetention(d time.Duration) Option { return func(t *Table) { t.retention = d } }

// WithPageSize caps the items per Query page (default: DynamoDB's 1 MB page). History follows
// every page either way; a small page size is for tests of pagination.
func WithPageSize(n int32) Option { return func(t *Table) { t.pageSize = n } }

// checkStore refuses a store without a client (api, a nil interface, is nil as any) or a
// table name; store names the store in the error.
func checkStore(store string, api any, table string) error {
	if api == nil {
		return fmt.Errorf("%s: no DynamoDB client", store)
	}
	if strings.TrimSpace(table) == "" {
		return fmt.Errorf("%s: no table name", store)
	}
	return nil
}

// New returns the ledger kept in the named table.
func New(api API, table string, opts ...Option) (*Table, error) {
	if err := checkStore("ledger", api, table); err != nil {
		return nil, err
	}
	t := &Table{api: api, name: table, now: time.Now, retention: DefaultRetention, suffix: randomSuffix}
	for _, o := range opts {
		o(t)
	}
	if t.now == nil {
		return nil, errors.New("ledger: nil clock")
	}
	if t.retention <= 0 {
		return nil, fmt.Errorf("ledger: retention must be positive, got %s", t.retention)
	}
	if t.pageSize < 0 {
		return nil, fmt.Errorf("ledger: page size must not be negative, got %d", t.pageSize)
	}
	return t, nil
}

// Name is the table's name.
func (t *Table) Name() string { return t.name }

// Claim implements guard.Ledger: a conditional put that succeeds only when no live claim for key
// exists. A second delivery of the same transition, or a Lambda retry, gets false.
//
// The owner does not make a claim re-entrant (unlike Lock): Lambda retries an asynchronous
// invocation with the same request id, and such a retry must be seen as a duplicate. One
// consequence: if the SDK retries a put whose first attempt did succeed but whose answer was
// lost, the retry is refused and the claim reads as a duplicate. For remediation that is the
// safe way to be wrong (do nothing rather than act twice).
func (t *Table) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if key == "" {
		return false, errors.New("claim: empty key")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("claim %s: ttl must be positive, got %s", key, ttl)
	}
	now := t.now()
	item := map[string]types.AttributeValue{
		AttrPartitionKey: s(prefixClaim + key),
		AttrSortKey:      s(skClaim),
		AttrExpiresAt:    n(expiresAt(now.Add(ttl))),
		attrClaimed:      s(now.UTC().Format(time.RFC3339Nano)),
	}
	if owner != "" {
		item[attrOwner] = s(owner)
	}
	_, err := t.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(t.name),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #exp < :now"),
		ExpressionAttributeNames: map[string]string{
			"#pk":  AttrPartitionKey,
			"#exp": AttrExpiresAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": n(now.Unix())},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim %s in table %s: %w", key, t.name, err)
	}
	return true, nil
}

// Lock implements guard.Ledger. It succeeds when target has no lock, an expired one, or one
// owner already holds (a refresh that extends the expiry); otherwise it returns an error that
// matches guard.ErrLocked.
func (t *Table) Lock(ctx context.Context, target, owner string, ttl time.Duration) error {
	if target == "" {
		return errors.New("lock: empty target")
	}
	if owner == "" {
		// An empty owner would make every owner-less caller re-enter everyone else's lock.
		return fmt.Errorf("lock %s: empty owner", target)
	}
	if ttl <= 0 {
		return fmt.Errorf("lock %s: ttl must be positive, got %s", target, ttl)
	}
	now := t.now()
	_, err := t.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(t.name),
		Item: map[string]types.AttributeValue{
			AttrPartitionKey: s(prefixLock + target),
			AttrSortKey:      s(skLock),
			AttrExpiresAt:    n(expiresAt(now.Add(ttl))),
			attrOwner:        s(owner),
			attrLocked:       s(now.UTC().Format(time.RFC3339Nano)),
		},
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #exp < :now OR #owner = :owner"),
		ExpressionAttributeNames: map[string]string{
			"#pk":    AttrPartitionKey,
			"#exp":   AttrExpiresAt,
			"#owner": attrOwner,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":   n(now.Unix()),
			":owner": s(owner),
		},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("lock %s: %w", target, guard.ErrLocked)
	}
	if err != nil {
		return fmt.Errorf("lock %s in table %s: %w", target, t.name, err)
	}
	return nil
}

// Unlock implements guard.Ledger: it deletes the lock only while owner holds it. A lock that
// expired and was taken over belongs to someone else now, so a refused delete is not an error.
func (t *Table) Unlock(ctx context.Context, target, owner string) error {
	if target == "" {
		return errors.New("unlock: empty target")
	}
	if owner == "" {
		return fmt.Errorf("unlock %s: empty owner", target)
	}
	_, err := t.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(t.name),
		Key: map[string]types.AttributeValue{
			AttrPartitionKey: s(prefixLock + target),
			AttrSortKey:      s(skLock),
		},
		ConditionExpression:       aws.String("#owner = :owner"),
		ExpressionAttributeNames:  map[string]string{"#owner": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": s(owner)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("unlock %s in table %s: %w", target, t.name, err)
	}
	return nil
}

// Record implements guard.Ledger. Entries are never overwritten: the sort key is the entry's
// time plus a random suffix, and the put is conditional on the key being new.
func (t *Table) Record(ctx context.Context, e guard.Entry) error {
	if err := checkTargetKind(e.Target, e.Kind); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	now := t.now()
	if e.At.IsZero() {
		e.At = now
	}
	if y := e.At.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("record %s on %s: time %s is outside years 1..9999", e.Kind, e.Target, e.At)
	}
	suffix, err := t.suffix()
	if err != nil {
		return fmt.Errorf("record %s on %s: make a unique sort key: %w", e.Kind, e.Target, err)
	}
	item := map[string]types.AttributeValue{
		AttrPartitionKey: s(actionPK(e.Target, e.Kind)),
		AttrSortKey:      s(e.At.UTC().Format(skTimeLayout) + "#" + suffix),
		AttrExpiresAt:    n(expiresAt(now.Add(t.retention))),
		attrTarget:       s(e.Target),
		attrKind:         s(e.Kind),
		attrAt:           s(e.At.UTC().Format(time.RFC3339Nano)),
	}
	// Optional fields are left out when empty rather than stored as "" (which older DynamoDB
	// emulators reject); a missing attribute reads back as "".
	for name, v := range map[string]string{
		attrOutcome: string(e.Outcome), attrAlarmKey: e.AlarmKey, attrFunction: e.Function,
	} {
		if v != "" {
			item[name] = s(v)
		}
	}
	if e.HasCounts {
		item[attrFromCount] = n(int64(e.FromCount))
		item[attrToCount] = n(int64(e.ToCount))
	}
	if e.Moved > 0 {
		item[attrMoved] = n(int64(e.Moved))
	}
	_, err = t.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(t.name),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPartitionKey},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("record %s on %s: an entry with sort key %s already exists", e.Kind, e.Target, item[AttrSortKey].(*types.AttributeValueMemberS).Value)
	}
	if err != nil {
		return fmt.Errorf("record %s on %s in table %s: %w", e.Kind, e.Target, t.name, err)
	}
	return nil
}

// History implements guard.Ledger: the entries of kind on target at or after since, newest
// first, following every page. Reads are strongly consistent: the guard re-reads the budget
// under the lock and must see an entry another invocation recorded a moment ago.
func (t *Table) History(ctx context.Context, target, kind string, since time.Time) ([]guard.Entry, error) {
	if err := checkTargetKind(target, kind); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(t.name),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(actionPK(target, kind))},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
	}
	if !since.IsZero() && since.UTC().Year() >= 1 {
		// A sort key is "<time>#<suffix>", so one at exactly since compares greater than the
		// bare time: "at or after since", to the nanosecond.
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk >= :since")
		in.ExpressionAttributeNames["#sk"] = AttrSortKey
		in.ExpressionAttributeValues[":since"] = s(since.UTC().Format(skTimeLayout))
	}
	if t.pageSize > 0 {
		in.Limit = aws.Int32(t.pageSize)
	}
	now := t.now().Unix()
	var out []guard.Entry
	for page := 1; ; page++ {
		res, err := t.api.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("history of %s on %s in table %s (page %d): %w", kind, target, t.name, page, err)
		}
		for _, item := range res.Items {
			exp, err := getN(item, AttrExpiresAt)
			if err != nil {
				return nil, fmt.Errorf("history of %s on %s: item %s: %w", kind, target, getS(item, AttrSortKey), err)
			}
			if exp < now {
				continue // expired; DynamoDB has just not deleted it yet
			}
			e, err := decodeEntry(item)
			if err != nil {
				return nil, fmt.Errorf("history of %s on %s: item %s: %w", kind, target, getS(item, AttrSortKey), err)
			}
			out = append(out, e)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

func decodeEntry(item map[string]types.AttributeValue) (guard.Entry, error) {
	at, err := time.Parse(time.RFC3339Nano, getS(item, attrAt))
	if err != nil {
		return guard.Entry{}, fmt.Errorf("attribute %s: %w", attrAt, err)
	}
	e := guard.Entry{
		Target:   getS(item, attrTarget),
		Kind:     getS(item, attrKind),
		Outcome:  guard.Outcome(getS(item, attrOutcome)),
		AlarmKey: getS(item, attrAlarmKey),
		Function: getS(item, attrFunction),
		At:       at,
	}
	from, errFrom := getN(item, attrFromCount)
	to, errTo := getN(item, attrToCount)
	if errFrom == nil && errTo == nil {
		e.FromCount, e.ToCount, e.HasCounts = int(from), int(to), true
	} else if f, t, ok := legacyCounts(item); ok {
		e.FromCount, e.ToCount, e.HasCounts = f, t, true
	}
	if moved, err := getN(item, attrMoved); err == nil {
		e.Moved = int(moved)
	}
	return e, nil
}

// legacyCounts reads the desired counts of a scale recorded by the first releases, which
// stored them as text ("1", "2"). Anything else in those attributes (a restart's "84 %") is
// not a count.
func legacyCounts(item map[string]types.AttributeValue) (from, to int, ok bool) {
	f, err1 := strconv.Atoi(getS(item, attrFrom))
	t, err2 := strconv.Atoi(getS(item, attrTo))
	return f, t, err1 == nil && err2 == nil
}

// actionPK puts kind first: kinds never contain '#' (checked), so the key splits one way only,
// whatever a target (a queue name, say) contains.
func actionPK(target, kind string) string { return prefixAction + kind + "#" + target }

func checkTargetKind(target, kind string) error {
	switch {
	case target == "":
		return errors.New("empty target")
	case kind == "":
		return fmt.Errorf("empty kind for %s", target)
	case strings.Contains(kind, "#"):
		return fmt.Errorf("kind %q for %s contains '#'", kind, target)
	}
	return nil
}

// expiresAt rounds up to the next whole second, so an item lives at least as long as asked.
// An item counts as expired once expiresAt < now in whole seconds (the same comparison DynamoDB's
// TTL makes), so it may outlive its ttl by up to a second or two: for locks that is the safe side.
func expiresAt(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func randomSuffix() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s: missing or not a number", name)
	}
	i, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return i, nil
}
