package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/arrakis/gp-remediation/pkg/incident"
)

// QueryAPI is the part of the DynamoDB client IncidentHistory uses.
type QueryAPI interface {
	Query(ctx context.Context, params *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// IncidentHistory lists an environment's incidents, the current one and the archived ones,
// with one Query of the environment's incident partition (read-only: the digest's store).
type IncidentHistory struct {
	api   QueryAPI
	table string
}

// NewIncidentHistory returns the incident listing of the named table (the ledger's table).
func NewIncidentHistory(api QueryAPI, table string) (*IncidentHistory, error) {
	if err := checkStore("incident history", api, table); err != nil {
		return nil, err
	}
	return &IncidentHistory{api: api, table: table}, nil
}

// maxListPages bounds one listing: an environment keeps its incidents for the retention
// (90 days), each item at most a few hundred KB, so a page of 1 MB holds several and this
// many pages are far more than a retention's worth.
const maxListPages = 1000

// List returns env's incidents opened in [from, to), oldest first. An incident stored twice
// (being archived while read) appears once, at its latest version.
func (h *IncidentHistory) List(ctx context.Context, env string, from, to time.Time) ([]incident.Incident, error) {
	if strings.TrimSpace(env) == "" {
		return nil, errors.New("list incidents: empty environment")
	}
	if !to.After(from) {
		return nil, fmt.Errorf("list incidents of %s: empty period %s to %s", env, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	type version struct {
		inc incident.Incident
		v   int64
	}
	byID := map[string]version{}
	var start map[string]types.AttributeValue
	for page := 0; ; page++ {
		if page == maxListPages {
			return nil, fmt.Errorf("list incidents of %s in table %s: more than %d pages", env, h.table, maxListPages)
		}
		out, err := h.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(h.table),
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPartitionKey},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(incidentPK(env))},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("list incidents of %s in table %s: %w", env, h.table, err)
		}
		for _, item := range out.Items {
			var inc incident.Incident
			if err := json.Unmarshal([]byte(getS(item, attrBody)), &inc); err != nil {
				return nil, fmt.Errorf("list incidents of %s: item %s: attribute %s: %w", env, getS(item, AttrSortKey), attrBody, err)
			}
			v, err := getN(item, attrVersion)
			if err != nil {
				return nil, fmt.Errorf("list incidents of %s: item %s: %w", env, getS(item, AttrSortKey), err)
			}
			if inc.OpenedAt.Before(from) || !inc.OpenedAt.Before(to) {
				continue
			}
			if old, ok := byID[inc.ID]; !ok || v > old.v {
				byID[inc.ID] = version{inc, v}
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	incs := make([]incident.Incident, 0, len(byID))
	for _, v := range byID {
		incs = append(incs, v.inc)
	}
	sort.Slice(incs, func(i, j int) bool {
		if !incs[i].OpenedAt.Equal(incs[j].OpenedAt) {
			return incs[i].OpenedAt.Before(incs[j].OpenedAt)
		}
		return incs[i].ID < incs[j].ID
	})
	return incs, nil
}
