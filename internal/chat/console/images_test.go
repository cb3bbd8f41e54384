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

// TestCloseRemovesTheChartDirectory: charts go to a temporary directory
// the poster makes; their paths stay valid until Close, which removes it.
// A directory given to SetImageDir is the caller's and is kept. A chart
// posted after Close is not written anywhere.
func TestCloseRemovesTheChartDirectory(t *testing.T) {
	tests := []struct {
		name     string
		explicit bool
	}{
		{"temporary directory", false},
		{"explicit directory", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var out bytes.Buffer
			p := NewPoster(&out)
			explicit := filepath.Join(t.TempDir(), "charts")
			if tt.explicit {
				if err := os.Mkdir(explicit, 0o755); err != nil {
					t.Fatal(err)
				}
				p.SetImageDir(explicit)
			}
			msg := chat.Message{Text: chat.Plain("x"), Images: []chat.Image{{Filename: "RB-1-api-errors.png", Title: "errors", PNG: []byte("png")}}}
			if _, err := p.Post(t.Context(), chat.Ref{Channel: "C1"}, msg); err != nil {
				t.Fatal(err)
			}
			path := printedChart(t, out.String())
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("printed chart path not valid before Close: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(path)
			if tt.explicit && err != nil {
				t.Errorf("chart in the explicit directory gone after Close: %v", err)
			}
			if !tt.explicit && !os.IsNotExist(err) {
				t.Errorf("chart still there after Close: %v", err)
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "backout-charts-*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			if _, err := p.Post(t.Context(), chat.Ref{Channel: "C1"}, msg); err == nil || !strings.Contains(out.String(), "not written: the console has ended") {
				t.Errorf("post after Close: %v\n%s", err, out.String())
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "backout-charts-*")); len(left) > 0 {
				t.Errorf("a post after Close made %v", left)
			}
		})
	}
}

// printedChart is the path of the chart the transcript names.
func printedChart(t *testing.T, transcript string) string {
	t.Helper()
	for _, line := range strings.Split(transcript, "\n") {
		if _, path, ok := strings.Cut(line, "📈 errors: "); ok {
			return path
		}
	}
	t.Fatalf("no chart path in %q", transcript)
	return ""
}
