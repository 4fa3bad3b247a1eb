package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -run Golden -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (run go test -run Golden -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

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
