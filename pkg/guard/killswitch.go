package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// ParameterGetter is the one SSM operation the kill switch needs.
type ParameterGetter interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SSMKillSwitch reads the kill switch from an SSM parameter on every invocation, so flipping
// it takes effect at once without a deployment.
type SSMKillSwitch struct {
	Client ParameterGetter
	Name   string
}

var _ KillSwitch = SSMKillSwitch{}

// Engaged reports whether the parameter says stop. Any error, a missing parameter included
// (the stack creates it, so missing means drift), is returned and the guard then fails safe.
func (k SSMKillSwitch) Engaged(ctx context.Context) (bool, error) {
	out, err := k.Client.GetParameter(ctx, &ssm.GetParameterInput{Name: &k.Name})
	var nf *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &nf):
		return false, fmt.Errorf("kill switch parameter %s does not exist", k.Name)
	case err != nil:
		return false, fmt.Errorf("read kill switch %s: %w", k.Name, err)
	case out.Parameter == nil || out.Parameter.Value == nil:
		return false, fmt.Errorf("read kill switch %s: no value", k.Name)
	}
	return ParseKillSwitch(*out.Parameter.Value)
}

// ParseKillSwitch reads a kill-switch value. Anything unrecognised is an error, not "off":
// someone wrote something, and guessing that they meant "carry on" would be unsafe.
func ParseKillSwitch(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "1", "engaged", "stop":
		return true, nil
	case "off", "false", "0", "disengaged", "":
		return false, nil
	default:
		return true, fmt.Errorf("kill switch value %q is not on/off", v)
	}
}
