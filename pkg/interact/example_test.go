package interact_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/arrakis/gp-remediation/pkg/interact"
	"github.com/aws/aws-lambda-go/events"
)

// The approve handler's front door: adapt the function URL event, verify and parse, answer.
// 401 for anything unverified, 400 for a signed request that cannot be used.
func Example() {
	// Discord sends a signed PING when the endpoint URL is saved. Sign one here as Discord would.
	private := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	now := time.Unix(1_700_000_000, 0)
	timestamp := strconv.FormatInt(now.Unix(), 10)
	body := `{"id":"1","application_id":"900","type":1,"token":"t"}`
	event := events.LambdaFunctionURLRequest{
		Headers: map[string]string{
			"x-signature-ed25519":   hex.EncodeToString(ed25519.Sign(private, []byte(timestamp+body))),
			"x-signature-timestamp": timestamp,
		},
		Body: body,
	}

	// At start-up: the key as the Developer Portal shows it.
	publicKey, err := interact.ParseDiscordPublicKey(hex.EncodeToString(private.Public().(ed25519.PublicKey)))
	if err != nil {
		panic(err)
	}
	verifier := interact.Verifier{DiscordPublicKey: publicKey}

	// Per request.
	var response events.LambdaFunctionURLResponse
	req, err := interact.FromFunctionURL(event)
	if err != nil {
		response = events.LambdaFunctionURLResponse{StatusCode: 400}
	} else if in, err := verifier.VerifyAndParse(req, now); errors.Is(err, interact.ErrUnverified) {
		response = events.LambdaFunctionURLResponse{StatusCode: 401}
	} else if err != nil {
		response = events.LambdaFunctionURLResponse{StatusCode: 400}
	} else {
		// A real handler records in.ReplayID once before acting, and refuses a repeat.
		fmt.Println(in.Kind, in.ReplayID)
		response = interact.Acknowledge(in).FunctionURL()
	}
	fmt.Println(response.StatusCode, response.Body)
	// Output:
	// ping discord:1
	// 200 {"type":1}
}
