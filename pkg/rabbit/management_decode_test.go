package rabbit

import (
	"encoding/json"
	"testing"
)

// RabbitMQ 3.10 sends "channel_details": [] for a consumer its statistics do not know yet.
func TestConsumerChannelDetailsMayBeAnEmptyArray(t *testing.T) {
	for name, body := range map[string]string{
		"object": `{"consumer_details":[{"consumer_tag":"a","prefetch_count":10,"channel_details":{"name":"ch (1)","connection_name":"c","peer_host":"10.0.0.1"}}]}`,
		"array":  `{"consumer_details":[{"consumer_tag":"a","prefetch_count":10,"channel_details":[]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			var q apiQueue
			if err := json.Unmarshal([]byte(body), &q); err != nil {
				t.Fatal(err)
			}
			if len(q.ConsumerDetails) != 1 {
				t.Fatalf("consumers: %+v", q.ConsumerDetails)
			}
			if name == "object" && q.ConsumerDetails[0].ChannelDetails.Name != "ch (1)" {
				t.Errorf("channel details lost: %+v", q.ConsumerDetails[0])
			}
		})
	}
}

// A channel whose connection the broker's statistics no longer know comes with
// "connection_details": [] (seen on RabbitMQ 3.10 while another test's connection closed): the list still
// decodes, that channel's connection unknown.
func TestChannelConnectionDetailsMayBeAnEmptyArray(t *testing.T) {
	body := `[{"name":"a (1)","number":1,"connection_details":{"name":"a","peer_host":"10.0.0.1"}},` +
		`{"name":"b (1)","number":1,"connection_details":[]}]`
	var chans []apiChannel
	if err := json.Unmarshal([]byte(body), &chans); err != nil {
		t.Fatal(err)
	}
	if len(chans) != 2 || chans[0].ConnectionDetails.Name != "a" || chans[1].ConnectionDetails.Name != "" || chans[1].Name != "b (1)" {
		t.Errorf("channels %+v", chans)
	}
}
