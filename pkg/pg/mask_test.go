package pg

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMaskQuery(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "string and number literals", in: "SELECT * FROM users WHERE email = 'a@b.c' AND id = 42", want: "SELECT * FROM users WHERE email = ? AND id = ?"},
		{name: "doubled quote inside a literal", in: "UPDATE t SET note = 'it''s secret' WHERE id = 1", want: "UPDATE t SET note = ? WHERE id = ?"},
		{name: "E string with backslash escapes", in: `SELECT E'line\'s \\ end', x FROM t`, want: "SELECT ?, x FROM t"},
		{name: "e prefix only when standalone", in: `SELECT name'x' FROM t`, want: "SELECT name? FROM t"},
		{name: "dollar quotes", in: "SELECT $$secret body$$, $fn$ also 'secret' $fn$ FROM t", want: "SELECT ?, ? FROM t"},
		{name: "parameters kept", in: "SELECT * FROM t WHERE a = $1 AND b = $12", want: "SELECT * FROM t WHERE a = $1 AND b = $12"},
		{name: "identifiers with digits and dollars kept", in: "SELECT t1.col2, a$b FROM tab3 t1", want: "SELECT t1.col2, a$b FROM tab3 t1"},
		{name: "numbers of every shape", in: "SELECT 1.5, .5, 1e-5, 2E+10, 0x1F, 1_000 FROM t", want: "SELECT ?, ?, ?, ?, ?, ? FROM t"},
		{name: "quoted identifier kept, with a quote inside", in: `SELECT "Weird ""Name""" FROM "T 1"`, want: `SELECT "Weird ""Name""" FROM "T 1"`},
		{name: "whitespace collapsed", in: "SELECT\n\t  a,\r\n   b\n\nFROM   t  ", want: "SELECT a, b FROM t"},
		{name: "line comment dropped", in: "SELECT a -- the user's 'secret' here\nFROM t", want: "SELECT a FROM t"},
		{name: "block comments kept, nested", in: "/* app=worker /* inner */ */ SELECT 'x'", want: "/* app=worker /* inner */ */ SELECT ?"},
		{name: "quote inside a comment is not a literal", in: "SELECT /* don't */ a, 'v' FROM t", want: "SELECT /* don't */ a, ? FROM t"},
		{name: "literal cut off by track_activity_query_size", in: "INSERT INTO t VALUES ('4111 1111 1111 11", want: "INSERT INTO t VALUES (?"},
		{name: "dollar quote cut off", in: "DO $body$ BEGIN PERFORM 'secret'", want: "DO ?"},
		{name: "lone dollar", in: "SELECT $ FROM t", want: "SELECT $ FROM t"},
		{name: "negative number", in: "SELECT -5", want: "SELECT -?"},
		{name: "multibyte identifiers", in: "SELECT größe FROM tabelle WHERE ñ = 'ü'", want: "SELECT größe FROM tabelle WHERE ñ = ?"},
		{name: "pg_sleep", in: "SELECT pg_sleep(6)", want: "SELECT pg_sleep(?)"},
		{name: "empty", in: "", want: ""},
		{name: "long text cut to 200 runes", in: "SELECT " + strings.Repeat("col, ", 100) + "x FROM t", want: ("SELECT " + strings.Repeat("col, ", 100))[:199] + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaskQuery(tc.in); got != tc.want {
				t.Errorf("MaskQuery(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMaskQueryCutsOnRuneBoundary(t *testing.T) {
	got := MaskQuery("SELECT " + strings.Repeat("ä", 500))
	if !utf8.ValidString(got) || utf8.RuneCountInString(got) != MaxQueryRunes || !strings.HasSuffix(got, "…") {
		t.Fatalf("got %d runes, valid %v: %q", utf8.RuneCountInString(got), utf8.ValidString(got), got)
	}
}

// FuzzMaskQuery: never panics, never longer than MaxQueryRunes, keeps valid UTF-8 valid,
// and a quoted secret never survives.
func FuzzMaskQuery(f *testing.F) {
	for _, s := range []string{"SELECT 'x'", "E'\\", "$a$", "$$", "/*", "--", `"`, "1e+", "$1$", "SELECT $tag$ x $tag", "\xff'\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := MaskQuery(q)
		if utf8.RuneCountInString(got) > MaxQueryRunes {
			t.Fatalf("%d runes", utf8.RuneCountInString(got))
		}
		if utf8.ValidString(q) && !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 from valid input: %q", got)
		}
		// A literal appended after a complete statement is always masked.
		const secret = "Zq9SECRETzq9"
		if strings.Count(q, "'") == 0 && strings.Count(q, "$") == 0 && !strings.Contains(q, "--") && !strings.Contains(q, "/*") && !strings.Contains(q, `"`) {
			if m := MaskQuery(q + " '" + secret + "'"); strings.Contains(m, secret) {
				t.Fatalf("secret survived: %q", m)
			}
		}
	})
}
