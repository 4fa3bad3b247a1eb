package rabbit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Management is a client of the RabbitMQ management HTTP API (Amazon MQ serves it over HTTPS
// on the broker's console URL). Its statistics lag the broker by about one collection
// interval (5 s by default): use Client.Inspect for an exact ready count.
type Management struct {
	base  string // ends in /api, no trailing slash, no credentials
	user  string
	pass  string
	hc    *http.Client
	scrub func(error) error
}

// maxResponseBytes bounds what one API answer may cost in memory (a broker with thousands of
// connections answers /api/connections with a few MB).
const maxResponseBytes = 32 << 20

// NewManagement returns a client for the API at baseURL (the console URL, with or without the
// trailing /api). Credentials embedded in baseURL are used when username and password are
// empty, and never sent anywhere but the Authorization header. hc nil means a client with a
// 10 s timeout.
func NewManagement(baseURL, username, password string, hc *http.Client) (*Management, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, errors.New("management API: URL does not parse") // never echo: it may hold a password
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("management API: %q is not an http(s) URL", redactURL(u.String()))
	}
	if u.User != nil {
		if username == "" {
			username = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && password == "" {
			password = p
		}
		u.User = nil
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if !strings.HasSuffix(u.Path, "/api") {
		u.Path += "/api"
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Management{base: u.String(), user: username, pass: password, hc: hc, scrub: scrubber(password)}, nil
}

// QueueInfo is the management API's view of one queue.
type QueueInfo struct {
	Name  string
	Vhost string
	// Type is classic, quorum or stream; empty when the API did not say (very old brokers).
	Type       string
	Durable    bool
	AutoDelete bool
	Exclusive  bool
	State      string
	// Arguments are the queue's x-arguments (x-delivery-limit, x-dead-letter-exchange, ...).
	Arguments map[string]any
	// Policy names the policy applied; EffectivePolicy is its definition as applied to the queue.
	Policy          string
	EffectivePolicy map[string]any

	Messages  int
	Ready     int
	Unacked   int
	Consumers int
	// ConsumerUtilisation is the fraction of time the queue could deliver immediately (0..1).
	ConsumerUtilisation float64
	Rates               Rates
	// Totals are the message counts since the queue was created (or the stats reset).
	Totals          Totals
	ConsumerDetails []Consumer
}

// Totals are cumulative message counts.
type Totals struct {
	Publish   int `json:"publish"`
	Deliver   int `json:"deliver"` // deliver_get
	Ack       int `json:"ack"`
	Redeliver int `json:"redeliver"`
}

// Rates are per-second message rates over the management API's sampling window.
type Rates struct {
	Publish   float64 `json:"publish"`
	Deliver   float64 `json:"deliver"` // deliver_get: deliveries to consumers plus basic.get
	Ack       float64 `json:"ack"`
	Redeliver float64 `json:"redeliver"`
}

// Consumer is one consumer of a queue.
type Consumer struct {
	Tag string
	// Channel is the broker's channel name, e.g. "10.0.1.7:51234 -> 10.0.0.5:5671 (1)".
	Channel string
	// Connection is the broker's connection name; ClientName the name the client gave it
	// (connection_name property), e.g. "gp-worker-3f2a", filled when the API lists it.
	Connection    string
	ClientName    string
	PeerHost      string
	PrefetchCount int
	AckRequired   bool
	Active        bool
}

// Connection is one client connection.
type Connection struct {
	Name string
	// ClientName is the client-provided connection name (empty when the client gave none).
	ClientName  string
	User        string
	Vhost       string
	PeerHost    string
	PeerPort    int
	Channels    int
	State       string
	ConnectedAt time.Time
}

// ChannelInfo is one channel of a connection.
type ChannelInfo struct {
	Name string
	// Connection is the connection's name; empty when the broker's statistics do not know it.
	Connection    string
	Number        int
	User          string
	State         string
	PrefetchCount int
	// GlobalPrefetchCount is the channel-wide (global=true) prefetch, 0 when none.
	GlobalPrefetchCount int
	Consumers           int
	Unacked             int
	Unconfirmed         int
}

// Overview is the broker identity the API reports.
type Overview struct {
	RabbitMQVersion   string
	ManagementVersion string
	ClusterName       string
}

// Wire shapes of the API (only the fields used).
type (
	apiRate struct {
		Rate float64 `json:"rate"`
	}
	apiQueue struct {
		Name                string         `json:"name"`
		Vhost               string         `json:"vhost"`
		Type                string         `json:"type"`
		Durable             bool           `json:"durable"`
		AutoDelete          bool           `json:"auto_delete"`
		Exclusive           bool           `json:"exclusive"`
		State               string         `json:"state"`
		Arguments           map[string]any `json:"arguments"`
		Policy              *string        `json:"policy"`
		EffectivePolicy     map[string]any `json:"effective_policy_definition"`
		Messages            int            `json:"messages"`
		MessagesReady       int            `json:"messages_ready"`
		MessagesUnacked     int            `json:"messages_unacknowledged"`
		Consumers           int            `json:"consumers"`
		ConsumerUtilisation *float64       `json:"consumer_utilisation"`
		MessageStats        struct {
			Publish           int     `json:"publish"`
			DeliverGet        int     `json:"deliver_get"`
			Ack               int     `json:"ack"`
			Redeliver         int     `json:"redeliver"`
			PublishDetails    apiRate `json:"publish_details"`
			DeliverGetDetails apiRate `json:"deliver_get_details"`
			AckDetails        apiRate `json:"ack_details"`
			RedeliverDetails  apiRate `json:"redeliver_details"`
		} `json:"message_stats"`
		ConsumerDetails []struct {
			ConsumerTag    string         `json:"consumer_tag"`
			PrefetchCount  int            `json:"prefetch_count"`
			AckRequired    bool           `json:"ack_required"`
			Active         *bool          `json:"active"`
			ChannelDetails channelDetails `json:"channel_details"`
		} `json:"consumer_details"`
	}
	// channelDetails is an object, or an empty array while the broker's statistics have not
	// caught up with a new consumer (seen on 3.10): both must decode.
	channelDetails struct {
		Name           string `json:"name"`
		ConnectionName string `json:"connection_name"`
		PeerHost       string `json:"peer_host"`
	}
	apiConnection struct {
		Name             string         `json:"name"`
		UserProvidedName string         `json:"user_provided_name"`
		ClientProperties map[string]any `json:"client_properties"`
		User             string         `json:"user"`
		Vhost            string         `json:"vhost"`
		PeerHost         string         `json:"peer_host"`
		PeerPort         int            `json:"peer_port"`
		Channels         int            `json:"channels"`
		State            string         `json:"state"`
		ConnectedAt      int64          `json:"connected_at"` // ms since the epoch
	}
	apiChannel struct {
		Name              string            `json:"name"`
		Number            int               `json:"number"`
		User              string            `json:"user"`
		State             string            `json:"state"`
		PrefetchCount     int               `json:"prefetch_count"`
		GlobalPrefetch    int               `json:"global_prefetch_count"`
		ConsumerCount     int               `json:"consumer_count"`
		Unacked           int               `json:"messages_unacknowledged"`
		Unconfirmed       int               `json:"messages_unconfirmed"`
		ConnectionDetails connectionDetails `json:"connection_details"`
	}
	// connectionDetails is an object, or an empty array when the broker's statistics do not
	// know the channel's connection (seen on 3.10 for a channel whose connection was closing):
	// both must decode, or one such channel would fail the whole list.
	connectionDetails struct {
		Name string `json:"name"`
	}
)

// Queue returns one queue's details. When it has consumers, their connections' client names
// are looked up too (one more request). A missing queue is ErrQueueNotFound.
func (m *Management) Queue(ctx context.Context, vhost, name string) (QueueInfo, error) {
	var q apiQueue
	path := "/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(name)
	if err := m.get(ctx, path, &q); err != nil {
		if errors.Is(err, errNotFound) {
			return QueueInfo{}, fmt.Errorf("management API: %w: %s (vhost %s)", ErrQueueNotFound, name, vhost)
		}
		return QueueInfo{}, err
	}
	info := QueueInfo{
		Name: q.Name, Vhost: q.Vhost, Type: q.Type, Durable: q.Durable, AutoDelete: q.AutoDelete,
		Exclusive: q.Exclusive, State: q.State, Arguments: q.Arguments, EffectivePolicy: q.EffectivePolicy,
		Messages: q.Messages, Ready: q.MessagesReady, Unacked: q.MessagesUnacked, Consumers: q.Consumers,
		Rates: Rates{
			Publish:   q.MessageStats.PublishDetails.Rate,
			Deliver:   q.MessageStats.DeliverGetDetails.Rate,
			Ack:       q.MessageStats.AckDetails.Rate,
			Redeliver: q.MessageStats.RedeliverDetails.Rate,
		},
		Totals: Totals{
			Publish: q.MessageStats.Publish, Deliver: q.MessageStats.DeliverGet,
			Ack: q.MessageStats.Ack, Redeliver: q.MessageStats.Redeliver,
		},
	}
	if q.Policy != nil {
		info.Policy = *q.Policy
	}
	if q.ConsumerUtilisation != nil {
		info.ConsumerUtilisation = *q.ConsumerUtilisation
	}
	for _, c := range q.ConsumerDetails {
		active := true // brokers before 3.8 do not report it; a listed consumer is active there
		if c.Active != nil {
			active = *c.Active
		}
		info.ConsumerDetails = append(info.ConsumerDetails, Consumer{
			Tag: c.ConsumerTag, Channel: c.ChannelDetails.Name, Connection: c.ChannelDetails.ConnectionName,
			PeerHost: c.ChannelDetails.PeerHost, PrefetchCount: c.PrefetchCount, AckRequired: c.AckRequired,
			Active: active,
		})
	}
	if len(info.ConsumerDetails) > 0 {
		conns, err := m.Connections(ctx)
		if err != nil {
			return info, fmt.Errorf("queue %s consumers' connections: %w", name, err)
		}
		names := make(map[string]string, len(conns))
		for _, c := range conns {
			names[c.Name] = c.ClientName
		}
		for i := range info.ConsumerDetails {
			info.ConsumerDetails[i].ClientName = names[info.ConsumerDetails[i].Connection]
		}
	}
	return info, nil
}

// Connections lists the client connections with their client-provided names.
func (m *Management) Connections(ctx context.Context) ([]Connection, error) {
	var raw []apiConnection
	if err := m.get(ctx, "/connections?columns=name,user_provided_name,client_properties,user,vhost,peer_host,peer_port,channels,state,connected_at", &raw); err != nil {
		return nil, err
	}
	out := make([]Connection, 0, len(raw))
	for _, c := range raw {
		name := c.UserProvidedName
		if name == "" { // older brokers only echo the client property
			name, _ = c.ClientProperties["connection_name"].(string)
		}
		conn := Connection{
			Name: c.Name, ClientName: name, User: c.User, Vhost: c.Vhost, PeerHost: c.PeerHost, PeerPort: c.PeerPort,
			Channels: c.Channels, State: c.State,
		}
		if c.ConnectedAt > 0 {
			conn.ConnectedAt = time.UnixMilli(c.ConnectedAt).UTC()
		}
		out = append(out, conn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Channels lists the channels of every connection.
func (m *Management) Channels(ctx context.Context) ([]ChannelInfo, error) {
	var raw []apiChannel
	if err := m.get(ctx, "/channels", &raw); err != nil {
		return nil, err
	}
	out := make([]ChannelInfo, 0, len(raw))
	for _, c := range raw {
		out = append(out, ChannelInfo{
			Name: c.Name, Connection: c.ConnectionDetails.Name, Number: c.Number, User: c.User, State: c.State,
			PrefetchCount: c.PrefetchCount, GlobalPrefetchCount: c.GlobalPrefetch, Consumers: c.ConsumerCount,
			Unacked: c.Unacked, Unconfirmed: c.Unconfirmed,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Overview returns the broker's version.
func (m *Management) Overview(ctx context.Context) (Overview, error) {
	var raw struct {
		RabbitMQVersion   string `json:"rabbitmq_version"`
		ManagementVersion string `json:"management_version"`
		ClusterName       string `json:"cluster_name"`
	}
	if err := m.get(ctx, "/overview?columns=rabbitmq_version,management_version,cluster_name", &raw); err != nil {
		return Overview{}, err
	}
	return Overview{RabbitMQVersion: raw.RabbitMQVersion, ManagementVersion: raw.ManagementVersion, ClusterName: raw.ClusterName}, nil
}

// QueueSafety tells whether consuming and requeueing messages of a queue is harmless (see
// PeekSafety). It implements SafetyChecker for Peek and Replay.
func (m *Management) QueueSafety(ctx context.Context, vhost, queue string) (Safety, error) {
	q, err := m.Queue(ctx, vhost, queue)
	if err != nil {
		return Safety{}, err
	}
	// The version only matters for quorum queues (the default delivery limit changed in 4.0).
	version := ""
	if q.Type == "quorum" || q.Arguments["x-queue-type"] == "quorum" {
		ov, err := m.Overview(ctx)
		if err == nil {
			version = ov.RabbitMQVersion
		}
	}
	return PeekSafety(q, version), nil
}

var errNotFound = errors.New("not found")

// get fetches base+path as JSON into out.
func (m *Management) get(ctx context.Context, path string, out any) error {
	what := "management API GET " + strings.SplitN(path, "?", 2)[0]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+path, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if m.user != "" || m.pass != "" {
		req.SetBasicAuth(m.user, m.pass)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := m.hc.Do(req)
	if err != nil {
		return m.scrub(fmt.Errorf("%s: %w", what, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return m.scrub(fmt.Errorf("%s: read answer: %w", what, err))
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s: %w", what, errNotFound)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s: %s (check the management credentials and the user's tags)", what, resp.Status)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("%s: %s: %s", what, resp.Status, Redact(truncate(string(body), 200)))
	case len(body) > maxResponseBytes:
		return fmt.Errorf("%s: answer larger than %d bytes", what, maxResponseBytes)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", what, err)
	}
	return nil
}

// Safety says whether consuming messages and putting them back (peek, or a replay that
// requeues what it does not move) is harmless for a queue.
type Safety struct {
	// Known is false when the queue type could not be determined: the caller decides.
	Known bool `json:"known"`
	// Safe is meaningful only when Known.
	Safe bool `json:"safe"`
	// Type is the queue type seen (classic, quorum, stream) or "".
	Type string `json:"type,omitempty"`
	// DeliveryLimit is the quorum queue's delivery limit in force, -1 when unlimited or n/a.
	DeliveryLimit int `json:"deliveryLimit"`
	// Reason explains the verdict in one line.
	Reason string `json:"reason"`
}

// PeekSafety judges from the management API's view whether a peek would be destructive.
// brokerVersion ("3.10.8", "4.1.0", "" when unknown) matters for quorum queues: from 4.0 they
// have a delivery limit of 20 unless one is configured (-1 disables it). Every delivery
// returned to a quorum queue counts towards that limit, so a peek would eventually drop or
// dead-letter the very messages it looks at. Streams cannot requeue at all.
func PeekSafety(q QueueInfo, brokerVersion string) Safety {
	typ := q.Type
	if typ == "" {
		if t, ok := q.Arguments["x-queue-type"].(string); ok {
			typ = t
		}
	}
	s := Safety{Type: typ, DeliveryLimit: -1}
	switch typ {
	case "classic":
		s.Known, s.Safe, s.Reason = true, true, "classic queue: a requeue does not count against any limit"
	case "stream":
		s.Known, s.Reason = true, "stream: messages cannot be requeued; a peek needs a stream offset consumer"
	case "quorum":
		limit, set := deliveryLimit(q)
		switch {
		case set && limit >= 0:
			s.Known, s.DeliveryLimit = true, limit
			s.Reason = fmt.Sprintf("quorum queue with delivery limit %d: each peek counts as a delivery and would eventually drop messages", limit)
		case set:
			s.Known, s.Safe, s.Reason = true, true, "quorum queue with the delivery limit disabled"
		default:
			major, ok := majorVersion(brokerVersion)
			switch {
			case !ok:
				s.Reason = "quorum queue without an explicit delivery limit, broker version unknown (4.x applies a default limit of 20)"
			case major >= 4:
				s.Known, s.DeliveryLimit = true, 20
				s.Reason = "quorum queue on RabbitMQ " + brokerVersion + ": default delivery limit 20; each peek counts as a delivery"
			default:
				s.Known, s.Safe, s.Reason = true, true, "quorum queue without a delivery limit (RabbitMQ "+brokerVersion+")"
			}
		}
	case "":
		s.Reason = "the management API did not report the queue type"
	default:
		s.Reason = "unknown queue type " + strconv.Quote(typ)
	}
	return s
}

// deliveryLimit is the limit from the x-delivery-limit argument and the "delivery-limit"
// policy key; when both are set RabbitMQ applies the lower one.
func deliveryLimit(q QueueInfo) (int, bool) {
	limit, set := 0, false
	for _, v := range []any{q.Arguments["x-delivery-limit"], q.EffectivePolicy["delivery-limit"]} {
		n, ok := number(v)
		if !ok {
			continue
		}
		if !set || (n >= 0 && (limit < 0 || n < limit)) {
			limit = n
		}
		set = true
	}
	return limit, set
}

// number reads a JSON or AMQP number (float64 from encoding/json, integers from amqp091).
func number(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		if n != math.Trunc(n) || math.IsInf(n, 0) {
			return 0, false
		}
		return int(n), true
	case int:
		return n, true
	case int8:
		return int(n), true
	case int16:
		return int(n), true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case uint8:
		return int(n), true
	case uint16:
		return int(n), true
	case uint32:
		return int(n), true
	case uint64:
		if n > math.MaxInt32 {
			return 0, false
		}
		return int(n), true
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(n))
		return i, err == nil
	}
	return 0, false
}

func majorVersion(v string) (int, bool) {
	head, _, _ := strings.Cut(strings.TrimSpace(v), ".")
	n, err := strconv.Atoi(head)
	return n, err == nil && head != ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// UnmarshalJSON accepts the object, and the empty array the broker sends before its
// statistics know the channel.
func (c *channelDetails) UnmarshalJSON(b []byte) error {
	if isArray(b) {
		*c = channelDetails{}
		return nil
	}
	type plain channelDetails
	return json.Unmarshal(b, (*plain)(c))
}

// UnmarshalJSON accepts the object, and the empty array the broker sends when its statistics
// do not know the connection.
func (c *connectionDetails) UnmarshalJSON(b []byte) error {
	if isArray(b) {
		*c = connectionDetails{}
		return nil
	}
	type plain connectionDetails
	return json.Unmarshal(b, (*plain)(c))
}

// isArray says whether b is a JSON array: the broker's (Erlang's) empty details.
func isArray(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && t[0] == '['
}
