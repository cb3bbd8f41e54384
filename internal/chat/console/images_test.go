package console

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backout/backout/internal/chat"
)

// TestPostWritesImages: a message's pictures are written to files in the
// console's directory; the transcript (testdata/images.golden) gives each
// one's path and sparkline.
func TestPostWritesImages(t *testing.T) {
	var pic bytes.Buffer
	if err := png.Encode(&pic, image.NewGray(image.Rect(0, 0, 8, 4))); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p := NewPoster(&out)
	dir := t.TempDir()
	p.SetImageDir(dir)
	msg := chat.Message{Text: chat.Plain("🔎 Validation of api for RB-1: 1 successful"), Images: []chat.Image{
		{Filename: "RB-1-api-errors.png", Title: "RB-1 · api · errors (Successful)", PNG: pic.Bytes(), Sparkline: "▁▁███▁▁"},
	}}
	if _, err := p.Post(t.Context(), chat.Ref{Channel: "C1", Thread: "1.000100"}, msg); err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(out.String(), dir, "$DIR")
	golden := filepath.Join("testdata", "images.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("transcript differs from %s\n--- got\n%s--- want\n%s", golden, got, want)
	}
	written, err := os.ReadFile(filepath.Join(dir, "RB-1-api-errors.png"))
	if err != nil || !bytes.Equal(written, pic.Bytes()) {
		t.Fatalf("written PNG: %v", err)
	}
}

// TestPostImageWriteFails: a picture that cannot be written is said, and
// Post returns the error.
func TestPostImageWriteFails(t *testing.T) {
	var out bytes.Buffer
	p := NewPoster(&out)
	p.SetImageDir(filepath.Join(t.TempDir(), "missing"))
	msg := chat.Message{Text: chat.Plain("x"), Images: []chat.Image{{Filename: "a.png", PNG: []byte("png")}}}
	if _, err := p.Post(t.Context(), chat.Ref{Channel: "C1"}, msg); err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(out.String(), "⚠️ chart a.png not written: write chart:") {
		t.Fatalf("transcript: %s", out.String())
	}
}
