package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The zip holds the bootstrap byte for byte, executable, the same every time.
func TestPackRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bootstrap")
	data := []byte(strings.Repeat("gp-remediation bootstrap ", 40000))
	for i := range data {
		if i%7 == 0 {
			data[i] = byte(i * 31) // not only text
		}
	}
	if err := os.WriteFile(in, data, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a.zip"), filepath.Join(dir, "b.zip")
	if err := pack(a, in); err != nil {
		t.Fatal(err)
	}
	if err := pack(b, in); err != nil {
		t.Fatal(err)
	}
	za, _ := os.ReadFile(a)
	zb, _ := os.ReadFile(b)
	if !bytes.Equal(za, zb) {
		t.Error("two packs of the same bootstrap differ")
	}
	r, err := zip.NewReader(bytes.NewReader(za), int64(len(za)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.File) != 1 || r.File[0].Name != "bootstrap" || r.File[0].Mode().Perm() != 0o755 || r.File[0].Modified.Year() != 2020 {
		t.Fatalf("entries %+v", r.File[0].FileHeader)
	}
	rc, err := r.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc) // also checks the CRC
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content differs (%v)", err)
	}
}
