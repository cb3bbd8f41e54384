package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxRequests bounds one run whatever the flags say (rate x duration).
const maxRequests = 5_000_000

type runConfig struct {
	base        string // http://127.0.0.1:8080, no trailing slash
	rate        int    // requests per second
	duration    time.Duration
	concurrency int // most requests in flight
	timeout     time.Duration
}

// outcome of one scheduled request.
type outcome struct {
	latency time.Duration // from the scheduled send time to the end of the response
	service time.Duration // from the actual send to the end of the response
	status  int           // 0: transport error, -1: never sent
}

// result is everything one run recorded.
type result struct {
	outcomes []outcome
	elapsed  time.Duration // from the first scheduled send to the last response
	errs     map[string]int
}

// runRate sends rate requests per second for duration, open loop: the i-th
// request is due at start + i/rate whether or not earlier ones have been
// answered, and its latency is measured from when it was due, so a server
// that stalls is charged for the requests queued behind the stall
// (coordinated omission). When concurrency requests are in flight the
// scheduler waits for a slot; the wait counts in the latency of the
// requests it delays. A server slower than the rate thus leaves a backlog
// that is sent after the scheduled period, each request charged from when
// it was due; the run stops hard at duration + timeout, and requests still
// unsent then are reported as such.
func runRate(ctx context.Context, c runConfig, gen generator, client *http.Client) (*result, error) {
	total := int(float64(c.rate) * c.duration.Seconds())
	if total <= 0 || total > maxRequests {
		return nil, fmt.Errorf("rate x duration = %d requests, want 1..%d", total, maxRequests)
	}
	interval := time.Second / time.Duration(c.rate)
	res := &result{outcomes: make([]outcome, total), errs: map[string]int{}}
	for i := range res.outcomes {
		res.outcomes[i].status = -1
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards res.errs and last
		last time.Time
	)
	slots := make(chan struct{}, c.concurrency)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.duration+c.timeout)
	defer cancel()
schedule:
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				break schedule
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break schedule
		}
		req := gen.next(i, time.Now())
		wg.Add(1)
		go func(i int, due time.Time, req request) {
			defer wg.Done()
			defer func() { <-slots }()
			sent := time.Now()
			status, err := send(ctx, client, c.base, req)
			end := time.Now()
			res.outcomes[i] = outcome{latency: end.Sub(due), service: end.Sub(sent), status: status}
			mu.Lock()
			if end.After(last) {
				last = end
			}
			if err != nil {
				res.errs[errClass(err)]++
			}
			mu.Unlock()
		}(i, due, req)
	}
	wg.Wait()
	res.elapsed = last.Sub(start)
	if res.elapsed <= 0 {
		res.elapsed = time.Since(start)
	}
	return res, nil
}

func send(ctx context.Context, client *http.Client, base string, r request) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+r.path, bytes.NewReader(r.body))
	if err != nil {
		return 0, err
	}
	req.Header = r.header
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// errClass groups transport errors so a report shows kinds, not thousands
// of lines.
func errClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}

// newClient keeps up to concurrency connections alive to the target, so the
// run measures the server rather than TCP handshakes.
func newClient(concurrency int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // never route load through a proxy from the environment
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}
