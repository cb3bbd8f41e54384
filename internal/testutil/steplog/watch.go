package steplog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Watcher follows an execution log while a test runs and notes when the
// processes of each execution without an end line are all gone (Linux:
// it reads /proc). Polling makes Gone a bound from above, late by at most
// one poll, which only ever makes an overlap look longer, never hides one.
type Watcher struct {
	path string
	stop context.CancelFunc
	done chan struct{}

	mu    sync.Mutex
	gone  map[string]time.Time // step/pid -> first seen with no process left
	birth map[int]string       // pid -> its start time in /proc, to tell a reused pid
	err   error                // the first parse error
}

// Watch polls path every interval until Stop or ctx's end.
func Watch(ctx context.Context, path string, every time.Duration) *Watcher {
	ctx, stop := context.WithCancel(ctx)
	w := &Watcher{path: path, stop: stop, done: make(chan struct{}), gone: map[string]time.Time{}, birth: map[int]string{}}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			w.poll()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Stop ends the polling and waits for it.
func (w *Watcher) Stop() {
	w.stop()
	<-w.done
}

// Executions reads the log now, with Gone filled in where the watcher saw it.
func (w *Watcher) Executions() ([]Execution, error) {
	execs, err := w.poll()
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, w.err
	}
	for i, e := range execs {
		if e.End.IsZero() {
			execs[i].Gone = w.gone[key(e)]
		}
	}
	return execs, nil
}

func key(e Execution) string { return e.Step + "/" + strconv.Itoa(e.PID) }

// poll reads the log and notes the executions whose processes are gone.
func (w *Watcher) poll() ([]Execution, error) {
	data, err := os.ReadFile(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read execution log: %w", err)
	}
	execs, err := Parse(data)
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		return nil, err
	}
	for _, e := range execs {
		if !e.End.IsZero() || !w.gone[key(e)].IsZero() {
			continue
		}
		if !w.anyAlive(e.PIDs()) {
			w.gone[key(e)] = now
		}
	}
	return execs, nil
}

// anyAlive reports whether one of pids still runs as the process first
// seen under that pid.
func (w *Watcher) anyAlive(pids []int) bool {
	alive := false
	for _, pid := range pids {
		birth, ok := procBirth(pid)
		if !ok {
			continue
		}
		if first, seen := w.birth[pid]; seen && first != birth {
			continue // the pid was reused: ours is gone
		}
		w.birth[pid] = birth
		alive = true
	}
	return alive
}

// Alive reports whether pid is a running (not zombie) process.
func Alive(pid int) bool {
	_, ok := procBirth(pid)
	return ok
}

// procBirth is pid's start time (field 22 of /proc/PID/stat), ok false when
// there is no such process or it is a zombie.
func procBirth(pid int) (string, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return "", false
	}
	return f[19], true
}
