package picture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Keeper stores pictures in the stack's picture bucket and links them by presigned GET
// URLs. The bucket is private (no public access, SSL only) and expires objects after a few
// days; the URL works for TTL, and never longer than the credentials that signed it (a
// Lambda role's session), which is why it is short.
type S3Keeper struct {
	Bucket string
	TTL    time.Duration

	// The client is made on the first picture, not at cold start: building it is a
	// measurable part of a function's init, and many invocations never store one.
	newClient func() *s3.Client
	once      sync.Once
	client    *s3.Client
	presign   *s3.PresignClient
}

// NewS3Keeper stores in bucket with the client newClient makes (once, when first needed) and
// presigns for ttl.
func NewS3Keeper(newClient func() *s3.Client, bucket string, ttl time.Duration) *S3Keeper {
	return &S3Keeper{newClient: newClient, Bucket: bucket, TTL: ttl}
}

// Keep implements Keeper.
func (k *S3Keeper) Keep(ctx context.Context, key string, png []byte) (string, error) {
	if k.Bucket == "" {
		return "", errors.New("no picture bucket configured")
	}
	k.once.Do(func() {
		k.client = k.newClient()
		k.presign = s3.NewPresignClient(k.client)
	})
	_, err := k.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(k.Bucket), Key: aws.String(key), Body: bytes.NewReader(png),
		ContentType: aws.String("image/png"), ContentLength: aws.Int64(int64(len(png))),
	}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		return "", fmt.Errorf("PutObject: %w", err)
	}
	req, err := k.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(k.Bucket), Key: aws.String(key)},
		s3.WithPresignExpires(k.TTL))
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	return req.URL, nil
}
