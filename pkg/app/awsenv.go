package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The AWS settings Lambda gives a function, read from the environment by the names the SDK
// documents. The SDK's config package reads them too, but importing it links the whole default
// chain (profiles, SSO, STS, IMDS and their schema packages: ~0.6 MB of every zip and their
// package initialisation in every cold start), none of which a Lambda function ever uses.
const (
	envRegion          = "AWS_REGION"
	envDefaultRegion   = "AWS_DEFAULT_REGION"
	envAccessKeyID     = "AWS_ACCESS_KEY_ID"
	envSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	envSessionToken    = "AWS_SESSION_TOKEN"
	envEndpointURL     = "AWS_ENDPOINT_URL"
	envIgnoreEndpoints = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
)

// endpointSource answers the SDK clients' question "is a base endpoint configured for this
// service?" exactly as the SDK's own EnvConfig does: AWS_ENDPOINT_URL_<SDK ID> with the SDK
// ID upper-cased and spaces turned into underscores (AWS_ENDPOINT_URL_CLOUDWATCH_LOGS), unless
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true. Every client looks for these two methods among
// aws.Config.ConfigSources.
type endpointSource struct {
	getenv func(string) string
	ignore bool
}

// GetServiceBaseEndpoint is the SDK's configured-endpoints lookup for one service.
func (s endpointSource) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if s.ignore {
		return "", false, nil
	}
	name := envEndpointURL + "_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_")
	if v := s.getenv(name); v != "" {
		return v, true, nil
	}
	return "", false, nil
}

// GetIgnoreConfiguredEndpoints tells the clients to use AWS's own endpoints whatever is set.
func (s endpointSource) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	return s.ignore, true, nil
}

// awsConfigFromEnv builds the SDK configuration from the environment Lambda provides.
func awsConfigFromEnv(getenv func(string) string) (aws.Config, error) {
	region := getenv(envRegion)
	if region == "" {
		region = getenv(envDefaultRegion)
	}
	creds := aws.Credentials{
		AccessKeyID: getenv(envAccessKeyID), SecretAccessKey: getenv(envSecretAccessKey),
		SessionToken: getenv(envSessionToken), Source: "EnvironmentVariables",
	}
	ignore := false
	if v := getenv(envIgnoreEndpoints); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return aws.Config{}, fmt.Errorf("read the AWS settings from the environment: %s=%q is not a boolean", envIgnoreEndpoints, v)
		}
		ignore = b
	}
	var missing []string
	if region == "" {
		missing = append(missing, envRegion)
	}
	if !creds.HasKeys() {
		missing = append(missing, envAccessKeyID+" and "+envSecretAccessKey)
	}
	if len(missing) > 0 {
		return aws.Config{}, fmt.Errorf("AWS settings: %s not set (Lambda always sets them; locally, make invoke does)", strings.Join(missing, ", "))
	}
	cfg := aws.Config{
		Region:        region,
		Credentials:   aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: creds}),
		ConfigSources: []any{endpointSource{getenv: getenv, ignore: ignore}},
		Retryer:       Retryer,
	}
	if v := getenv(envEndpointURL); v != "" && !ignore {
		cfg.BaseEndpoint = aws.String(v)
	}
	return cfg, nil
}
