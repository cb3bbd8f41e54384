package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/chat/slack/slackfake"
)

func newTestPoster(t *testing.T, m Metrics, interval time.Duration) (*Poster, *slackfake.Server) {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	api := NewClient(slackfake.BotToken, fake.APIURL(), fake.Client())
	return NewPoster(api, PosterOptions{Retry: fastRetry(), Metrics: m, Logger: quietLog, UpdateInterval: interval}), fake
}

func TestPostAndThread(t *testing.T) {
	p, fake := newTestPoster(t, nil, time.Second)
	ctx := waitCtx(t)
	msg := chat.Message{Text: chat.Plain("Rollback proposed"), Header: "RB-1", Mentions: chat.Mentions("U1", "S2")}
	root, err := p.Post(ctx, chat.Ref{Channel: "C1"}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if root.Channel != "C1" || root.TS == "" || root.Thread != "" {
		t.Fatalf("root ref = %+v", root)
	}
	reply, err := p.Post(ctx, chat.Ref{Channel: "C1", Thread: root.TS}, chat.Message{Text: chat.Plain("step 1 done")})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Thread != root.TS || reply.TS == root.TS {
		t.Fatalf("reply ref = %+v", reply)
	}
	calls := fake.Calls("chat.postMessage")
	if calls[0].Param("thread_ts") != "" || calls[1].Param("thread_ts") != root.TS {
		t.Fatalf("thread_ts = %q, %q", calls[0].Param("thread_ts"), calls[1].Param("thread_ts"))
	}
	if text := calls[0].Param("text"); !strings.Contains(text, "<@U1>") || !strings.Contains(text, "<!subteam^S2>") {
		t.Fatalf("fallback text lacks mentions: %q", text)
	}
	var blocks []map[string]any
	if err := calls[0].Decode("blocks", &blocks); err != nil || len(blocks) == 0 {
		t.Fatalf("blocks = %v, %v", blocks, err)
	}
	if calls[0].Token != slackfake.BotToken {
		t.Fatalf("token = %q", calls[0].Token)
	}
}

func TestPosterRetries(t *testing.T) {
	tests := []struct {
		name        string
		inject      func(f *slackfake.Server)
		wantErr     bool
		wantCalls   int
		wantErrors  int
		wantLimited int
	}{
		{"rate limited twice", func(f *slackfake.Server) { f.RateLimit("chat.postMessage", 2, 0) }, false, 3, 0, 2},
		{"server errors", func(f *slackfake.Server) { f.FailStatus("chat.postMessage", 2, http.StatusBadGateway) }, false, 3, 2, 0},
		{"transient slack error", func(f *slackfake.Server) { f.FailError("chat.postMessage", 1, "internal_error") }, false, 2, 1, 0},
		{"server errors beyond attempts", func(f *slackfake.Server) { f.FailStatus("chat.postMessage", 5, http.StatusInternalServerError) }, true, 3, 3, 0},
		{"permanent error not retried", func(f *slackfake.Server) { f.FailError("chat.postMessage", 1, "channel_not_found") }, true, 1, 1, 0},
		{"rate limited beyond waits", func(f *slackfake.Server) { f.RateLimit("chat.postMessage", 20, 0) }, true, 11, 0, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newCountingMetrics()
			p, fake := newTestPoster(t, m, time.Second)
			tt.inject(fake)
			_, err := p.Post(waitCtx(t), chat.Ref{Channel: "C1"}, chat.Message{Text: chat.Plain("hi")})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if n := len(fake.Calls("chat.postMessage")); n != tt.wantCalls {
				t.Errorf("calls = %d, want %d", n, tt.wantCalls)
			}
			if errs, limited := m.counts("chat.postMessage"); errs != tt.wantErrors || limited != tt.wantLimited {
				t.Errorf("metrics errors=%d limited=%d, want %d/%d", errs, limited, tt.wantErrors, tt.wantLimited)
			}
		})
	}
}

