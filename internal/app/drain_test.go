package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestUnreadyWhenDraining: readiness fails with the drain's reason as soon
// as the shutdown begins, whatever the other checks say; before, it is
// theirs.
func TestUnreadyWhenDraining(t *testing.T) {
	storeDown := errors.New("store down")
	tests := []struct {
		name     string
		shutdown bool
		checks   error
		want     string
	}{
		{"serving, all well", false, nil, ""},
		{"serving, store down", false, storeDown, "store down"},
		{"draining, all well", true, nil, "shutting down"},
		{"draining, store down", true, storeDown, "shutting down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.shutdown {
				cancel()
			}
			err := unreadyWhenDraining(ctx, func(context.Context) error { return tt.checks })(context.Background())
			if got := errString(err); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("readiness: %q, want %q", got, tt.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestDrainWaitsForTheActingWork: the first phase returns only once every
// acting task has ended, even when the HTTP server failed meanwhile (then
// with its error).
func TestDrainWaitsForTheActingWork(t *testing.T) {
	for _, serverFails := range []bool{false, true} {
		var tk tasks
		release := make(chan struct{})
		tk.acting.Add(1)
		go func() { <-release; tk.acting.Done() }()
		serveErr := make(chan error, 1)
		if serverFails {
			serveErr <- errors.New("listener broke")
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- drain(ctx, &tk, serveErr, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
		select {
		case err := <-done:
			t.Fatalf("server fails %v: drain returned (%v) while an acting task ran", serverFails, err)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		if err := <-done; (err != nil) != serverFails {
			t.Errorf("server fails %v: drain returned %v", serverFails, err)
		}
	}
}
