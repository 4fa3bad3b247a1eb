package render

import (
	"bytes"
	"encoding/json"
	"testing"

	goldenfile "github.com/arrakis/gp-remediation/internal/golden"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) { goldenfile.Check(t, name, got) }

// indent makes a JSON golden file readable; the rendering itself is compact.
func indent(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		t.Fatalf("rendering is not valid JSON: %v\n%s", err, raw)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			r := fx.report()
			golden(t, fx.name+".md", []byte(Markdown(r)))

			s, err := Slack(r)
			if err != nil {
				t.Fatalf("Slack: %v", err)
			}
			golden(t, fx.name+".slack.json", indent(t, s))

			d, err := Discord(r)
			if err != nil {
				t.Fatalf("Discord: %v", err)
			}
			golden(t, fx.name+".discord.json", indent(t, d))

			subject, body := Text(r)
			golden(t, fx.name+".txt", []byte("Subject: "+subject+"\n\n"+body))
		})
	}
}
