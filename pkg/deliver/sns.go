package deliver

import (
	"context"
	"fmt"

	"github.com/arrakis/gp-remediation/pkg/render"

	"github.com/arrakis/gp-remediation/pkg/report"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// SNSPublisher is the one SNS operation the SNS sink calls; *sns.Client satisfies it.
type SNSPublisher interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNSSink publishes the text rendering to the environment's report topic, which fans out
// to e-mail and anything else subscribed.
type SNSSink struct {
	client   SNSPublisher
	topicARN string
}

// NewSNSSink publishes to topicARN through client.
func NewSNSSink(client SNSPublisher, topicARN string) *SNSSink {
	return &SNSSink{client: client, topicARN: topicARN}
}

var _ Destination = (*SNSSink)(nil)

// Name implements Destination.
func (s *SNSSink) Name() string { return "sns" }

// maxAttrValue bounds each message attribute, so that the attributes stay inside the room
// MaxTextBodyBytes leaves them.
const maxAttrValue = 256

// Send publishes Text(r) as Subject and Message, with the message attributes severity,
// function, environment and finding for subscription filter policies (an attribute with
// no value is left out: SNS rejects empty ones).
func (s *SNSSink) Send(ctx context.Context, r report.Report) error {
	if s.client == nil || s.topicARN == "" {
		return fmt.Errorf("publish report: no SNS client or topic configured")
	}
	subject, body := render.Text(r)
	attrs := map[string]types.MessageAttributeValue{}
	for name, value := range render.Attributes(r, maxAttrValue) {
		attrs[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(value)}
	}
	_, err := s.client.Publish(ctx, &sns.PublishInput{
		TopicArn:          aws.String(s.topicARN),
		Subject:           aws.String(subject),
		Message:           aws.String(body),
		MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("publish report to %s: %w", s.topicARN, err)
	}
	return nil
}
