package rabbit

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestParseXDeathHandBuilt(t *testing.T) {
	t1 := time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)
	t2 := t1.Add(-time.Hour)
	tests := []struct {
		name string
		in   any
		want []Death
	}{
		{name: "absent", in: nil, want: nil},
		{name: "not an array", in: "rejected", want: nil},
		{
			name: "broker shape newest first",
			in: []any{
				amqp.Table{"count": int64(3), "reason": "rejected", "queue": "arrakis.interactions", "time": t1,
					"exchange": "arrakis", "routing-keys": []any{"interaction.create"}},
				amqp.Table{"count": int64(1), "reason": "expired", "queue": "arrakis.retry", "time": t2,
					"exchange": "", "routing-keys": []any{"arrakis.retry"}, "original-expiration": "30000"},
			},
			want: []Death{
				{Queue: "arrakis.interactions", Reason: "rejected", Count: 3, Time: t1, Exchange: "arrakis", RoutingKeys: []string{"interaction.create"}},
				{Queue: "arrakis.retry", Reason: "expired", Count: 1, Time: t2, Exchange: "", RoutingKeys: []string{"arrakis.retry"}, OriginalExpiration: "30000"},
			},
		},
		{
			name: "other integer widths and a foreign entry",
			in: []any{
				"garbage",
				amqp.Table{"count": int32(2), "reason": "maxlen", "queue": "q", "routing-keys": []any{"a", 7, "b"}},
				map[string]any{"count": int8(1), "reason": "delivery_limit", "queue": "qq"},
			},
			want: []Death{
				{Queue: "q", Reason: "maxlen", Count: 2, RoutingKeys: []string{"a", "b"}},
				{Queue: "qq", Reason: "delivery_limit", Count: 1},
			},
		},
		{name: "wrong field types left zero", in: []any{amqp.Table{"count": "many", "queue": 5, "time": "yesterday"}}, want: []Death{{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseXDeath(tc.in)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseXDeath\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestNewMessageFromDelivery(t *testing.T) {
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	d := &amqp.Delivery{
		MessageId: "m-1", ContentType: "application/json", Exchange: "", RoutingKey: "arrakis.dlq",
		Timestamp: now, Redelivered: true,
		Headers: amqp.Table{
			"x-death": []any{amqp.Table{"count": int64(1), "reason": "rejected", "queue": "arrakis.interactions",
				"time": now, "exchange": "", "routing-keys": []any{"arrakis.interactions"}}},
			"x-first-death-queue":    "arrakis.interactions",
			"x-first-death-reason":   "rejected",
			"x-first-death-exchange": "",
			"x-exception":            "second header, ignored",
			"x-error":                "POST https://discord.com/api/webhooks/123/abcDEF failed: 503 for bob@example.com",
			ReplayHeader:             int32(2),
			"authorization":          "Bot " + fakeDiscordToken,
			"x-trace":                "amqp://u:hunter22@h/",
		},
		Body: []byte(`{"token":"` + fakeDiscordToken + `","data":"` + strings.Repeat("z", 2000) + `"}`),
	}
	m := newMessage(d, messageOptions{previewBytes: 64, errorHeaders: DefaultErrorHeaders})
	if q, r := m.Origin(); q != "arrakis.interactions" || r != "rejected" {
		t.Errorf("origin (%q, %q)", q, r)
	}
	if m.First.Queue != "arrakis.interactions" || m.First.Reason != "rejected" {
		t.Errorf("first death %+v", m.First)
	}
	if m.ErrorHeader != "x-error" {
		t.Errorf("error header %q, want the first configured one present", m.ErrorHeader)
	}
	for _, secret := range []string{"abcDEF", "bob@example.com", fakeDiscordToken, "hunter22"} {
		all := m.Error + m.Preview + m.Headers["authorization"] + m.Headers["x-trace"]
		if strings.Contains(all, secret) {
			t.Errorf("%q survived in %q", secret, all)
		}
	}
	if !strings.Contains(m.Error, "503") {
		t.Errorf("error %q lost its status", m.Error)
	}
	if m.Replays != 2 {
		t.Errorf("replays %d, want 2", m.Replays)
	}
	if m.Size != len(d.Body) || len(m.Preview) > 64 || !m.Truncated {
		t.Errorf("size %d preview %d bytes truncated %v", m.Size, len(m.Preview), m.Truncated)
	}
	if _, ok := m.Headers["x-death"]; ok {
		t.Error("x-death kept as a text header too")
	}
	if m.Key().Error == "" || m.Class() != ClassTransient {
		t.Errorf("key %+v class %s", m.Key(), m.Class())
	}
	js, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"messageId":"m-1"`, `"deaths":[{"queue":"arrakis.interactions"`, `"replays":2`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON %s lacks %s", js, want)
		}
	}
	if strings.Contains(string(js), fakeDiscordToken) || strings.Contains(string(js), "hunter22") {
		t.Errorf("JSON shows a secret: %s", js)
	}
}

func TestPeekSafety(t *testing.T) {
	tests := []struct {
		name      string
		q         QueueInfo
		version   string
		known     bool
		safe      bool
		wantLimit int
	}{
		{name: "classic", q: QueueInfo{Type: "classic"}, version: "3.10.8", known: true, safe: true, wantLimit: -1},
		{name: "classic from arguments only", q: QueueInfo{Arguments: map[string]any{"x-queue-type": "classic"}}, known: true, safe: true, wantLimit: -1},
		{name: "quorum with delivery limit", q: QueueInfo{Type: "quorum", Arguments: map[string]any{"x-delivery-limit": float64(3)}}, version: "3.10.8", known: true, safe: false, wantLimit: 3},
		{name: "quorum with policy limit", q: QueueInfo{Type: "quorum", EffectivePolicy: map[string]any{"delivery-limit": float64(10)}}, version: "3.13.1", known: true, safe: false, wantLimit: 10},
		{name: "quorum lower of argument and policy", q: QueueInfo{Type: "quorum", Arguments: map[string]any{"x-delivery-limit": float64(10)}, EffectivePolicy: map[string]any{"delivery-limit": float64(4)}}, known: true, safe: false, wantLimit: 4},
		{name: "quorum limit zero", q: QueueInfo{Type: "quorum", Arguments: map[string]any{"x-delivery-limit": float64(0)}}, known: true, safe: false, wantLimit: 0},
		{name: "quorum unlimited explicitly", q: QueueInfo{Type: "quorum", Arguments: map[string]any{"x-delivery-limit": float64(-1)}}, version: "4.1.0", known: true, safe: true, wantLimit: -1},
		{name: "quorum no limit on 3.x", q: QueueInfo{Type: "quorum"}, version: "3.13.7", known: true, safe: true, wantLimit: -1},
		{name: "quorum default limit on 4.x", q: QueueInfo{Type: "quorum"}, version: "4.0.5", known: true, safe: false, wantLimit: 20},
		{name: "quorum no limit unknown version", q: QueueInfo{Type: "quorum"}, version: "", known: false, wantLimit: -1},
		{name: "stream", q: QueueInfo{Type: "stream"}, known: true, safe: false, wantLimit: -1},
		{name: "type not reported", q: QueueInfo{}, known: false, wantLimit: -1},
		{name: "unknown type", q: QueueInfo{Type: "delayed"}, known: false, wantLimit: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := PeekSafety(tc.q, tc.version)
			if s.Known != tc.known || (tc.known && s.Safe != tc.safe) || s.DeliveryLimit != tc.wantLimit {
				t.Errorf("PeekSafety = %+v, want known=%v safe=%v limit=%d", s, tc.known, tc.safe, tc.wantLimit)
			}
			if s.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestRepublishing(t *testing.T) {
	d := &amqp.Delivery{
		Headers:      amqp.Table{"CC": []any{"other"}, "BCC": []any{"hidden"}, "x-death": []any{}, "keep": "me"},
		MessageId:    "id-1",
		DeliveryMode: amqp.Persistent,
		UserId:       "worker",
		Body:         []byte("body"),
	}
	p := republishing(d, republishHeaders(nil, d.Headers, 2, false, "run/7"))
	if _, ok := p.Headers["CC"]; ok {
		t.Error("CC kept")
	}
	if _, ok := p.Headers["BCC"]; ok {
		t.Error("BCC kept")
	}
	if p.Headers[ReplayHeader] != int64(3) || p.Headers[ReplayIDHeader] != "run/7" || p.Headers["keep"] != "me" {
		t.Errorf("headers %+v", p.Headers)
	}
	if p.MessageId != "id-1" || p.DeliveryMode != amqp.Persistent || string(p.Body) != "body" || p.UserId != "" {
		t.Errorf("properties %+v", p)
	}
	if _, ok := d.Headers["CC"]; !ok {
		t.Error("the delivery's own headers were modified")
	}
	// The replay reuses one table for every publish: nothing of the previous one may stay.
	reused := p.Headers
	reused["stale"] = "from an earlier message"
	parked := republishing(d, republishHeaders(reused, d.Headers, 2, true, "run/8"))
	if _, ok := parked.Headers[ReplayHeader]; ok {
		t.Error("a park incremented the replay counter")
	}
	if _, ok := parked.Headers["stale"]; ok || parked.Headers[ReplayIDHeader] != "run/8" || len(parked.Headers) != 3 {
		t.Errorf("reused headers %+v", parked.Headers)
	}
}
