package render

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/arrakis/gp-remediation/pkg/report"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// gfm parses Markdown the way GitHub does (CommonMark plus the GFM extensions).
var gfm = goldmark.New(goldmark.WithExtensions(extension.GFM))

func toHTML(t *testing.T, src string) string {
	t.Helper()
	var b bytes.Buffer
	if err := gfm.Convert([]byte(src), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// TestMarkdownEscaping renders text full of Markdown syntax through a real GFM parser and
// checks it comes out literally: nothing bold, no links, no HTML, no lost characters.
func TestMarkdownEscaping(t *testing.T) {
	nasty := `restart #3 of *all* _the_ [tasks](http://evil) <b>now</b> | a~~b~~ & \n ` + "`x`" + ` !`
	r := fixtureDryRun()
	r.Headline = nasty
	r.Result.Finding.Summary = nasty
	r.Result.Actions[0].Reason = nasty
	html := toHTML(t, Markdown(r))

	want := htmlEscaper.Replace(nasty)
	first, _, _ := strings.Cut(html, "\n")
	if first != "<h2>🟠 WARNING: "+want+"</h2>" {
		t.Errorf("heading renders as\n%s\nwant the literal headline\n%s", first, want)
	}
	if n := strings.Count(html, want); n != 3 {
		t.Errorf("literal text appears %d times, want 3 (headline, summary, reason):\n%s", n, html)
	}
	for _, bad := range []string{"<b>", "<em>the", "<strong>all", `href="http://evil"`, "<del>"} {
		if strings.Contains(html, bad) {
			t.Errorf("user text became markup %q", bad)
		}
	}
}

// TestMarkdownStructure parses the rendering and checks what an engineer clicks and copies:
// link targets are exactly the console URLs, code blocks hold the evidence and commands
// byte for byte (even evidence containing a fence).
func TestMarkdownStructure(t *testing.T) {
	for _, fx := range []func() report.Report{fixtureOOM, fixtureDryRun} {
		r := fx()
		src := []byte(Markdown(r))
		doc := gfm.Parser().Parse(text.NewReader(src))
		var links []string
		var blocks []string
		err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			if !entering {
				return ast.WalkContinue, nil
			}
			switch n := n.(type) {
			case *ast.Link:
				links = append(links, string(n.Destination))
			case *ast.FencedCodeBlock:
				var b strings.Builder
				for i := 0; i < n.Lines().Len(); i++ {
					seg := n.Lines().At(i)
					b.Write(seg.Value(src))
				}
				blocks = append(blocks, strings.TrimSuffix(b.String(), "\n"))
			}
			return ast.WalkContinue, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var wantLinks []string
		for _, l := range r.Links {
			wantLinks = append(wantLinks, l.URL)
		}
		if strings.Join(links, "\n") != strings.Join(wantLinks, "\n") {
			t.Errorf("link targets\n%s\nwant\n%s", strings.Join(links, "\n"), strings.Join(wantLinks, "\n"))
		}
		wantBlocks := []string{strings.Join(r.Result.Finding.Evidence, "\n")}
		for _, c := range r.Commands {
			wantBlocks = append(wantBlocks, c.Cmd)
		}
		if strings.Join(blocks, "\n---\n") != strings.Join(wantBlocks, "\n---\n") {
			t.Errorf("code blocks\n%q\nwant\n%q", blocks, wantBlocks)
		}
	}
}

func TestMarkdownCode(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", "`plain`"},
		{"a`b", "``a`b``"},
		{"`edge`", "`` `edge` ``"},
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got := mdCode(tc.in)
			if got != tc.want {
				t.Errorf("mdCode(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if tc.in == "" {
				return
			}
			// The span must render back to exactly the input.
			html := toHTML(t, "x "+got)
			m := regexp.MustCompile(`<code>(.*)</code>`).FindStringSubmatch(html)
			if m == nil || m[1] != htmlEscaper.Replace(tc.in) {
				t.Errorf("%q renders as %q", got, html)
			}
		})
	}
}
