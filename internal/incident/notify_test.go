package incident

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// drawStore holds one rollback; a read can be held after it took its copy,
// as a slow store or a descheduled goroutine would hold it.
type drawStore struct {
	store.Rollbacks // only GetRollback is used
	store.Votes
	store.Steps

	mu      sync.Mutex
	rec     rollback.Record
	hold    chan struct{} // when set, the next read waits on it after copying
	holding chan struct{} // told when that read holds
}

func (s *drawStore) GetRollback(context.Context, string) (*rollback.Record, error) {
	s.mu.Lock()
	r := s.rec
	hold := s.hold
	s.hold = nil
	s.mu.Unlock()
	if hold != nil {
		s.holding <- struct{}{}
		<-hold
	}
	return &r, nil
}

func (s *drawStore) pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec.Paused = true
	s.rec.Version++
}

func (s *drawStore) ListVotes(context.Context, string) ([]rollback.Vote, error)      { return nil, nil }
func (s *drawStore) ListSteps(context.Context, string) ([]rollback.StepEvent, error) { return nil, nil }

// drawings records what the message was drawn with, in the order the
// draws reached chat (the Slack poster keeps that order: the latest wins).
type drawings struct {
	NoopNotifier
	mu    sync.Mutex
	shown []bool // Paused of each draw
	drew  chan struct{}
}

func (d *drawings) Show(_ context.Context, v rollback.View) error {
	d.mu.Lock()
	d.shown = append(d.shown, v.Rollback.Paused)
	d.mu.Unlock()
	select {
	case d.drew <- struct{}{}:
	default:
	}
	return nil
}

func (d *drawings) last() (paused bool, draws int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shown[len(d.shown)-1], len(d.shown)
}

// TestRefreshEndsOnTheLatestState: a refresh that read the rollback just
// before a pause and drew after it must not leave the message showing the
// rollback unpaused (it would offer Pause, not Resume, until the next
// change). Here: in one process, a second refresh starts while the first
// holds its stale copy; and across replicas, another replica draws the
// paused rollback while our refresh holds its stale copy.
func TestRefreshEndsOnTheLatestState(t *testing.T) {
	for _, tc := range []struct {
		name string
		// meanwhile runs while the first refresh holds its stale copy.
		meanwhile func(n *notifier, st *drawStore, d *drawings)
	}{
		{"a second refresh in this process", func(n *notifier, st *drawStore, d *drawings) {
			st.pause()
			go n.refresh(context.Background(), "RB-1")
			// Let the second refresh draw first, so that the first one's
			// stale draw lands last.
			select {
			case <-d.drew:
			case <-time.After(50 * time.Millisecond):
			}
		}},
		{"another replica's draw", func(_ *notifier, st *drawStore, d *drawings) {
			st.pause()
			r, _ := st.GetRollback(context.Background(), "RB-1")
			_ = d.Show(context.Background(), rollback.View{Rollback: r})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &drawStore{rec: rollback.Record{ID: "RB-1", Version: 1, State: rollback.StateRunning, MessageTS: "1.1"},
				hold: make(chan struct{}), holding: make(chan struct{}, 1)}
			release := st.hold
			d := &drawings{drew: make(chan struct{}, 8)}
			n := &notifier{base: base{log: slog.New(slog.DiscardHandler)}, records: &records{rollbacks: st}, port: d, views: st}

			first := make(chan struct{})
			go func() { defer close(first); n.refresh(context.Background(), "RB-1") }()
			<-st.holding
			tc.meanwhile(n, st, d)
			close(release)
			<-first
			// The second refresh of the first case may still be drawing.
			deadline := time.Now().Add(waitLimitInternal)
			for {
				paused, draws := d.last()
				if paused {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %d draws the message shows the rollback unpaused", draws)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// waitLimitInternal bounds waits in this package's own tests.
const waitLimitInternal = 15 * time.Second
