package picture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ObjectAPI is the S3 operation the store uses; presigning needs the client itself.
type ObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// S3Keeper stores pictures in the stack's picture bucket and links them by presigned GET
// URLs. The bucket is private (no public access, SSL only) and expires objects after a few
// days; the URL works for TTL, and never longer than the credentials that signed it (a
// Lambda role's session), which is why it is short.
type S3Keeper struct {
	Client  *s3.Client
	Bucket  string
	TTL     time.Duration
	presign *s3.PresignClient
}

// NewS3Keeper stores in bucket with client and presigns for ttl.
func NewS3Keeper(client *s3.Client, bucket string, ttl time.Duration) *S3Keeper {
	return &S3Keeper{Client: client, Bucket: bucket, TTL: ttl, presign: s3.NewPresignClient(client)}
}

// Keep implements Keeper.
func (k *S3Keeper) Keep(ctx context.Context, key string, png []byte) (string, error) {
	if k.Bucket == "" {
		return "", errors.New("no picture bucket configured")
	}
	_, err := k.Client.PutObject(ctx, &s3.PutObjectInput{
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
