package render

import (
	"bytes"
	"encoding/json"
)

// marshal encodes a webhook payload without HTML escaping: & < > stay readable in the
// JSON (Slack's own escapes are already in the text) and nothing is lengthened.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
