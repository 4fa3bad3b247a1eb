package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/arrakis/gp-remediation/pkg/offer"
)

// Offers keep one item per offer in the ledger's table:
//
//	offer  pk "offer#<id>"  sk "offer"   the offer as JSON in "body", with "version" and "status"
//
// Every change is a read-modify-write conditional on the version read, as for incidents: of two
// clicks at the same moment one lands and the other re-reads and is judged on the result, so an
// offer runs at most once. The item outlives the offer's expiry by a week, for people reading
// the table after the incident.
const (
	prefixOffer     = "offer#"
	skOffer         = "offer"
	offerRetention  = 7 * 24 * time.Hour
	maxOfferIDBytes = 128
)

// ErrOfferNotFound is returned (wrapped) for an unknown offer id.
var ErrOfferNotFound = errors.New("offer not found")

// Offers is the DynamoDB store of offers. It is safe for concurrent use.
type Offers struct {
	api  IncidentAPI
	name string
}

// NewOffers returns the offer store kept in the named table (the ledger's table).
func NewOffers(api IncidentAPI, table string) (*Offers, error) {
	if err := checkStore("offers", api, table); err != nil {
		return nil, err
	}
	return &Offers{api: api, name: table}, nil
}

func offerKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPartitionKey: s(prefixOffer + id), AttrSortKey: s(skOffer)}
}

// Put stores a new offer; an offer with the same id is an error (ids are random).
func (os *Offers) Put(ctx context.Context, o offer.Offer) error {
	if o.ID == "" || len(o.ID) > maxOfferIDBytes {
		return fmt.Errorf("offer id %q: empty or too long", o.ID)
	}
	ok, err := os.write(ctx, o, 0)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("offer %s exists already", o.ID)
	}
	return nil
}

// Get returns an offer by id; an unknown id matches ErrOfferNotFound.
func (os *Offers) Get(ctx context.Context, id string) (offer.Offer, error) {
	o, _, err := os.read(ctx, id)
	return o, err
}

func (os *Offers) read(ctx context.Context, id string) (offer.Offer, int64, error) {
	if id == "" || len(id) > maxOfferIDBytes {
		return offer.Offer{}, 0, fmt.Errorf("offer id %q: %w", id, ErrOfferNotFound)
	}
	out, err := os.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(os.name), Key: offerKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return offer.Offer{}, 0, fmt.Errorf("read offer %s in table %s: %w", id, os.name, err)
	}
	if len(out.Item) == 0 {
		return offer.Offer{}, 0, fmt.Errorf("offer %s: %w", id, ErrOfferNotFound)
	}
	var o offer.Offer
	if err := json.Unmarshal([]byte(getS(out.Item, attrBody)), &o); err != nil {
		return offer.Offer{}, 0, fmt.Errorf("read offer %s: attribute %s: %w", id, attrBody, err)
	}
	v, err := getN(out.Item, attrVersion)
	if err != nil {
		return offer.Offer{}, 0, fmt.Errorf("read offer %s: %w", id, err)
	}
	return o, v, nil
}

// write puts o with version prev+1, on condition that it is absent (prev 0) or still at prev.
func (os *Offers) write(ctx context.Context, o offer.Offer, prev int64) (bool, error) {
	body, err := json.Marshal(o)
	if err != nil {
		return false, fmt.Errorf("encode offer %s: %w", o.ID, err)
	}
	item := offerKey(o.ID)
	item[AttrExpiresAt] = n(expiresAt(o.ExpiresAt.Add(offerRetention)))
	item[attrStatus] = s(string(o.Status))
	item[attrVersion] = n(prev + 1)
	item[attrBody] = s(string(body))
	ok, err := putVersioned(ctx, os.api, os.name, item, prev)
	if err != nil {
		return false, fmt.Errorf("write offer %s in table %s: %w", o.ID, os.name, err)
	}
	return ok, nil
}

// Click judges a click with offer.Consider against the offer as stored and writes the result
// unless it is a refusal. A concurrent change makes it re-read and judge again, so of two
// approvals that both would complete the offer exactly one gets Execute.
func (os *Offers) Click(ctx context.Context, id string, c offer.Click, allow offer.Approvers) (offer.Verdict, error) {
	var verdict offer.Verdict
	_, err := os.update(ctx, id, func(o offer.Offer) (offer.Offer, bool, error) {
		verdict = offer.Consider(o, c, allow)
		return verdict.Offer, verdict.Outcome != offer.Refuse, nil
	})
	if err != nil {
		return offer.Verdict{}, err
	}
	return verdict, nil
}

// Finish records how an executing offer ended (StatusDone or StatusStateChanged, with its
// outcome line). Only an executing offer can finish, and only once.
func (os *Offers) Finish(ctx context.Context, id string, status offer.Status, outcome string) (offer.Offer, error) {
	return os.update(ctx, id, func(o offer.Offer) (offer.Offer, bool, error) {
		if o.Status != offer.StatusExecuting {
			return o, false, fmt.Errorf("offer %s is %s, not executing", id, o.Status)
		}
		o.Status, o.Outcome = status, outcome
		return o, true, nil
	})
}

// update reads the offer, applies change and writes what it returns when it says to, re-reading
// and applying again whenever another writer came first (as Incidents.update does). An error
// from change is returned with the offer as change left it.
func (os *Offers) update(ctx context.Context, id string, change func(offer.Offer) (offer.Offer, bool, error)) (offer.Offer, error) {
	for attempt := range maxAttempts {
		o, v, err := os.read(ctx, id)
		if err != nil {
			return offer.Offer{}, err
		}
		next, write, err := change(o)
		if err != nil || !write {
			return next, err
		}
		won, err := os.write(ctx, next, v)
		if err != nil {
			return offer.Offer{}, err
		}
		if won {
			return next, nil
		}
		if err := backoff(ctx, attempt); err != nil {
			return offer.Offer{}, err
		}
	}
	return offer.Offer{}, fmt.Errorf("offer %s: gave up after %d conflicting writes", id, maxAttempts)
}
