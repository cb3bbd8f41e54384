package audit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/audit"
	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
	"github.com/backout/backout/internal/testutil/syncbuf"
)

// poster records posts; fail makes the next post fail.
type poster struct {
	chat.NoopPoster
	mu    sync.Mutex
	posts []string
	fail  bool
}

func (p *poster) Post(_ context.Context, ref chat.Ref, msg chat.Message) (chat.Ref, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		p.fail = false
		return ref, errors.New("slack is down")
	}
	p.posts = append(p.posts, ref.Channel+" "+msg.Text.String())
	return ref, nil
}

func (p *poster) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.posts...)
}

func openStore(t *testing.T) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func appendEvents(t *testing.T, st store.Audit, n int) store.AuditEvent {
	t.Helper()
	var last store.AuditEvent
	for range n {
		var err error
		if last, err = st.AppendAudit(t.Context(), store.AuditEvent{Actor: "U1", Action: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	return last
}

// TestAnchor: one anchor per head, none for an empty log, and a failed
// post is tried again.
func TestAnchor(t *testing.T) {
	st := openStore(t)
	p := &poster{}
	a := &audit.Anchorer{Log: st, Every: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Poster: p, Channel: "C0AUDIT"}
	steps := []struct {
		name     string
		add      int
		fail     bool
		wantSeq  int64
		wantErr  bool
		wantPost int
	}{
		{"empty log: nothing to anchor", 0, false, 0, false, 0},
		{"first head", 3, false, 3, false, 1},
		{"head unchanged: no repeat", 0, false, 0, false, 1},
		{"post fails", 1, true, 0, true, 1},
		{"retried", 0, false, 4, false, 2},
	}
	for _, s := range steps {
		appendEvents(t, st, s.add)
		p.mu.Lock()
		p.fail = s.fail
		p.mu.Unlock()
		got, err := a.Anchor(t.Context())
		if (err != nil) != s.wantErr || got.Seq != s.wantSeq || len(p.all()) != s.wantPost {
			t.Fatalf("%s: anchor %+v, err %v, %d posts; want seq %d, error %v, %d posts", s.name, got, err, len(p.all()), s.wantSeq, s.wantErr, s.wantPost)
		}
	}
	head, err := st.LastAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := "C0AUDIT audit anchor seq=4 hash=" + head.Hash
	if last := p.all()[1]; !strings.HasPrefix(last, want) || !strings.Contains(last, "--anchor 4:"+head.Hash) {
		t.Fatalf("post %q, want it to start %q and give the verify command", last, want)
	}
}

// TestRunAnchorsAtIntervalsAndShutdown: the ticker anchors, and the head
// reached before shutdown is anchored after the context ends, logged as
// "audit anchor seq=N hash=H".
func TestRunAnchorsAtIntervalsAndShutdown(t *testing.T) {
	st := openStore(t)
	p := &poster{}
	var logs syncbuf.Buffer
	a := &audit.Anchorer{Log: st, Every: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Poster: p, Channel: "C0AUDIT"}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	appendEvents(t, st, 2)
	deadline := time.Now().Add(10 * time.Second)
	for len(p.all()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no anchor at the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	last := appendEvents(t, st, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	posts := p.all()
	if !strings.Contains(posts[len(posts)-1], "seq=3 hash="+last.Hash) {
		t.Fatalf("last post %q, want the head at shutdown (seq 3)", posts[len(posts)-1])
	}
	if !strings.Contains(logs.String(), "audit anchor seq=3 hash="+last.Hash) {
		t.Fatalf("logs lack the shutdown anchor:\n%s", logs.String())
	}
}

// TestVerifyNewAndCheckedAnchors: the first check reads the whole chain and
// leaves a checkpoint, the next reads only what is new, and an anchorer
// whose check fails does not anchor.
func TestVerifyNewAndCheckedAnchors(t *testing.T) {
	st := openStore(t)
	v := audit.Verifier{Log: st, Checkpoints: st}
	steps := []struct {
		name               string
		add                int
		from, read, events int64
	}{
		{"first: the whole chain", 5, 1, 5, 5},
		{"then only the new", 3, 5, 4, 8},
		{"nothing new", 0, 8, 1, 8},
	}
	for _, s := range steps {
		appendEvents(t, st, s.add)
		rep, err := v.VerifyNew(t.Context(), nil)
		if err != nil || rep.From != s.from || rep.Read != s.read || rep.Events != s.events {
			t.Fatalf("%s: %+v, %v; want from %d reading %d", s.name, rep, err, s.from, s.read)
		}
	}
	p := &poster{}
	a := &audit.Anchorer{Log: st, Every: time.Hour, Logger: slog.New(slog.DiscardHandler), Poster: p, Channel: "C0AUDIT",
		Check: func(context.Context) error { return &store.ChainError{Seq: 3, Reason: "edited?"} }}
	if got, err := a.Anchor(t.Context()); err == nil || got.Seq != 0 || len(p.all()) != 0 {
		t.Fatalf("a broken chain was anchored: %+v, %v, posts %v", got, err, p.all())
	}
}
