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