func TestRateLimitWaitHonoursContext(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	api := NewClient(slackfake.BotToken, fake.APIURL(), fake.Client())
	p := NewPoster(api, PosterOptions{Logger: quietLog}) // real minimum wait: 1 s per 429
	fake.RateLimit("chat.postMessage", 1, 3600)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the first (rate-limited) call has been answered.
		if _, err := fake.WaitCalls(waitCtx(t), "chat.postMessage", 1); err == nil {
			cancel()
		}
	}()
	_, err := p.Post(ctx, chat.Ref{Channel: "C1"}, chat.Message{Text: chat.Plain("hi")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRetryableClassification(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{slackgo.StatusCodeError{Code: 503}, true},
		{slackgo.StatusCodeError{Code: 404}, false},
		{slackgo.SlackErrorResponse{Err: "service_unavailable"}, true},
		{slackgo.SlackErrorResponse{Err: "not_in_channel"}, false},
		{fmt.Errorf("wrapped: %w", &netErr{}), true},
		{errors.New("invalid character '<' looking for beginning of value"), false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

type netErr struct{}

func (*netErr) Error() string   { return "connection reset" }
func (*netErr) Timeout() bool   { return false }
func (*netErr) Temporary() bool { return true }

func TestEphemeral(t *testing.T) {
	p, fake := newTestPoster(t, nil, time.Second)
	if err := p.Ephemeral(waitCtx(t), "C1", "U1", chat.Message{Text: chat.Plain("only you")}); err != nil {
		t.Fatal(err)
	}
	c := fake.Calls("chat.postEphemeral")[0]
	if c.Param("channel") != "C1" || c.Param("user") != "U1" || c.Param("text") != "only you" {
		t.Fatalf("params = %v", c.Form)
	}
}

func TestUpload(t *testing.T) {
	p, fake := newTestPoster(t, nil, time.Second)
	content := "# Post-mortem RB-1\n\n- 12:00 alert fired\n"
	fake.FailStatus("upload", 1, http.StatusBadGateway) // the upload step retries too
	err := p.Upload(waitCtx(t), chat.Ref{Channel: "C1", Thread: "1700000000.000001"}, "postmortem-RB-1.md", "Post-mortem draft", content)
	if err != nil {
		t.Fatal(err)
	}
	get := fake.Calls("files.getUploadURLExternal")
	if len(get) != 1 || get[0].Param("filename") != "postmortem-RB-1.md" || get[0].Param("length") != fmt.Sprint(len(content)) {
		t.Fatalf("getUploadURLExternal = %+v", get)
	}
	if n := len(fake.Calls("upload")); n != 2 {
		t.Fatalf("upload attempts = %d, want 2", n)
	}
	done := fake.Calls("files.completeUploadExternal")
	if len(done) != 1 || done[0].Param("channel_id") != "C1" || done[0].Param("thread_ts") != "1700000000.000001" {
		t.Fatalf("completeUploadExternal = %+v", done)
	}
	var files []map[string]string
	if err := json.Unmarshal([]byte(done[0].Param("files")), &files); err != nil || files[0]["title"] != "Post-mortem draft" {
		t.Fatalf("files = %v (%v)", files, err)
	}
	name, got, ok := fake.Upload(files[0]["id"])
	if !ok || name != "postmortem-RB-1.md" || string(got) != content {
		t.Fatalf("uploaded %q = %q", name, got)
	}
	if err := p.Upload(waitCtx(t), chat.Ref{Channel: "C1"}, "empty.txt", "", ""); err == nil {
		t.Fatal("empty upload accepted")
	}
}

func TestBadTokenIsAnError(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	p := NewPoster(NewClient("xoxb-wrong", fake.APIURL(), fake.Client()), PosterOptions{Retry: fastRetry(), Logger: quietLog})
	_, err := p.Post(waitCtx(t), chat.Ref{Channel: "C1"}, chat.Message{Text: chat.Plain("hi")})
	if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Fatalf("err = %v, want invalid_auth", err)
	}
}

// TestPostWithImages: a message's pictures are uploaded in its thread with
// the three-step external upload, byte for byte.
func TestPostWithImages(t *testing.T) {
	p, fake := newTestPoster(t, nil, time.Second)
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 90, 45))); err != nil {
		t.Fatal(err)
	}
	msg := chat.Message{Text: chat.Plain("Validation of api for RB-1: 1 successful"),
		Images: []chat.Image{{Filename: "RB-1-api-errors.png", Title: "RB-1 · api · errors", PNG: buf.Bytes()}}}
	thread := "1700000000.000001"
	if _, err := p.Post(waitCtx(t), chat.Ref{Channel: "C1", Thread: thread}, msg); err != nil {
		t.Fatal(err)
	}
	get := fake.Calls("files.getUploadURLExternal")
	if len(get) != 1 || get[0].Param("filename") != "RB-1-api-errors.png" || get[0].Param("length") != fmt.Sprint(buf.Len()) {
		t.Fatalf("getUploadURLExternal = %+v", get)
	}
	done := fake.Calls("files.completeUploadExternal")
	if len(done) != 1 || done[0].Param("channel_id") != "C1" || done[0].Param("thread_ts") != thread {
		t.Fatalf("completeUploadExternal = %+v", done)
	}
	var files []map[string]string
	if err := json.Unmarshal([]byte(done[0].Param("files")), &files); err != nil || files[0]["title"] != "RB-1 · api · errors" {
		t.Fatalf("files = %v (%v)", files, err)
	}
	_, got, ok := fake.Upload(files[0]["id"])
	if !ok {
		t.Fatal("no upload")
	}
	img, err := png.Decode(bytes.NewReader(got))
	if err != nil || img.Bounds().Dx() != 90 {
		t.Fatalf("uploaded PNG: %v, %v", img, err)
	}
}
