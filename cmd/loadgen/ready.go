package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readyConfig measures a server's start: process start to the first
// GET /readyz answered 200, and its resident memory after idling.
type readyConfig struct {
	base  string   // loopback base URL the process will listen on
	argv  []string // the program and its arguments, run directly, never through a shell
	runs  int
	idle  time.Duration // how long to wait after ready before reading RSS (first run only)
	limit time.Duration // give up on one start after this long
}

type readyResult struct {
	Ready  []time.Duration
	RSSKiB int64 // VmRSS after idle, as `ps -o rss=` reports it
}

func measureReady(ctx context.Context, c readyConfig, out io.Writer) (*readyResult, error) {
	if len(c.argv) == 0 {
		return nil, errors.New("--ready-exec is empty")
	}
	res := &readyResult{}
	client := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for run := 0; run < c.runs; run++ {
		d, rss, err := startOnce(ctx, c, client, run == 0 && c.idle > 0)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", run+1, err)
		}
		res.Ready = append(res.Ready, d)
		if rss > 0 {
			res.RSSKiB = rss
		}
		fmt.Fprintf(out, "run %d: ready after %s\n", run+1, ms(d))
	}
	return res, nil
}

func startOnce(ctx context.Context, c readyConfig, client *http.Client, readRSS bool) (time.Duration, int64, error) {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("start %s: %w", c.argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer stop(cmd, exited)
	ready, err := pollReady(ctx, client, c.base+"/readyz", start.Add(c.limit), exited)
	if err != nil {
		return 0, 0, err
	}
	d := ready.Sub(start)
	if !readRSS {
		return d, 0, nil
	}
	select {
	case <-time.After(c.idle):
	case <-ctx.Done():
		return d, 0, ctx.Err()
	}
	rss, err := rssKiB(cmd.Process.Pid)
	return d, rss, err
}

// pollReady asks every millisecond: ready time is only as fine as the poll.
func pollReady(ctx context.Context, client *http.Client, url string, deadline time.Time, exited <-chan error) (time.Time, error) {
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return time.Time{}, fmt.Errorf("process exited before it was ready: %v", err)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return time.Time{}, err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return time.Time{}, errors.New("not ready before the limit")
}

// stop asks the process to shut down as an orchestrator would (SIGTERM),
// and kills it if it has not gone in 20 s, so the next run gets the store.
func stop(cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// rssKiB reads VmRSS, the number `ps -o rss=` prints.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("read rss: no VmRSS line")
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
